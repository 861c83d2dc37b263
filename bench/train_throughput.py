"""Training throughput (issue 15): clips/s of one training step (batch 32, SynthAV clips through
the real loader, forward + backward + AdamW) per model, the FLOP rate that implies, and the
fraction of a large float32 matmul's rate measured in the same run on the same threads.

``--baseline REV`` measures the same thing for an earlier commit in the same run (a temporary
``git worktree``, imported first on ``PYTHONPATH``), so the speed-up is read off one JSON. Both
sides run in alternating fresh processes (``--processes``, best of each side), as one process's
speed varies with where its memory and threads land. ``--parts`` adds where a TACFN step's time
goes: forward + backward of each encoder and of the fusion with its head, and the optimiser step.

    python bench/train_throughput.py --baseline 9746faa   # bench/results/train_throughput.json
    python bench/train_throughput.py --smoke
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import REPO, base_parser, write_result
from tqdm import tqdm

MODELS = ("tacfn", "concat", "late", "mult")


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    """Float32 GEMM rate (GFLOP/s) on this process's threads: the machine's practical peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - t0) / 1e9


def best_seconds(fn, repeats: int, calls: int = 1) -> float:
    """Seconds per call of ``fn``, best of ``repeats`` passes of ``calls`` calls each: a VM's
    neighbours only slow a pass down."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def step_rate(model_name: str, steps: int, cache_dir: str, warmup: int = 3,
              repeats: int = 5) -> dict:
    """Clips/s and training GFLOP/s of ``model_name`` on SynthAV synchrony quick batches."""
    from torch.utils.flop_counter import FlopCounterMode

    from tacfn_lite import train
    from tacfn_lite.config import get_config
    from tacfn_lite.data import make_loaders
    from tacfn_lite.model import build_model
    from tacfn_lite.train import run_epoch

    cfg = get_config("tiny", model=model_name, variant="synchrony", device="cpu", progress=False,
                     cache_dir=cache_dir)
    loaders, _ = make_loaders(cfg, progress=False)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    opt = (train.make_optimizer(model, cfg.train) if hasattr(train, "make_optimizer")
           else torch.optim.AdamW(model.parameters(), lr=cfg.train.lr,  # a baseline commit's
                                  weight_decay=cfg.train.weight_decay))
    train_batches = list(loaders["train"])  # gathered first: the loader is not timed
    batches = [train_batches[i % len(train_batches)] for i in range(warmup + steps)]
    run_epoch(model, batches[:warmup], torch.device("cpu"), optimizer=opt)
    seconds = best_seconds(
        lambda: run_epoch(model, batches[warmup:], torch.device("cpu"), optimizer=opt), repeats)
    with FlopCounterMode(display=False) as counter:  # forward + backward of one batch
        out = model(batches[0].audio, batches[0].video)
        torch.nn.functional.cross_entropy(out.logits, batches[0].label).backward()
    clips = sum(len(b) for b in batches[warmup:])
    flops = counter.get_total_flops() * clips / len(batches[0])
    return {"clips_per_s": round(clips / seconds, 1), "gflops": round(flops / seconds / 1e9, 2)}


def part_times(cache_dir: str, repeats: int = 7, steps: int = 10) -> dict:
    """Milliseconds of each part of one TACFN training step (batch 32, this process's threads):
    forward + backward of the video encoder, the audio encoder and the fusion with its head (each
    on the real batch, the others' outputs held fixed), the optimiser step, and the whole step."""
    from tacfn_lite import train
    from tacfn_lite.config import get_config
    from tacfn_lite.data import make_loaders
    from tacfn_lite.model import build_model

    cfg = get_config("tiny", variant="synchrony", device="cpu", progress=False,
                     cache_dir=cache_dir)
    batch = next(iter(make_loaders(cfg, progress=False)[0]["train"]))
    torch.manual_seed(0)
    model = build_model(cfg.model).train()
    opt = train.make_optimizer(model, cfg.train)
    audio = model.audio_encoder(batch.audio).detach().requires_grad_()
    video, grid = model.video_encoder(batch.video)
    video = video.detach().requires_grad_()
    loss = torch.nn.functional.cross_entropy

    def step():
        opt.zero_grad(set_to_none=True)
        loss(model(batch.audio, batch.video).logits, batch.label).backward()
        opt.step()

    parts = {"video_encoder": lambda: model.video_encoder(batch.video)[0].sum().backward(),
             "audio_encoder": lambda: model.audio_encoder(batch.audio).sum().backward(),
             "fusion_and_head": lambda: loss(model.fusion(audio, video, grid).logits,
                                             batch.label).backward(),
             "optimizer_step": opt.step, "whole_step": step}
    out = {}
    for name, fn in parts.items():
        fn()  # warm-up
        out[name] = round(best_seconds(fn, repeats, steps) * 1e3, 3)
    return {"ms": out, "fraction_of_step": {k: round(v / out["whole_step"], 3)
                                            for k, v in out.items() if k != "whole_step"}}


def measure(models: tuple[str, ...], steps: int, cache_dir: str) -> dict:
    peak = matmul_gflops()
    rows = {m: step_rate(m, steps, cache_dir) for m in models}
    for r in rows.values():
        r["fraction_of_matmul_peak"] = round(r["gflops"] / peak, 4)
    return {"matmul_gflops": round(peak, 1), "models": rows}


def in_process(package_root: Path, models: tuple[str, ...], steps: int, cache_dir: str) -> dict:
    """:func:`measure` in a fresh process that imports ``tacfn_lite`` from ``package_root``."""
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'bench')!r}); "
            "import json, train_throughput as t; "
            f"print(json.dumps(t.measure({models!r}, {steps}, {cache_dir!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=package_root, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(package_root)}, capture_output=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(runs: list[dict]) -> dict:
    """Per model, the run with the most clips/s, and every run's clips/s beside it; the peak is
    the best process's matmul rate, and every fraction is taken of that one peak."""
    peak = max(r["matmul_gflops"] for r in runs)
    models = {}
    for m in runs[0]["models"]:
        row = max((r["models"][m] for r in runs), key=lambda x: x["clips_per_s"])
        models[m] = {**row, "fraction_of_matmul_peak": round(row["gflops"] / peak, 4),
                     "clips_per_s_each_process": [r["models"][m]["clips_per_s"] for r in runs]}
    return {"matmul_gflops": peak, "models": models}


