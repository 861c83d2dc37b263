"""RAVDESS (Livingstone & Russo 2018): parse and validate file names, pair audio-video mp4s with
speech wavs and OpenFace landmark CSVs, crop faces (landmarks → OpenCV Haar cascade → centre
crop; shared with CREMA-D), MFCC, cached shards (DESIGN §4).

Protocol: speech channel, 8 emotions, 24 actors in 6 actor-independent folds of 4; validation
actors drawn from the training actors (``splits.split_indices``). docs/real-data.md, notebook 00.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import CLASS_NAMES
from ..config import DataConfig
from .core import ClipArrays
from .media import (
    Clip,
    clip_window,
    decode_audio,
    decode_video,
    default_cache,
    file_hash,
    load_prepared_corpus,
    mfcc_window,
    settings_of,
    video_length,
    write_prepared,
)

log = logging.getLogger(__name__)

FIELDS = ("modality", "channel", "emotion", "intensity", "statement", "repetition", "actor")
MODALITIES = {"01": "audio-video", "02": "video-only", "03": "audio-only"}
CHANNELS = {"01": "speech", "02": "song"}
SONG_EMOTIONS = {"01", "02", "03", "04", "05", "06"}  # song has no disgust or surprised
NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


@dataclass(frozen=True)
class RavdessName:
    """The seven two-digit fields of a RAVDESS file name, validated."""

    modality: str
    channel: str
    emotion: str
    intensity: str
    statement: str
    repetition: str
    actor: str

    @property
    def label(self) -> int:
        return int(self.emotion) - 1  # index into CLASS_NAMES

    @property
    def key(self) -> str:
        """The clip's identity without the modality: pairs an mp4 with its wav."""
        return "-".join((self.channel, self.emotion, self.intensity, self.statement,
                         self.repetition, self.actor))

    def stem(self, modality: str) -> str:
        return f"{modality}-{self.key}"


def parse_name(path: str | Path) -> RavdessName:
    """Parse ``MM-VV-EE-II-SS-RR-AA.ext``; ``ValueError`` naming the file and the bad field.

    Checks each field's range, that neutral has normal intensity only, that song has no
    disgust/surprised, that the extension fits the modality and that an ``Actor_XX`` parent
    folder (when present) matches the actor field.
    """
    path = Path(path)
    m = NAME.match(path.stem)
    if m is None:
        raise ValueError(f"{path}: not a RAVDESS name (expected MM-VV-EE-II-SS-RR-AA, 7 two-digit "
                         "fields separated by '-')")
    name = RavdessName(*m.groups())
    allowed = {"modality": MODALITIES, "channel": CHANNELS,
               "emotion": {f"{i:02d}" for i in range(1, 9)}, "intensity": {"01", "02"},
               "statement": {"01", "02"}, "repetition": {"01", "02"},
               "actor": {f"{i:02d}" for i in range(1, 25)}}
    for f in FIELDS:
        if getattr(name, f) not in allowed[f]:
            raise ValueError(f"{path}: field {f}={getattr(name, f)!r} is not one of "
                             f"{sorted(allowed[f])}")
    if name.emotion == "01" and name.intensity == "02":
        raise ValueError(f"{path}: neutral (emotion 01) has no strong intensity (02)")
    if name.channel == "02" and name.emotion not in SONG_EMOTIONS:
        raise ValueError(f"{path}: song (channel 02) has no emotion {name.emotion}")
    ext = ".wav" if name.modality == "03" else ".mp4"
    if path.suffix.lower() != ext:
        raise ValueError(f"{path}: modality {name.modality} files end in {ext}")
    parent = path.parent.name
    if parent.startswith("Actor_") and parent != f"Actor_{name.actor}":
        raise ValueError(f"{path}: actor field {name.actor} does not match folder {parent}")
    return name


