"""TACFN deviations measured (issue 14): the authors' setting, the kit's default and each switch
flipped alone from the official setting, on SynthAV full, fold 0, several seeds.

Prints ONE JSON object and writes bench/results/deviations_<variant>.json. Resumable: runs
finished under ``--runs`` are read back (``compare._finished_run``); ``--collect`` only reads
finished runs and lists the others as unfinished.

    .venv/bin/python bench/deviations.py --variant synchrony --epochs 40
    .venv/bin/python bench/deviations.py --variant complementary --epochs 8
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
from common import base_parser, write_result

from tacfn_lite.checkpoints import load_model
from tacfn_lite.compare import _finished_run, fusion_flops
from tacfn_lite.config import OFFICIAL_TACFN, get_config
from tacfn_lite.course import DEVIATIONS as SETTINGS
from tacfn_lite.data import load_arrays, to_batch
from tacfn_lite.data.splits import split_indices
from tacfn_lite.fusion import batch_mate_effect
from tacfn_lite.model import build_model, count_parameters
from tacfn_lite.train import train_model

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


def kit_from_compare(path: Path, cfg) -> tuple[list[dict], str]:
    """The kit's TACFN runs from a ``bench/compare.py`` result of the same data and training
    config (the kit setting is the default TACFN), so they need not be trained twice."""
    record = json.loads(path.read_text())
    data = {k: v for k, v in record["data"].items() if k != "cache_dir"}
    if data != {k: v for k, v in vars(cfg.data).items() if k != "cache_dir"} or \
            record["train"]["epochs"] != cfg.train.epochs:
        raise ValueError(f"{path}: its data or epochs differ from the deviation runs")
    runs = [{k: r[k] for k in ("seed", "test_accuracy", "val_accuracy", "best_epoch")}
            for r in record["models"]["tacfn"]["runs"]]
    return runs, f"{path} (patience {record['train']['patience']}, {record['date']})"


def batch_sum_effect(checkpoint: str, n_clips: int = 24, batch_size: int = 16) -> dict:
    """``fusion.batch_mate_effect`` (10 draws of batch mates) on the first ``n_clips`` test
    clips of a trained checkpoint, batch-summed and per sample."""
    model, cfg = load_model(checkpoint)
    arrays = load_arrays(cfg.data, progress=False)
    test = split_indices(arrays.actors, cfg.data.fold, seed=cfg.data.data_seed)["test"]
    batch = to_batch(arrays, test)
    out = {}
    for mode in (True, False):
        rows = [batch_mate_effect(model, batch.audio, batch.video, clip=i, batch_size=batch_size,
                                  batch_sum=mode, seed=i) for i in range(n_clips)]
        out["batch_summed" if mode else "per_sample"] = {
            "mean_change": float(np.mean([r["mean_change"] for r in rows])),
            "max_change": float(np.max([r["max_change"] for r in rows])),
            "flip_rate": sum(r["flips"] for r in rows) / sum(r["n_draws"] for r in rows)}
    return {"checkpoint": checkpoint, "n_clips": n_clips, "batch_size": batch_size, **out}


def markdown_table(record: dict) -> str:
    """README table of one result: a row per setting, flipped switch in bold; test accuracy per
    seed next to the mean (a mean of a bimodal result hides which seeds failed) and each run's
    best epoch / epochs run (early stopping ends a run on the plateau)."""
    header = ("| setting | selection | weight norm | weight scale | classifier input | test acc "
              "(mean ± std) | per seed | seeds | best epoch / run | params | fusion FLOPs |")
    lines = [header, "|---" * 11 + "|"]
    official = record["settings"]["official"]["switches"]
    for name, row in record["settings"].items():
        sw = [f"**{v}**" if v != official[k] else v for k, v in row["switches"].items()]
        acc = ("not run" if row["test_accuracy_mean"] is None else
               f"{100 * row['test_accuracy_mean']:.1f} ± {100 * row['test_accuracy_std']:.1f}")
        per_seed = ", ".join(f"{100 * r['test_accuracy']:.1f}" for r in row["runs"])
        epochs = ", ".join(f"{r['best_epoch'] + 1}/{r['epochs_run']}" if "epochs_run" in r
                           else str(r["best_epoch"] + 1) for r in row["runs"])  # from 1
        lines.append(f"| {name} | {' | '.join(sw)} | {acc} | {per_seed} | {row['n_seeds']} | {epochs} | "
                     f"{row['params']:,} | {row['fusion_flops']:,} |")
    for name, row in record["settings"].items():
        if row.get("source", "trained by this script") != "trained by this script":
            lines.append(f"\n{name}: runs read from {row['source']}.")
    if record["unfinished"]:
        lines.append(f"\nUnfinished (not in the means): {', '.join(record['unfinished'])}.")
    return "\n".join(lines)


def update_readme(results_dir: Path, readme: Path) -> None:
    """Rewrite the README between each ``<!-- deviations:<name> -->`` and the next
    ``<!-- /deviations -->`` with the table of ``<results_dir>/deviations_<name>.json``."""
    text = readme.read_text()
    for name in re.findall(r"<!-- deviations:(\S+) -->", text):
        record = json.loads((results_dir / f"deviations_{name}.json").read_text())
        start = f"<!-- deviations:{name} -->"
        head, rest = text.split(start, 1)
        text = head + start + "\n" + markdown_table(record) + "\n" + rest[rest.index("<!-- /deviations -->"):]
    readme.write_text(text)


def train_or_read(args, names: list[str], seeds: list[int]) -> tuple[dict, list[str]]:
    """Run rows per setting (finished runs read back, others trained unless ``--collect``)
    and the names of the runs still missing."""
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
    return runs, unfinished


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--variant", default="synchrony", choices=("synchrony", "complementary"))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=0, help="early stopping on validation; 0 off")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--runs", default="runs/deviations")
    p.add_argument("--cache-dir", default=".cache/tacfn_lite", help="SynthAV cache folder")
    p.add_argument("--train-command", action="append", default=[],
                   help="with --collect: a command that trained these runs (kept in the JSON)")
    p.add_argument("--note", default="", help="kept in the JSON (e.g. why runs are missing)")
    p.add_argument("--suffix", default="", help="result name deviations_<variant><suffix>")
    p.add_argument("--collect", action="store_true", help="read finished runs only, train none")
    p.add_argument("--kit-from", metavar="JSON",
                   help="if no kit run is finished: its runs from this compare result")
    p.add_argument("--batch-sum", metavar="BEST_PT",
                   help="only measure the batch-sum effect on this checkpoint's test clips")
    p.add_argument("--readme", action="store_true",
                   help="only regenerate the README tables from the results JSON")
    args = p.parse_args(argv)
    if args.readme:
        update_readme(Path(args.results_dir), Path(__file__).resolve().parent.parent / "README.md")
        return 0
    if args.batch_sum:
        write_result("batch_sum_effect", batch_sum_effect(args.batch_sum), args.results_dir)
        return 0
    if args.smoke:
        args.epochs, args.seeds, args.settings = 1, 1, "official,kit"
    names, seeds = args.settings.split(","), list(range(args.seeds))
    runs, unfinished = train_or_read(args, names, seeds)
    rows, sources = {}, {}
    if args.kit_from and "kit" in names and not runs["kit"]:
        runs["kit"], sources["kit"] = kit_from_compare(Path(args.kit_from),
                                                       setting_config("kit", args, 0))
        unfinished = [u for u in unfinished if not u.startswith("kit ")]
    for name in names:
        cfg = setting_config(name, args, 0)
        acc = np.array([r["test_accuracy"] for r in runs[name]])
        rows[name] = {"switches": {k: getattr(cfg.model, k) for k in SWITCHES},
                      "test_accuracy_mean": float(acc.mean()) if len(acc) else None,
                      "test_accuracy_std": float(acc.std()) if len(acc) else None,
                      "n_seeds": len(acc), "params": count_parameters(build_model(cfg.model)),
                      "fusion_flops": fusion_flops(cfg), "runs": runs[name],
                      "source": sources.get(name, "trained by this script")}
    base = setting_config(names[0], args, 0)
    result = {"variant": args.variant, "size": base.data.size, "fold": base.data.fold,
              "epochs": args.epochs, "patience": args.patience, "seeds": seeds,
              "smoke": args.smoke, "unfinished": unfinished, "settings": rows,
              "train_commands": args.train_command, "note": args.note}
    write_result(f"deviations_{args.variant}{args.suffix}", result, args.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
