"""Train every model on the same splits and seeds and tabulate the comparison (notebook 04), with
parameters, fusion-only FLOPs and seconds per epoch."""

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from .cards import pct
from .checkpoints import load_model
from .config import MODELS, RunConfig
from .data import load_arrays
from .io import read_json
from .model import build_model, count_parameters
from .provenance import machine_info
from .train import train_model


def flop_counter() -> FlopCounterMode:
    """A ``FlopCounterMode`` that also counts CPU scaled-dot-product attention: torch's counter
    knows the CUDA kernels only, so MulT's attention (need_weights=False) counted zero on CPU."""
    cpu_sdpa_flop = lambda q, k, v, *args, **kwargs: sdpa_flop_count(q, k, v)  # q, k, v: shapes
    cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    formulas = {cpu_sdpa: cpu_sdpa_flop} if cpu_sdpa is not None else {}
    return FlopCounterMode(display=False, custom_mapping=formulas)


def fusion_flops(cfg: RunConfig) -> int:
    """FLOPs of the fusion module + head alone for one clip of the configured size."""
    model = build_model(cfg.model).eval()
    d = cfg.data
    audio = torch.randn(1, 1 + int(d.sample_rate * d.duration) // d.hop_length, d.n_mfcc)
    video = torch.rand(1, d.n_frames, 3, d.image_size, d.image_size)
    with torch.no_grad():
        a = model.audio_encoder(audio) if model.audio_encoder is not None else None
        v, grid = model.video_encoder(video) if model.video_encoder is not None else (None, None)
    # Counted with autograd on: under no_grad torch's module tracker fails on TACFN's expanded
    # query parameter ("Expected gradient function to be set"). Forward FLOPs are the same.
    with flop_counter() as counter:
        model.fusion(a, v, grid)
    return int(counter.get_total_flops())


def _finished_run(cfg: RunConfig) -> dict | None:
    """The History of a run already completed in ``cfg.train.out_dir`` with this exact config, so
    an interrupted ``compare`` resumes where it stopped instead of retraining finished runs."""
    out = Path(cfg.train.out_dir)
    done = (out / "history.json").is_file() and (out / "best.pt").is_file()
    if not done or load_model(out / "best.pt")[1] != cfg:
        return None
    hist = read_json(out / "history.json")
    return hist if len(hist["epochs"]) == cfg.train.epochs or cfg.train.patience else None


def summary_row(history: dict) -> dict:
    """Test metrics, the picked epoch and its val accuracy from a ``history.json`` dict."""
    t = history["test"]
    return {"test_accuracy": t["accuracy"], "test_macro_f1": t["macro_f1"],
            "test_uar": t["uar"], "best_epoch": history["best_epoch"],
            "val_accuracy": history["best_val_accuracy"]}


def compare(base: RunConfig, models: tuple[str, ...] = MODELS, seeds: tuple[int, ...] = (0, 1, 2),
            out_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Train each model for each seed on one data set (same split); mean ± std of test metrics.
    Finished runs in ``out_dir`` (default ``runs/compare/<variant>-<size>``, a real corpus: its
    name) are read back, cut ones resumed."""
    unknown = ", ".join(sorted(set(models) - set(MODELS)))
    if not models or unknown:
        what = f"unknown {unknown}" if unknown else "none given"
        raise ValueError(f"--models {','.join(models)!r}: {what}; choose from {', '.join(MODELS)}")
    if not seeds:
        raise ValueError("--seeds: give at least 1")
    synthav = base.data.name == "synthav"
    variant = base.data.variant if synthav else base.data.name
    folder = f"{variant}-{base.data.size}" if synthav else variant  # SynthAV's quick, full apart
    out_dir = Path(out_dir or f"runs/compare/{folder}")  # one per data set: its runs resume
    arrays = load_arrays(base.data, progress=progress)
    rows, baselines = {}, None
    for name in models:
        mcfg, runs = replace(base, model=replace(base.model, model=name)), []
        for seed in seeds:
            cfg = replace(mcfg, train=replace(base.train, seed=seed,
                                              out_dir=str(Path(out_dir) / f"{name}_s{seed}")))
            hist = _finished_run(cfg) or train_model(
                cfg, arrays=arrays, progress=progress, resume=True)[1].to_dict()
            test = hist["test"]  # every run shares the test split: its majority class and chance
            baselines = {"majority": test["majority_baseline"], "chance": test["chance_baseline"]}
            runs.append({"seed": seed, **summary_row(hist),
                         "seconds_per_epoch": hist["seconds_per_epoch"]})
        acc = np.array([r["test_accuracy"] for r in runs])
        rows[name] = {
            "test_accuracy_mean": float(acc.mean()), "test_accuracy_std": float(acc.std(ddof=0)),
            "test_macro_f1_mean": float(np.mean([r["test_macro_f1"] for r in runs])),
            "params": count_parameters(build_model(mcfg.model)), "fusion_flops": fusion_flops(mcfg),
            "seconds_per_epoch": float(np.median([r["seconds_per_epoch"] for r in runs])),
            "runs": runs}
    return {"variant": variant, "out_dir": str(out_dir), "data": base.data.__dict__,
            "train": {**base.train.__dict__, "seed": list(seeds)},
            "ceilings": (arrays.meta or {}).get("ceilings"),
            "data_hash": (arrays.meta or {}).get("content_hash"),
            "machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "baselines": baselines, "models": rows}


def format_table(result: dict) -> str:
    """Markdown table of a :func:`compare` result."""
    lines = ["| model | test acc (mean ± std) | UAR | macro F1 | params | fusion FLOPs | s/epoch |",
             "|---" * 7 + "|"]
    for name, r in result["models"].items():
        uar = np.mean([run["test_uar"] for run in r["runs"]])  # mean per-class recall
        lines.append(f"| {name} | {pct(r['test_accuracy_mean'])} ± {pct(r['test_accuracy_std'])} | "
                     f"{pct(uar)} | {pct(r['test_macro_f1_mean'])} | {r['params']:,} | "
                     f"{r['fusion_flops']:,} | {r['seconds_per_epoch']:.2f} |")
    if b := result.get("baselines"):
        lines.append(f"\nBaselines on the test split: majority class {pct(b['majority'])}, "
                     f"chance {pct(b['chance'])}.")
    if c := result.get("ceilings"):  # audio, video, late, fusion
        lines.append(f"\nDesigned ceilings: {', '.join(f'{k} {pct(v)}' for k, v in c.items())}.")
    return "\n".join(lines)
