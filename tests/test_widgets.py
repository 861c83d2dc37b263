"""Explorer widget: renders a PNG and a label, follows the controls, caches model outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tacfn_lite.config import get_config
from tacfn_lite.io import atomic_torch_save
from tacfn_lite.model import build_model
from tacfn_lite.widgets import Explorer

PNG = b"\x89PNG"


class CountingModel(nn.Module):
    """Wraps a model and counts how many clips went through forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.clips_seen = model, 0

    def forward(self, audio, video):
        self.clips_seen += len(audio)
        return self.model(audio, video)


@pytest.fixture
def small_sets(synthav):
    sync = synthav("synchrony", "quick")
    comp = synthav("complementary", "quick")
    return {"synchrony": sync.subset(np.arange(0, 576, 72)),  # 8 clips
            "complementary": comp.subset(np.arange(0, 576, 96))}  # 6 clips


def _model(name: str = "tacfn") -> nn.Module:
    torch.manual_seed(0)
    return build_model(get_config(model=name).model).eval()


def test_explorer_shows_a_png_and_the_predicted_and_true_label(small_sets):
    ex = Explorer({"tacfn": _model()}, small_sets)
    assert ex.image.value[:4] == PNG
    assert "predicted" in ex.label.value and "true" in ex.label.value
    assert "synthav-synchrony-00000" in ex.label.value


def test_moving_the_slider_changes_the_image_and_the_label(small_sets):
    ex = Explorer({"tacfn": _model()}, small_sets)
    image, label = ex.image.value, ex.label.value
    ex.sample.value = 3
    assert ex.image.value != image and ex.label.value != label
    assert "synthav-synchrony-00216" in ex.label.value  # row 3 of the subset = clip 3 * 72


def test_model_outputs_are_computed_once_per_variant_and_model(small_sets):
    counting = CountingModel(_model())
    ex = Explorer({"tacfn": counting}, small_sets)
    assert counting.clips_seen == 8  # every shown synchrony clip, once
    for i in range(1, 8):
        ex.sample.value = i
    ex.direction.value = "video->audio"
    assert counting.clips_seen == 8
    ex.variant.value = "complementary"
    assert counting.clips_seen == 8 + 6
    assert ex.sample.max == 5


def test_a_model_without_maps_says_so_instead_of_drawing_one(small_sets):
    ex = Explorer({"tacfn": _model(), "concat": _model("concat")}, small_sets)
    ex.model.value = "concat"
    assert "returns no audio-&gt;video maps" in ex.label.value
    assert ex.image.value[:4] == PNG


def test_attribution_methods_draw_and_are_cached_per_clip(small_sets):
    ex = Explorer({"tacfn": _model()}, small_sets, ig_steps=4)
    attention = ex.image.value
    ex.method.value = "ig"
    assert ex.image.value != attention and "ig for" in ex.label.value
    assert len(ex._attributions) == 1
    ex.method.value = "attention"
    ex.method.value = "ig"
    assert len(ex._attributions) == 1
    audio, video = next(iter(ex._attributions.values()))
    arrays = small_sets["synchrony"]
    assert audio.shape == arrays.audio.shape[1:] and video.shape == arrays.video.shape[1:4]


def test_explorer_loads_models_given_as_checkpoint_paths(small_sets, tmp_path):
    cfg = get_config(model="tacfn")
    model = _model()
    path = atomic_torch_save({"model": model.state_dict(), "config": cfg.to_dict()},
                             tmp_path / "best.pt")
    ex = Explorer({"saved": path}, small_sets, indices={"synchrony": np.array([2, 5])})
    loaded = ex.models["saved"]
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert ex.sample.max == 1 and "synthav-synchrony-00144" in ex.label.value


def test_explorer_without_models_raises(small_sets):
    with pytest.raises(ValueError, match="at least one model"):
        Explorer({}, small_sets)
