"""Shared helpers for real audio-video corpora (DESIGN §4): PyAV decoding, one clip → features,
and reading the shard cache that ``prepare.py`` writes (formats: docs/real-data.md)."""

import hashlib
import importlib
import io
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from ..config import DataConfig
from ..provenance import file_sha256
from .core import ClipArrays
from .features import crop_faces, mfcc_window

log = logging.getLogger(__name__)

MANIFEST = "prepared.json"
FORMAT = "tacfn-lite-prepared/1"
SETTING_KEYS = ("n_frames", "image_size", "sample_rate", "duration", "n_mfcc", "hop_length")


def open_media(path: Path, kind: str, missing: str = ""):
    """The container at ``path``; ``ValueError`` naming the file unless it has a ``kind`` stream
    (saying ``missing``, by default "no <kind> stream")."""
    try:
        c = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise ValueError(f"{path}: unreadable media file ({exc.strerror or exc})") from exc
    if not getattr(c.streams, kind):
        c.close()
        raise ValueError(f"{path}: {missing or f'no {kind} stream'}")
    return c


def video_length(path: str | Path) -> float:
    """Seconds of the first video stream (stream metadata, else container, else packets)."""
    with open_media(path, "video") as c:
        s = c.streams.video[0]
        rate = float(s.average_rate or s.guessed_rate or 30)
        if s.frames:
            return s.frames / rate
        if s.duration is not None:
            return float(s.duration * s.time_base)
        if c.duration:
            return c.duration / av.time_base
        return sum(1 for p in c.demux(s) if p.size) / rate