def scan(root: str | Path, strict: bool = False, channels: tuple[str, ...] = ("01",)):
    """Pair the files of a RAVDESS tree. Returns (clips, skipped): clips map a clip key to
    ``{"name", "video", "audio", "landmarks"}``; skipped lists ``{"file", "reason"}``."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: RAVDESS root folder not found")
    skipped: list[dict] = []

    def skip(path, reason):
        if strict:
            raise ValueError(f"{path}: {reason}")
        skipped.append({"file": str(path), "reason": f"{path}: {reason}"})

    media = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mp4", ".wav")
                   and not p.name.startswith("."))
    csvs = {p.stem: p for p in root.rglob("*.csv")}
    groups: dict[str, dict] = {}
    for path in media:
        try:
            name = parse_name(path)
        except ValueError as exc:
            skip(path, str(exc).split(": ", 1)[1])
            continue
        if name.channel not in channels:
            skipped.append({"file": str(path), "reason": "song channel: not in the speech protocol"})
            continue
        group = groups.setdefault(name.key, {"name": name})
        if name.modality in group:
            skip(path, f"duplicate of {group[name.modality]}")
            continue
        group[name.modality] = path
    clips = {}
    for key, g in sorted(groups.items()):
        video, audio = g.get("01") or g.get("02"), g.get("03") or g.get("01")
        if video is None or audio is None:
            have = next(g[m] for m in ("01", "02", "03") if m in g)
            skip(have, "missing pair: no " + ("audio-video/video-only mp4" if video is None
                                              else "speech wav or audio track") + " for this clip")
            continue
        name = g["name"]
        csv = csvs.get(video.stem) or csvs.get(name.stem("01")) or csvs.get(name.stem("02"))
        clips[key] = {"name": name, "video": video, "audio": audio, "landmarks": csv}
    return clips, skipped


# ----------------------------------------------------------------------------- face crops
FACE_MARGIN = 0.15  # landmark / detector box grown by this fraction on each side
MIN_CONFIDENCE = 0.5  # OpenFace rows below this use the clip's median box


def read_landmarks(path: str | Path) -> dict[int, tuple[np.ndarray, float]]:
    """OpenFace 2.x CSV → {frame number: (points (68, 2) in pixels, confidence)}.

    Columns are selected by name (``frame``, ``confidence``, ``x_0..x_67``, ``y_0..y_67``);
    names are stripped, so files written with ", " separators also parse.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            header = [h.strip() for h in fh.readline().split(",")]
            rows = np.loadtxt(fh, delimiter=",", ndmin=2)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: unreadable landmark CSV ({exc})") from exc
    col = {name: i for i, name in enumerate(header)}
    need = ["frame", "confidence"] + [f"{a}_{i}" for a in "xy" for i in range(68)]
    missing = [n for n in need if n not in col]
    if missing:
        raise ValueError(f"{path}: landmark CSV lacks columns {missing[:4]}")
    if rows.shape[1] != len(header):
        raise ValueError(f"{path}: rows have {rows.shape[1]} values, header has {len(header)}")
    xs = rows[:, [col[f"x_{i}"] for i in range(68)]]
    ys = rows[:, [col[f"y_{i}"] for i in range(68)]]
    pts = np.stack([xs, ys], -1)  # (rows, 68, 2)
    return {int(f): (p, float(c)) for f, p, c in zip(rows[:, col["frame"]], pts,
                                                     rows[:, col["confidence"]])}


def square_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int,
               margin: float = FACE_MARGIN) -> tuple[int, int, int]:
    """Square ``(left, top, side)`` around a box, grown by ``margin`` and kept inside the image."""
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    side = int(round(min(side, width, height)))
    left = int(round((x0 + x1) / 2 - side / 2))
    top = int(round((y0 + y1) / 2 - side / 2))
    return min(max(left, 0), width - side), min(max(top, 0), height - side), max(side, 1)


_CASCADE: list = []


def face_cascade():
    """OpenCV's bundled frontal-face Haar cascade, or ``None`` where this OpenCV has none
    (OpenCV 5 dropped ``CascadeClassifier`` and its data; ``opencv-python-headless<5`` has both)."""
    if not _CASCADE:
        xml = Path(getattr(getattr(cv2, "data", None), "haarcascades", "")) / \
            "haarcascade_frontalface_default.xml"
        ok = hasattr(cv2, "CascadeClassifier") and xml.is_file()
        _CASCADE.append(cv2.CascadeClassifier(str(xml)) if ok else None)
        if not ok:
            log.warning("OpenCV %s has no Haar face cascade: clips without landmark CSVs get a "
                        "centre crop", cv2.__version__)
    return _CASCADE[0]


