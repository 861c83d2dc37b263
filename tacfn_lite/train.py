"""Training: ``fit(model, loaders, cfg) -> History`` with seeds, tqdm, AMP behind a flag, atomic
checkpoints (model, optimiser, RNG and loader state), resume, validation-only model selection
and torchrun DDP. Draws no figures. Notebook 04.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from .cards import write_card
from .config import RunConfig
from .io import atomic_torch_save, atomic_write_text, load_checkpoint
from .leakage import check_manifest
from .metrics import classification_metrics

log = logging.getLogger(__name__)


@dataclass
class History:
    """Per-epoch metrics, the epoch picked on validation, and where its weights are."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = -1.0
    checkpoint: str | None = None
    val: dict | None = None
    test: dict | None = None
    seconds_per_epoch: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an unavailable explicit choice raises."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def autocast(device: torch.device, enabled: bool):
    """Mixed precision: fp16 on CUDA (with a GradScaler), bf16 on CPU; off unless asked for."""
    if not enabled:
        return nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def run_epoch(model: nn.Module, loader, device: torch.device, *, optimizer=None, scaler=None,
              amp: bool = False, desc: str = "", progress: bool = False) -> dict:
    """One pass over ``loader``; trains when an optimizer is given. The same step serves
    training and evaluation. Returns mean loss, accuracy, labels, predictions, probabilities."""
    train = optimizer is not None
    model.train(train)
    total, n, labels, preds, probs = 0.0, 0, [], [], []
    with torch.set_grad_enabled(train):
        for batch in tqdm(loader, desc=desc, leave=False, disable=not progress):
            batch = batch.to(device)
            with autocast(device, amp):
                out = model(batch.audio, batch.video)
                loss = nn.functional.cross_entropy(out.logits.float(), batch.label)
            if train:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None and scaler.is_enabled():
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
            total += float(loss.detach()) * len(batch)
            n += len(batch)
            labels.append(batch.label.cpu())
            p = out.logits.detach().float().softmax(-1).cpu()
            probs.append(p)
            preds.append(p.argmax(-1))
    y, yhat = torch.cat(labels).numpy(), torch.cat(preds).numpy()
    return {"loss": total / max(n, 1), "accuracy": float((y == yhat).mean()) if n else 0.0,
            "labels": y, "preds": yhat, "probs": torch.cat(probs).numpy()}


def evaluate(model: nn.Module, loader, device: torch.device | str = "cpu", amp: bool = False,
             class_names: tuple[str, ...] | None = None) -> dict:
    """Metrics of ``model`` on ``loader`` (accuracy, UAR, macro F1, per class, confusion)."""
    device = torch.device(device)
    res = run_epoch(model, loader, device, amp=amp)
    n_classes = res["probs"].shape[1]
    return {"loss": res["loss"], **classification_metrics(res["labels"], res["preds"], n_classes,
                                                          class_names)}


def _is_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _init_distributed(device: str) -> bool:
    """Join the torchrun process group (NCCL on CUDA, gloo on CPU) once; False when not under it."""
    if not _is_distributed():
        return False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") and torch.cuda.is_available()
                                else "gloo")
    return True


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _check_resumable(ckpt: dict, cfg: RunConfig, path: Path) -> None:
    saved = RunConfig.from_dict(ckpt["config"])
    for section in ("data", "model"):
        if getattr(saved, section) != getattr(cfg, section):
            raise ValueError(f"{path}: cannot resume, its {section} config differs from this run's")


def train_model(cfg: RunConfig, *, arrays=None, resume: bool = False,
                progress: bool = True) -> tuple[nn.Module, History]:
    """Seed, build the loaders and the model, then :func:`fit`: the whole run from a config.

    Seeding happens before the model is built, so the initial weights depend only on the seed.
    """
    from .data import make_loaders
    from .model import build_model

    distributed = _init_distributed(cfg.train.device)  # the sampler needs the process group
    loaders, manifest = make_loaders(cfg, arrays, progress=progress, distributed=distributed)
    seed_everything(cfg.train.seed)
    model = build_model(cfg.model)
    return model, fit(model, loaders, cfg, resume=resume, manifest=manifest)