def decode_video(path: str | Path, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(T, H, W, 3)`` uint8 RGB on screen at ascending ``times`` (seconds from the first
    frame) and their 1-based frame numbers ``(T,)`` (an OpenFace CSV's ``frame``). Bad packets
    are skipped and counted; ``ValueError`` naming the file when no frame decodes."""
    times = np.asarray(times, dtype=float)
    out: list[np.ndarray | None] = [None] * len(times)
    numbers = np.zeros(len(times), dtype=np.int64)
    prev, t_first, k, j, bad = None, None, 0, 0, 0  # prev = (frame number, av frame)
    with open_media(path, "video") as c:
        c.streams.video[0].thread_type = "AUTO"  # FFmpeg frame/slice threads
        packets = c.demux(c.streams.video[0])
        while bad <= 100:
            try:
                packet = next(packets, None)
                if packet is None:
                    break
                decoded = packet.decode()
            except av.error.FFmpegError:  # a bad packet, or a container cut short
                bad, decoded = bad + 1, []
            for frame in decoded:
                k += 1
                t = float(frame.time if frame.time is not None else k)
                t_first = t if t_first is None else t_first
                # every target time before this frame shows the previous frame
                if prev is not None and j < len(times) and times[j] < t - t_first:
                    rgb = prev[1].to_ndarray(format="rgb24")  # convert only frames we keep
                    while j < len(times) and times[j] < t - t_first:
                        out[j], numbers[j] = rgb, prev[0]
                        j += 1
                prev = (k, frame)
    if prev is None:
        raise ValueError(f"{path}: no decodable video frames ({bad} packets failed to decode)")
    if bad:
        log.warning("%s: %d video packets failed to decode", path, bad)
    out[j:] = [prev[1].to_ndarray(format="rgb24")] * (len(times) - j)  # after the last frame
    numbers[j:] = prev[0]
    return np.stack(out), numbers


def decode_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate from any audio file or track PyAV can read."""
    chunks = []
    try:
        with open_media(path, "audio") as c:
            s = c.streams.audio[0]
            rate = s.rate or s.codec_context.sample_rate
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in c.decode(s):
                chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path}: cannot decode audio ({exc})") from exc
    wave = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if wave.size == 0:
        raise ValueError(f"{path}: no audio samples")
    if not np.isfinite(wave).all():
        raise ValueError(f"{path}: audio holds NaN or inf samples")
    return wave.astype(np.float32), int(rate)


def clip_window(length: float, cfg: DataConfig) -> tuple[float, np.ndarray]:
    """Start ``t0`` of the centred ``cfg.duration`` window and its frame times: the centres of
    ``n_frames`` equal steps, so audio tokens and frames share one clock (DESIGN §1)."""
    t0 = max(0.0, (length - cfg.duration) / 2)
    return t0, t0 + (np.arange(cfg.n_frames) + 0.5) * cfg.duration / cfg.n_frames


def featurise_clip(video: Path, audio: Path, landmarks: Path | None, cfg: DataConfig
                   ) -> tuple[np.ndarray, np.ndarray, dict]:
    """One clip as ``prepare`` and ``predict`` make it (centred window): mfcc ``(Ta, F)``, faces
    ``(T, S, S, 3)`` uint8 and ``{"crop", "window_start", "sample_rate_in"}``; errors name files."""
    t0, times = clip_window(video_length(video), cfg)
    frames, numbers = decode_video(video, times)  # (T, H, W, 3) at native size
    faces, method = crop_faces(frames, numbers, landmarks, cfg.image_size)
    wave, sr = decode_audio(audio)
    info = {"crop": method, "window_start": round(t0, 4), "sample_rate_in": sr}
    return mfcc_window(wave, sr, t0, cfg), faces, info


@dataclass
class Clip:
    """One processed clip: features plus what the manifest records about it."""

    audio: np.ndarray  # (Ta, F)
    video: np.ndarray  # (T, S, S, 3) uint8, or (T, Fv) float for feature corpora
    label: int
    actor: int
    record: dict = field(default_factory=dict)  # clip_id, files, hashes, fields, crop …
    extra: dict = field(default_factory=dict)  # more per-clip arrays (IEMOCAP text)


def process_clip(item: dict, root: Path, cfg: DataConfig) -> Clip:
    """Featurise one clip a corpus ``scan`` listed (``clip_id``, ``label``, ``actor``, ``fields``,
    ``files``) and record its files relative to ``root`` with their hashes; errors name the file."""
    files = item["files"]
    mfcc, faces, info = featurise_clip(files["video"], files["audio"], files.get("landmarks"), cfg)
    record = {"clip_id": item["clip_id"],
              "files": {k: (str(p.relative_to(root)) if p else None) for k, p in files.items()},
              "hashes": {k: file_sha256(p, 16) for k, p in files.items() if p},
              "fields": item["fields"], **info}
    return Clip(mfcc, faces, item["label"], item["actor"], record)


def settings_of(cfg: DataConfig) -> dict:
    return {k: getattr(cfg, k) for k in SETTING_KEYS}


def default_cache(root: str | Path, cfg: DataConfig, corpus: str,
                  settings: dict | None = None) -> Path:
    """Where ``prepare`` writes when no ``--out`` is given: keyed by the raw root and settings."""
    settings = settings_of(cfg) if settings is None else settings
    key = json.dumps([str(Path(root).resolve()), settings], sort_keys=True)
    return Path(cfg.cache_dir) / f"{corpus}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def find_cache(cfg: DataConfig, corpus: str, settings: dict | None = None) -> tuple[Path, dict]:
    """``(folder, manifest)`` of ``cfg.root`` if it is a prepared cache, else of its default one."""
    if cfg.root is None:
        raise ValueError(f"data set {corpus!r} needs a root (DataConfig.root; CLI --root): its "
                         "prepared cache or the raw corpus")
    root = Path(cfg.root)
    alt = default_cache(root, cfg, corpus, settings)
    for folder in (root, alt):
        if (folder / MANIFEST).is_file():
            return folder, read_manifest(folder, corpus)
    raise ValueError(f"{root}: no prepared {corpus} cache there or at {alt}; run "
                     f"`tacfn-lite prepare {corpus} --root {root} [--out DIR]` first")


def read_manifest(path: str | Path, corpus: str) -> dict:
    """``prepared.json`` of a cache folder; ``ValueError`` when missing or for another corpus."""
    path = Path(path) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: no readable prepared cache ({exc}); run "
                         f"`tacfn-lite prepare {corpus} --root RAW --out {path.parent}`") from exc
    if manifest.get("format") != FORMAT or manifest.get("corpus") != corpus:
        raise ValueError(f"{path}: not a prepared {corpus} cache "
                         f"(format {manifest.get('format')!r}, corpus {manifest.get('corpus')!r})")
    return manifest


