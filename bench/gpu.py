"""Paper-size training step (3D-ResNeXt-50 video at 30 × 224², 5-layer 8-head audio transformer,
TACFN fusion, batch 16) with and without AMP: step time, samples/s, peak memory.

On a GPU this is the real measurement. On CPU it runs as a smoke check at a tiny size (batch 2,
16 frames of 64², unless ``--full-on-cpu``) and records that it did. Each AMP setting runs in its
own process so peak memory is that setting's own.

    python bench/gpu.py                    # GPU if available, else CPU smoke sizes
    python bench/gpu.py --device cuda      # fail if there is no GPU
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import subprocess
import sys
import time

import torch
from common import base_parser, write_result

from tacfn_lite.config import get_config
from tacfn_lite.model import build_model, count_parameters
from tacfn_lite.provenance import device_name
from tacfn_lite.runtime import autocast, resolve_device, seed_everything
from tacfn_lite.train import make_optimizer

SMOKE = {"batch": 2, "frames": 16, "image_size": 64, "steps": 2, "warmup": 1}


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "torch.cuda.max_memory_allocated"
    # Linux reports ru_maxrss in KiB: the whole process's peak resident set (weights included).
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kib / 1024, "getrusage ru_maxrss (process)"


def time_steps(args, amp: bool) -> dict:
    """Build the paper model at the requested size and time ``args.steps`` optimiser steps.

    Shapes: audio ``(B, Ta, 13)``, video ``(B, T, 3, S, S)`` random inputs, labels ``(B,)``.
    """
    device = resolve_device(args.device)
    cfg = get_config("paper", n_frames=args.frames, image_size=args.image_size, device=args.device)
    seed_everything(0)
    model = build_model(cfg.model).to(device).train()
    optimizer = make_optimizer(model, cfg.train)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    d, B = cfg.data, args.batch
    ta = 1 + int(d.sample_rate * d.duration) // d.hop_length
    audio = torch.randn(B, ta, d.n_mfcc, device=device)  # (B, Ta, F)
    video = torch.rand(B, d.n_frames, 3, d.image_size, d.image_size, device=device)  # (B,T,3,H,W)
    label = torch.randint(0, cfg.model.n_classes, (B,), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for step in range(args.warmup + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        with autocast(device, amp):
            loss = torch.nn.functional.cross_entropy(model(audio, video).logits.float(), label)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
            losses.append(float(loss))
    peak, how = peak_memory_mb(device)
    median = statistics.median(times)
    return {"amp": amp, "amp_dtype": ("float16" if device.type == "cuda" else "bfloat16") if amp
            else None, "device": str(device),
            "device_name": device_name(device),
            "batch_size": B, "frames": d.n_frames, "image_size": d.image_size, "audio_steps": ta,
            "params": count_parameters(model), "steps_timed": len(times),
            "step_time_s": round(median, 4), "step_time_s_all": [round(t, 4) for t in times],
            "samples_per_s": round(B / median, 3), "peak_memory_mb": round(peak, 1),
            "peak_memory_source": how, "loss_finite": all(math.isfinite(x) for x in losses)}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--steps", type=int, default=10, help="timed steps (after warm-up)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--amp", choices=("both", "on", "off"), default="both")
    p.add_argument("--full-on-cpu", action="store_true",
                   help="paper size even on CPU (very slow; default is the smoke size)")
    p.add_argument("--one", choices=("on", "off"), help=argparse_hidden())
    args = p.parse_args()
    device = resolve_device(args.device)
    if args.one:  # child process: one AMP setting, prints its row
        print(json.dumps(time_steps(args, args.one == "on")))
        return
    smoke = args.smoke or (device.type != "cuda" and not args.full_on_cpu)
    if smoke:
        for k, v in SMOKE.items():
            setattr(args, k, v)
    rows, errors = [], {}
    for amp in {"both": ("off", "on"), "on": ("on",), "off": ("off",)}[args.amp]:
        cmd = [sys.executable, __file__, "--one", amp, "--device", args.device,
               "--batch", str(args.batch), "--frames", str(args.frames),
               "--image-size", str(args.image_size), "--steps", str(args.steps),
               "--warmup", str(args.warmup)]
        out = subprocess.run(cmd, text=True, capture_output=True, check=False)
        if out.returncode != 0:  # e.g. out of memory: recorded, not hidden
            errors[f"amp_{amp}"] = out.stderr.strip().splitlines()[-1:] or [f"rc {out.returncode}"]
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    write_result("gpu", {
        "smoke": smoke,
        "mode": (f"{device.type} {'smoke size' if smoke else 'paper size'}"
                 + ("" if device.type == "cuda" else " (not a GPU measurement)")),
        "model": "tacfn, preset paper (3D-ResNeXt-50 video, 5-layer 8-head audio transformer)",
        "step": "forward + cross-entropy + backward + AdamW step on random inputs",
        "rows": rows, "errors": errors,
    }, args.results_dir, device)
    if errors and not rows:
        sys.exit(1)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
