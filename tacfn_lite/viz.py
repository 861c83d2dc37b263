"""Every figure (notebooks 00-09, explorer, ``predict --explain``): arrays or a FusionOutput and an
optional ``ax``/size in, the Figure out; no ``plt.show()``, no global style or backend edits."""

import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data.core import ClipArrays
from .fusion import DIRECTION_MAPS, FusionOutput
from .inference import Prediction, clip_inputs, predict_arrays
from .io import atomic_write, write_json

log = logging.getLogger(__name__)


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` atomically (creating the folder) and return the path."""
    path = Path(path)
    return atomic_write(path, lambda fh: fig.savefig(fh, format=path.suffix[1:] or "png", dpi=dpi,
                                                     bbox_inches="tight"))


def standardise_rows(x: np.ndarray) -> np.ndarray:
    """Z-score each row (MFCC coefficient) so all coefficients are visible in one image."""
    x = np.asarray(x, dtype=np.float32)
    return (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-6)


def plot_clip_grid(arrays: ClipArrays, indices, n_show_frames: int = 8) -> plt.Figure:
    """One row per clip: evenly spaced frames (cue frames outlined in red) and the MFCC image
    with the ground-truth audio cue window shaded. Notebook 00; README figure."""
    indices = list(indices)
    frames = np.linspace(0, arrays.video.shape[1] - 1, n_show_frames).round().astype(int)
    fig, axes = plt.subplots(len(indices), n_show_frames + 1, squeeze=False,
                             figsize=(1.1 * n_show_frames + 3.2, 1.25 * len(indices)),
                             gridspec_kw={"width_ratios": [1] * n_show_frames + [3]})
    names = arrays.class_names or tuple(str(i) for i in range(8))
    for row, i in enumerate(indices):
        for ax, f in zip(axes[row], frames):
            ax.imshow(arrays.video[i, f])
            ax.set_xticks([]), ax.set_yticks([])
            cue = arrays.video_mask is not None and arrays.video_mask[i, f].any()
            ax.spines[:].set(edgecolor="red" if cue else "0.8", linewidth=2.0 if cue else 0.5)
            if row == 0:
                ax.set_title(f"frame {f}", fontsize=7)
        ax = axes[row, -1]
        ax.imshow(standardise_rows(arrays.audio[i].T), aspect="auto", origin="lower", cmap="magma")
        if arrays.audio_mask is not None and arrays.audio_mask[i].any():
            on = np.flatnonzero(arrays.audio_mask[i])
            ax.axvspan(on[0] - 0.5, on[-1] + 0.5, color="cyan", alpha=0.3, lw=0)
        ax.set_yticks([]), ax.tick_params(labelsize=6), ax.yaxis.set_label_position("right")
        ax.set_ylabel("MFCC", fontsize=7)
        axes[row, 0].set_ylabel(f"{names[arrays.labels[i]]}\nactor {arrays.actors[i]}",
                                fontsize=7, rotation=0, ha="right", va="center")
    axes[-1, -1].set_xlabel("audio frame (cue window shaded)", fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig


def plot_robustness(rows: list[dict], figsize: tuple[float, float] = (12.0, 3.6)) -> plt.Figure:
    """Accuracy (``robustness.evaluate_robustness`` rows) against audio / video noise level
    (0 = clean), and bars for clean / zeroed / mean-replaced modalities. Notebook 07."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=figsize, gridspec_kw={"width_ratios": [1, 1, 1.4]})
    for ax, modality in zip(axes[:2], ("audio", "video")):
        for m in models:  # the clean row has level 0
            pts = sorted((r["level"], r["accuracy"]) for r in rows if r["model"] == m and
                         (r["kind"], r["modality"]) in (("clean", None), ("noise", modality)))
            if pts:
                ax.plot(*zip(*pts), "o-", label=m, ms=4)
        ax.set(xlabel=f"{modality} noise (× training std)", ylim=(0, 1.02))
        ax.set_title(f"Gaussian noise on {modality}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    bars = ["clean", "audio zeros", "audio mean", "video zeros", "video mean"]
    acc = {(r["model"], r["condition"]): r["accuracy"] for r in rows}
    width = 0.8 / max(len(models), 1)
    for i, m in enumerate(models):
        xs = np.arange(len(bars)) + (i - (len(models) - 1) / 2) * width
        axes[2].bar(xs, [acc.get((m, b), np.nan) for b in bars], width, label=m)
    axes[2].set_xticks(np.arange(len(bars)), bars, fontsize=8), axes[2].set_ylim(0, 1.02)
    axes[2].set_title("missing modality (zeros / training mean)", fontsize=9)
    axes[2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_audio_map(mfcc: np.ndarray, weights: np.ndarray | None, audio_mask=None,
                   title: str = "audio selection", ax=None) -> plt.Figure:
    """MFCC image ``(Ta, F)`` with a per-frame map ``(Ta,)`` drawn over it (or a per-element
    map ``(Ta, F)`` as a translucent heatmap) and the ground-truth cue window outlined."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 2.2))
    Ta, F = mfcc.shape
    image = dict(aspect="auto", origin="lower", extent=(-0.5, Ta - 0.5, -0.5, F - 0.5))
    ax.imshow(standardise_rows(mfcc.T), cmap="gray", **image)
    if weights is not None and np.ndim(weights) == 2:
        lim = float(np.abs(weights).max()) or 1.0
        im = ax.imshow(np.asarray(weights).T, cmap="RdBu_r", alpha=0.6, vmin=-lim, vmax=lim, **image)
        fig.colorbar(im, cax=ax.inset_axes([1.01, 0, 0.015, 1]), format="%.2g")  # no offset label
    elif weights is not None:
        w = np.asarray(weights, dtype=np.float32)
        scaled = (w - w.min()) / (np.ptp(w) + 1e-12) * (F - 1)  # map onto the MFCC axis
        title += f" (curve: {w.min():.4f} at the bottom to {w.max():.4f} at the top)"
        ax.fill_between(np.arange(Ta), -0.5, scaled - 0.5, color="orange", alpha=0.45, lw=0)
        ax.plot(np.arange(Ta), scaled - 0.5, color="orange", lw=1.5)
    if audio_mask is not None and np.any(audio_mask):
        on = np.flatnonzero(audio_mask)
        ax.add_patch(plt.Rectangle((on[0] - 0.5, -0.5), len(on), F, fill=False, ec="lime", lw=2))
    ax.set(xlabel="audio frame", ylabel="MFCC"), ax.set_title(title, fontsize=9)
    return fig


def plot_video_map(frames: np.ndarray, weights: np.ndarray | None, video_mask=None,
                   n_show: int = 8, title: str = "video reinforcement", axes=None,
                   signed: bool = False) -> plt.Figure:
    """Frames ``(T, H, W, 3)`` overlaid with a token-grid map ``(T', H', W')`` (reinforcement
    weights) or a pixel map ``(T, H, W)`` (attributions) resized to them, on one colour scale for
    all frames (signed maps: ± the 99th percentile of |value|, so a few extreme pixels do not
    fade the rest); ground-truth cue pixels outlined in green."""
    from .validity import grid_to_pixels  # not at import: validity loads Captum

    T, H, W = frames.shape[:3]
    show = np.linspace(0, T - 1, n_show).round().astype(int)
    if axes is None:
        axes = plt.subplots(1, n_show, figsize=(1.2 * n_show, 1.6), squeeze=False)[1][0]
    full = None if weights is None else grid_to_pixels(  # nearest neighbour → (T, H, W)
        torch.as_tensor(np.ascontiguousarray(weights))[None], (T, H, W))[0].numpy()
    if full is not None:
        size = np.abs(full)  # sparse maps: the 99th percentile may be 0, then the maximum
        lim = float(np.quantile(size, 0.99 if signed else 1.0)) or float(size.max()) or 1.0
        vmin, vmax, cmap = ((-lim, lim, "RdBu_r") if signed
                            else (float(full.min()), float(full.max()), "inferno"))
    for ax, f in zip(axes, show):
        ax.imshow(frames[f])
        if full is not None:  # sparse signed maps: opacity grows with |value|
            alpha = np.clip(np.abs(full[f]) / lim, 0, 1) ** 0.5 * 0.9 if signed else 0.55
            ax.imshow(full[f], cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax)
        if video_mask is not None and np.any(video_mask[f]):  # ground-truth cue pixels
            ax.contour(np.asarray(video_mask[f], float), levels=[0.5], colors="lime", linewidths=1)
        ax.set(xticks=[], yticks=[]), ax.set_title(f"frame {f}", fontsize=7)
    if full is not None:  # the colour scale all frames share, beside the last one
        bar = axes[0].figure.colorbar(plt.cm.ScalarMappable(plt.Normalize(vmin, vmax), cmap),
                                      cax=axes[-1].inset_axes([1.08, 0, 0.08, 1]), format="%.2g")
        bar.ax.tick_params(labelsize=6)
    axes[0].set_ylabel(title, fontsize=8)
    return axes[0].figure


def plot_explanation(frames: np.ndarray, mfcc: np.ndarray, video_map, audio_map,
                     video_mask=None, audio_mask=None, title: str = "", n_show: int = 8,
                     signed: bool = False, map_names=("video", "audio")) -> plt.Figure:
    """One figure for one clip: frames with the video map (top) and MFCC with the audio map
    (bottom), ground truth outlined, ``title`` (e.g. prediction vs truth) on top. Explorer."""
    fig = plt.figure(figsize=(1.2 * n_show, 3.6))
    grid = fig.add_gridspec(2, n_show, height_ratios=[1, 1.3], hspace=0.35)
    map_names = [n if m is not None else f"{n}: none in this model"
                 for n, m in zip(map_names, (video_map, audio_map))]
    plot_video_map(frames, video_map, video_mask, n_show, map_names[0],
                   [fig.add_subplot(grid[0, i]) for i in range(n_show)], signed=signed)
    plot_audio_map(mfcc, audio_map, audio_mask, map_names[1], fig.add_subplot(grid[1, :]))
    fig.suptitle(title, fontsize=10)
    return fig


def plot_clip_explanation(arrays: ClipArrays, i: int, video_map, audio_map, **kwargs) -> plt.Figure:
    """:func:`plot_explanation` of clip ``i`` of ``arrays``, its ground truth outlined if stored."""
    truth = lambda mask: None if mask is None else mask[i]
    return plot_explanation(arrays.video[i], np.asarray(arrays.audio[i], np.float32), video_map,
                            audio_map, truth(arrays.video_mask), truth(arrays.audio_mask), **kwargs)


def clip_maps(out: FusionOutput, row: int, direction: str):
    """The model's own maps of clip ``row`` for ``direction`` as numpy, None where it has none.
    Shapes: → (video ``(T', H', W')``, audio ``(Ta,)``)."""
    vmap, amap = (getattr(out, name) for name in DIRECTION_MAPS[direction])
    return (None if vmap is None else vmap[row].cpu().numpy().reshape(out.video_grid),
            None if amap is None else amap[row].cpu().numpy())


def plot_perturbation_curves(curves: dict[str, list[float]], ax=None,
                             title: str = "deletion / insertion") -> plt.Figure:
    """Target probability against the share of units removed/restored, one line per curve
    (e.g. ``{"deletion IG": [...], "deletion random": [...]}``)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4, 3))
    for name, ys in curves.items():
        ax.plot(np.linspace(0, 1, len(ys)), ys, label=name, ls="--" if "random" in name else "-")
    ax.set_xlabel("share of audio frames + video cells"), ax.set_ylabel("p(target)")
    ax.set_ylim(0, 1), ax.legend(fontsize=7), ax.set_title(title, fontsize=9)
    return fig


def plot_modality_importance(per_class, class_names, ax=None) -> plt.Figure:
    """Heatmap of FeatureAblation modality importance ``(C, 2)``: drop of the target logit when
    audio / video is removed, per true class."""
    import seaborn as sns

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(3.2, 3.6))
    sns.heatmap(np.asarray(per_class, dtype=float), annot=True, fmt=".1f", cmap="mako", ax=ax,
                xticklabels=["audio", "video"], yticklabels=list(class_names), cbar=False)
    ax.set_title("logit drop when a modality is removed", fontsize=9)
    return fig


def plot_protocols(result: dict, figsize: tuple[float, float] = (10.0, 3.6)) -> plt.Figure:
    """Notebook 09: (left) one seed's validation and test curves with the epoch each rule picks;
    (right) test accuracy per protocol, one dot per seed, mean ± std bars, best single seed.
    ``result`` is what :func:`tacfn_lite.protocols.run_protocols` returns."""
    fig, (ax_c, ax_p) = plt.subplots(1, 2, figsize=figsize, gridspec_kw={"width_ratios": [1, 1.3]})
    run = next(r for r in result["runs"] if r["split"] == "actor")
    epochs = np.arange(1, len(run["val_accuracy"]) + 1)
    ax_c.plot(epochs, 100 * np.asarray(run["val_accuracy"]), "o-", label="validation")
    ax_c.plot(epochs, 100 * np.asarray(run["test_accuracy"]), "s-", label="test")
    for rule, color in (("on_val", "tab:green"), ("on_test", "tab:red")):
        ax_c.axvline(run[rule]["epoch"] + 1, color=color, ls="--", lw=1,
                     label=f"epoch picked {rule.replace('_', ' ')}")
    ax_c.set(xlabel="epoch", ylabel="accuracy (%)", title=f"seed {run['seed']}, actor split")
    ax_c.legend(fontsize=7)
    s = result["summary"]
    groups = {"honest\n(actor split,\nepoch on val)": s["epoch_pick"]["on_val"],
              "epoch picked\non test": s["epoch_pick"]["on_test"],
              "random clip\nsplit": s["split"]["random"]}
    for i, (name, d) in enumerate(groups.items()):
        vals = 100 * np.asarray(d["values"])
        ax_p.scatter(i + np.linspace(-0.08, 0.08, len(vals)), vals, s=18, color=f"C{i}", alpha=0.7)
        ax_p.errorbar(i + 0.22, 100 * d["mean"], yerr=100 * d["std"], fmt="D", color=f"C{i}",
                      capsize=4)
    ax_p.axhline(100 * s["seeds"]["best_single"], color="0.4", ls=":", lw=1,
                 label="best single seed (honest protocol)")
    ax_p.set_xticks(range(len(groups)), list(groups), fontsize=8)
    ax_p.set(ylabel="test accuracy (%)", title=f"{result['model']}, {len(result['seeds'])} seeds: "
             "dots = seeds, ◆ = mean ± std")
    ax_p.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_accuracy_bars(accuracies: dict[str, float], ceilings: dict[str, float] | None = None,
                       title: str = "", ax=None) -> plt.Figure:
    """Bars of test accuracy per model, with dashed lines at the designed ceilings. Notebooks 01
    (unimodal vs ceiling), 03 (ablations) and 04 (all models)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3))
    bars = ax.bar(list(accuracies), [100 * a for a in accuracies.values()], color="tab:blue", alpha=0.8)
    ax.bar_label(bars, fmt="%.0f", fontsize=8)
    same: dict[float, list[str]] = {}  # equal ceilings share one line (one would hide another)
    for name, value in (ceilings or {}).items():
        same.setdefault(round(100 * value, 6), []).append(name)
    for k, (value, names) in enumerate(same.items()):
        ax.axhline(value, ls="--", lw=1, color=f"C{k + 1}", label=" = ".join(names) + " ceiling")
    ax.axhline(100 / 8, ls=":", lw=1, color="0.5", label="chance")
    ax.set(ylim=(0, 105), ylabel="test accuracy (%)"), ax.set_title(title, fontsize=10)
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
    ax_acc.set_title("dot: epoch picked on validation", fontsize=8), ax_loss.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_weights_over_time(weights: np.ndarray, cue: np.ndarray, step_seconds: float,
                           titles: list[str] | None = None, ylabel: str = "weight") -> plt.Figure:
    """Per-clip weights over time (one panel per clip) with the ground-truth cue shaded; the
    dotted line is the uniform weight. Notebooks 02 (selection), 03 (video weight per frame).
    Shapes: weights ``(B, L)``, cue ``(B, L)`` bool, step ``step_seconds`` between positions."""
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
        ax.set_xlabel("time (s)", fontsize=7), ax.tick_params(labelsize=6)
    axes[0, 0].set_ylabel(ylabel, fontsize=7)
    fig.tight_layout()
    return fig


def explain_prediction(pred: Prediction, checkpoint: str | Path, out_dir: str | Path,
                       device: str = "cpu", ig_steps: int = 32) -> list[Path]:
    """Write the attention-map figure (TACFN-style models) and the Captum IG figure for the
    predicted class into ``out_dir``, plus ``prediction.json``; the paths written."""
    from .checkpoints import load_model
    from .explain import attribute

    model, cfg = load_model(checkpoint, device)
    out = Path(out_dir)
    a, v = (x.to(device) for x in clip_inputs(pred.audio, pred.video))
    title = f"{Path(pred.path).name}: {pred.label} (p={pred.probs.max():.2f})"
    written = [write_json(out / "prediction.json", pred.to_dict())]
    with torch.no_grad():
        res = model(a, v)
    figures = ({"audio->video": "attention.png", "video->audio": "attention_video_to_audio.png"}
               if cfg.model.direction == "both" else {cfg.model.direction: "attention.png"})
    for direction, name in figures.items():  # a "both" model: one figure per direction
        vmap, amap = clip_maps(res, 0, direction)
        if vmap is None and amap is None:
            log.info("%s returns no attention maps; only the Captum figure is written", cfg.model.model)
            continue
        fig = plot_explanation(pred.video, pred.audio, vmap, amap, map_names=DIRECTION_MAPS[direction],
                               title=f"attention ({direction}): {title}")
        written.append(save_figure(fig, out / name))
        plt.close(fig)
    target = torch.tensor([int(pred.probs.argmax())], device=device)  # the predicted class
    attr = attribute(model, a, v, target, "ig", "mean", n_steps=ig_steps)
    fig = plot_explanation(pred.video, pred.audio, attr.video_pixels()[0].cpu().numpy(),
                           attr.audio[0].cpu().numpy(), title=f"integrated gradients: {title}",
                           signed=True, map_names=("IG video", "IG audio"))
    written.append(save_figure(fig, out / "integrated_gradients.png"))
    plt.close(fig)
    return written


def write_static_explorer(model, arrays: ClipArrays, idx, out_dir: str | Path, dpi: int = 60,
                          direction: str = "audio->video") -> Path:
    """The report's kernel-free explorer: one :func:`plot_clip_explanation` PNG per clip and
    ``explorer.json`` (clip, image, prediction, label) for the front page's slider. Notebook 05."""
    out, idx = Path(out_dir), np.asarray(idx)
    res = predict_arrays(model, arrays, idx)
    probs = res.logits.softmax(-1).numpy()
    names = arrays.class_names or tuple(str(c) for c in range(probs.shape[1]))
    clips = []
    for row, i in enumerate(idx):
        pred, true = int(probs[row].argmax()), int(arrays.labels[i])
        fig = plot_clip_explanation(
            arrays, i, *clip_maps(res, row, direction), map_names=DIRECTION_MAPS[direction],
            title=f"{arrays.clip_ids[i]}: predicted {names[pred]}, true {names[true]}")
        image = f"clip_{row:03d}.png"
        save_figure(fig, out / image, dpi=dpi)
        plt.close(fig)
        clips.append({"clip_id": str(arrays.clip_ids[i]), "image": image, "pred": names[pred],
                      "prob": float(probs[row, pred]), "true": names[true],
                      "correct": pred == true})
    return write_json(out / "explorer.json", {"clips": clips})
