"""Explanation validity against SynthAV ground truth (DESIGN §6, notebook 06): pointing game (a
token cell is cue if any pixel is; IG per pixel), deletion / insertion, randomisation, tables."""

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from . import explain
from .data.core import Batch, ClipArrays, to_batch
from .fusion import FusionOutput
from .inference import predict_arrays

# FusionOutput's maps; each is scored against the ground-truth mask of its name's modality.
MAPS = ("audio_select", "audio_weight", "video_weight", "video_select")


def cell_mask(video_mask: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Fraction of cue pixels per token cell. Shapes: ``(B, T, H, W)`` → ``(B, T', H', W')``."""
    if video_mask.ndim != 4:
        raise ValueError(f"video_mask: expected (B, T, H, W), got {tuple(video_mask.shape)}")
    return nn.functional.adaptive_avg_pool3d(video_mask.float()[:, None], grid)[:, 0]  # (B,T',..)


def grid_to_pixels(maps: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Spread token-grid values over their pixels. ``(B, T', H', W')`` → ``(B, T, H, W)``."""
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
    Shapes: scores ``(B, ...)`` and mask ``(B, ...)`` (same shape) → ``(B,)`` bool."""
    if scores.shape != mask.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and mask {tuple(mask.shape)} differ")
    top = scores.flatten(1).argmax(1, keepdim=True)  # (B, 1)
    return mask.flatten(1).bool().gather(1, top)[:, 0]


def map_pointing(name: str, weights: torch.Tensor, batch,
                 grid) -> tuple[torch.Tensor, torch.Tensor]:
    """Pointing game of a FusionOutput map and its chance level (share of positions in the cue).
    Shapes: weights ``(B, Ta)`` or ``(B, N)`` → (hits ``(B,)`` bool, chance ``(B,)``)."""
    if name.startswith("audio"):
        mask = batch.audio_mask.bool()  # (B, Ta)
        return pointing_game(weights, mask), mask.float().mean(1)
    cells = cell_mask(batch.video_mask, grid) > 0  # (B, T', H', W')
    return pointing_game(weights.view(-1, *grid), cells), cells.flatten(1).float().mean(1)


def time_pointing(weights: torch.Tensor, video_mask: torch.Tensor,
                  grid: tuple[int, int, int]) -> torch.Tensor:
    """Whether the top cell of a video map lies in a cue *frame*, wherever it is in the frame:
    separates "right moment, wrong region" from "wrong moment" when the pointing game misses.
    Shapes: weights ``(B, N)`` or ``(B, T', H', W')``, video_mask ``(B, T, H, W)`` → ``(B,)``."""
    cue_frames = cell_mask(video_mask, grid).flatten(2).amax(2) > 0  # (B, T')
    top = weights.reshape(len(weights), -1).argmax(1) // (grid[1] * grid[2])  # (B,) frame
    return cue_frames.gather(1, top[:, None])[:, 0]


@torch.no_grad()
def selection_rollout(model: nn.Module, audio: torch.Tensor,
                      selection: torch.Tensor) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): carry the selection over encoder tokens back to
    the input MFCC frames through every audio transformer layer, each layer's head-averaged
    attention mixed half and half with the identity for its residual path. Notebook 05.
    Shapes: audio ``(B, Ta, F)``, selection ``(B, Ta)`` → ``(B, Ta)`` over input frames."""
    enc, layers = model.audio_encoder, model.audio_encoder.transformer["layers"]
    seen = []  # the first layer's input: CNN features plus time encoding
    hook = layers[0].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    enc(audio)
    hook.remove()
    x, L = seen[0], seen[0].shape[1]  # (B, Ta, D)
    mask = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1) if enc.causal else None
    eye = torch.eye(L, device=x.device)
    rollout = eye.expand(len(x), -1, -1)  # (B, Ta, Ta): output token ← input frame
    for layer in layers:
        h = layer.norm1(x)
        attn = layer.self_attn(h, h, h, attn_mask=mask, need_weights=True)[1]  # (B, Ta, Ta)
        rollout = (0.5 * attn + 0.5 * eye) @ rollout
        x = layer(x, enc.causal)
    return (selection[:, None] @ rollout)[:, 0]  # (B, Ta)


@torch.no_grad()
def map_pointing_scores(model: nn.Module, arrays: ClipArrays, idx, batch_size: int = 64) -> dict:
    """Pointing games of TACFN's own maps on the correctly classified clips of ``idx``: the
    selection (over encoder tokens, and rolled back to input frames), the video weight (cell)
    and its frame (right moment). Masks only score. ``bench/validity.py --maps-only``."""
    model, idx, hits, n_correct = model.eval(), np.asarray(idx), {}, 0
    for _, correct, sub, out in _batches(model, arrays, idx, batch_size):
        n_correct += int(correct.sum())
        if not len(sub):  # nothing to score in this batch
            continue
        scores = {name: hit for name, (hit, _) in _own_maps(out, sub).items()}
        if out.audio_select is not None:
            rolled = selection_rollout(model, sub.audio, out.audio_select)
            scores["audio_select_rollout"] = pointing_game(rolled, sub.audio_mask.bool())
        if out.video_weight is not None:
            scores["video_weight_frame"] = time_pointing(out.video_weight, sub.video_mask,
                                                         out.video_grid)
        _add(hits, scores)
    table = {f"{k}_pointing": float(torch.cat(v).float().mean()) for k, v in hits.items()}
    return {**table, "accuracy": n_correct / len(idx), "n_clips": len(idx), "n_correct": n_correct}


def perturbation_curve(model: nn.Module, audio: torch.Tensor, video: torch.Tensor,
                       target: torch.Tensor, audio_scores: torch.Tensor,
                       video_scores: torch.Tensor, baseline: str = "mean",
                       mode: str = "deletion", n_steps: int = 20) -> torch.Tensor:
    """Target probability as the highest-scored units are replaced by the baseline (deletion)
    or restored onto it (insertion). Units are audio frames and video token cells, ranked
    jointly (IG scores share the units of the logit, so the ranking is fair across modalities).
    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)``, target ``(B,)``, audio_scores
    ``(B, Ta)``, video_scores ``(B, T', H', W')`` → probabilities ``(B, n_steps + 1)``."""
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode: expected 'deletion' or 'insertion', got {mode!r}")
    B, Ta = audio_scores.shape
    grid, size = tuple(video_scores.shape[1:]), (video.shape[1], video.shape[3], video.shape[4])
    base_a, base_v = explain.make_baselines(baseline, audio, video)
    scores = torch.cat([audio_scores, video_scores.flatten(1)], 1)  # (B, U)
    rank = scores.argsort(1, descending=True).argsort(1)  # (B, U): 0 = the best unit
    rows, probs = torch.arange(B), []
    with torch.no_grad():
        for k in range(n_steps + 1):
            top = rank < round(k * scores.shape[1] / n_steps)  # (B, U) the k-th share of best units
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


@dataclass(frozen=True)
class Pointing:
    """Share of clips whose map's top position lies in the ground truth (``hit``) and the share
    a uniformly random map would reach (``chance``)."""

    hit: float
    chance: float


@dataclass(frozen=True)
class Curve:
    """Mean deletion or insertion curve for the IG order and for random orders, with AUCs."""

    ig: list[float]
    random: list[float]
    ig_auc: float
    random_auc: float


@dataclass(frozen=True)
class ValidityTable:
    """Every validity metric of one model (DESIGN §6); :meth:`to_dict` gives the flat JSON."""

    n_clips: int
    accuracy: float
    n_correct: int
    baseline: str
    ig_steps: int
    maps: dict[str, Pointing]  # the model's own maps (e.g. audio_select); empty for baselines
    ig_audio: Pointing
    ig_video: Pointing
    completeness_errors: list[float]  # per correct clip, |delta| / |f(x) - f(baseline)|
    deletion: Curve
    insertion: Curve
    randomised: dict[str, float]  # rank correlations and pointing of the randomised model
    modality_ablation_per_class: list[list[float]]
    modality_ablation_mean: list[float]

    def to_dict(self) -> dict:
        out = {"n_clips": self.n_clips, "accuracy": self.accuracy, "n_correct": self.n_correct,
               "baseline": self.baseline, "ig_steps": self.ig_steps}
        for name, p in {**self.maps, "ig_audio": self.ig_audio, "ig_video": self.ig_video}.items():
            out[f"{name}_pointing"], out[f"{name}_chance"] = p.hit, p.chance
        if self.completeness_errors:
            err = torch.tensor(self.completeness_errors)
            out.update(completeness_error_mean=float(err.mean()),
                       completeness_error_median=float(err.median()),
                       completeness_error_p95=float(err.quantile(0.95)),
                       completeness_within_1pct=float((err < 0.01).float().mean()))
        for mode, c in (("deletion", self.deletion), ("insertion", self.insertion)):
            out.update({f"{mode}_ig_auc": c.ig_auc, f"{mode}_random_auc": c.random_auc,
                        f"{mode}_ig_curve": c.ig, f"{mode}_random_curve": c.random,
                        f"{mode}_auc_ratio": c.ig_auc / max(c.random_auc, 1e-8)})
        return {**out, **{f"randomised_{k}": v for k, v in self.randomised.items()},
                "modality_ablation_per_class": self.modality_ablation_per_class,
                "modality_ablation_mean": self.modality_ablation_mean}


def _rows(obj: Batch | FusionOutput, rows: torch.Tensor):
    """``obj`` with only clips ``rows`` (indices ``(b,)``) in every per-clip field."""
    pick = lambda v: v[rows] if isinstance(v, torch.Tensor) else [v[i] for i in rows.tolist()]
    return replace(obj, **{k: pick(v) for k, v in vars(obj).items()
                           if isinstance(v, (torch.Tensor, list))})


def _own_maps(out: FusionOutput, sub: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """:func:`map_pointing` (hits, chance) of every map the model returned, on ``sub``'s clips."""
    return {name: map_pointing(name, getattr(out, name), sub, out.video_grid)
            for name in MAPS if getattr(out, name) is not None}


def _batches(model: nn.Module, arrays: ClipArrays, idx: np.ndarray, batch_size: int):
    """Per batch of clips ``idx``: the Batch, which clips are correct ``(B,)`` bool, and the
    Batch and the model output of the correct clips only."""
    outputs = predict_arrays(model, arrays, idx, batch_size=batch_size)
    for start in range(0, len(idx), batch_size):
        batch = to_batch(arrays, idx[start:start + batch_size])
        out = _rows(outputs, torch.arange(start, start + len(batch)))
        correct = out.logits.argmax(-1) == batch.label  # (B,)
        keep = correct.nonzero()[:, 0]
        yield batch, correct, _rows(batch, keep), _rows(out, keep)


def _ig_scores(model: nn.Module, sub: Batch, baseline: str, n_steps: int):
    """IG of the true class: pointing of its audio-frame and pixel maps, completeness."""
    attr = explain.integrated_gradients(model, sub.audio, sub.video, sub.label, baseline,
                                n_steps=n_steps, max_error=None)
    a_hit, a_chance = map_pointing("audio", attr.audio_time(), sub, None)  # frames, like a map
    return attr, {"ig_audio_hit": a_hit, "ig_audio_chance": a_chance,
                  "ig_video_hit": pointing_game(attr.video_pixels(), sub.video_mask),
                  "ig_video_chance": sub.video_mask.flatten(1).float().mean(1),
                  "completeness": attr.completeness_error}


def _randomised_scores(randomised: nn.Module, sub: Batch, out: FusionOutput, units: tuple,
                       baseline: str, n_steps: int) -> dict[str, torch.Tensor]:
    """Model-randomisation check: do IG maps (and TACFN's weights) change with the weights?"""
    r_attr, r_ig = _ig_scores(randomised, sub, baseline, n_steps)
    joint = lambda a, v: torch.cat([a, v.flatten(1)], 1)  # (b, U): audio frames, then cells
    trained, rand = joint(*units), joint(*unit_scores(r_attr, out.video_grid))  # the same units
    scores = {"ig_rank_corr": explain.rank_correlation(trained.abs(), rand.abs()),
              "ig_signed_rank_corr": explain.rank_correlation(trained, rand),
              "ig_audio_pointing": r_ig["ig_audio_hit"], "ig_video_pointing": r_ig["ig_video_hit"]}
    if out.video_weight is not None:
        with torch.no_grad():
            r_weight = randomised(sub.audio, sub.video).video_weight
        scores["video_weight_rank_corr"] = explain.rank_correlation(out.video_weight, r_weight)
    return {f"random_{k}": v for k, v in scores.items()}


def _add(store: dict[str, list], scores: dict) -> None:
    """Append per-clip tensors (CPU, float) or lists of curves to ``store``."""
    for key, value in scores.items():
        store.setdefault(key, []).extend(
            value if isinstance(value, list) else [value.detach().float().cpu()])


def _mean_curve(curves: dict[str, list], mode: str) -> Curve:
    """Mean ``mode`` curve in IG order and in random orders, with AUCs (NaN without clips)."""
    if not curves:
        return Curve([], [], float("nan"), float("nan"))
    ig, rnd = (torch.cat(curves[f"{mode}_{order}"]).mean(0) for order in ("ig", "random"))
    return Curve([round(float(x), 4) for x in ig], [round(float(x), 4) for x in rnd],
                 float(curve_auc(ig[None])[0]), float(curve_auc(rnd[None])[0]))


def _summarise(per_clip: dict[str, list], curves: dict[str, list], n_clips: int,
               baseline: str, n_steps: int, n_classes: int) -> ValidityTable:
    """Average the per-clip scores into a :class:`ValidityTable`."""
    correct, labels, importance = (torch.cat(per_clip.pop(k))
                                   for k in ("correct", "labels", "ablation"))
    mean = lambda key: (float(torch.cat(per_clip[key]).float().mean())
                        if per_clip.get(key) else float("nan"))
    pointing = lambda name: Pointing(mean(f"{name}_hit"), mean(f"{name}_chance"))
    maps = {name: pointing(name) for name in MAPS if per_clip.get(f"{name}_hit")}
    per_class = explain.modality_importance_per_class(importance, labels, n_classes)
    return ValidityTable(
        n_clips=n_clips, accuracy=float(correct.float().mean()), n_correct=int(correct.sum()),
        baseline=baseline, ig_steps=n_steps, maps=maps, ig_audio=pointing("ig_audio"),
        ig_video=pointing("ig_video"),
        completeness_errors=torch.cat(per_clip["completeness"]).tolist()
        if per_clip.get("completeness") else [],
        deletion=_mean_curve(curves, "deletion"), insertion=_mean_curve(curves, "insertion"),
        randomised={k.removeprefix("random_"): mean(k) for k in sorted(per_clip)
                    if k.startswith("random_")},
        modality_ablation_per_class=[[round(float(x), 4) for x in row] for row in per_class],
        modality_ablation_mean=[round(float(x), 4) for x in importance.mean(0)])


def validity_table(model: nn.Module, arrays: ClipArrays, idx, *, baseline: str = "mean",
                   n_steps: int = 64, curve_steps: int = 20, n_random: int = 3,
                   n_randomised: int = 32, batch_size: int = 32, seed: int = 0) -> ValidityTable:
    """All validity metrics of one model on clips ``idx`` (with ground-truth masks): pointing,
    completeness, deletion / insertion and randomisation on the correctly classified clips (IG
    target = the true class), modality ablation on all. Notebook 06, ``bench/validity.py``."""
    if arrays.audio_mask is None or arrays.video_mask is None:
        raise ValueError("validity_table needs ground-truth audio_mask and video_mask (SynthAV)")
    model, idx, n_rand_left = model.eval(), np.asarray(idx), n_randomised
    gen, randomised = torch.Generator().manual_seed(seed), explain.randomised_copy(model, seed)
    per_clip, curves = {}, {}  # key → per-clip tensors; mode_order → curves (B, K)
    for batch, correct, sub, out in _batches(model, arrays, idx, batch_size):
        ablation = explain.modality_ablation(model, batch.audio, batch.video, batch.label, "zeros")
        _add(per_clip, {"correct": correct, "labels": batch.label, "ablation": ablation})
        if not len(sub):
            continue
        for name, (hit, chance) in _own_maps(out, sub).items():
            _add(per_clip, {f"{name}_hit": hit, f"{name}_chance": chance})
        attr, ig = _ig_scores(model, sub, baseline, n_steps)
        _add(per_clip, ig)
        units = unit_scores(attr, out.video_grid)
        for mode in ("deletion", "insertion"):  # in IG order and in n_random random orders
            orders = [units] + [tuple(torch.rand(u.shape, generator=gen) for u in units)
                                for _ in range(n_random)]
            ig_curve, *random = [perturbation_curve(model, sub.audio, sub.video, sub.label, a, v,
                                                    baseline, mode, curve_steps) for a, v in orders]
            _add(curves, {f"{mode}_ig": [ig_curve], f"{mode}_random": random})
        if n_rand_left > 0:  # sanity check on the first few correct clips
            take = torch.arange(min(n_rand_left, len(sub)))
            _add(per_clip, _randomised_scores(randomised, _rows(sub, take), _rows(out, take),
                                              tuple(u[take] for u in units), baseline, n_steps))
            n_rand_left -= len(take)
    return _summarise(per_clip, curves, len(idx), baseline, n_steps, model.cfg.n_classes)
