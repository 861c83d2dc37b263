"""Captum on the tuple ``(audio, video)``, named baselines, a ``(B,)`` target (DESIGN §6, STYLE
§3): IG with its checked delta, Occlusion, modality ablation, randomisation. Notebooks 05, 06."""

import copy
import logging
import math
import warnings
from dataclasses import dataclass

import torch
from captum.attr import FeatureAblation, IntegratedGradients, LayerIntegratedGradients, Occlusion
from torch import nn

log = logging.getLogger(__name__)

BASELINES = ("zeros", "mean", "blur")


class LogitsForward(nn.Module):
    """Tensor-only forward for Captum: ``(audio, video) -> logits``, maps dropped.
    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)`` → ``(B, C)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        logits = self.model(audio, video).logits.float()
        for x, encoder in ((audio, "audio_encoder"), (video, "video_encoder")):
            if getattr(self.model, encoder, True) is None:  # a unimodal model ignores x, but
                logits = logits + 0.0 * x.sum()  # Captum needs it in the graph: attribution 0
        return logits


@dataclass(frozen=True)
class Attribution:
    """Per-element attributions in input order, with what produced them.
    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)`` (same as the inputs); ``delta``
    ``(B,)`` IG convergence delta (sum of attributions − (f(x) − f(baseline))), ``output_gap``
    ``(B,)`` f(x) − f(baseline) for the target logit; both None for other methods."""

    audio: torch.Tensor
    video: torch.Tensor
    method: str
    baseline: str
    delta: torch.Tensor | None = None
    output_gap: torch.Tensor | None = None

    @property
    def completeness_error(self) -> torch.Tensor:
        """``|delta| / |f(x) − f(baseline)|`` per sample (IG only). Shapes: ``(B,)``."""
        if self.delta is None or self.output_gap is None:
            raise ValueError(f"completeness_error needs IG attributions, not {self.method!r}")
        return self.delta.abs() / self.output_gap.abs().clamp_min(1e-8)

    def audio_time(self) -> torch.Tensor:
        """Signed attribution per audio frame (summed over MFCC). Shapes: ``(B, Ta)``."""
        return self.audio.sum(-1)

    def video_pixels(self) -> torch.Tensor:
        """Signed attribution per pixel (summed over RGB). Shapes: ``(B, T, H, W)``."""
        return self.video.sum(2)


def _blur(x: torch.Tensor, dim: int, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``x`` along ``dim`` (reflect padding). Shape unchanged."""
    radius = min(math.ceil(3 * sigma), x.shape[dim] - 1)
    if radius < 1:
        return x
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, device=x.device) / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    moved = x.movedim(dim, -1)  # (..., L)
    flat = nn.functional.pad(moved.reshape(-1, 1, moved.shape[-1]), (radius, radius),
                             mode="reflect")  # (M, 1, L + 2 * radius)
    return nn.functional.conv1d(flat, k.view(1, 1, -1)).reshape(moved.shape).movedim(-1, dim)


def make_baselines(name: str, audio: torch.Tensor, video: torch.Tensor):
    """Named reference inputs for IG / Occlusion / ablation.
    - ``zeros``: MFCC 0 and a black video; not neutral ("no face" is evidence too).
    - ``mean``: each clip's own temporal mean: keeps voice and face, removes every event in
      time, so attributions answer "which moments matter" (what SynthAV's ground truth asks).
    - ``blur``: Gaussian blur over time (σ = 1/4 of the clip), and over space (σ = 2 px) for
      video: removes sharp events, keeps slow structure.
    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)`` → a tuple of the same shapes."""
    if name == "zeros":
        return torch.zeros_like(audio), torch.zeros_like(video)
    if name == "mean":
        return tuple(x.mean(1, keepdim=True).expand_as(x).contiguous() for x in (audio, video))
    if name == "blur":
        v = _blur(video, 1, video.shape[1] / 4)  # over time, then σ = 2 px over H and W
        return _blur(audio, 1, audio.shape[1] / 4), _blur(_blur(v, 3, 2.0), 4, 2.0)
    raise ValueError(f"baseline: expected one of {BASELINES}, got {name!r}")