def haar_box(frames: np.ndarray) -> tuple[int, int, int] | None:
    """One face box for a clip from the Haar cascade (median of the largest detection over a
    few frames), or ``None`` when no face is found or no cascade is available."""
    cascade = face_cascade()
    if cascade is None:
        return None
    H, W = frames.shape[1:3]
    scale = min(1.0, 480 / max(H, W))
    found = []
    for img in frames[np.linspace(0, len(frames) - 1, min(5, len(frames))).astype(int)]:
        gray = cv2.cvtColor(cv2.resize(img, None, fx=scale, fy=scale), cv2.COLOR_RGB2GRAY)
        det = cascade.detectMultiScale(gray, 1.1, 5, minSize=(24, 24))
        if len(det):
            x, y, w, h = max(det, key=lambda d: d[2] * d[3]) / scale
            found.append((x, y, x + w, y + h))
    if not found:
        return None
    return square_box(*np.median(np.array(found), 0), W, H, margin=0.05)


def crop_faces(frames: np.ndarray, numbers: np.ndarray, landmarks: Path | None,
               size: int) -> tuple[np.ndarray, str]:
    """Face-cropped clip ``(T, size, size, 3)`` uint8 and the method used.

    Landmarks (per frame, low-confidence rows take the clip's median box) when a CSV is given,
    else the Haar cascade, else a centre crop.
    """
    T, H, W = frames.shape[:3]
    boxes, method = None, "centre"
    if landmarks is not None:
        table = read_landmarks(landmarks)
        rows = [table.get(int(n)) for n in numbers]
        good = [r is not None and r[1] >= MIN_CONFIDENCE for r in rows]
        if any(good):
            per = [square_box(*r[0].min(0), *r[0].max(0), W, H) if ok else None
                   for r, ok in zip(rows, good)]
            median = tuple(int(v) for v in np.median([b for b in per if b], 0))
            boxes, method = [b or median for b in per], "landmarks"
        else:
            log.warning("%s: no confident landmark rows for the sampled frames", landmarks)
    if boxes is None:
        box = haar_box(frames)
        method = "haar" if box is not None else "centre"
        box = box or square_box(0, 0, W, H, W, H, margin=0.0)
        boxes = [box] * T
    out = np.stack([cv2.resize(img[t:t + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)
                    for img, (x, t, s) in zip(frames, boxes)])
    return out, method


def process_clip(item: dict, root: Path, cfg: DataConfig) -> Clip:
    """Decode, crop and featurise one clip; every error names the file at fault."""
    name, video, audio, csv = item["name"], item["video"], item["audio"], item["landmarks"]
    t0, times = clip_window(video_length(video), cfg)
    frames, numbers = decode_video(video, times)  # (T, H, W, 3) at native size
    faces, method = crop_faces(frames, numbers, csv, cfg.image_size)
    wave, sr = decode_audio(audio)
    mfcc = mfcc_window(wave, sr, t0, cfg)
    files = {"video": video, "audio": audio, "landmarks": csv}
    record = {
        "clip_id": f"ravdess-{name.key}",
        "files": {k: (str(p.relative_to(root)) if p else None) for k, p in files.items()},
        "hashes": {k: file_hash(p) for k, p in files.items() if p},
        "fields": {f: getattr(name, f) for f in FIELDS[1:]},
        "crop": method, "window_start": round(t0, 4), "sample_rate_in": sr,
    }
    return Clip(mfcc, faces, name.label, int(name.actor), record)


def prepare(root: str | Path, out_dir: str | Path | None, cfg: DataConfig,
            strict: bool = False) -> dict:
    """Prepare a RAVDESS tree into a shard cache; returns the report (clips, skipped, crops).

    ``out_dir=None`` writes to :func:`media.default_cache`, which ``load_prepared`` finds from
    the raw ``--root``. With ``strict=True`` the first bad file stops the run (nothing written).
    """
    root = Path(root)
    out = Path(out_dir) if out_dir else default_cache(root, cfg, "ravdess")
    items, skipped = scan(root, strict=strict)
    jobs = (([it["video"], it["audio"], it["landmarks"] or it["video"]],
             lambda it=it: process_clip(it, root, cfg)) for it in items.values())
    return write_prepared("ravdess", jobs, out, class_names=CLASS_NAMES,
                          settings=settings_of(cfg), skipped=skipped, strict=strict,
                          extra_meta={"root": str(root.resolve()), "protocol": "speech, 8 emotions"})


def load_prepared(cfg: DataConfig) -> ClipArrays:
    """:class:`ClipArrays` from a prepared cache (``cfg.root``: the cache or the raw root)."""
    return load_prepared_corpus(cfg, "ravdess")
