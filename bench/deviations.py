"""TACFN deviations measured (issue 14): the authors' setting, the kit's default and each switch
flipped alone from the official setting, on SynthAV full, fold 0, several seeds.

Prints ONE JSON object and writes bench/results/deviations_<variant>.json. Resumable: runs
finished under ``--runs`` are read back (``compare._finished_run``); ``--collect`` only reads
finished runs and lists the others as unfinished.

    .venv/bin/python bench/deviations.py --variant synchrony --epochs 40
    .venv/bin/python bench/deviations.py --variant complementary --epochs 8
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from common import base_parser, write_result
from tacfn_lite.compare import _finished_run, fusion_flops
from tacfn_lite.config import OFFICIAL_TACFN, get_config
from tacfn_lite.data import load_arrays
from tacfn_lite.model import build_model, count_parameters
from tacfn_lite.train import train_model

# name → overrides; "official" first, every flip starts from it. Values: issue 14's table.
SETTINGS = {"official": {"tacfn": "official"}, "kit": {"tacfn": "kit"},
            "selection=query": {"tacfn": "official", "selection": "query"},
            "weight_norm=clip": {"tacfn": "official", "weight_norm": "clip"},
            "weight_scale=count": {"tacfn": "official", "weight_scale": "count"},
            "classifier_source=selected": {"tacfn": "official", "classifier_source": "selected"}}
SWITCHES = [k.split(".")[1] for k in OFFICIAL_TACFN]


def setting_config(name: str, args, seed: int):
    size = "quick" if args.smoke else "full"
    return get_config("tiny", variant=args.variant, size=size, fold=0, epochs=args.epochs,
                      patience=args.patience, seed=seed, device="cpu", progress=False,
                      cache_dir=args.cache_dir,
                      out_dir=str(Path(args.runs) / args.variant / f"{name}_s{seed}"),
                      **SETTINGS[name])


def run_row(hist: dict, seed: int) -> dict:
    return {"seed": seed, "test_accuracy": hist["test"]["accuracy"],
            "val_accuracy": hist["best_val_accuracy"], "best_epoch": hist["best_epoch"],
            "epochs_run": len(hist["epochs"]), "seconds_per_epoch": hist["seconds_per_epoch"]}


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--variant", default="synchrony", choices=("synchrony", "complementary"))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=0, help="early stopping on validation; 0 off")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--runs", default="runs/deviations")
    p.add_argument("--cache-dir", default=".cache/tacfn_lite", help="SynthAV cache folder")
    p.add_argument("--collect", action="store_true", help="read finished runs only, train none")
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs, args.seeds, args.settings = 1, 1, "official,kit"
    names, seeds = args.settings.split(","), list(range(args.seeds))
    arrays = None if args.collect else load_arrays(setting_config(names[0], args, 0).data,
                                                   progress=False)
    runs, unfinished = {n: [] for n in names}, []
    for seed in seeds:  # seeds outer: every setting has a first seed before any has a third
        for name in names:
            cfg = setting_config(name, args, seed)
            hist = _finished_run(cfg)
            if hist is None and not args.collect:
                hist = train_model(cfg, arrays=arrays, progress=False, resume=True)[1].to_dict()
            if hist is None:
                unfinished.append(f"{name} seed {seed}")
            else:
                runs[name].append(run_row(hist, seed))
    rows = {}
    for name in names:
        cfg = setting_config(name, args, 0)
        acc = np.array([r["test_accuracy"] for r in runs[name]])
        rows[name] = {"switches": {k: getattr(cfg.model, k) for k in SWITCHES},
                      "test_accuracy_mean": float(acc.mean()) if len(acc) else None,
                      "test_accuracy_std": float(acc.std()) if len(acc) else None,
                      "n_seeds": len(acc), "params": count_parameters(build_model(cfg.model)),
                      "fusion_flops": fusion_flops(cfg), "runs": runs[name]}
    base = setting_config(names[0], args, 0)
    result = {"variant": args.variant, "size": base.data.size, "fold": base.data.fold,
              "epochs": args.epochs, "patience": args.patience, "seeds": seeds,
              "smoke": args.smoke, "unfinished": unfinished, "settings": rows}
    write_result(f"deviations_{args.variant}", result, args.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
