"""Explanation validity against SynthAV ground truth (DESIGN §6): pointing game for attention maps
and attributions, deletion / insertion curves against a random order, randomisation check, and a
table per model. Notebook 06; ``bench/validity.py``.

Video maps from the fusion live on the encoder's token grid ``(T', H', W') = video_grid``; the
ground truth ``video_mask`` is per pixel ``(B, T, H, W)``. A cell counts as "in the cue" when
any of its pixels is (:func:`cell_mask`); pixel-level maps (IG) are scored per pixel.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from .data.core import ClipArrays, to_batch
from .explain import (
    integrated_gradients,
    make_baselines,
    modality_ablation,
    modality_importance_per_class,
    randomised_copy,
    rank_correlation,
)

log = logging.getLogger(__name__)

# Which ground-truth mask scores which map of FusionOutput.
MAP_MASKS = {"audio_select": "audio", "audio_weight": "audio", "video_weight": "video",
             "video_select": "video"}


def cell_mask(video_mask: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Fraction of cue pixels in every token cell. Shapes: ``(B, T, H, W)`` → ``(B, T', H', W')``."""
    if video_mask.ndim != 4:
        raise ValueError(f"video_mask: expected (B, T, H, W), got {tuple(video_mask.shape)}")
    pooled = nn.functional.adaptive_avg_pool3d(video_mask.float()[:, None], grid)  # (B,1,T',H',W')
    return pooled[:, 0]


