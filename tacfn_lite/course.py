"""Course helpers: one config per (model, variant, quick) for every notebook, the checkpoint
path that notebook 04 writes and notebooks 05-07 reuse, and the course's summary figures.

Notebooks 01-08. Checkpoints are loaded or trained by :func:`tacfn_lite.checkpoints.load_or_train`.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .config import RunConfig, get_config

QUICK_EPOCHS = 12  # quick SynthAV (576 clips): a few seconds per model on a laptop CPU
FULL_EPOCHS = 40
COURSE_MODELS = ("tacfn", "concat", "late", "mult", "audio", "video")
# Notebook 03: one switch off at a time (fusion.py); quick runs train the first one only.
ABLATIONS = {"no selection": {"select": False}, "learned time": {"time_encoding": "learned"},
             "no reinforcement": {"reinforce": False}, "no residual": {"residual": False}}
QUICK_ABLATIONS = dict(list(ABLATIONS.items())[:1])


def course_config(model: str = "tacfn", variant: str = "complementary", quick: bool = True,
                  seed: int = 0, device: str = "auto", cache_dir: str = ".cache/tacfn_lite",
                  **overrides: Any) -> RunConfig:
    """The config every notebook uses for ``model`` on SynthAV ``variant``.

    ``quick`` picks the quick data set and :data:`QUICK_EPOCHS`, else the full set and
    :data:`FULL_EPOCHS`. ``overrides`` are any :func:`get_config` keys (e.g. ``select=False``).
    """
    base = {"model": model, "variant": variant, "size": "quick" if quick else "full",
            "seed": seed, "device": device, "cache_dir": str(cache_dir), "progress": False,
            "epochs": QUICK_EPOCHS if quick else FULL_EPOCHS}
    return get_config("tiny", **{**base, **overrides})


def ablation_tag(cfg: RunConfig) -> str:
    """Model fields that differ from the default config, e.g. ``select=False`` (or ``""``)."""
    ref = get_config("tiny", model=cfg.model.model, variant=cfg.data.variant, size=cfg.data.size)
    diffs = [f"{f.name}={getattr(cfg.model, f.name)}" for f in fields(cfg.model)
             if getattr(cfg.model, f.name) != getattr(ref.model, f.name)]
    return ",".join(diffs)


def checkpoint_path(checkpoint_dir: str | Path, cfg: RunConfig) -> Path:
    """``<dir>/<variant>-<size>/<model>[-<ablation>]-s<seed>-e<epochs>/best.pt``.

    Every config field a notebook varies is in the name, so a notebook never loads weights
    trained for another setting; :func:`trained_model` also checks the loaded config.
    """
    tag = ablation_tag(cfg).replace("=", "").replace(",", "-").replace(">", "")
    name = "-".join(x for x in (cfg.model.model, tag, f"s{cfg.train.seed}",
                                f"e{cfg.train.epochs}") if x)
    return Path(checkpoint_dir) / f"{cfg.data.variant}-{cfg.data.size}" / name / "best.pt"


def trained_model(cfg: RunConfig, checkpoint_dir: str | Path, arrays=None):
    """Load the checkpoint for ``cfg`` from ``checkpoint_dir``, training it first if missing.

    Seeds before building, so a fresh run is deterministic on CPU. Returns (model in eval
    mode, its history dict from ``history.json``).
    """
    from .checkpoints import load_or_train
    from .train import resolve_device, seed_everything

    path = checkpoint_path(checkpoint_dir, cfg)
    seed_everything(cfg.train.seed)
    model, saved = load_or_train(cfg, path, arrays=arrays, device=resolve_device(cfg.train.device))
    same_data = replace(saved.data, cache_dir=cfg.data.cache_dir) == cfg.data  # cache may move
    if not same_data or saved.model != cfg.model:
        raise ValueError(f"{path}: its data/model config differs from the requested one; "
                         "delete it or use another checkpoint_dir")
    history_path = path.parent / "history.json"
    if not history_path.is_file():
        raise ValueError(f"{history_path}: missing; {path} was not written by train.fit")
    history = json.loads(history_path.read_text())
    return model, history


def summary_row(history: dict) -> dict:
    """Test accuracy, macro F1 and UAR and the picked epoch from a ``history.json`` dict."""
    t = history["test"]
    return {"test_accuracy": t["accuracy"], "test_macro_f1": t["macro_f1"],
            "test_uar": t["uar"], "best_epoch": history["best_epoch"],
            "val_accuracy": history["best_val_accuracy"]}


def markdown_table(rows: dict[str, dict], ceilings: dict | None = None) -> str:
    """Markdown table of :func:`summary_row` results (percentages), plus designed ceilings."""
    cols = ("test_accuracy", "test_macro_f1", "test_uar", "val_accuracy")
    lines = ["| model | " + " | ".join(c.replace("_", " ") for c in cols) + " | best epoch |",
             "|---" * (len(cols) + 2) + "|"]
    for name, r in rows.items():
        vals = " | ".join(f"{100 * r[c]:.1f}" for c in cols)
        lines.append(f"| {name} | {vals} | {r['best_epoch']} |")
    if ceilings:
        lines.append("\nDesigned ceilings (Bayes-optimal accuracy): "
                     + ", ".join(f"{k} {100 * v:.1f}" for k, v in ceilings.items()) + ".")
    return "\n".join(lines)


def plot_accuracy_bars(accuracies: dict[str, float], ceilings: dict[str, float] | None = None,
                       title: str = "", ax=None) -> plt.Figure:
    """Bars of test accuracy per model, with dashed lines at the designed ceilings.

    Notebooks 01 (unimodal vs ceiling), 03 (ablations) and 04 (all models).
    """
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3))
    names = list(accuracies)
    ax.bar(names, [100 * accuracies[n] for n in names], color="tab:blue", alpha=0.8)
    for i, n in enumerate(names):
        ax.text(i, 100 * accuracies[n] + 1, f"{100 * accuracies[n]:.0f}", ha="center", fontsize=8)
    for k, (name, value) in enumerate((ceilings or {}).items()):
        ax.axhline(100 * value, ls="--", lw=1, color=f"C{k + 1}", label=f"{name} ceiling")
    ax.axhline(100 / 8, ls=":", lw=1, color="0.5", label="chance")
    ax.set_ylim(0, 105)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plot_learning_curves(histories: dict[str, dict]) -> plt.Figure:
    """Training loss and validation accuracy per epoch, one line per model (notebook 04)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    for k, (name, hist) in enumerate(histories.items()):
        ep = np.array([r["epoch"] for r in hist["epochs"]]) + 1
        ax_loss.plot(ep, [r["train_loss"] for r in hist["epochs"]], color=f"C{k}", label=name)
        ax_acc.plot(ep, [100 * r["val_accuracy"] for r in hist["epochs"]], color=f"C{k}")
        ax_acc.plot(hist["best_epoch"] + 1, 100 * hist["best_val_accuracy"], "o", color=f"C{k}")
    ax_loss.set(xlabel="epoch", ylabel="training loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)", ylim=(0, 100))
    ax_acc.set_title("dot: epoch picked on validation", fontsize=8)
    ax_loss.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_weights_over_time(weights: np.ndarray, cue: np.ndarray, step_seconds: float,
                           titles: list[str] | None = None, ylabel: str = "weight") -> plt.Figure:
    """Per-clip weights over time (one panel per clip) with the ground-truth cue shaded; the
    dotted line is the uniform weight. Notebooks 02 (audio selection) and 03 (video weight
    summed per frame).

    Shapes: weights ``(B, L)``, cue ``(B, L)`` bool, step ``step_seconds`` between positions.
    """
    B, L = weights.shape
    t = np.arange(L) * step_seconds
    fig, axes = plt.subplots(1, B, figsize=(2.4 * B, 2.0), sharey=True, squeeze=False)
    for b, ax in enumerate(axes[0]):
        ax.plot(t, weights[b], color="tab:purple", lw=1.2)
        ax.axhline(1 / L, ls=":", color="0.5", lw=1)
        on = np.flatnonzero(cue[b])
        if len(on):
            ax.axvspan(t[on[0]] - step_seconds / 2, t[on[-1]] + step_seconds / 2, color="cyan",
                       alpha=0.3, lw=0)
        ax.set_title(titles[b] if titles else f"clip {b}", fontsize=8)
        ax.set_xlabel("time (s)", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0, 0].set_ylabel(ylabel, fontsize=7)
    fig.tight_layout()
    return fig
