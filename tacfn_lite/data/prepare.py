"""The resumable shard writer of ``tacfn-lite prepare`` (docs/real-data.md): clips → shard
files and ``prepared.json`` (format: ``media.py``), atomically, reusing a stopped run's shards."""

import hashlib
import itertools
import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from ..config import DataConfig
from ..io import atomic_write, atomic_write_text, check_space, read_json
from ..provenance import file_sha256
from .media import FORMAT, MANIFEST, default_cache, process_clip, settings_of
from .splits import actor_folds

log = logging.getLogger(__name__)

SHARD_SIZE = 256  # clips per shard file
PROGRESS = "progress.json"  # in a run's .prepare-<key>/ folder: finished shards, their sources
RECORD_BYTES = 700  # a clip's entry in prepared.json, about


def prepared_bytes(settings: dict, n_clips: int) -> int:
    """Estimated cache size: frames T×S×S×3 uint8, MFCC Ta×F float16 and a manifest entry per
    clip (0 for feature corpora, whose settings are empty)."""
    if not settings:
        return 0
    ta = 1 + round(settings["sample_rate"] * settings["duration"]) // settings["hop_length"]
    return n_clips * (3 * settings["n_frames"] * settings["image_size"] ** 2
                      + 2 * ta * settings["n_mfcc"] + RECORD_BYTES)


def prepare_av(corpus: str, scan, root: str | Path, out_dir: str | Path | None, cfg: DataConfig,
               *, class_names: tuple[str, ...], protocol: str, strict: bool = False,
               force: bool = False) -> dict:
    """Prepare the raw tree that ``scan(root, strict=) -> (clips, skipped)`` lists into a shard
    cache (default :func:`media.default_cache`, found again from the raw ``--root``); the report."""
    root = Path(root)
    out = Path(out_dir) if out_dir else default_cache(root, cfg, corpus)
    items, skipped = scan(root, strict=strict)
    jobs = (([p for p in it["files"].values() if p], lambda it=it: process_clip(it, root, cfg))
            for it in items)
    return write_prepared(corpus, jobs, out, class_names=class_names, settings=settings_of(cfg),
                          skipped=skipped, strict=strict, force=force,
                          extra_meta={"root": str(root.resolve()), "protocol": protocol})


