"""Training: ``fit(model, loaders, cfg) -> History`` with seeds, tqdm, AMP behind a flag, atomic
checkpoints (model, optimiser, RNG and loader state), resume, validation-only model selection
and torchrun DDP. Notebook 04."""

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .cards import write_card
from .config import RunConfig
from .data.leakage import check_manifest
from .io import atomic_torch_save, atomic_write_text, load_checkpoint, write_json
from .metrics import classification_metrics
from .runtime import autocast, resolve_device, seed_everything, tqdm

log = logging.getLogger(__name__)
SPLIT_MANIFEST = "split_manifest.json"  # next to best.pt; `evaluate` compares it with the data

# on_epoch(epoch, row, model): called after each epoch's validation; may add keys to ``row``.
EpochCallback = Callable[[int, dict, nn.Module], None]


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


def run_epoch(model: nn.Module, loader, device: torch.device, *, optimizer=None, scaler=None,
              amp: bool = False, desc: str = "", progress: bool = False) -> dict:
    """One pass over ``loader``; trains when an optimizer is given. The same step serves
    training and evaluation. Returns mean loss, accuracy, labels, predictions, probabilities."""
    train = optimizer is not None
    model.train(train)
    total, n, labels, probs = 0.0, 0, [], []
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
            probs.append(out.logits.detach().float().softmax(-1).cpu())
    y, p = torch.cat(labels).numpy(), torch.cat(probs).numpy()
    return {"loss": total / max(n, 1), "accuracy": float((y == p.argmax(-1)).mean()) if n else 0.0,
            "labels": y, "preds": p.argmax(-1), "probs": p}


def evaluate(model: nn.Module, loader, device: torch.device | str = "cpu", amp: bool = False,
             class_names: tuple[str, ...] | None = None) -> dict:
    """Metrics of ``model`` on ``loader`` (accuracy, UAR, macro F1, per class, confusion)."""
    res = run_epoch(model, loader, torch.device(device), amp=amp)
    return {"loss": res["loss"], **classification_metrics(res["labels"], res["preds"],
                                                          res["probs"].shape[1], class_names)}


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


def train_model(cfg: RunConfig, *, arrays=None, resume: bool = False, progress: bool = True,
                on_epoch: EpochCallback | None = None) -> tuple[nn.Module, History]:
    """Seed, build the loaders and the model, then :func:`fit`: the whole run from a config.
    Seeding happens before the model is built, so the initial weights depend only on the seed."""
    from .data import make_loaders
    from .model import build_model

    resolve_device(cfg.train.device)  # an unusable device stops the run before any data loads
    distributed = _init_distributed(cfg.train.device)  # the sampler needs the process group
    loaders, manifest = make_loaders(cfg, arrays, progress=progress, distributed=distributed)
    seed_everything(cfg.train.seed)
    model = build_model(cfg.model)
    return model, fit(model, loaders, cfg, resume=resume, manifest=manifest, on_epoch=on_epoch)


@dataclass
class _Run:
    """What one training run carries from epoch to epoch."""

    model: nn.Module
    net: nn.Module  # the model, wrapped in DDP under torchrun
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    out: Path
    history: History
    start: int = 0


def make_optimizer(model: nn.Module, tc) -> torch.optim.Optimizer:
    """AdamW over ``model``'s parameters (``tc``: a :class:`TrainConfig`), fused (one kernel for
    all parameters, the same update) where this torch has it. Call after moving the model."""
    kwargs = {"lr": tc.lr, "weight_decay": tc.weight_decay}
    try:
        return torch.optim.AdamW(model.parameters(), fused=True, **kwargs)
    except (RuntimeError, TypeError):  # torch < 2.4 on a CPU, or a device without the kernel
        return torch.optim.AdamW(model.parameters(), **kwargs)


def _setup(model: nn.Module, cfg: RunConfig) -> _Run:
    """Device (the local GPU under torchrun), DDP wrapper, optimiser and gradient scaler."""
    tc = cfg.train
    distributed = _init_distributed(tc.device)
    device = resolve_device(tc.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    seed_everything(tc.seed)
    net = model.to(device)  # Module.to moves in place and returns the same module
    if distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)
    optimizer = make_optimizer(model, tc)
    scaler = torch.amp.GradScaler("cuda", enabled=tc.amp and device.type == "cuda")
    out = Path(tc.out_dir)
    out.mkdir(parents=True, exist_ok=True)  # a file of that name stops the run before an epoch
    history = History(checkpoint=str(out / "best.pt"))
    return _Run(model, net, optimizer, scaler, device, out, history)


