"""Shared helpers for the bench/ scripts: machine info, argument defaults and one atomic JSON
result per script (printed to stdout as ONE JSON object and written under bench/results/).

Run scripts from the repository root, e.g. ``python bench/fusion_cost.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from tacfn_lite.io import atomic_write_text

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def base_parser(description: str) -> argparse.ArgumentParser:
    """Parser with the flags every bench script shares (``--smoke``, ``--results-dir``)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true",
                   help="tiny, fast run that only checks the script works (used by tests)")
    p.add_argument("--results-dir", default=str(RESULTS),
                   help="folder for the JSON result (default bench/results)")
    return p


def cpu_model() -> str:
    """The CPU's marketing name (one definition, shared with the report's run.json)."""
    from tacfn_lite.report import cpu_name

    return cpu_name() or platform.machine()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                             capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info(device: torch.device | None = None) -> dict:
    """What the numbers were measured on: OS, Python, torch, CPU, cores, threads, accelerator."""
    info = {
        "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "cpu": cpu_model(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cuda_available": torch.cuda.is_available(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    if device is not None:
        info["device"] = str(device)
        info["device_name"] = (torch.cuda.get_device_name(device) if device.type == "cuda"
                               else info["cpu"])
    return info


def write_result(name: str, result: dict, results_dir: str | Path,
                 device: torch.device | None = None) -> Path:
    """Add bench name, command, machine, date and commit; write ``<results_dir>/<name>.json``
    (``<name>.smoke.json`` for a smoke run, so smoke runs never overwrite measurements)
    atomically and print the same object to stdout (the script's only stdout line)."""
    record = {"bench": name,
              "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "git_commit": git_commit(),
              "machine": machine_info(device), **result}
    path = Path(results_dir) / f"{name}{'.smoke' if result.get('smoke') else ''}.json"
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=False) + "\n")
    print(json.dumps(record))
    return path
