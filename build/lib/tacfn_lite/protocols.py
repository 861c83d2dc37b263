"""Protocol pitfalls, measured (notebook 09): epoch picked on test (as the public CFN-SR/MSAF
RAVDESS code did), a random clip split, one seed instead of mean ± std. Each run records val *and*
test per epoch, so one run yields both the honest and the inflated number."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace

import numpy as np

from .config import RunConfig, get_config
from .data import make_loaders
from .data.core import ClipArrays
from .data.leakage import find_overlaps
from .data.splits import make_manifest, split_indices
from .model import build_model
from .runtime import resolve_device, seed_everything
from .train import fit, run_epoch

log = logging.getLogger(__name__)


# Quick: a cheap model and few epochs so notebook 09 runs in about a minute on a CPU (the numbers
# are those of an under-trained model); full: TACFN, the full set, more epochs and seeds.
QUICK = {"model": "concat", "epochs": 5, "n_seeds": 3}
FULL = {"model": "tacfn", "epochs": 20, "n_seeds": 5}


def protocol_config(variant: str = "complementary", quick: bool = True, seed: int = 0,
                    device: str = "auto", cache_dir: str = ".cache/tacfn_lite",
                    **overrides) -> tuple[RunConfig, tuple[int, ...]]:
    """The config and seeds notebook 09 uses (``overrides``: any ``get_config`` key)."""
    preset = QUICK if quick else FULL
    base = {"model": preset["model"], "epochs": preset["epochs"], "variant": variant,
            "size": "quick" if quick else "full", "device": device, "cache_dir": str(cache_dir),
            "progress": False}
    cfg = get_config("tiny", **{**base, **overrides})
    return cfg, tuple(range(seed, seed + preset["n_seeds"]))


def random_clip_split(actor_split: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Clips shuffled into train/val/test of the same sizes as ``actor_split``, ignoring actors
    (the mistake: the same actors then appear in training and test)."""
    names = ("train", "val", "test")
    rows = np.random.default_rng([seed, 11]).permutation(np.concatenate(list(actor_split.values())))
    parts = np.split(rows, np.cumsum([len(actor_split[k]) for k in names]))
    return {name: np.sort(part) for name, part in zip(names, parts)}


def train_track(cfg: RunConfig, arrays: ClipArrays, split: dict[str, np.ndarray]) -> dict:
    """Train ``cfg.model`` for ``cfg.train.epochs`` on ``split`` with :func:`train.fit`; validation
    and test accuracy after every epoch (the test numbers are recorded for the lesson, never
    used to train). ``split`` may leak on purpose, so it is not leak-checked here.

    Returns:
        ``{"val_accuracy": [...], "test_accuracy": [...], "seconds": float}``, one entry per epoch.
    """
    arrays = replace(arrays, meta={**(arrays.meta or {}), "fixed_split": split})
    loaders, _ = make_loaders(cfg, arrays, progress=False)
    device = resolve_device(cfg.train.device)

    def test_accuracy(epoch: int, row: dict, model) -> None:
        row["test_accuracy"] = run_epoch(model, loaders["test"], device)["accuracy"]

    with tempfile.TemporaryDirectory(prefix="tacfn-protocols-") as tmp:
        run_cfg = replace(cfg, train=replace(cfg.train, out_dir=tmp, patience=0))
        seed_everything(cfg.train.seed)
        history = fit(build_model(cfg.model), loaders, run_cfg, on_epoch=test_accuracy)
    rows = history.epochs
    return {"val_accuracy": [r["val_accuracy"] for r in rows],
            "test_accuracy": [r["test_accuracy"] for r in rows],
            "seconds": sum(r["seconds"] for r in rows)}


def pick_epochs(track: dict) -> dict:
    """The test accuracy reported under each selection rule (first epoch on ties).

    - ``on_val``: the epoch with the best validation accuracy (honest).
    - ``on_test``: the epoch with the best test accuracy (test set used for model selection).
    """
    val, test = np.asarray(track["val_accuracy"]), np.asarray(track["test_accuracy"])
    e_val, e_test = int(val.argmax()), int(test.argmax())
    return {"on_val": {"epoch": e_val, "test_accuracy": float(test[e_val])},
            "on_test": {"epoch": e_test, "test_accuracy": float(test[e_test])}}


def _mean_std(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "values": v.tolist()}


def run_protocols(cfg: RunConfig, arrays: ClipArrays, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Train once per seed on the actor-independent split and once on a random clip split of the
    same sizes; summarise the three pitfalls.

    Returns:
        ``runs`` (one row per seed and split with both epoch picks and the per-epoch curves) and
        ``summary`` with, per pitfall, the honest and the pitfall number (test accuracy, 0-1):
        ``epoch_pick`` (on val vs on test, actor split), ``split`` (actor vs random, picked on
        val), ``seeds`` (mean ± std vs the best single seed) and ``leaks`` of each split.
    """
    actor_split = split_indices(arrays.actors, cfg.data.fold, seed=cfg.data.data_seed)
    runs = []
    for seed in seeds:
        run_cfg = replace(cfg, train=replace(cfg.train, seed=seed))
        for name in ("actor", "random"):
            split = actor_split if name == "actor" else random_clip_split(actor_split, seed)
            track = train_track(run_cfg, arrays, split)
            runs.append({"seed": seed, "split": name, **track, **pick_epochs(track)})
            log.info("seed %d %s split: %s", seed, name, runs[-1]["on_val"])

    def numbers(split: str, rule: str) -> list[float]:
        return [r[rule]["test_accuracy"] for r in runs if r["split"] == split]

    honest = _mean_std(numbers("actor", "on_val"))
    on_test, random = _mean_std(numbers("actor", "on_test")), _mean_std(numbers("random", "on_val"))
    summary = {  # inflation: the pitfall number minus the honest one
        "epoch_pick": {"on_val": honest, "on_test": on_test,
                       "inflation": on_test["mean"] - honest["mean"]},
        "split": {"actor": honest, "random": random, "inflation": random["mean"] - honest["mean"]},
        "seeds": {"mean": honest["mean"], "std": honest["std"], "best_single": honest["max"],
                  "worst_single": honest["min"], "n": len(seeds),
                  "inflation": honest["max"] - honest["mean"]},
    }
    summary["leaks"] = {
        name: sorted({o.kind for o in find_overlaps(
            make_manifest(arrays.clip_ids, arrays.actors, split))})
        for name, split in (("actor", actor_split), ("random", random_clip_split(actor_split, 0)))
    }
    return {"model": cfg.model.model, "epochs": cfg.train.epochs, "seeds": list(seeds),
            "data_hash": (arrays.meta or {}).get("content_hash"), "runs": runs, "summary": summary}


def summary_rows(result: dict) -> list[dict]:
    """One row per pitfall (honest vs pitfall number in %, and the difference), for tables."""
    s = result["summary"]
    pct = lambda d: f"{100 * d['mean']:.1f} ± {100 * d['std']:.1f}"
    rows = (("epoch picked on test", "epoch_pick", s["epoch_pick"]["on_val"],
             pct(s["epoch_pick"]["on_test"])),
            ("random clip split", "split", s["split"]["actor"], pct(s["split"]["random"])),
            ("best single seed", "seeds", s["split"]["actor"],
             f"{100 * s['seeds']['best_single']:.1f}"))
    return [{"pitfall": name, "honest": pct(honest), "pitfall_number": number,
             "difference": round(100 * s[key]["inflation"], 1)}
            for name, key, honest, number in rows]