def _prepare(model: nn.Module, audio: torch.Tensor, video: torch.Tensor, target: torch.Tensor,
             baseline: str) -> tuple[LogitsForward, tuple[torch.Tensor, torch.Tensor]]:
    """Check the shapes; the Captum forward (eval mode) and the named baselines."""
    if audio.ndim != 3 or video.ndim != 5:
        raise ValueError(f"expected audio (B, Ta, F) and video (B, T, 3, H, W), got "
                         f"{tuple(audio.shape)} and {tuple(video.shape)}")
    if target.shape != (audio.shape[0],) or video.shape[0] != audio.shape[0]:
        raise ValueError(f"target: expected shape ({audio.shape[0]},), got {tuple(target.shape)}")
    return LogitsForward(model).eval(), make_baselines(baseline, audio, video)


def integrated_gradients(model: nn.Module, audio: torch.Tensor, video: torch.Tensor,
                         target: torch.Tensor, baseline: str = "mean", n_steps: int = 64,
                         internal_batch_size: int | None = 256,
                         max_error: float | None = 0.01, max_steps: int = 512) -> Attribution:
    """Captum Integrated Gradients on ``(audio, video)`` jointly, with its convergence delta:
    the attributions sum to f(x) − f(baseline) for the target logit up to ``delta``. ``n_steps``
    doubles (up to ``max_steps``: a sharply curved path needs more) while the largest relative
    error exceeds ``max_error``, then a warning is logged; ``max_error=None``: one pass.
    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)``, target ``(B,)`` → Attribution."""
    fwd, base = _prepare(model, audio, video, target, baseline)
    with torch.no_grad():  # f(x) − f(baseline) of the target logit, (B,)
        gap = (fwd(audio, video) - fwd(*base)).gather(1, target[:, None])[:, 0]
    while True:
        (attr_a, attr_v), delta = IntegratedGradients(fwd).attribute(
            (audio, video), baselines=base, target=target, n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
        out = Attribution(attr_a.detach(), attr_v.detach(), "ig", baseline, delta.detach(), gap)
        err = float(out.completeness_error.max())
        if max_error is None or err <= max_error or 2 * n_steps > max_steps:
            break
        n_steps *= 2
    if max_error is not None and err > max_error:
        log.warning("IG completeness error %.3g > %.3g with %d steps; raise max_steps", err,
                    max_error, n_steps)
    return out


def occlusion(model: nn.Module, audio: torch.Tensor, video: torch.Tensor, target: torch.Tensor,
              baseline: str = "mean", audio_window: int = 4, video_window: tuple[int, int] = (2, 8),
              perturbations_per_eval: int = 16) -> Attribution:
    """Captum Occlusion on both modalities: slide a patch of ``audio_window`` frames (all MFCC)
    and of ``video_window`` = (frames, pixels) (all channels) replaced by the baseline; each
    element gets the mean drop in the target logit over the patches covering it.
    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)``, target ``(B,)`` → Attribution."""
    fwd, base = _prepare(model, audio, video, target, baseline)
    F, (wt, wp) = audio.shape[-1], video_window
    attr_a, attr_v = Occlusion(fwd).attribute(
        (audio, video), sliding_window_shapes=((audio_window, F), (wt, 3, wp, wp)),
        strides=((max(1, audio_window // 2), F), (wt, 3, wp, wp)), baselines=base,
        target=target, perturbations_per_eval=perturbations_per_eval)
    return Attribution(attr_a.detach(), attr_v.detach(), "occlusion", baseline)


def attribute(model: nn.Module, audio: torch.Tensor, video: torch.Tensor, target: torch.Tensor,
              method: str = "ig", baseline: str = "mean", **kwargs) -> Attribution:
    """Dispatch to :func:`integrated_gradients` or :func:`occlusion` by ``method`` name."""
    methods = {"ig": integrated_gradients, "occlusion": occlusion}
    if method not in methods:
        raise ValueError(f"method: expected one of {tuple(methods)}, got {method!r}")
    return methods[method](model, audio, video, target, baseline, **kwargs)


def modality_ablation(model: nn.Module, audio: torch.Tensor, video: torch.Tensor,
                      target: torch.Tensor, baseline: str = "zeros") -> torch.Tensor:
    """Captum FeatureAblation with one mask group per modality: the drop in the target logit
    when the whole audio (column 0) or the whole video (column 1) is replaced by the baseline.
    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)``, target ``(B,)`` → ``(B, 2)``."""
    fwd, base = _prepare(model, audio, video, target, baseline)
    masks = (torch.zeros_like(audio[:1], dtype=torch.long),  # group 0 = audio
             torch.ones_like(video[:1], dtype=torch.long))  # group 1 = video
    attr_a, attr_v = FeatureAblation(fwd).attribute((audio, video), baselines=base, target=target,
                                                    feature_mask=masks)
    return torch.stack([attr_a.flatten(1)[:, 0], attr_v.flatten(1)[:, 0]], 1).detach()  # (B, 2)


def modality_importance_per_class(importance: torch.Tensor, labels: torch.Tensor,
                                  n_classes: int) -> torch.Tensor:
    """Mean modality importance per true class. Shapes: ``(B, 2)``, ``(B,)`` → ``(C, 2)``
    (rows of absent classes are NaN: the mean of no rows)."""
    return torch.stack([importance[labels == c].mean(0) for c in range(n_classes)]).cpu()


def token_attributions(model: nn.Module, audio: torch.Tensor, video: torch.Tensor,
                       target: torch.Tensor, baseline: str = "mean", n_steps: int = 32):
    """Layer Integrated Gradients at the encoders' outputs, summed over channels: how much each
    audio token and each video cell (the units the fusion weighs) contributed.
    Shapes: → (audio ``(B, Ta)``, video ``(B, T', H', W')``) on the encoders' token grid."""
    fwd, base = _prepare(model, audio, video, target, baseline)
    enc_a, enc_v = model.audio_encoder, model.video_encoder
    if enc_a is None or enc_v is None:
        raise ValueError("token_attributions needs a model with both audio and video encoders")
    with warnings.catch_warnings():  # the two layers sit in separate branches, as required
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        lig = LayerIntegratedGradients(fwd, [enc_a.conv, enc_v.backbone])
    attr_a, attr_v = lig.attribute((audio, video), baselines=base, target=target, n_steps=n_steps)
    return attr_a.sum(1).detach(), attr_v.sum(1).detach()  # from (B, D, Ta), (B, D, T', H', W')


def randomised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy with every parameter re-initialised (Adebayo et al. 2018 sanity check): maps
    that survive this unchanged explain the input or architecture, not what was learned."""
    clone = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # caller's CPU RNG left untouched
        torch.manual_seed(seed)
        for module in list(clone.modules())[1:]:  # every submodule, not the model itself
            reset = getattr(module, "reset_parameters", None) or getattr(
                module, "_reset_parameters", None)  # nn.MultiheadAttention has the latter
            if reset is not None:
                reset()
        for name, p in clone.named_parameters():  # bare nn.Parameters (queries, cell positions)
            if "." not in name or name.split(".")[-1] in ("query", "cell", "table"):
                p.normal_(0, 0.02)
    return clone.eval()


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation per sample between two maps of the same shape.
    Shapes: ``(B, ...)`` and ``(B, ...)`` → ``(B,)``."""
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    ra, rb = (x.flatten(1).argsort(1).argsort(1).float() for x in (a, b))  # (B, M) ranks
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-12)
