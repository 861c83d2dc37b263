"""Shared helpers for the bench/ scripts: machine info, argument defaults and one atomic JSON
result per script (printed to stdout as ONE JSON object and written under bench/results/).

Run scripts from the repository root, e.g. ``python bench/fusion_cost.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from tacfn_lite import provenance
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


def machine_info(device: torch.device | None = None) -> dict:
    """The kit's machine record (``tacfn_lite.provenance``) plus the OpenMP thread setting."""
    return {**provenance.machine_info(device), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def write_result(name: str, result: dict, results_dir: str | Path,
                 device: torch.device | None = None) -> Path:
    """Add bench name, command, machine, date and commit; write ``<results_dir>/<name>.json``
    (``<name>.smoke.json`` for a smoke run, so smoke runs never overwrite measurements)
    atomically and print the same object to stdout (the script's only stdout line)."""
    record = {"bench": name,
              "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), 
              "git_commit": provenance.git_state(REPO)["commit"],
              "machine": machine_info(device), **result}
    path = Path(results_dir) / f"{name}{'.smoke' if result.get('smoke') else ''}.json"
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=False) + "\n")
    print(json.dumps(record))
    return path
