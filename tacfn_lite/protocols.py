"""Protocol pitfalls, measured (notebook 09): epoch picked on test (as the public CFN-SR/MSAF
RAVDESS code did), a random clip split, one seed instead of mean ± std."""

import logging
import tempfile
from dataclasses import replace

import numpy as np

from .config import RunConfig, get_config
from .data import ClipArrays, make_loaders
from .data.leakage import find_overlaps
from .data.splits import make_manifest, split_indices
from .model import build_model
from .runtime import resolve_device, seed_everything
from .train import fit, run_epoch

log = logging.getLogger(__name__)

# Quick: notebook 09 in about a minute on a CPU (numbers of an under-trained model); full: TACFN.
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
    return get_config("tiny", **{**base, **overrides}), tuple(range(seed, seed + preset["n_seeds"]))


def random_clip_split(actor_split: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Clips shuffled into train/val/test of the same sizes as ``actor_split``, ignoring actors
    (the mistake: the same actors then appear in training and test)."""
    names = ("train", "val", "test")
    rows = np.random.default_rng([seed, 11]).permutation(np.concatenate(list(actor_split.values())))
    parts = np.split(rows, np.cumsum([len(actor_split[k]) for k in names]))
    return {name: np.sort(part) for name, part in zip(names, parts)}


def train_track(cfg: RunConfig, arrays: ClipArrays, split: dict[str, np.ndarray]) -> dict:
    """Train ``cfg`` on ``split`` (not leak-checked: it may leak on purpose); val and test accuracy
    per epoch (test is recorded, never used to train) and the seconds taken."""
    arrays = replace(arrays, meta={**(arrays.meta or {}), "fixed_split": split})
    loaders, _ = make_loaders(cfg, arrays, progress=False)
    device = resolve_device(cfg.train.device)

    def test_accuracy(epoch: int, row: dict, model) -> None:
        row["test_accuracy"] = run_epoch(model, loaders["test"], device)["accuracy"]

    with tempfile.TemporaryDirectory(prefix="tacfn-protocols-") as tmp:
        run_cfg = replace(cfg, train=replace(cfg.train, out_dir=tmp, patience=0))
        seed_everything(cfg.train.seed)
        history = fit(build_model(cfg.model), loaders, run_cfg, on_epoch=test_accuracy)
    return {**{k: [r[k] for r in history.epochs] for k in ("val_accuracy", "test_accuracy")},
            "seconds": sum(r["seconds"] for r in history.epochs)}


def pick_epochs(track: dict) -> dict:
    """The test accuracy at the epoch picked ``on_val`` (honest) and ``on_test`` (test set used
    for model selection); the first epoch on ties."""
    test = np.asarray(track["test_accuracy"])
    picks = {"on_val": int(np.argmax(track["val_accuracy"])), "on_test": int(test.argmax())}
    return {rule: {"epoch": e, "test_accuracy": float(test[e])} for rule, e in picks.items()}


def _mean_std(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "values": v.tolist()}


def run_protocols(cfg: RunConfig, arrays: ClipArrays, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Train once per seed on the actor split and once on a random clip split of the same sizes:
    ``runs`` (per seed and split: both epoch picks and the curves) and ``summary`` (per pitfall
    the honest and the pitfall test accuracy, and the ``leaks`` of each split)."""
    actor_split = split_indices(arrays.actors, cfg.data.fold, seed=cfg.data.data_seed)
    runs = []
    for seed in seeds:
        run_cfg = replace(cfg, train=replace(cfg.train, seed=seed))
        for name in ("actor", "random"):
            split = actor_split if name == "actor" else random_clip_split(actor_split, seed)
            track = train_track(run_cfg, arrays, split)
            runs.append({"seed": seed, "split": name, **track, **pick_epochs(track)})
            log.info("seed %d %s split: %s", seed, name, runs[-1]["on_val"])

    honest, on_test, random = (
        _mean_std([r[rule]["test_accuracy"] for r in runs if r["split"] == split])
        for split, rule in (("actor", "on_val"), ("actor", "on_test"), ("random", "on_val")))
    summary = {  # inflation: the pitfall number minus the honest one
        "epoch_pick": {"on_val": honest, "on_test": on_test,
                       "inflation": on_test["mean"] - honest["mean"]},
        "split": {"actor": honest, "random": random, "inflation": random["mean"] - honest["mean"]},
        "seeds": {"mean": honest["mean"], "std": honest["std"], "best_single": honest["max"],
                  "worst_single": honest["min"], "n": len(seeds),
                  "inflation": honest["max"] - honest["mean"]}}
    leak_splits = {"actor": actor_split, "random": random_clip_split(actor_split, 0)}
    summary["leaks"] = {name: sorted({o.kind for o in find_overlaps(make_manifest(
        arrays.clip_ids, arrays.actors, split))}) for name, split in leak_splits.items()}
    return {"model": cfg.model.model, "epochs": cfg.train.epochs, "seeds": list(seeds),
            "data_hash": (arrays.meta or {}).get("content_hash"), "runs": runs, "summary": summary}


def summary_rows(result: dict) -> list[dict]:
    """One row per pitfall (honest vs pitfall number in %, and the difference), for tables."""
    s = result["summary"]
    pct = lambda d: f"{100 * d['mean']:.1f} ± {100 * d['std']:.1f}"
    rows = (("epoch picked on test", "epoch_pick", pct(s["epoch_pick"]["on_test"])),
            ("random clip split", "split", pct(s["split"]["random"])),
            ("best single seed", "seeds", f"{100 * s['seeds']['best_single']:.1f}"))
    return [{"pitfall": name, "honest": pct(s["split"]["actor"]), "pitfall_number": number,
             "difference": round(100 * s[key]["inflation"], 1)} for name, key, number in rows]