def arrays_from_cache(folder: Path, manifest: dict, post: Callable[[dict], tuple] | None = None
                      ) -> ClipArrays:
    """:class:`ClipArrays` of a cache, each shard checked against its hash; ``meta`` holds the
    manifest. ``post(shard arrays) -> (audio, video)`` builds the model inputs (default: stored)."""
    parts: dict[str, list[np.ndarray]] = {}
    for shard in manifest["shards"]:
        path = Path(folder) / manifest["shard_dir"] / shard["file"]
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{path}: shard missing ({exc}); re-run prepare") from exc
        if hashlib.sha256(blob).hexdigest()[:16] != shard["sha256"]:
            raise ValueError(f"{path}: shard content does not match the manifest; re-run prepare")
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            for k in z.files:
                parts.setdefault(k, []).append(z[k])
    data = {k: v[0] if len(v) == 1 else np.concatenate(v) for k, v in parts.items()}
    audio, video = post(data) if post else (data["audio"], data["video"])
    clips = manifest["clips"]
    meta = {**{k: v for k, v in manifest.items() if k != "clips"}, "prepared_dir": str(folder),
            "clips": [{k: v for k, v in r.items() if k != "label"} for r in clips],
            # for the leak checker: clips of one recording (an mp4 and its wav) share an utterance
            "clip_fields": {r["clip_id"]: {"utterance": r.get("utterance", r["clip_id"])}
                            for r in clips}}
    column = lambda key, dtype=None: np.array([r[key] for r in clips], dtype=dtype)
    return ClipArrays(audio, video, column("label", np.int64), column("actor", np.int64),
                      column("clip_id"), class_names=tuple(manifest["class_names"]), meta=meta)


def load_prepared_corpus(cfg: DataConfig, corpus: str) -> ClipArrays:
    """:class:`ClipArrays` from a prepared audio-video cache (``cfg.root``: the cache or the raw
    root); the frame/audio settings it was prepared with must match ``cfg``."""
    folder, manifest = find_cache(cfg, corpus)
    want, got = settings_of(cfg), manifest["settings"]
    if diff := {k: (got.get(k), want[k]) for k in want if got.get(k) != want[k]}:
        raise ValueError(f"{folder / MANIFEST}: prepared with other settings {diff} (prepared, "
                         "asked); ask as prepared (--preset, --set) or prepare into another --out")
    return arrays_from_cache(folder, manifest)


def prepare_corpus(corpus: str, root: str | Path, out_dir: str | Path | None, cfg: DataConfig,
                   strict: bool = False, max_listed: int = 20, force: bool = False) -> dict:
    """``tacfn-lite prepare``: run ``tacfn_lite.data.<corpus>.prepare``; a JSON-able summary with
    skipped files counted by reason and the first ``max_listed`` listed."""
    module = importlib.import_module(f"{__package__}.{corpus}")
    report = module.prepare(root, out_dir, cfg, strict=strict, force=force)
    skipped = report.pop("skipped")
    reasons = Counter(s["reason"].split(": ", 1)[-1].split(" (")[0][:80] for s in skipped)
    return {**report, "skipped_count": len(skipped), "skipped_reasons": dict(reasons),
            "skipped": skipped[:max_listed]}
