"""The course's runs: one :class:`Course` per notebook run (its papermill parameters) gives every
config, the checkpoint notebook 04 writes and 05-07 reuse, and the summary tables."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from .checkpoints import load_or_train
from .compare import summary_row  # noqa: F401  (notebook 04 calls course.summary_row)
from .config import RunConfig, get_config
from .data import load_arrays
from .io import read_json
from .runtime import resolve_device, seed_everything

QUICK_EPOCHS = 12  # quick SynthAV (576 clips): a few seconds per model on a laptop CPU
FULL_EPOCHS = 40
COURSE_MODELS = ("tacfn", "concat", "late", "mult", "audio", "video")
# Notebook 03: one switch off at a time (fusion.py); quick runs train the first one only.
ABLATIONS = {"no selection": {"select": False}, "learned time": {"time_encoding": "learned"},
             "no reinforcement": {"reinforce": False}, "no residual": {"residual": False}}
QUICK_ABLATIONS = dict(list(ABLATIONS.items())[:1])
# Notebook 03 and bench/deviations.py: the authors' TACFN, the kit's, each switch flipped alone.
DEVIATIONS = {"official": {"tacfn": "official"}, "kit": {"tacfn": "kit"},
              **{f"{k}={v}": {"tacfn": "official", k: v} for k, v in (
                  ("weight_norm", "clip"), ("selection", "query"), ("weight_scale", "count"),
                  ("classifier_source", "selected"))}}
QUICK_DEVIATIONS = dict(list(DEVIATIONS.items())[:3])

# The claim (notebooks 04 and 05): on `synchrony` only the face event that co-occurs with the
# vocal cue carries the label, so token-level selection and reinforcement can bind it and
# time-pooled fusion cannot. Full set even in quick mode: the quick set is too small for it.
CLAIM_VARIANT, CLAIM_MODELS = "synchrony", ("tacfn", "concat", "late")
CLAIM_EPOCHS = {True: 24, False: FULL_EPOCHS}  # quick, full: TACFN leaves 50 % after ~15-20


@dataclass(frozen=True)
class Course:
    """One course run (the notebooks' parameters cell). ``quick``: the quick set and
    :data:`QUICK_EPOCHS`, else the full set and :data:`FULL_EPOCHS`; ``epochs > 0``: that many
    epochs for every model (a smoke run of the course)."""

    variant: str = "complementary"
    quick: bool = True
    seed: int = 0
    device: str = "auto"
    cache_dir: str = ".cache/tacfn_lite"
    checkpoint_dir: str = "runs/course"
    epochs: int = 0

    def config(self, model: str = "tacfn", **overrides: Any) -> RunConfig:
        """Every notebook's config for ``model``; ``overrides``: any :func:`get_config` key."""
        base = {"model": model, "variant": self.variant, "size": "quick" if self.quick else "full",
                "seed": self.seed, "device": self.device, "cache_dir": str(self.cache_dir),
                "progress": False, "epochs": QUICK_EPOCHS if self.quick else FULL_EPOCHS}
        cfg = get_config("tiny", **{**base, **overrides})
        return replace(cfg, train=replace(cfg.train, epochs=self.epochs)) if self.epochs else cfg

    def claim_config(self, model: str = "tacfn") -> RunConfig:
        """The claim's config: :data:`CLAIM_VARIANT`, full set, :data:`CLAIM_EPOCHS`."""
        return self.config(model, variant=CLAIM_VARIANT, size="full",
                           epochs=CLAIM_EPOCHS[self.quick])

    def checkpoint(self, cfg: RunConfig) -> Path:
        """``<checkpoint_dir>/<variant>-<size>/<model>[-<ablation>]-s<seed>-e<epochs>/best.pt``:
        every field a notebook varies is in the name (:meth:`trained` also checks the config)."""
        ref = get_config("tiny", model=cfg.model.model, variant=cfg.data.variant,
                         size=cfg.data.size).model
        changed = {f.name: getattr(cfg.model, f.name) for f in fields(cfg.model)
                   if getattr(cfg.model, f.name) != getattr(ref, f.name)}
        tag = "-".join(f"{k}{v}" for k, v in changed.items()).replace(">", "")  # e.g. selectFalse
        name = "-".join(x for x in (cfg.model.model, tag, f"s{cfg.train.seed}",
                                    f"e{cfg.train.epochs}") if x)
        return Path(self.checkpoint_dir) / f"{cfg.data.variant}-{cfg.data.size}" / name / "best.pt"

    def trained(self, cfg: RunConfig, arrays=None):
        """(model in eval mode, its ``history.json`` dict) for ``cfg``, trained first (seeded,
        so deterministic on CPU) if missing."""
        path = self.checkpoint(cfg)
        seed_everything(cfg.train.seed)
        model, saved = load_or_train(cfg, path, arrays=arrays,
                                     device=resolve_device(cfg.train.device))
        same_data = replace(saved.data, cache_dir=cfg.data.cache_dir) == cfg.data  # cache moves
        if not same_data or saved.model != cfg.model:
            raise ValueError(f"{path}: its data/model config differs from the requested one; "
                             "delete it or use another checkpoint_dir")
        history = path.parent / "history.json"
        if not history.is_file():
            raise ValueError(f"{history}: missing; {path} was not written by train.fit")
        return model, read_json(history, "training history")

    def trained_all(self, cfgs: dict[str, RunConfig], arrays=None,
                    workers: int | None = None) -> dict[str, tuple]:
        """:meth:`trained` for each named config: ``{name: (model, history)}``. On a CPU missing
        checkpoints train side by side in ``workers`` one-thread processes (small models use a
        second thread poorly; default: one each, at most twice the cores)."""
        missing = [c for c in cfgs.values() if not self.checkpoint(c).exists()]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        workers = workers or min(len(missing), 2 * (cores or 1))
        on_cpu = all(resolve_device(c.train.device).type == "cpu" for c in missing)
        if len(missing) > 1 and workers > 1 and on_cpu:
            for data in {c.data: None for c in missing}:  # SynthAV made here once, not per worker
                load_arrays(data, progress=False)
            ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: safe in a kernel
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=torch.set_num_threads,
                                     initargs=(1,)) as pool:
                list(pool.map(_train_in_worker, [self] * len(missing), missing))
        return {name: self.trained(cfg, arrays) for name, cfg in cfgs.items()}

    def trained_settings(self, settings: dict[str, dict], arrays=None):
        """:meth:`trained_all`, one after another (quicker than starting workers), for TACFN under
        each named setting (e.g. :data:`ABLATIONS`): ``({name: test acc}, {name: model})``."""
        configs = {n: self.config(**o) for n, o in settings.items()}
        runs = self.trained_all(configs, arrays, workers=1)
        return ({name: h["test"]["accuracy"] for name, (_, h) in runs.items()},
                {name: m for name, (m, _) in runs.items()})


def _train_in_worker(course: Course, cfg: RunConfig) -> None:
    course.trained(cfg)  # writes the checkpoint the parent then loads


def markdown_table(rows: dict[str, dict], ceilings: dict | None = None) -> str:
    """Markdown table of :func:`summary_row` results (percentages), plus designed ceilings."""
    cols = ("test_accuracy", "test_macro_f1", "test_uar", "val_accuracy")
    lines = ["| model | " + " | ".join(c.replace("_", " ") for c in cols) + " | best epoch |",
             "|---" * (len(cols) + 2) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{100 * r[c]:.1f}" for c in cols)
              + f" | {r['best_epoch'] + 1} |" for name, r in rows.items()]  # epochs from 1
    if ceilings:
        lines.append("\nDesigned ceilings (Bayes-optimal accuracy): "
                     + ", ".join(f"{k} {100 * v:.1f}" for k, v in ceilings.items()) + ".")
    return "\n".join(lines)
