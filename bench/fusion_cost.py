"""Fusion-block cost: parameters, FLOPs (``torch.utils.flop_counter``) and CPU latency of the
TACFN block vs the MulT-style block vs concat at equal width, and how each grows with the number
of video frames and audio steps (DESIGN §5: TACFN ≤ 0.5× MulT in params and FLOPs).

Inputs are encoder outputs (audio tokens ``(B, Ta, D)``, video tokens ``(B, N, D)`` with
N = frames × cells), so only the fusion and its classifier head are measured.

    python bench/fusion_cost.py            # bench/results/fusion_cost.json, figures/fusion_cost.png
    python bench/fusion_cost.py --smoke    # seconds; schema check only
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
import torch.utils.benchmark as tbench
from common import REPO, base_parser, write_result

from tacfn_lite.baselines import ConcatFusion, MulTFusion
from tacfn_lite.compare import flop_counter
from tacfn_lite.config import ModelConfig, get_config
from tacfn_lite.fusion import TACFNFusion
from tacfn_lite.model import count_parameters

BLOCKS = {  # name → builder at a given ModelConfig (equal width d_model for all)
    "tacfn": TACFNFusion,
    "tacfn_both": lambda cfg: TACFNFusion(replace(cfg, direction="both")),
    "mult": MulTFusion,
    "concat": ConcatFusion,
}
CELLS_TINY = 16  # the tiny video CNN keeps a 4×4 grid of cells per frame at 32²


def measure(cfg: ModelConfig, audio_steps: int, grid: tuple[int, int, int], batch: int,
            min_run_time: float) -> dict:
    """Params, per-clip forward FLOPs and batch forward latency of every block.

    Shapes: audio tokens ``(B, Ta, D)``, video tokens ``(B, T'·H'·W', D)``.
    """
    n_video = grid[0] * grid[1] * grid[2]
    rows = {}
    for name, build in BLOCKS.items():
        torch.manual_seed(0)
        block = build(cfg).eval()
        audio = torch.randn(1, audio_steps, cfg.d_model)  # (1, Ta, D)
        video = torch.randn(1, n_video, cfg.d_model)  # (1, N, D)
        with flop_counter() as counter:  # autograd on: see compare.fusion_flops
            block(audio, video, grid)
        audio_b = torch.randn(batch, audio_steps, cfg.d_model)  # (B, Ta, D)
        video_b = torch.randn(batch, n_video, cfg.d_model)  # (B, N, D)
        with torch.no_grad():
            timer = tbench.Timer("block(a, v, g)", num_threads=torch.get_num_threads(),
                                 globals={"block": block, "a": audio_b, "v": video_b, "g": grid})
            median = timer.blocked_autorange(min_run_time=min_run_time).median
        rows[name] = {"params": count_parameters(block),
                      "params_block": count_parameters(block) - count_parameters(block.head),
                      "flops": int(counter.get_total_flops()),
                      "latency_ms": round(1e3 * median, 4)}
    return rows


def ratios(models: dict, against: str = "mult") -> dict:
    ref = models[against]
    return {f"{name}/{against}": {k: round(models[name][k] / ref[k], 4) for k in
                                  ("params", "params_block", "flops", "latency_ms")}
            for name in models if name != against}


def plot(sweeps: dict, path: Path, batch: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tacfn_lite.viz import save_figure

    fig, axes = plt.subplots(2, 2, figsize=(9.5, 6.5), sharex="col")
    for col, (axis, label) in enumerate((("frames", "video frames (16 cells each)"),
                                         ("audio_steps", "audio steps"))):
        points = sweeps[axis]
        xs = [p[axis] for p in points]
        for name in BLOCKS:
            axes[0, col].plot(xs, [p["models"][name]["flops"] for p in points], "o-", label=name)
            axes[1, col].plot(xs, [p["models"][name]["latency_ms"] for p in points], "o-",
                              label=name)
        fixed = "audio steps" if axis == "frames" else "frames"
        axes[0, col].set_title(f"cost vs {axis.replace('_', ' ')} ({fixed} fixed at "
                               f"{points[0]['audio_steps' if axis == 'frames' else 'frames']})",
                               fontsize=9)
        axes[1, col].set_xlabel(label)
        for row in (0, 1):
            axes[row, col].set_xscale("log", base=2)
            axes[row, col].set_yscale("log")
            axes[row, col].grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("forward FLOPs per clip")
    axes[1, 0].set_ylabel(f"CPU forward latency, batch {batch} (ms)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Fusion block cost at equal width (d_model=32); encoders excluded", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16, help="batch size for latency")
    p.add_argument("--threads", type=int, default=1, help="torch threads for latency")
    p.add_argument("--min-run-time", type=float, default=0.3,
                   help="seconds per latency measurement (torch.utils.benchmark)")
    p.add_argument("--figure", help="figure path (default figures/fusion_cost.png; "
                                    "with --smoke: <results-dir>/fusion_cost.smoke.png)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    frames = (4, 16) if args.smoke else (4, 8, 16, 32, 64)
    steps = (16, 63) if args.smoke else (16, 32, 63, 126, 252)
    batch = 2 if args.smoke else args.batch
    run_time = 0.01 if args.smoke else args.min_run_time

    tiny, paper = get_config("tiny"), get_config("paper")
    ta_tiny = 1 + int(tiny.data.sample_rate * tiny.data.duration) // tiny.data.hop_length
    ta_paper = 1 + int(paper.data.sample_rate * paper.data.duration) // paper.data.hop_length
    configs = {}
    # tiny: 16 frames × 4×4 cells; paper: 3D-ResNeXt-50 map 2 × 7 × 7 at 30 × 224².
    for name, cfg, ta, grid in (("tiny", tiny, ta_tiny, (tiny.data.n_frames, 4, 4)),
                                ("paper", paper, ta_paper, (2, 7, 7))):
        models = measure(cfg.model, ta, grid, batch, run_time)
        configs[name] = {"d_model": cfg.model.d_model, "n_heads": cfg.model.n_heads,
                         "score_hidden": cfg.model.score_hidden, "audio_steps": ta,
                         "video_grid": list(grid), "video_tokens": grid[0] * grid[1] * grid[2],
                         "models": models, "ratios": ratios(models)}
    sweeps = {"frames": [], "audio_steps": []}
    for t in frames:
        models = measure(tiny.model, ta_tiny, (t, 4, 4), batch, run_time)
        sweeps["frames"].append({"frames": t, "audio_steps": ta_tiny,
                                 "video_tokens": t * CELLS_TINY, "models": models,
                                 "ratios": ratios(models)})
    for ta in steps:
        models = measure(tiny.model, ta, (tiny.data.n_frames, 4, 4), batch, run_time)
        sweeps["audio_steps"].append({"frames": tiny.data.n_frames, "audio_steps": ta,
                                      "video_tokens": tiny.data.n_frames * CELLS_TINY,
                                      "models": models, "ratios": ratios(models)})
    default = (Path(args.results_dir) / "fusion_cost.smoke.png" if args.smoke
               else REPO / "figures" / "fusion_cost.png")
    figure = Path(args.figure) if args.figure else default
    plot(sweeps, figure, batch)
    write_result("fusion_cost", {
        "smoke": args.smoke,
        "settings": {"flops": "forward, batch 1, torch.utils.flop_counter (matmul/conv/attention;"
                              " elementwise ops not counted)",
                     "latency": f"median forward, batch {batch}, eval mode, no_grad, "
                                f"{args.threads} thread(s), torch.utils.benchmark",
                     "models": {"tacfn": "audio->video (default)", "tacfn_both": "both directions",
                                "mult": "cross-attention both ways + FFN",
                                "concat": "pooled concat"}},
        "configs": configs, "sweeps": sweeps,
        "figure": str(figure.resolve().relative_to(REPO)) if figure.resolve().is_relative_to(REPO)
        else str(figure),
    }, args.results_dir)


if __name__ == "__main__":
    main()
