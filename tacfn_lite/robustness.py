"""Robustness to a missing or noisy modality (notebook 07): one modality zeroed, replaced by the
training mean clip or given seeded Gaussian noise; one tidy row per (model, condition)."""

from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from .data.core import ClipArrays
from .inference import predict_arrays
from .metrics import classification_metrics

MODALITIES = ("audio", "video")
KINDS = ("clean", "zeros", "mean", "noise")


@dataclass(frozen=True)
class Condition:
    """One perturbation. ``modality`` is None only for ``clean``; ``level`` only for noise."""

    kind: str = "clean"
    modality: str | None = None
    level: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Condition.kind: expected one of {KINDS}, got {self.kind!r}")
        allowed = (None,) if self.kind == "clean" else MODALITIES
        if self.modality not in allowed:
            raise ValueError(f"Condition.modality: {self.kind!r} needs one of {allowed}, "
                             f"got {self.modality!r}")
        if self.level < 0:
            raise ValueError(f"Condition.level: expected >= 0, got {self.level}")

    @property
    def name(self) -> str:
        level = f" {self.level:g}" if self.kind == "noise" else ""
        return "clean" if self.kind == "clean" else f"{self.modality} {self.kind}{level}"


def default_conditions(levels: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)) -> list[Condition]:
    """Clean, each modality zeroed and mean-replaced, and Gaussian noise at ``levels``."""
    conds = [Condition()]
    for modality in MODALITIES:
        conds += [Condition("zeros", modality), Condition("mean", modality)]
        conds += [Condition("noise", modality, float(lv)) for lv in levels]
    return conds


@dataclass(frozen=True)
class ModalityStats:
    """Training-set statistics for the perturbations. Shapes: audio_mean ``(Ta, F)``, audio_std
    ``(F,)``; video_mean ``(T, 3, H, W)`` in [0, 1], video_std ``(3,)`` (per colour channel)."""

    audio_mean: torch.Tensor
    audio_std: torch.Tensor
    video_mean: torch.Tensor
    video_std: torch.Tensor


def training_stats(train: ClipArrays, chunk: int = 256) -> ModalityStats:
    """Mean clip and per-feature / per-channel standard deviation of the training clips."""
    if (n := len(train)) == 0:
        raise ValueError("training_stats: the training set is empty")
    audio = torch.from_numpy(np.asarray(train.audio, dtype=np.float64))  # (N, Ta, F)
    a_std = audio.reshape(-1, audio.shape[-1]).std(0, correction=0)  # (F,)
    v_sum = v_sq = 0.0
    for start in range(0, n, chunk):  # video in chunks: (n, T, H, W, 3) uint8 can be large
        v = torch.from_numpy(np.asarray(train.video[start:start + chunk], dtype=np.float64)) / 255
        v_sum = v_sum + v.sum(0)  # (T, H, W, 3)
        v_sq = v_sq + (v ** 2).sum((0, 1, 2, 3))  # (3,)
    v_mean = v_sum / n  # (T, H, W, 3)
    ch_mean = v_mean.mean((0, 1, 2))  # (3,)
    v_std = (v_sq / (n * np.prod(train.video.shape[1:4])) - ch_mean ** 2).clamp_min(0).sqrt()
    return ModalityStats(audio.mean(0).float(), a_std.float(),
                         v_mean.permute(0, 3, 1, 2).float(), v_std.float())  # (T, 3, H, W)


def perturb(audio: torch.Tensor, video: torch.Tensor, cond: Condition, stats: ModalityStats,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``cond`` to a batch (the other modality unchanged; noisy video clipped to [0, 1] so it
    stays an image). Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)`` → same shapes."""
    if cond.kind == "clean":
        return audio, video
    on_audio = cond.modality == "audio"
    x = audio if on_audio else video
    if cond.kind == "zeros":
        x = torch.zeros_like(x)
    elif cond.kind == "mean":
        mean = stats.audio_mean if on_audio else stats.video_mean
        if mean.shape != x.shape[1:]:
            raise ValueError(f"{cond.modality} mean clip has shape {tuple(mean.shape)}, "
                             f"batch has {tuple(x.shape[1:])}")
        x = mean.to(x.device, x.dtype).expand_as(x).clone()
    else:
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
        std = stats.audio_std if on_audio else stats.video_std.view(3, 1, 1)  # (F,) | (3, 1, 1)
        x = x + cond.level * noise * std.to(x.device, x.dtype)
        x = x if on_audio else x.clamp(0.0, 1.0)
    return (x, video) if on_audio else (audio, x)


@torch.no_grad()
def evaluate_robustness(models: dict[str, nn.Module], test: ClipArrays, stats: ModalityStats,
                        conditions: list[Condition] | None = None, batch_size: int = 64,
                        device: torch.device | str = "cpu", seed: int = 0) -> list[dict]:
    """Accuracy, UAR and macro F1 of every model (in eval mode: no modality dropout) under every
    condition, one tidy row per model × condition: ``model``, ``condition``, ``kind``,
    ``modality``, ``level``, ``n``, ``accuracy``, ``uar``, ``macro_f1`` and ``accuracy_drop``
    (clean accuracy minus this one; present when ``clean`` is evaluated). Notebook 07."""
    n_classes = len(test.class_names) or int(test.labels.max()) + 1
    rows = []
    for name, model in models.items():
        model.eval().to(device)
        for c_idx, cond in enumerate(default_conditions() if conditions is None else conditions):
            gen = torch.Generator().manual_seed(seed * 1000 + c_idx)  # same noise for every model
            out = predict_arrays(model, test, batch_size=batch_size, device=device,
                                 transform=partial(perturb, cond=cond, stats=stats, generator=gen))
            m = classification_metrics(test.labels, out.logits.argmax(-1).numpy(), n_classes)
            rows.append({"model": name, "condition": cond.name, **asdict(cond), "n": len(test),
                         **{k: m[k] for k in ("accuracy", "uar", "macro_f1")}})
    clean = {r["model"]: r["accuracy"] for r in rows if r["kind"] == "clean"}
    for r in rows:
        if r["model"] in clean:
            r["accuracy_drop"] = clean[r["model"]] - r["accuracy"]
    return rows


def format_robustness(rows: list[dict]) -> str:
    """Markdown table: one row per condition, one accuracy column (%) per model."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    acc = {(r["model"], r["condition"]): r["accuracy"] for r in rows}
    lines = ["| condition | " + " | ".join(models) + " |", "|---" * (len(models) + 1) + "|"]
    for c in dict.fromkeys(r["condition"] for r in rows):
        cells = [f"{100 * acc[m, c]:.1f}" if (m, c) in acc else "" for m in models]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
