"""Explanation validity on SynthAV `synchrony` (DESIGN §6): one table per fused model.

Loads (or trains once, 30 epochs on the full set) TACFN, MulT-style and concat checkpoints under
``--runs``, scores their maps and IG attributions against the ground truth on the actor-
independent test fold, prints one JSON object and writes bench/results/validity.json.

    OMP_NUM_THREADS=1 .venv/bin/python bench/validity.py            # all three models
    OMP_NUM_THREADS=1 .venv/bin/python bench/validity.py --models tacfn --merge

Map pointing only (seconds per model, no IG) of trained checkpoints, e.g. the deviation runs:

    .venv/bin/python bench/validity.py --maps-only --checkpoints runs/deviations/synchrony/*/best.pt

(writes bench/results/validity_maps.json; with ``--merge`` checkpoints already in it that are not
re-scored are kept, and the per-setting summary is recomputed over all of them). Every table
names the fold it scored (``split``), read from the checkpoint's own config.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tacfn_lite.checkpoints import load_model, load_or_train
from tacfn_lite.config import get_config
from tacfn_lite.data import load_arrays
from tacfn_lite.data.splits import split_indices
from tacfn_lite.io import atomic_write_text
from tacfn_lite.validity import map_pointing_scores, validity_table

TARGETS = {  # DESIGN §6 / issue 6 "done when"
    "audio_select_pointing": (">=", 0.9),
    "video_weight_pointing": (">=", 0.9),
    "completeness_error_mean": ("<", 0.01),
    "deletion_auc_ratio": ("<=", 0.5),
    "randomised_ig_rank_corr": ("<", 0.5),
}


def check_targets(table: dict) -> dict:
    out = {}
    for key, (op, bound) in TARGETS.items():
        value = table.get(key)
        if value is None or math.isnan(value):  # missing map, or NaN
            out[key] = "n/a"
            continue
        ok = {">=": value >= bound, "<": value < bound, "<=": value <= bound}[op]
        out[key] = f"{'pass' if ok else 'MISS'} ({value:.4f} {op} {bound})"
    return out


def combine(paths: list[str], out_path: Path) -> int:
    """Merge per-model tables of result files (e.g. models benchmarked in parallel)."""
    result = {"models": {}}
    for path in paths:
        part = json.loads(Path(path).read_text())
        for name, table in part["models"].items():
            result["models"][name] = {**table, "command": table.get("command", part["command"])}
        result.update({k: v for k, v in part.items() if k not in ("models", "command")})
    result["command"] = [t["command"] for t in result["models"].values()]
    text = json.dumps(result, indent=1, sort_keys=True)
    atomic_write_text(out_path, text + "\n")
    print(text)
    return 0


def split_label(table: dict) -> str:
    """The ``split`` a model table names; for a table written before tables recorded it, the
    fold of its checkpoint's config (never a guessed fold)."""
    if "split" in table:
        return table["split"]
    checkpoint = table.get("checkpoint")
    if checkpoint and Path(checkpoint).is_file():
        return f"fold {load_model(checkpoint)[1].data.fold} test actors"
    return "fold not recorded"


