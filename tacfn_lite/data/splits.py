"""Actor-independent splits (6 folds of contiguous actor groups, validation actors drawn from the
training actors) and hashed JSON manifests (DESIGN §4, notebooks 00, 09)."""

import hashlib
import json

import numpy as np

N_FOLDS = 6


def actor_folds(actors: np.ndarray, n_folds: int = N_FOLDS) -> list[list[int]]:
    """Split the sorted unique actor ids into ``n_folds`` contiguous groups (RAVDESS: 4 each)."""
    ids = sorted(int(a) for a in np.unique(actors))
    if len(ids) < n_folds:
        raise ValueError(f"need at least {n_folds} actors for {n_folds} folds, got {len(ids)}: use a "
                         f"corpus with more actors (export: --actors {n_folds} or more)")
    return [list(map(int, g)) for g in np.array_split(ids, n_folds)]


def split_indices(actors: np.ndarray, fold: int, seed: int = 0,
                  n_folds: int = N_FOLDS) -> dict[str, np.ndarray]:
    """Row indices of train/val/test: test = fold ``fold``; val = one fold's worth of actors
    drawn (seeded) from the remaining training actors."""
    folds = actor_folds(actors, n_folds)
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in 0..{n_folds - 1}, got {fold}")
    test = folds[fold]
    rest = [a for k, g in enumerate(folds) if k != fold for a in g]
    rng = np.random.default_rng([seed, fold, 7])
    val = sorted(int(a) for a in rng.choice(rest, size=len(test), replace=False))
    train = [a for a in rest if a not in val]
    return {name: np.flatnonzero(np.isin(actors, group))
            for name, group in (("train", train), ("val", val), ("test", test))}


def make_manifest(clip_ids: np.ndarray, actors: np.ndarray, split: dict[str, np.ndarray],
                  extra: dict | None = None) -> dict:
    """A JSON-able manifest: clips and actors per split plus a hash of its content."""
    body = {"splits": {name: {"actors": sorted(set(actors[idx].tolist())),
                              "clips": [str(c) for c in clip_ids[idx]]}
                       for name, idx in split.items()}, **(extra or {})}
    blob = json.dumps(body, sort_keys=True).encode()
    return {**body, "hash": hashlib.sha256(blob).hexdigest()[:16]}
