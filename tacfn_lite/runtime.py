"""Runtime helpers every layer may use: device resolution, seeding, mixed precision, and a
CPU-fast dropout."""

import os
import random
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn
from tqdm import auto, std

from .config import DEVICES

# Progress bars: widgets in a live notebook, text in a report (its saved HTML shows no widgets).
tqdm = std.tqdm if os.environ.get("TACFN_TEXT_PROGRESS") else auto.tqdm


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an unavailable explicit choice raises."""
    backends = {"cuda": torch.cuda, "mps": getattr(torch.backends, "mps", None)}
    usable = [kind for kind, b in backends.items() if b is not None and b.is_available()]
    if str(name) == "auto":
        return torch.device(usable[0] if usable else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"device {str(name)!r}: expected {DEVICES}") from exc
    if dev.type in backends and dev.type not in usable:
        raise ValueError(f"device {str(name)!r} requested but this torch has no usable "
                         f"{dev.type.upper()}: use --device cpu or auto")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def autocast(device: torch.device, enabled: bool):
    """Mixed precision: fp16 on CUDA (with a GradScaler), bf16 on CPU; off unless asked for."""
    if not enabled:
        return nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout, as ``nn.functional.dropout``, with cheaper random numbers on a CPU: one
    64-bit draw gives four 16-bit uniform integers u, kept where u ≥ t (probability 1 − p to
    within 1/65536), the mask built with float arithmetic (``bernoulli_`` draws per element and
    boolean masks are slow). Seeded by ``torch.manual_seed``; other devices use the built-in."""
    if not training or p == 0.0 or x.device.type != "cpu":
        return nn.functional.dropout(x, p, training)
    n, scale = x.numel(), 1.0 / (1.0 - p)
    bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2 ** 63, 2 ** 63 - 1)
    u = bits.view(torch.int16)[:n].view(x.shape).float()  # integers in [-32768, 32767]
    t = round(p * 65536) - 32768
    mask = u.sub_(t - 1).mul_(scale).clamp_(0.0, scale)  # u ≥ t → scale, u < t → 0
    return x * mask.to(x.dtype)


class Dropout(nn.Dropout):
    """``nn.Dropout`` computed by :func:`dropout` (same parameters and state dict: none)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)