def score_checkpoints(paths: list[str], out_path: Path, command: str, merge: bool = False) -> int:
    """Map pointing of each checkpoint on its own fold's test actors; mean and min per setting
    (a setting is the checkpoint's last three folders without the ``_s<seed>`` suffix). With
    ``merge``, the checkpoints of ``out_path`` not scored now are kept (with their command)."""
    old = json.loads(out_path.read_text()) if merge and out_path.exists() else {}
    tables = {name: {"command": old["command"], **table} if isinstance(old.get("command"), str)
              else table for name, table in old.get("checkpoints", {}).items()}
    for path in paths:
        model, cfg = load_model(path)
        arrays = load_arrays(cfg.data, progress=False)
        test = split_indices(arrays.actors, cfg.data.fold, seed=cfg.data.data_seed)["test"]
        tables["/".join(Path(path).parts[-4:-1])] = {
            **map_pointing_scores(model, arrays, test), "checkpoint": str(path),
            "variant": cfg.data.variant, "split": f"fold {cfg.data.fold} test actors",
            "seed": cfg.train.seed, "command": command}
    summary = {}
    for name, table in tables.items():
        group = summary.setdefault(name.rsplit("_s", 1)[0], {})
        for key, value in table.items():
            if key.endswith("_pointing") or key == "accuracy":
                group.setdefault(key, []).append(value)
    summary = {g: {k: {"mean": float(np.mean(v)), "min": float(np.min(v)), "n": len(v)}
                   for k, v in keys.items()} for g, keys in summary.items()}
    commands = list(dict.fromkeys(t["command"] for t in tables.values() if "command" in t))
    result = {"command": commands if merge else command, "torch": torch.__version__,
              "maps_only": True, "summary": summary, "checkpoints": tables}
    text = json.dumps(result, indent=1, sort_keys=True)
    atomic_write_text(out_path, text + "\n")
    print(json.dumps(result))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="tacfn,mult,concat")
    p.add_argument("--runs", default="runs/validity", help="folder with <model>/best.pt")
    p.add_argument("--size", default="full", choices=("quick", "full"))
    p.add_argument("--epochs", type=int, default=30, help="only used when a checkpoint is missing")
    p.add_argument("--n-clips", type=int, default=0, help="0 = the whole test fold")
    p.add_argument("--baseline", default="mean", choices=("zeros", "mean", "blur"))
    p.add_argument("--ig-steps", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/results/validity.json")
    p.add_argument("--merge", action="store_true",
                   help="keep other models (with --checkpoints: other checkpoints) already in --out")
    p.add_argument("--combine", nargs="+", metavar="JSON",
                   help="only merge the model tables of earlier result files into --out")
    p.add_argument("--checkpoints", nargs="+", metavar="BEST_PT",
                   help="score these checkpoints (each on its own fold) instead of --models")
    p.add_argument("--maps-only", action="store_true",
                   help="with --checkpoints: pointing of the fusion maps only (no IG)")
    args = p.parse_args(argv)
    command = "python bench/validity.py " + " ".join(argv or sys.argv[1:])
    if args.combine:
        return combine(args.combine, Path(args.out))
    if args.checkpoints:
        if not args.maps_only:
            p.error("--checkpoints needs --maps-only (full tables: --models with --runs)")
        out = Path(args.out if args.out != p.get_default("out") else "bench/results/validity_maps.json")
        return score_checkpoints(args.checkpoints, out, command, merge=args.merge)
    torch.manual_seed(args.seed)
    out_path = Path(args.out)
    result = json.loads(out_path.read_text()) if args.merge and out_path.exists() else {}
    result.setdefault("models", {})
    for name in args.models.split(","):
        cfg = get_config(variant="synchrony", size=args.size, epochs=args.epochs, model=name,
                         device="cpu", progress=False)
        t0 = time.perf_counter()
        model, cfg = load_or_train(cfg, Path(args.runs) / name / "best.pt")
        arrays = load_arrays(cfg.data, progress=False)
        test = split_indices(arrays.actors, cfg.data.fold, seed=cfg.data.data_seed)["test"]
        if args.n_clips:
            test = np.sort(np.random.default_rng(args.seed).choice(test, args.n_clips, replace=False))
        table = validity_table(model, arrays, test, baseline=args.baseline, n_steps=args.ig_steps,
                               seed=args.seed).to_dict()
        table["targets"] = check_targets(table)
        table["seconds"] = round(time.perf_counter() - t0, 1)
        table["checkpoint"] = str(Path(args.runs) / name / "best.pt")
        table["command"] = command
        table["split"] = f"fold {cfg.data.fold} test actors"  # each model's own fold
        result["models"][name] = table
    result.update(variant="synchrony", size=args.size,
                  split=sorted({split_label(t) for t in result["models"].values()}),
                  command=command,
                  torch=torch.__version__, python=platform.python_version(),
                  content_hash=(arrays.meta or {}).get("content_hash"))
    text = json.dumps(result, indent=1, sort_keys=True)
    atomic_write_text(out_path, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
