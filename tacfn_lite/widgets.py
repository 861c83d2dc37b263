"""ipywidgets explorer (notebooks 05, 06): pick clip, variant, model, direction and method; see the
frames and MFCC with their maps, prediction and truth. Cached, so moving the slider only redraws."""

import html
import io
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from torch import nn

from .checkpoints import load_model
from .data.core import ClipArrays, to_batch
from .explain import attribute
from .fusion import DIRECTION_MAPS, FusionOutput
from .inference import predict_arrays
from .viz import clip_maps, plot_clip_explanation

METHODS = ("attention", "ig", "occlusion")


class Explorer:
    """Interactive explorer over ``datasets`` (variant name → ClipArrays) and ``models`` (name →
    module or checkpoint path); ``indices`` (variant → clip rows) limits the clips shown, e.g. to
    the test split. Display it with ``display(explorer.widget)`` or just ``explorer``.
    Shapes: every map is drawn over one clip: video ``(T, H, W, 3)``, MFCC ``(Ta, F)``."""

    def __init__(self, models: dict[str, nn.Module | str | Path], datasets: dict[str, ClipArrays],
                 indices: dict[str, np.ndarray] | None = None, baseline: str = "mean",
                 ig_steps: int = 32, dpi: int = 80):
        if not models or not datasets:
            raise ValueError("Explorer needs at least one model and one data set")
        self.models = {name: (load_model(m)[0] if isinstance(m, (str, Path)) else m.eval())
                       for name, m in models.items()}
        self.indices = {v: np.asarray((indices or {}).get(v, np.arange(len(a))))
                        for v, a in datasets.items()}
        self.datasets, self.baseline, self.ig_steps, self.dpi = datasets, baseline, ig_steps, dpi
        self._outputs: dict[tuple[str, str], FusionOutput] = {}
        self._attributions: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.sample = widgets.IntSlider(0, 0, len(next(iter(self.indices.values()))) - 1,
                                        description="sample", continuous_update=False)
        dropdown = lambda name, options: widgets.Dropdown(options=list(options), description=name)
        self.variant = dropdown("variant", datasets)
        self.model = dropdown("model", self.models)
        self.direction = dropdown("direction", ["audio->video", "video->audio"])
        self.method = dropdown("method", METHODS)
        self.label, self.image = widgets.HTML(), widgets.Image(format="png")
        for control in (self.sample, self.variant, self.model, self.direction, self.method):
            control.observe(self._on_change, names="value")
        controls = widgets.VBox([widgets.HBox([self.sample, self.variant, self.model]),
                                 widgets.HBox([self.direction, self.method])])
        self.widget = widgets.VBox([controls, self.label, self.image])
        self.render()

    def _ipython_display_(self):
        display(self.widget)

    def outputs(self, variant: str, model: str) -> FusionOutput:
        """:func:`predict_arrays` of ``model`` on the shown clips of ``variant``, cached."""
        key = (variant, model)
        if key not in self._outputs:
            self._outputs[key] = predict_arrays(self.models[model], self.datasets[variant],
                                                self.indices[variant])
        return self._outputs[key]

    def attribution(self, variant: str, model: str, method: str, i: int, target: int):
        """Captum maps of one clip for ``target``, cached: (audio ``(Ta, F)``, video pixels
        ``(T, H, W)``) summed over RGB."""
        key = (variant, model, method, i, target)
        if key not in self._attributions:
            batch = to_batch(self.datasets[variant], [i])
            kwargs = {"n_steps": self.ig_steps} if method == "ig" else {}
            attr = attribute(self.models[model], batch.audio, batch.video,
                             torch.tensor([target]), method, self.baseline, **kwargs)
            self._attributions[key] = (attr.audio[0].numpy(), attr.video_pixels()[0].numpy())
        return self._attributions[key]

    def _on_change(self, change) -> None:
        if change["owner"] is self.variant:
            self.sample.max = len(self.indices[self.variant.value]) - 1
        self.render()

    def render(self) -> None:
        """Redraw the figure and the label for the current control values."""
        variant, model, method = self.variant.value, self.model.value, self.method.value
        arrays, row, direction = self.datasets[variant], self.sample.value, self.direction.value
        i = int(self.indices[variant][row])
        out = self.outputs(variant, model)
        probs = out.logits[row].softmax(-1).numpy()
        pred, true = int(probs.argmax()), int(arrays.labels[i])
        names = arrays.class_names or tuple(str(c) for c in range(len(probs)))
        if method == "attention":
            vmap, amap = clip_maps(out, row, direction)
            note = "" if vmap is not None or amap is not None else \
                f" — {model} returns no {direction} maps"
            map_names = DIRECTION_MAPS[direction]
        else:
            amap, vmap = self.attribution(variant, model, method, i, pred)
            note, map_names = f" — {method} for '{names[pred]}' ({self.baseline} baseline)", \
                (f"{method} video", f"{method} audio")
        mark = "✓" if pred == true else "✗"
        self.label.value = (f"<b>{html.escape(str(arrays.clip_ids[i]))}</b>: predicted "
                            f"<b class='pred'>{names[pred]}</b> (p={probs[pred]:.2f}), true "
                            f"<b class='true'>{names[true]}</b> {mark}{html.escape(note)}")
        fig = plot_clip_explanation(arrays, i, vmap, amap, title=f"{model} on {variant}: clip {i}",
                                    signed=method != "attention", map_names=map_names)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=self.dpi, bbox_inches="tight")
        plt.close(fig)
        self.image.value = buf.getvalue()