def _resume(run: _Run, train_loader, cfg: RunConfig) -> None:
    """Continue from ``last.pt``: weights, optimiser, scaler, RNG and loader state, history."""
    last = run.out / "last.pt"
    if not last.exists():
        return
    ckpt = load_checkpoint(last, map_location=run.device)
    saved, done = RunConfig.from_dict(ckpt["config"]).to_dict(), ckpt["epoch"] + 1
    resumable = {"train.epochs", "train.device", "train.amp", "train.patience", "train.out_dir",
                 "train.num_workers", "train.progress", "data.cache_dir"}  # may change: same run
    changed = [f"{sec}.{k} ({saved[sec][k]!r} there, {v!r} now)" for sec, d in cfg.to_dict().items()
               for k, v in d.items() if v != saved[sec][k] and f"{sec}.{k}" not in resumable]
    if changed or done > cfg.train.epochs:
        why = (f"{', '.join(changed)} differ{'s' * (len(changed) == 1)}" if changed else
               f"{done} epochs are done there, more than --epochs {cfg.train.epochs}")
        raise ValueError(f"{last}: cannot resume: {why}; keep its settings or use another --out")
    run.model.load_state_dict(ckpt["model"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    if ckpt.get("scaler"):
        run.scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng"])
    train_loader.generator.set_state(ckpt["loader_rng"])
    run.history.epochs = json.loads(ckpt["history"])
    run.history.best_epoch, run.history.best_val_accuracy = ckpt["best_epoch"], ckpt["best_val"]
    run.start = done
    log.info("resumed from %s at epoch %d", last, run.start)


def _save_epoch(run: _Run, cfg: RunConfig, epoch: int, improved: bool, train_loader) -> None:
    """``best.pt`` when validation improved, ``last.pt`` always (everything resume needs)."""
    h = run.history
    state = {"model": run.model.state_dict(), "config": cfg.to_dict(), "epoch": epoch}
    if improved:
        atomic_torch_save({**state, "val_accuracy": h.best_val_accuracy}, run.out / "best.pt")
    atomic_torch_save({**state, "optimizer": run.optimizer.state_dict(),
                       "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else None,
                       "rng": torch.get_rng_state(),
                       "loader_rng": train_loader.generator.get_state(),
                       "history": json.dumps(h.epochs), "best_epoch": h.best_epoch,
                       "best_val": h.best_val_accuracy}, run.out / "last.pt")


def _epoch(run: _Run, loaders: dict, epoch: int, tc) -> dict:
    """Train one epoch, validate, and return the history row."""
    t0 = time.perf_counter()
    train_loader = loaders["train"]
    if hasattr(train_loader.sampler, "set_epoch"):
        train_loader.sampler.set_epoch(epoch)
    tr = run_epoch(run.net, train_loader, run.device, optimizer=run.optimizer, scaler=run.scaler,
                   amp=tc.amp, desc=f"epoch {epoch + 1}/{tc.epochs}",
                   progress=tc.progress and _rank() == 0)
    va = run_epoch(run.model, loaders["val"], run.device, amp=tc.amp)
    return {"epoch": epoch, "train_loss": tr["loss"], "train_accuracy": tr["accuracy"],
            "val_loss": va["loss"], "val_accuracy": va["accuracy"],
            "seconds": time.perf_counter() - t0}


def _finish(run: _Run, loaders: dict, cfg: RunConfig, manifest: dict | None) -> History:
    """Reload the weights picked on validation, evaluate them on val and test, write
    ``history.json``, the split manifest and the model card."""
    h, tc = run.history, cfg.train
    if _is_distributed():
        dist.barrier()
    run.model.load_state_dict(load_checkpoint(run.out / "best.pt", run.device)["model"])
    names = getattr(loaders["val"].dataset.arrays, "class_names", None) or None
    h.val = evaluate(run.model, loaders["val"], run.device, tc.amp, names)
    if "test" in loaders:
        h.test = evaluate(run.model, loaders["test"], run.device, tc.amp, names)
    secs = [r["seconds"] for r in h.epochs]
    h.seconds_per_epoch = float(np.median(secs)) if secs else 0.0
    if _rank() == 0:
        atomic_write_text(run.out / "history.json", json.dumps(h.to_dict(), indent=1))
        if manifest is not None:
            write_json(run.out / SPLIT_MANIFEST, manifest)
        write_card(cfg, h, run.out / "best.pt", manifest, run.device)
    return h


def fit(model: nn.Module, loaders: dict, cfg: RunConfig, *, resume: bool = False,
        manifest: dict | None = None, on_epoch: EpochCallback | None = None) -> History:
    """Train ``model`` on ``loaders['train']``, pick the epoch on ``loaders['val']`` only, then
    evaluate the picked weights on val and test. Build ``model`` after seeding (as
    :func:`train_model` does) for reproducible runs.
    Writes to ``cfg.train.out_dir``: ``last.pt`` (every epoch, for resume), ``best.pt`` (picked on
    validation), ``history.json``, ``model_card.json/.md`` and, given a ``manifest`` (which is
    checked for leaks first), ``split_manifest.json``. With ``resume=True`` and a ``last.pt``
    present, training continues where it stopped and, on CPU with the same seed, ends with the same
    metrics as an uninterrupted run. ``on_epoch(epoch, row, model)`` runs after each epoch's
    validation and may add numbers to ``row`` (notebook 09 adds test accuracy there, for the lesson
    only; selection never reads them)."""
    if manifest is not None:  # refuse to train on splits that share actors/utterances/files
        check_manifest(manifest, source="split manifest")
    run, tc = _setup(model, cfg), cfg.train
    if resume:
        _resume(run, loaders["train"], cfg)
    for epoch in range(run.start, tc.epochs):
        # early stop: epochs without a validation gain, derived from the history (so a resumed
        # run stops where the uninterrupted one did)
        if tc.patience and run.history.epochs and epoch - 1 - run.history.best_epoch >= tc.patience:
            log.info("early stop: no validation gain in %d epochs", tc.patience)
            break
        row = _epoch(run, loaders, epoch, tc)
        if on_epoch is not None:
            on_epoch(epoch, row, model)
        run.history.epochs.append(row)
        improved = row["val_accuracy"] > run.history.best_val_accuracy
        if improved:
            run.history.best_epoch, run.history.best_val_accuracy = epoch, row["val_accuracy"]
        if _rank() == 0:
            _save_epoch(run, cfg, epoch, improved, loaders["train"])
        line = (f"epoch {epoch + 1}/{tc.epochs}: train loss {row['train_loss']:.4f}, val accuracy "
                f"{row['val_accuracy']:.4f}{' (best)' if improved else ''}, {row['seconds']:.1f} s")
        if tc.progress and _rank() == 0:  # under the bars, counted from 1
            tqdm.write(line, file=sys.stderr)
        else:
            log.info(line)
    return _finish(run, loaders, cfg, manifest)