def grid_to_pixels(maps: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Spread token-grid values over their pixels (nearest). ``(B, T', H', W')`` → ``(B, T, H, W)``."""
    return nn.functional.interpolate(maps[:, None].float(), size=size, mode="nearest")[:, 0]


def pixels_to_grid(maps: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Sum pixel values within each token cell. ``(B, T, H, W)`` → ``(B, T', H', W')``."""
    T, H, W = maps.shape[1:]
    if T % grid[0] or H % grid[1] or W % grid[2]:
        raise ValueError(f"video of {(T, H, W)} does not tile into the token grid {grid}")
    per_cell = (T // grid[0]) * (H // grid[1]) * (W // grid[2])
    return nn.functional.adaptive_avg_pool3d(maps[:, None], grid)[:, 0] * per_cell


def pointing_game(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Whether each sample's highest score falls inside its mask.

    Shapes: scores ``(B, ...)`` and mask ``(B, ...)`` (same shape) → ``(B,)`` bool.
    """
    if scores.shape != mask.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and mask {tuple(mask.shape)} differ")
    top = scores.flatten(1).argmax(1, keepdim=True)  # (B, 1)
    return mask.flatten(1).bool().gather(1, top)[:, 0]


def map_pointing(name: str, weights: torch.Tensor, batch, grid) -> tuple[torch.Tensor, torch.Tensor]:
    """Pointing game of a FusionOutput map and its chance level (share of positions in the cue).

    Shapes: weights ``(B, Ta)`` or ``(B, N)`` → (hits ``(B,)`` bool, chance ``(B,)``).
    """
    if MAP_MASKS[name] == "audio":
        mask = batch.audio_mask.bool()  # (B, Ta)
        return pointing_game(weights, mask), mask.float().mean(1)
    cells = cell_mask(batch.video_mask, grid) > 0  # (B, T', H', W')
    return pointing_game(weights.view(-1, *grid), cells), cells.flatten(1).float().mean(1)


def time_pointing(weights: torch.Tensor, video_mask: torch.Tensor,
                  grid: tuple[int, int, int]) -> torch.Tensor:
    """Whether the top cell of a video map lies in a cue *frame*, wherever it is in the frame:
    separates "right moment, wrong region" from "wrong moment" when the pointing game misses.

    Shapes: weights ``(B, N)`` or ``(B, T', H', W')``, video_mask ``(B, T, H, W)`` → ``(B,)``.
    """
    cue_frames = cell_mask(video_mask, grid).flatten(2).amax(2) > 0  # (B, T')
    top = weights.reshape(len(weights), -1).argmax(1) // (grid[1] * grid[2])  # (B,) frame
    return cue_frames.gather(1, top[:, None])[:, 0]


def perturbation_curve(model: nn.Module, audio: torch.Tensor, video: torch.Tensor,
                       target: torch.Tensor, audio_scores: torch.Tensor,
                       video_scores: torch.Tensor, baseline: str = "mean",
                       mode: str = "deletion", n_steps: int = 20) -> torch.Tensor:
    """Target probability as the highest-scored units are replaced by the baseline (deletion)
    or restored onto it (insertion). Units are audio frames and video token cells, ranked
    jointly (IG scores share the units of the logit, so the ranking is fair across modalities).

    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)``, target ``(B,)``, audio_scores
    ``(B, Ta)``, video_scores ``(B, T', H', W')`` → probabilities ``(B, n_steps + 1)``.
    """
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode: expected 'deletion' or 'insertion', got {mode!r}")
    B, Ta = audio_scores.shape
    grid, size = tuple(video_scores.shape[1:]), (video.shape[1], video.shape[3], video.shape[4])
    base_a, base_v = make_baselines(baseline, audio, video)
    scores = torch.cat([audio_scores, video_scores.flatten(1)], 1)  # (B, U)
    U = scores.shape[1]
    order = scores.argsort(1, descending=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(U).expand(B, U))  # (B, U)
    rows, probs = torch.arange(B), []
    with torch.no_grad():
        for k in range(n_steps + 1):
            top = rank < round(k * U / n_steps)  # (B, U) the k-th share of best units
            to_base = (top if mode == "deletion" else ~top).float()
            ma = to_base[:, :Ta, None]  # (B, Ta, 1)
            mv = grid_to_pixels(to_base[:, Ta:].view(B, *grid), size)[:, :, None]  # (B,T,1,H,W)
            logits = model(audio * (1 - ma) + base_a * ma, video * (1 - mv) + base_v * mv).logits
            probs.append(logits.float().softmax(-1)[rows, target])
    return torch.stack(probs, 1)


def curve_auc(curve: torch.Tensor) -> torch.Tensor:
    """Area under curves sampled evenly on [0, 1]. Shapes: ``(B, K)`` → ``(B,)``."""
    return torch.trapezoid(curve, dx=1.0 / (curve.shape[1] - 1), dim=1)


def unit_scores(attr, grid=None):
    """IG → (audio frame scores ``(B, Ta)``, video cell scores ``(B, T', H', W')``), signed.
    Models without a video grid (audio-only) get frames × 4×4 cells."""
    pixels = attr.video_pixels()  # (B, T, H, W)
    return attr.audio_time(), pixels_to_grid(pixels, grid or (pixels.shape[1], 4, 4))


def _mean(x: list[torch.Tensor]) -> float:
    return float(torch.cat(x).float().mean()) if x and sum(len(t) for t in x) else float("nan")


def validity_table(model: nn.Module, arrays: ClipArrays, idx, *, baseline: str = "mean",
                   n_steps: int = 64, curve_steps: int = 20, n_random: int = 3,
                   n_randomised: int = 32, batch_size: int = 32, seed: int = 0) -> dict:
    """All validity metrics of one model on clips ``idx`` (with ground-truth masks).

    Pointing games, completeness, deletion / insertion and the randomisation check are computed
    on the correctly classified clips (IG target = the true class); modality ablation on all.
    Returns a JSON-able dict; ``*_chance`` fields give the hit rate of a uniformly random map.
    """
    if arrays.audio_mask is None or arrays.video_mask is None:
        raise ValueError("validity_table needs ground-truth audio_mask and video_mask (SynthAV)")
    model = model.eval()
    gen = torch.Generator().manual_seed(seed)
    idx = np.asarray(idx)
    acc: dict[str, list[torch.Tensor]] = {}
    add = lambda key, t: acc.setdefault(key, []).append(t.detach().float().cpu())
    curves: dict[str, list[torch.Tensor]] = {}
    randomised = randomised_copy(model, seed)
    n_correct = n_rand_done = 0
    for start in range(0, len(idx), batch_size):
        batch = to_batch(arrays, idx[start:start + batch_size])
        with torch.no_grad():
            out = model(batch.audio, batch.video)
        correct = out.logits.argmax(-1) == batch.label  # (B,)
        add("correct", correct)
        add("ablation", modality_ablation(model, batch.audio, batch.video, batch.label, "zeros"))
        add("labels", batch.label)
        if not correct.any():
            continue
        keep = correct.nonzero()[:, 0]
        n_correct += len(keep)
        a, v, y = batch.audio[keep], batch.video[keep], batch.label[keep]
        am, vm = batch.audio_mask[keep], batch.video_mask[keep]
        sub = type(batch)(a, v, y, [], am, vm)
        for name in MAP_MASKS:
            weights = getattr(out, name)
            if weights is not None:
                hit, chance = map_pointing(name, weights[keep], sub, out.video_grid)
                add(f"{name}_pointing", hit), add(f"{name}_chance", chance)
        attr = integrated_gradients(model, a, v, y, baseline, n_steps=n_steps, max_error=None)
        add("completeness_error", attr.completeness_error)
        add("ig_audio_pointing", pointing_game(attr.audio_time(), am))
        add("ig_audio_chance", am.float().mean(1))
        add("ig_video_pointing", pointing_game(attr.video_pixels(), vm))
        add("ig_video_chance", vm.flatten(1).float().mean(1))
        sa, sv = unit_scores(attr, out.video_grid)
        for mode in ("deletion", "insertion"):
            c = perturbation_curve(model, a, v, y, sa, sv, baseline, mode, curve_steps)
            curves.setdefault(f"{mode}_ig", []).append(c)
            for _ in range(n_random):
                ra, rv = torch.rand(sa.shape, generator=gen), torch.rand(sv.shape, generator=gen)
                c = perturbation_curve(model, a, v, y, ra, rv, baseline, mode, curve_steps)
                curves.setdefault(f"{mode}_random", []).append(c)
        if n_rand_done < n_randomised:  # sanity check on the first few correct clips
            take = slice(0, n_randomised - n_rand_done)
            r_attr = integrated_gradients(randomised, a[take], v[take], y[take], baseline,
                                          n_steps=n_steps, max_error=None)
            ra, rv = unit_scores(r_attr, out.video_grid)  # same units as sa, sv
            trained = torch.cat([sa[take], sv[take].flatten(1)], 1)  # (b, U)
            random_units = torch.cat([ra, rv.flatten(1)], 1)
            add("randomised_ig_rank_corr", rank_correlation(trained.abs(), random_units.abs()))
            add("randomised_ig_signed_rank_corr", rank_correlation(trained, random_units))
            add("randomised_ig_audio_pointing", pointing_game(r_attr.audio_time(), am[take]))
            add("randomised_ig_video_pointing", pointing_game(r_attr.video_pixels(), vm[take]))
            if out.video_weight is not None:
                with torch.no_grad():
                    r_out = randomised(a[take], v[take])
                add("randomised_video_weight_rank_corr",
                    rank_correlation(out.video_weight[keep][take], r_out.video_weight))
            n_rand_done += len(a[take])
    correct = torch.cat(acc.pop("correct"))
    labels = torch.cat(acc.pop("labels"))
    ablation = torch.cat(acc.pop("ablation"))
    errors = torch.cat(acc.pop("completeness_error")) if "completeness_error" in acc else None
    table = {"n_clips": len(idx), "accuracy": float(correct.float().mean()),
             "n_correct": n_correct, "baseline": baseline, "ig_steps": n_steps}
    table.update({key: _mean(vals) for key, vals in sorted(acc.items())})
    if errors is not None:
        table.update(completeness_error_mean=float(errors.mean()),
                     completeness_error_median=float(errors.median()),
                     completeness_error_p95=float(errors.quantile(0.95)),
                     completeness_within_1pct=float((errors < 0.01).float().mean()))
    mean_curves = {k: torch.cat(v).mean(0) for k, v in curves.items()}
    for k, c in mean_curves.items():
        table[f"{k}_auc"] = float(curve_auc(c[None])[0])
        table[f"{k}_curve"] = [round(float(x), 4) for x in c]
    if mean_curves:
        table["deletion_auc_ratio"] = table["deletion_ig_auc"] / max(table["deletion_random_auc"], 1e-8)
        table["insertion_auc_ratio"] = table["insertion_ig_auc"] / max(table["insertion_random_auc"], 1e-8)
    per_class = modality_importance_per_class(ablation, labels, model.cfg.n_classes)
    table["modality_ablation_per_class"] = [[round(float(x), 4) for x in row] for row in per_class]
    table["modality_ablation_mean"] = [round(float(x), 4) for x in ablation.mean(0)]
    return table