def compare(rev: str | None, models: tuple[str, ...], steps: int, cache_dir: str,
            processes: int) -> dict:
    """This tree and (if given) commit ``rev`` in a temporary worktree, measured in alternating
    fresh processes: a process's speed on a VM varies by up to 20 % with where its memory and
    threads land, so each side keeps its best of ``processes``."""
    with tempfile.TemporaryDirectory(prefix="tacfn-baseline-") as tmp:
        if rev:
            subprocess.run(["git", "worktree", "add", "--detach", tmp, rev], cwd=REPO,
                           check=True, capture_output=True)
        try:
            sides = {"current": REPO, **({"baseline": Path(tmp)} if rev else {})}
            runs = {k: [] for k in sides}
            for _ in tqdm(range(processes), desc="processes"):
                for side, root in sides.items():
                    runs[side].append(in_process(root, models, steps, cache_dir))
            return {side: best_of(r) for side, r in runs.items()}
        finally:
            if rev:
                subprocess.run(["git", "worktree", "remove", "--force", tmp], cwd=REPO,
                               capture_output=True)


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=24, help="training steps per timed pass (the "
                   "best of 5 passes counts)")
    p.add_argument("--baseline", metavar="REV", help="also measure this commit, in the same run")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice); pass 1 "
                   "on a loaded machine, where spinning OpenMP threads make 2-thread numbers noise")
    p.add_argument("--processes", type=int, default=3, help="fresh processes per side; "
                   "each side keeps its best")
    p.add_argument("--parts", action="store_true", help="also time each part of a TACFN step "
                   "(encoders, fusion with head, optimiser) in this process")
    p.add_argument("--cache-dir", default=str(REPO / ".cache" / "tacfn_lite"), help="SynthAV cache")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the baseline's process too
    models, steps = (("tacfn",), 2) if args.smoke else (MODELS, args.steps)
    processes = 1 if args.smoke else args.processes
    sides = compare(args.baseline, models, steps, args.cache_dir, processes)
    result = {"smoke": args.smoke, "batch_size": 32, "steps": steps, "timed_passes": 5,
              "processes_per_side": processes, "threads": torch.get_num_threads(), **sides}
    if args.baseline:
        result["baseline"]["commit"] = args.baseline
        result["speedup"] = {m: round(sides["current"]["models"][m]["clips_per_s"]
                                      / sides["baseline"]["models"][m]["clips_per_s"], 2)
                             for m in models}
    if args.parts:
        result["tacfn_parts"] = part_times(args.cache_dir, *((2, 1) if args.smoke else ()))
    write_result("train_throughput", result, args.results_dir)


if __name__ == "__main__":
    main()
