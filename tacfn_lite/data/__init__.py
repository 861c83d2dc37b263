"""Data: one :class:`Batch` type for every corpus, SynthAV (default) and real-corpus loaders."""

import importlib

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ..config import DataConfig, RunConfig
from .core import Batch, ClipArrays, ClipDataset, collate_batches, to_batch
from .leakage import clip_fields
from .splits import make_manifest, split_indices

__all__ = ["Batch", "ClipArrays", "ClipDataset", "load_arrays", "make_loaders", "to_batch"]


def load_arrays(cfg: DataConfig, progress: bool = True) -> ClipArrays:
    """Load the corpus named by ``cfg.name`` (SynthAV is generated and cached on first use)."""
    if cfg.name == "synthav":
        return importlib.import_module(".synthetic", __name__).load_synthav(cfg, progress=progress)
    return importlib.import_module(f".{cfg.name}", __name__).load_prepared(cfg)


def make_loaders(cfg: RunConfig, arrays: ClipArrays | None = None, progress: bool = True,
                 distributed: bool = False) -> tuple[dict[str, DataLoader], dict]:
    """Actor-independent train/val/test loaders and the split manifest; the training loader
    shuffles with its own seeded generator (its state is checkpointed)."""
    arrays = arrays if arrays is not None else load_arrays(cfg.data, progress=progress)
    fixed = (arrays.meta or {}).get("fixed_split")  # corpora with an official split (IEMOCAP)
    split = ({k: np.asarray(v) for k, v in fixed.items()} if fixed
             else split_indices(arrays.actors, cfg.data.fold, seed=cfg.data.data_seed))
    manifest = make_manifest(arrays.clip_ids, arrays.actors, split,
                             extra={"data": (arrays.meta or {}).get("content_hash"), "clip_fields":
                                    clip_fields(arrays), "fold": None if fixed else cfg.data.fold})
    loaders = {}
    for name, idx in split.items():
        ds = ClipDataset(arrays.subset(idx))
        train = name == "train"  # val/test are evaluated whole on every rank
        sampler = (DistributedSampler(ds, shuffle=True, seed=cfg.train.seed, drop_last=True)
                   if distributed and train else None)
        loaders[name] = DataLoader(
            ds, batch_size=cfg.train.batch_size, shuffle=train and sampler is None, sampler=sampler,
            generator=torch.Generator().manual_seed(cfg.train.seed), collate_fn=collate_batches,
            num_workers=cfg.train.num_workers, drop_last=False)
    return loaders, manifest