def write_prepared(corpus: str, clips, out_dir: str | Path, *, class_names: tuple[str, ...],
                   settings: dict, skipped: list[dict], strict: bool = False,
                   extra_meta: dict | None = None, folds: bool = True, force: bool = False) -> dict:
    """Run ``clips`` (``(source files, callable -> Clip)`` pairs) into shards in ``.prepare-<key>``,
    renamed into place when done, then ``prepared.json``; returns the report. ENOSPC (``OSError``)
    first when :func:`prepared_bytes` exceeds the free space, unless ``force``. A ``ValueError``
    clip is skipped (stops a ``strict`` run); shards done before OSError/Ctrl-C stay for a rerun."""
    out, clips, extra_meta = Path(out_dir), list(clips), extra_meta or {}
    old = read_json(out / MANIFEST) if (out / MANIFEST).is_file() else {}
    if old and old.get("corpus") != corpus:
        raise ValueError(f"{out}: holds a prepared {old.get('corpus')} cache, not {corpus}; use "
                         "another --out")
    if old.get("root") not in (None, extra_meta.get("root")):  # runs trained on it: see evaluate
        log.warning("%s: replacing the %s cache prepared from %s with one from %s", out, corpus,
                    old["root"], extra_meta.get("root"))
    check_space(out, prepared_bytes(settings, len(clips)), force)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    key = json.dumps([corpus, settings, extra_meta, SHARD_SIZE], sort_keys=True, default=str)
    tmp = out / f".prepare-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    tmp.mkdir(exist_ok=True)
    try:
        shards = _Shards(tmp, json.dumps([corpus, settings], sort_keys=True), skipped, strict)
        shards.run(clips)
        return _finish(corpus, out, shards, class_names, settings, extra_meta, folds)
    except BaseException as exc:  # after an OS error or Ctrl-C, finished shards stay for a rerun
        if not isinstance(exc, (OSError, KeyboardInterrupt)) or not any(tmp.glob("shard-*")):
            shutil.rmtree(tmp, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise


def _sources(sources) -> list[list]:
    """``[[file, hash or None], ...]`` of a job: what a reused shard's clips must still match."""
    return [[str(f), file_sha256(f, 16) if Path(f).is_file() else None] for f in sources]


class _Shards:
    """The shards of one ``prepare`` run in its temp folder: manifest entries, clip records,
    content hash, and in ``progress.json`` what a rerun needs to reuse them."""

    def __init__(self, tmp: Path, header: str, skipped: list[dict], strict: bool):
        self.tmp, self.skipped, self.strict, self.mark = tmp, skipped, strict, len(skipped)
        self.content = hashlib.sha256(header.encode())
        self.records, self.log, self.buffer, self.jobs = [], [], [], []  # log: progress.json

    def run(self, clips: list) -> None:
        try:  # reuse the shards a stopped run left, as long as their files hash as recorded
            entries = json.loads((self.tmp / PROGRESS).read_text())
        except (OSError, ValueError):
            entries = []
        intact = lambda e: (self.tmp / e["file"]).is_file() and (
            file_sha256(self.tmp / e["file"], 16) == e["sha256"])
        done = 0
        for entry in itertools.takewhile(intact, entries):
            n = len(entry["jobs"])
            if [_sources(s) for s, _ in clips[done:done + n]] != entry["jobs"]:
                break
            with np.load(self.tmp / entry["file"], allow_pickle=False) as z:
                for k in sorted(z.files):
                    self.content.update(np.ascontiguousarray(z[k]).tobytes())
            self.records += entry["records"]
            self.skipped += entry["skipped"]
            self.log.append(entry)
            done, self.mark = done + n, len(self.skipped)
        for sources, make in clips[done:]:
            self._add(sources, make)
        if self.buffer:
            self._flush()

    def _add(self, sources, make) -> None:
        self.jobs.append(_sources(sources))
        try:
            clip = make()
        except ValueError as exc:
            if self.strict:
                raise
            names = [f for f, _ in self.jobs[-1]]
            culprit = next((f for f in names if str(exc).startswith(f)), names[0])
            self.skipped.append({"file": culprit, "reason": str(exc)})
            log.warning("skipped %s", exc)
            return
        self.records.append({**clip.record, "label": int(clip.label), "actor": int(clip.actor)})
        self.buffer.append(clip)
        if len(self.buffer) == SHARD_SIZE:
            self._flush()

    def _flush(self) -> None:
        b = self.buffer
        arrays = {k: np.stack([getattr(c, k) if k in ("audio", "video") else c.extra[k]
                               for c in b]) for k in ("audio", "video", *b[0].extra)}
        if np.abs(arrays["audio"]).max() < 6e4:  # compact MFCC, when float16 can hold it
            arrays["audio"] = arrays["audio"].astype(np.float16)
        for k in sorted(arrays):
            self.content.update(np.ascontiguousarray(arrays[k]).tobytes())
        name = f"shard-{len(self.log):05d}.npz"
        atomic_write(self.tmp / name, lambda fh: np.savez(fh, **arrays))
        self.log.append({"file": name, "n": len(b), "sha256": file_sha256(self.tmp / name, 16),
                         "jobs": self.jobs, "records": self.records[-len(b):],
                         "skipped": self.skipped[self.mark:]})
        atomic_write_text(self.tmp / PROGRESS, json.dumps(self.log))
        self.buffer, self.jobs, self.mark = [], [], len(self.skipped)


def _finish(corpus, out, shards, class_names, settings, extra_meta, folds) -> dict:
    """Folds, content hash, the shard folder renamed into place, then ``prepared.json``."""
    records, skipped = shards.records, shards.skipped
    if not records:
        raise ValueError(f"{extra_meta.get('root', corpus)}: no usable {corpus} clips "
                         f"({len(skipped)} skipped, e.g. {skipped[0] if skipped else 'none'})")
    actors = np.array([r["actor"] for r in records])
    if folds and len(np.unique(actors)) >= 6:
        fold_of = {a: k for k, group in enumerate(actor_folds(actors)) for a in group}
        for r in records:
            r["fold"] = fold_of[r["actor"]]
    content = shards.content
    content.update(json.dumps([(r["clip_id"], r["label"], r["actor"]) for r in records]).encode())
    digest = content.hexdigest()[:16]
    files = [{k: e[k] for k in ("file", "n", "sha256")} for e in shards.log]
    final = out / f"shards-{digest}"
    for p in shards.tmp.iterdir():  # progress.json, shards of a longer earlier run
        if p.name not in {f["file"] for f in files}:
            p.unlink()
    if final.exists():
        shutil.rmtree(shards.tmp)  # identical content is already in place
    else:
        shards.tmp.rename(final)
    manifest = {"format": FORMAT, "corpus": corpus, "content_hash": digest, "settings": settings,
                "class_names": list(class_names), "shard_dir": final.name, "shards": files,
                "clips": records, "skipped": skipped, **extra_meta}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1))
    for old in out.glob("shards-*"):  # caches this manifest no longer points at
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    by_crop = dict(Counter(r["crop"] for r in records if "crop" in r))
    return {"corpus": corpus, "out_dir": str(out), "clips": len(records),
            "actors": len(np.unique(actors)), "skipped": skipped, "crop": by_crop,
            "content_hash": digest, **extra_meta}
