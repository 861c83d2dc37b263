"""Linear probes of SynthAV's designed ceilings (data-set honesty tests, notebook 00): unlearned
summaries (MFCC time statistics; per-pixel temporal extremes of each frame minus the clip's mean
frame) fed to a multinomial logistic regression."""

from __future__ import annotations

import numpy as np
import torch

from .core import ClipArrays


def audio_summary_features(audio: np.ndarray) -> np.ndarray:
    """Per-coefficient mean, std, max, min and (max - median) over time.

    Shapes: audio ``(N, Ta, F)`` → ``(N, 5F)``.
    """
    a = np.asarray(audio, dtype=np.float32)
    med = np.median(a, axis=1)
    return np.concatenate([a.mean(1), a.std(1), a.max(1), a.min(1), a.max(1) - med], axis=1)


def video_summary_features(video: np.ndarray, pool: int = 2) -> np.ndarray:
    """Per-pixel temporal max and min of (grey frame - mean grey frame), average-pooled.

    Shapes: video ``(N, T, H, W, 3)`` uint8 → ``(N, 2 · H/pool · W/pool)``.
    """
    grey = np.asarray(video, dtype=np.float32).mean(-1) / 255.0  # (N, T, H, W)
    diff = grey - grey.mean(1, keepdims=True)
    n, _, h, w = grey.shape
    stats = np.stack([diff.max(1), diff.min(1)], 1)  # (N, 2, H, W)
    return stats.reshape(n, 2, h // pool, pool, w // pool, pool).mean((3, 5)).reshape(n, -1)


def linear_probe_accuracy(features: np.ndarray, targets: np.ndarray, train: np.ndarray,
                          test: np.ndarray, epochs: int = 300, weight_decay: float = 1e-3,
                          seed: int = 0) -> float:
    """Accuracy on ``test`` rows of a standardised multinomial logistic regression fit on
    ``train`` rows."""
    g = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(features, dtype=torch.float32)
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
    x = (x - mu) / sd
    y = torch.as_tensor(targets, dtype=torch.long)
    n_classes = int(y.max()) + 1
    w = (torch.randn(x.shape[1], n_classes, generator=g) * 0.01).requires_grad_()
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(x[train] @ w + b, y[train]).backward()
        opt.step()
    with torch.no_grad():
        return float(((x[test] @ w + b).argmax(1) == y[test]).float().mean())


def probe_report(arrays: ClipArrays, train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Probe accuracy from audio alone, video alone and both (features concatenated)."""
    fa, fv = audio_summary_features(arrays.audio), video_summary_features(arrays.video)
    y = arrays.labels
    return {"audio": linear_probe_accuracy(fa, y, train, test),
            "video": linear_probe_accuracy(fv, y, train, test),
            "both": linear_probe_accuracy(np.concatenate([fa, fv], 1), y, train, test)}
