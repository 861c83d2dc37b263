"""Leakage checks (DESIGN §4, notebook 09; ``tacfn-lite check-splits`` and every training): no
actor, utterance (one recording: an mp4 and its wav), clip or content is shared by two splits."""

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import need_file, read_json

KINDS = {"actor": "actor", "utterance": "utterance", "content": "content_hash", "clip": None}


@dataclass(frozen=True)
class Overlap:
    """One key found in more than one split, with the clips that carry it in each split."""

    kind: str  # actor | utterance | content | clip
    key: str
    clips: dict[str, list[str]]  # split name → clips holding the key there

    def describe(self, max_clips: int = 3) -> str:
        more = lambda clips: " …" if len(clips) > max_clips else ""
        parts = [f"{split} [{', '.join(clips[:max_clips])}{more(clips)}]" if clips else split
                 for split, clips in self.clips.items()]
        return f"{self.kind} {self.key} is in " + " and ".join(parts)


def clip_fields(arrays) -> dict[str, dict]:
    """Per-clip manifest fields ``{clip_id: {"actor", "content_hash" (of audio + video), ...}}``
    of a ``ClipArrays``; fields a loader supplies in ``arrays.meta["clip_fields"]`` are kept."""
    given = (arrays.meta or {}).get("clip_fields") or {}
    out = {}
    for i, cid in enumerate(map(str, arrays.clip_ids)):
        fields = out[cid] = dict(given.get(cid, {}))
        fields.setdefault("actor", int(arrays.actors[i]))
        if "content_hash" not in fields:
            blob = b"".join(np.ascontiguousarray(a[i]).tobytes()
                            for a in (arrays.audio, arrays.video))
            fields["content_hash"] = hashlib.blake2b(blob, digest_size=12).hexdigest()
    return out


def find_overlaps(manifest: dict, source: str = "manifest") -> list[Overlap]:
    """Every actor, utterance, content hash or clip id present in more than one split.
    Args:
        manifest: from ``data.splits.make_manifest``: ``splits[name]["actors"|"clips"]`` and
            optional ``clip_fields[clip_id]`` (see :func:`clip_fields`).
        source: names the manifest in the error raised when it is malformed.
    Returns:
        Overlaps sorted by kind (actor, utterance, content, clip) then key; empty when clean.
    """
    splits = manifest.get("splits") if isinstance(manifest, dict) else None
    if not isinstance(splits, dict) or not all(isinstance(b, dict) for b in splits.values()):
        raise ValueError(f"{source}: not a split manifest ('splits' as in RUN/split_manifest.json)")
    fields, found = manifest.get("clip_fields") or {}, []
    for kind, field_name in KINDS.items():  # field_name: what clip_fields calls the key
        table: dict[str, dict[str, list[str]]] = {}  # key → split → clips with that key
        for split, body in manifest["splits"].items():
            for cid in body.get("clips", []):
                key = cid if kind == "clip" else fields.get(cid, {}).get(field_name)
                if key is not None:
                    table.setdefault(str(key), {}).setdefault(split, []).append(cid)
            if kind == "actor":  # actors listed per split count even without per-clip fields
                for actor in body.get("actors", []):
                    table.setdefault(str(actor), {}).setdefault(split, [])
        found += [Overlap(kind, key, {s: by_split[s] for s in sorted(by_split)})
                  for key, by_split in table.items() if len(by_split) > 1]
    return sorted(found, key=lambda o: (list(KINDS).index(o.kind), o.key))


def check_manifest(manifest: dict, source: str = "manifest", max_listed: int = 10) -> None:
    """Raise ``ValueError`` naming what the splits share; return quietly when they share nothing."""
    if not (overlaps := find_overlaps(manifest, source)):
        return
    counts = Counter(o.kind for o in overlaps)  # in KINDS order: overlaps are sorted by kind
    head = ", ".join(f"{n} {k}{'s' * (n > 1)}" for k, n in counts.items())
    lines = [o.describe() for o in overlaps[:max_listed]]
    if len(overlaps) > max_listed:
        lines.append(f"… and {len(overlaps) - max_listed} more")
    raise ValueError("\n  ".join([f"{source}: split leak ({head} shared across splits):", *lines]))


def check_splits(path: str | Path) -> dict:
    """Check the manifest at ``path`` (``tacfn-lite check-splits``); a summary when clean."""
    path = need_file(path, "manifest", "its split_manifest.json")
    manifest = read_json(path, "manifest")
    check_manifest(manifest, source=str(path))
    fields = manifest.get("clip_fields") or {}
    checked = [k for k in ("utterance", "content") if any(KINDS[k] in v for v in fields.values())]
    return {"manifest": str(path), "hash": manifest.get("hash"),
            "splits": {s: {"actors": len(b.get("actors", [])), "clips": len(b.get("clips", []))}
                       for s, b in manifest["splits"].items()},
            "checked": ["actor", "clip", *checked], "overlaps": 0}
