"""The one ``load_model``, and ``load_or_train``: a trained model for analysis, trained when its
checkpoint is missing (so notebooks 05/06 run on a fresh machine)."""

import logging
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from .config import RunConfig
from .io import atomic_write, load_checkpoint
from .model import build_model

log = logging.getLogger(__name__)


def load_model(checkpoint_path: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[nn.Module, RunConfig]:
    """Rebuild the model saved at ``checkpoint_path`` (``weights_only`` load) in eval mode."""
    ckpt = load_checkpoint(checkpoint_path, map_location=device)
    cfg = RunConfig.from_dict(ckpt["config"])
    model = build_model(cfg.model)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise ValueError(f"{checkpoint_path}: weights do not fit its own config ({exc})") from exc
    return model.to(device).eval(), cfg


def load_or_train(cfg: RunConfig, checkpoint_path: str | Path, arrays=None,
                  device: str | torch.device = "cpu") -> tuple[nn.Module, RunConfig]:
    """Load ``checkpoint_path`` if it exists, else train ``cfg`` and save its best weights there.
    Training writes into the checkpoint's folder (``train.fit`` keeps ``best.pt``/``last.pt``
    there); if the path is not named ``best.pt`` the picked weights are copied to it. The
    returned config is the checkpoint's own (a loaded checkpoint may differ from ``cfg``).
    ``arrays`` (ClipArrays) avoids reloading a data set the caller already has."""
    path = Path(checkpoint_path)
    if path.exists():
        log.info("loading %s", path)
        return load_model(path, device)
    from .train import train_model

    cfg = replace(cfg, train=replace(cfg.train, out_dir=str(path.parent)))
    log.info("%s not found: training %s for %d epochs", path, cfg.model.model, cfg.train.epochs)
    train_model(cfg, arrays=arrays, progress=False)
    best = path.parent / "best.pt"
    if best.resolve() != path.resolve():
        atomic_write(path, lambda fh: fh.write(best.read_bytes()))
    return load_model(path, device)
