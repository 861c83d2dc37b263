"""Leakage checks (DESIGN §4, notebook 09; ``tacfn-lite check-splits``, and before every training):
no actor, utterance (one recording, e.g. a RAVDESS ``01-`` mp4 and its ``03-`` wav), clip or file
content may be shared by train, validation and test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import read_json

KINDS = ("actor", "utterance", "content", "clip")


@dataclass(frozen=True)
class Overlap:
    """One key found in more than one split, with the clips that carry it in each split."""

    kind: str  # actor | utterance | content | clip
    key: str
    clips: dict[str, list[str]]  # split name → clips holding the key there

    def describe(self, max_clips: int = 3) -> str:
        parts = []
        for split, clips in self.clips.items():
            shown = ", ".join(clips[:max_clips]) + (" …" if len(clips) > max_clips else "")
            parts.append(f"{split} [{shown}]" if clips else split)
        return f"{self.kind} {self.key} is in " + " and ".join(parts)


def clip_fields(arrays) -> dict[str, dict]:
    """Per-clip fields of a ``ClipArrays`` for a manifest: ``{clip_id: {"actor": int,
    "content_hash": str (of the decoded audio + video), ...}}``. Fields a loader supplies in
    ``arrays.meta["clip_fields"]`` (``utterance``, a source-file hash) are kept."""
    given = (arrays.meta or {}).get("clip_fields") or {}
    out = {}
    for i, cid in enumerate(arrays.clip_ids):
        cid = str(cid)
        fields = dict(given.get(cid, {}))
        fields.setdefault("actor", int(arrays.actors[i]))
        if "content_hash" not in fields:
            h = hashlib.blake2b(digest_size=12)
            h.update(np.ascontiguousarray(arrays.audio[i]).tobytes())
            h.update(np.ascontiguousarray(arrays.video[i]).tobytes())
            fields["content_hash"] = h.hexdigest()
        out[cid] = fields
    return out


def _collect(manifest: dict, kind: str) -> dict[str, dict[str, list[str]]]:
    """key → split → clips with that key, for one kind of key."""
    fields = manifest.get("clip_fields") or {}
    field_name = {"utterance": "utterance", "content": "content_hash", "actor": "actor"}.get(kind)
    table: dict[str, dict[str, list[str]]] = {}
    for split, body in manifest["splits"].items():
        for cid in body.get("clips", []):
            key = cid if kind == "clip" else fields.get(cid, {}).get(field_name)
            if key is not None:
                table.setdefault(str(key), {}).setdefault(split, []).append(cid)
        if kind == "actor":  # actors listed per split count even without per-clip fields
            for actor in body.get("actors", []):
                table.setdefault(str(actor), {}).setdefault(split, [])
    return table


def find_overlaps(manifest: dict, source: str = "manifest") -> list[Overlap]:
    """Every actor, utterance, content hash or clip id present in more than one split.

    Args:
        manifest: from ``data.splits.make_manifest``: ``splits[name]["actors"|"clips"]`` and
            optional ``clip_fields[clip_id]`` (see :func:`clip_fields`).
        source: names the manifest in the error raised when it is malformed.
    Returns:
        Overlaps sorted by kind (actor, utterance, content, clip) then key; empty when clean.
    """
    if not isinstance(manifest, dict) or not isinstance(manifest.get("splits"), dict):
        raise ValueError(f"{source}: expected a JSON object with a 'splits' mapping")
    found = []
    for kind in KINDS:
        for key, by_split in _collect(manifest, kind).items():
            if len(by_split) > 1:
                found.append(Overlap(kind, key, {s: by_split[s] for s in sorted(by_split)}))
    return sorted(found, key=lambda o: (KINDS.index(o.kind), o.key))


def check_manifest(manifest: dict, source: str = "manifest", max_listed: int = 10) -> None:
    """Raise ``ValueError`` naming what the splits share; return quietly when they share nothing."""
    overlaps = find_overlaps(manifest, source)
    if not overlaps:
        return
    counts = {k: sum(o.kind == k for o in overlaps) for k in KINDS}
    head = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in counts.items() if n)
    lines = [o.describe() for o in overlaps[:max_listed]]
    if len(overlaps) > max_listed:
        lines.append(f"… and {len(overlaps) - max_listed} more")
    listed = "\n  ".join(lines)
    raise ValueError(f"{source}: split leak ({head} shared across splits):\n  {listed}")


def check_splits(path: str | Path) -> dict:
    """Check the manifest at ``path`` (``tacfn-lite check-splits``); a summary when clean."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: manifest not found")
    manifest = read_json(path, "manifest")
    check_manifest(manifest, source=str(path))
    fields = manifest.get("clip_fields") or {}
    checked = [k for k, f in (("utterance", "utterance"), ("content", "content_hash"))
               if any(f in v for v in fields.values())]
    return {"manifest": str(path), "hash": manifest.get("hash"),
            "splits": {s: {"actors": len(b.get("actors", [])), "clips": len(b.get("clips", []))}
                       for s, b in manifest["splits"].items()},
            "checked": ["actor", "clip", *checked], "overlaps": 0}
