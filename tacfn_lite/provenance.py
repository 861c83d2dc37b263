"""Provenance for run.json, model cards, ``compare`` results and bench/: package versions, the
machine and device, the git commit and file hashes."""

import hashlib
import os
import platform
import subprocess
from contextlib import suppress
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("tacfn-lite", "torch", "numpy", "captum", "librosa", "av", "opencv-python-headless",
            "matplotlib", "seaborn", "papermill", "nbconvert", "nbformat", "ipykernel")


def package_versions() -> dict[str, str | None]:
    """Python and the installed version of each of :data:`PACKAGES` (``None`` when absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        out[name] = None
        with suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def cpu_name() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    with suppress(OSError):  # no /proc (not Linux)
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_name(device: torch.device | str) -> str:
    """``"cuda:0 (NVIDIA H100 …)"`` or ``"cpu (<CPU name>, N threads)"``."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({cpu_name()}, {torch.get_num_threads()} threads)"


def machine_info(device: torch.device | str | None = None) -> dict:
    """What numbers were measured on: OS, Python, torch, CPU, cores, threads, load, device."""
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "cpu": cpu_name(),
            "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "cuda_available": torch.cuda.is_available(),
            "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg")
            else None}
    if device is not None:
        info["device"], info["device_name"] = str(device), device_name(device)
    return info


def git_state(repo: str | Path = ".") -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the git checkout at ``repo``."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                                  timeout=20, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def file_sha256(path: str | Path, digits: int | None = None) -> str:
    """SHA-256 of a file's bytes (hex; the first ``digits`` characters when given)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:digits]
