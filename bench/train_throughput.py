"""Training throughput (issue 15): clips/s of one training step (batch 32, SynthAV clips through
the real loader, forward + backward + AdamW) per model, the FLOP rate that implies, and the
fraction of a large float32 matmul's rate measured in the same run on the same threads.

``--baseline REV`` measures the same thing for an earlier commit in the same run (a temporary
``git worktree``, imported first on ``PYTHONPATH``), so the speed-up is read off one JSON.

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

import torch
from common import REPO, base_parser, write_result

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


def step_rate(model_name: str, steps: int, cache_dir: str, warmup: int = 3) -> dict:
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
           else torch.optim.AdamW(model.parameters(), lr=cfg.train.lr))  # a baseline commit's
    batches = [b for _, b in zip(range(warmup + steps), loaders["train"])]
    run_epoch(model, batches[:warmup], torch.device("cpu"), optimizer=opt)  # batches gathered
    t0 = time.perf_counter()
    run_epoch(model, batches[warmup:], torch.device("cpu"), optimizer=opt)
    seconds = time.perf_counter() - t0
    with FlopCounterMode(display=False) as counter:  # forward + backward of one batch
        out = model(batches[0].audio, batches[0].video)
        torch.nn.functional.cross_entropy(out.logits, batches[0].label).backward()
    clips = sum(len(b) for b in batches[warmup:])
    flops = counter.get_total_flops() * clips / len(batches[0])
    return {"clips_per_s": round(clips / seconds, 1), "gflops": round(flops / seconds / 1e9, 2)}


def measure(models: tuple[str, ...], steps: int, cache_dir: str) -> dict:
    peak = matmul_gflops()
    rows = {m: step_rate(m, steps, cache_dir) for m in models}
    for r in rows.values():
        r["fraction_of_matmul_peak"] = round(r["gflops"] / peak, 4)
    return {"matmul_gflops": round(peak, 1), "models": rows}


def at_commit(rev: str, models: tuple[str, ...], steps: int, cache_dir: str) -> dict:
    """The same measurement for commit ``rev``, in a temporary worktree and a fresh process."""
    with tempfile.TemporaryDirectory(prefix="tacfn-baseline-") as tmp:
        subprocess.run(["git", "worktree", "add", "--detach", tmp, rev], cwd=REPO, check=True,
                       capture_output=True)
        try:
            env = {**os.environ, "PYTHONPATH": tmp}
            code = (f"import sys; sys.path.insert(0, {str(REPO / 'bench')!r}); "
                    "import json, train_throughput as t; "
                    f"print(json.dumps(t.measure({models!r}, {steps}, {cache_dir!r})))")
            out = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, text=True,
                                 capture_output=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tmp], cwd=REPO,
                           capture_output=True)


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40, help="timed training steps per model")
    p.add_argument("--baseline", metavar="REV", help="also measure this commit, in the same run")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice); pass 1 "
                   "on a loaded machine, where spinning OpenMP threads make 2-thread numbers noise")
    p.add_argument("--cache-dir", default=str(REPO / ".cache" / "tacfn_lite"), help="SynthAV cache")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the baseline's process too
    models, steps = (("tacfn",), 2) if args.smoke else (MODELS, args.steps)
    result = {"smoke": args.smoke, "batch_size": 32, "steps": steps,
              "threads": torch.get_num_threads(), "current": measure(models, steps, args.cache_dir)}
    if args.baseline:
        base = at_commit(args.baseline, models, steps, args.cache_dir)
        result["baseline"] = {"commit": args.baseline, **base}
        result["speedup"] = {m: round(result["current"]["models"][m]["clips_per_s"]
                                      / base["models"][m]["clips_per_s"], 2) for m in models}
    write_result("train_throughput", result, args.results_dir)


if __name__ == "__main__":
    main()
