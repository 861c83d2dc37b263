"""The one batch type every corpus yields, an in-memory clip store and its torch Dataset. Shapes:
audio ``(B, Ta, F)`` float32 MFCC; video ``(B, T, 3, H, W)`` float32 in [0, 1]; label ``(B,)``
int64; optional masks ``audio_mask (B, Ta)``, ``video_mask (B, T, H, W)`` (SynthAV only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass(frozen=True)
class Batch:
    """A batch of clips. ``clip_id`` is a list of strings; masks are ``None`` for real corpora."""

    audio: torch.Tensor
    video: torch.Tensor
    label: torch.Tensor
    clip_id: list[str]
    audio_mask: torch.Tensor | None = None
    video_mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return replace(self, **{k: v.to(device, non_blocking=True) for k, v in vars(self).items()
                                if isinstance(v, torch.Tensor)})

    def __len__(self) -> int:
        return int(self.label.shape[0])


@dataclass
class ClipArrays:
    """Numpy arrays for a whole corpus: audio ``(N, Ta, F)`` float16/32, video ``(N, T, H, W,
    3)`` uint8 (or ``(N, T, Fv)`` float features, e.g. IEMOCAP), labels/actors ``(N,)``."""

    audio: np.ndarray
    video: np.ndarray
    labels: np.ndarray
    actors: np.ndarray
    clip_ids: np.ndarray
    audio_mask: np.ndarray | None = None
    video_mask: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    meta: dict | None = None

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in ("audio", "video", "actors", "clip_ids"):
            if (got := len(getattr(self, name))) != n:
                raise ValueError(f"ClipArrays.{name}: expected {n} rows, got {got}")
        features = self.video.ndim == 3 and np.issubdtype(self.video.dtype, np.floating)
        if not features and (self.video.ndim != 5 or self.video.shape[-1] != 3):
            raise ValueError(f"ClipArrays.video: expected shape (N, T, H, W, 3) uint8 frames or "
                             f"(N, T, Fv) float features, got {self.video.shape}")
        if self.audio.ndim != 3:
            raise ValueError(f"ClipArrays.audio: expected shape (N, Ta, F), got {self.audio.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> ClipArrays:
        rows = ("audio", "video", "labels", "actors", "clip_ids", "audio_mask", "video_mask")
        pick = lambda a: None if a is None else a[idx]
        return replace(self, **{k: pick(getattr(self, k)) for k in rows})


def to_batch(arrays: ClipArrays, idx: np.ndarray | list[int]) -> Batch:
    """Gather rows ``idx`` into a :class:`Batch` (video scaled to [0, 1], channels first)."""
    idx = np.asarray(idx)
    video = torch.from_numpy(np.ascontiguousarray(arrays.video[idx]))  # (B, T, H, W, 3) uint8
    # feature corpora: (B, T, Fv) float vectors, passed as they are; frames → (B, T, 3, H, W)
    video = video.float() if video.ndim == 3 else video.permute(0, 1, 4, 2, 3).float().div_(255.0)
    audio = torch.from_numpy(np.ascontiguousarray(arrays.audio[idx], np.float32))  # (B, Ta, F)
    mask = lambda a: None if a is None else torch.from_numpy(np.asarray(a[idx]))
    return Batch(audio, video, torch.from_numpy(np.asarray(arrays.labels[idx], dtype=np.int64)),
                 [str(c) for c in arrays.clip_ids[idx]], mask(arrays.audio_mask),
                 mask(arrays.video_mask))


def skip_recorder(strict: bool) -> tuple[list[dict], Callable[[object, str], None]]:
    """``(skipped, skip)`` for corpus scans: ``skip(path, reason)`` raises ``ValueError`` naming
    the file when ``strict``, else appends ``{"file", "reason"}`` to ``skipped``."""
    skipped: list[dict] = []

    def skip(path, reason: str) -> None:
        if strict:
            raise ValueError(f"{path}: {reason}")
        skipped.append({"file": str(path), "reason": f"{path}: {reason}"})
    return skipped, skip


class ClipDataset(Dataset):
    """Torch Dataset over :class:`ClipArrays`; fetches whole batches at once (``__getitems__``)."""

    def __init__(self, arrays: ClipArrays):
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> Batch:
        return to_batch(self.arrays, [i])

    def __getitems__(self, idx: list[int]) -> Batch:
        return to_batch(self.arrays, idx)


def collate_batches(batch: Batch) -> Batch:
    """``collate_fn`` for :class:`ClipDataset`, whose ``__getitems__`` already built the batch."""
    return batch