def fit(model: nn.Module, loaders: dict, cfg: RunConfig, *, resume: bool = False,
        manifest: dict | None = None) -> History:
    """Train ``model`` on ``loaders['train']``, pick the epoch on ``loaders['val']`` only, then
    evaluate the picked weights on val and test. Build ``model`` after
    ``seed_everything(cfg.train.seed)`` (or use :func:`train_model`) for reproducible runs.

    Writes to ``cfg.train.out_dir``: ``last.pt`` (every epoch, for resume), ``best.pt`` (picked
    on validation), ``history.json`` and ``metrics.json``. With ``resume=True`` and a
    ``last.pt`` present, training continues where it stopped and, on CPU with the same seed,
    ends with the same metrics as an uninterrupted run.
    """
    tc, out = cfg.train, Path(cfg.train.out_dir)
    if manifest is not None:  # refuse to train on splits that share actors/utterances/files
        check_manifest(manifest, source="split manifest")
    distributed = _init_distributed(tc.device)
    device = resolve_device(tc.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    seed_everything(tc.seed)
    model.to(device)
    net = model
    if distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=tc.amp and device.type == "cuda")
    history, start = History(checkpoint=str(out / "best.pt")), 0
    train_loader = loaders["train"]
    last = out / "last.pt"
    if resume and last.exists():
        ckpt = load_checkpoint(last, map_location=device)
        _check_resumable(ckpt, cfg, last)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"]) if ckpt.get("scaler") else None
        torch.set_rng_state(ckpt["rng"])
        train_loader.generator.set_state(ckpt["loader_rng"])
        history.epochs = json.loads(ckpt["history"])
        history.best_epoch, history.best_val_accuracy = ckpt["best_epoch"], ckpt["best_val"]
        start = ckpt["epoch"] + 1
        log.info("resumed from %s at epoch %d", last, start)
    for epoch in range(start, tc.epochs):
        # early stop: epochs without a validation gain, derived from the history (so a resumed
        # run stops where the uninterrupted one did)
        if tc.patience and history.epochs and epoch - 1 - history.best_epoch >= tc.patience:
            log.info("early stop: no validation gain in %d epochs", tc.patience)
            break
        t0 = time.perf_counter()
        if hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        tr = run_epoch(net, train_loader, device, optimizer=optimizer, scaler=scaler, amp=tc.amp,
                       desc=f"epoch {epoch + 1}/{tc.epochs}", progress=tc.progress and _rank() == 0)
        va = run_epoch(model, loaders["val"], device, amp=tc.amp)
        row = {"epoch": epoch, "train_loss": tr["loss"], "train_accuracy": tr["accuracy"],
               "val_loss": va["loss"], "val_accuracy": va["accuracy"],
               "seconds": time.perf_counter() - t0}
        history.epochs.append(row)
        improved = va["accuracy"] > history.best_val_accuracy
        if improved:
            history.best_epoch, history.best_val_accuracy = epoch, va["accuracy"]
        if _rank() == 0:
            state = {"model": model.state_dict(), "config": cfg.to_dict(), "epoch": epoch}
            if improved:
                atomic_torch_save({**state, "val_accuracy": va["accuracy"]}, out / "best.pt")
            atomic_torch_save({**state, "optimizer": optimizer.state_dict(),
                               "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                               "rng": torch.get_rng_state(),
                               "loader_rng": train_loader.generator.get_state(),
                               "history": json.dumps(history.epochs),
                               "best_epoch": history.best_epoch,
                               "best_val": history.best_val_accuracy}, last)
        log.info("epoch %d: %s", epoch, row)

    if distributed:
        dist.barrier()
    best = load_checkpoint(out / "best.pt", map_location=device)
    model.load_state_dict(best["model"])
    names = getattr(loaders["val"].dataset.arrays, "class_names", None) or None
    history.val = evaluate(model, loaders["val"], device, tc.amp, names)
    if "test" in loaders:
        history.test = evaluate(model, loaders["test"], device, tc.amp, names)
    secs = [r["seconds"] for r in history.epochs]
    history.seconds_per_epoch = float(np.median(secs)) if secs else 0.0
    if _rank() == 0:
        atomic_write_text(out / "history.json", json.dumps(history.to_dict(), indent=1))
        if manifest is not None:
            atomic_write_text(out / "split_manifest.json", json.dumps(manifest, indent=1))
        write_card(cfg, history, out / "best.pt", manifest, device)  # model_card.json/.md
    return history
