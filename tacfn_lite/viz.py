"""Figures (matplotlib/seaborn). Every function takes arrays or a FusionOutput, an optional
``ax``/figure size, returns the Figure, never calls ``plt.show()`` and never edits global style.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if not matplotlib.get_backend().lower().startswith(("module://", "nbagg", "widget", "ipympl")) else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .data.core import ClipArrays  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` (creating the folder) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def standardise_rows(x: np.ndarray) -> np.ndarray:
    """Z-score each row (MFCC coefficient) so all coefficients are visible in one image."""
    x = np.asarray(x, dtype=np.float32)
    return (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-6)


def plot_clip_grid(arrays: ClipArrays, indices, n_show_frames: int = 8) -> plt.Figure:
    """One row per clip: evenly spaced frames (cue frames outlined in red) and the MFCC image
    with the ground-truth audio cue window shaded. Notebook 00; README figure.
    """
    indices = list(indices)
    T = arrays.video.shape[1]
    frames = np.linspace(0, T - 1, n_show_frames).round().astype(int)
    fig, axes = plt.subplots(len(indices), n_show_frames + 1, squeeze=False,
                             figsize=(1.1 * n_show_frames + 3.2, 1.25 * len(indices)),
                             gridspec_kw={"width_ratios": [1] * n_show_frames + [3]})
    names = arrays.class_names or tuple(str(i) for i in range(8))
    for row, i in enumerate(indices):
        for col, f in enumerate(frames):
            ax = axes[row, col]
            ax.imshow(arrays.video[i, f])
            ax.set_xticks([]), ax.set_yticks([])
            cue = arrays.video_mask is not None and arrays.video_mask[i, f].any()
            for spine in ax.spines.values():
                spine.set_edgecolor("red" if cue else "0.8")
                spine.set_linewidth(2.0 if cue else 0.5)
            if row == 0:
                ax.set_title(f"frame {f}", fontsize=7)
        ax = axes[row, -1]
        ax.imshow(standardise_rows(arrays.audio[i].T), aspect="auto", origin="lower", cmap="magma")
        if arrays.audio_mask is not None and arrays.audio_mask[i].any():
            on = np.flatnonzero(arrays.audio_mask[i])
            ax.axvspan(on[0] - 0.5, on[-1] + 0.5, color="cyan", alpha=0.3, lw=0)
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
        ax.set_ylabel("MFCC", fontsize=7)
        ax.yaxis.set_label_position("right")
        axes[row, 0].set_ylabel(f"{names[arrays.labels[i]]}\nactor {arrays.actors[i]}",
                                fontsize=7, rotation=0, ha="right", va="center")
    axes[-1, -1].set_xlabel("audio frame (cue window shaded)", fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig
