"""Features for SynthAV, the real corpora and ``predict``: librosa MFCC frames and face crops
(OpenFace landmarks → OpenCV Haar cascade → centre crop). docs/real-data.md."""

import logging
from functools import cache
from pathlib import Path

import cv2
import librosa
import numpy as np

from ..config import DataConfig

log = logging.getLogger(__name__)

FACE_MARGIN = 0.15  # landmark / detector box grown by this fraction on each side
MIN_CONFIDENCE = 0.5  # OpenFace rows below this use the clip's median box


def audio_features(wave: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """MFCC frames ``(Ta, F)`` via librosa (n_fft = 2 hops, Hann window, centred frames)."""
    mfcc = librosa.feature.mfcc(y=wave, sr=cfg.sample_rate, n_mfcc=cfg.n_mfcc,
                                n_fft=2 * cfg.hop_length, hop_length=cfg.hop_length, n_mels=40)
    return (mfcc.T / 10.0).astype(np.float32)  # scaled to roughly unit range


def mfcc_window(wave: np.ndarray, sr: int, t0: float, cfg: DataConfig) -> np.ndarray:
    """MFCC ``(Ta, F)`` of ``[t0, t0 + duration)`` at ``cfg.sample_rate`` (zero-padded)."""
    if sr != cfg.sample_rate:
        wave = librosa.resample(wave, orig_sr=sr, target_sr=cfg.sample_rate)
    n, start = int(round(cfg.sample_rate * cfg.duration)), int(round(t0 * cfg.sample_rate))
    seg = wave[start:start + n]
    return audio_features(np.pad(seg, (0, n - len(seg))).astype(np.float32), cfg)


def read_landmarks(path: str | Path) -> dict[int, tuple[np.ndarray, float]]:
    """OpenFace 2.x CSV → {frame number: (points (68, 2) in pixels, confidence)}. Columns are
    selected by stripped name (``frame``, ``confidence``, ``x_0..x_67``, ``y_0..y_67``)."""
    try:
        with open(path, encoding="utf-8") as fh:
            header = [h.strip() for h in fh.readline().split(",")]
            if not (lines := [ln for ln in fh if ln.strip()]):  # numpy would only warn
                raise ValueError("no rows: no tracked frame")
            rows = np.loadtxt(lines, delimiter=",", ndmin=2)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: unreadable landmark CSV ({exc})") from exc
    col = {name: i for i, name in enumerate(header)}
    need = ["frame", "confidence"] + [f"{a}_{i}" for a in "xy" for i in range(68)]
    if missing := [n for n in need if n not in col]:
        raise ValueError(f"{path}: landmark CSV lacks columns {missing[:4]}")
    if rows.shape[1] != len(header):
        raise ValueError(f"{path}: rows have {rows.shape[1]} values, header has {len(header)}")
    pts = rows[:, [[col[f"x_{i}"], col[f"y_{i}"]] for i in range(68)]]  # (rows, 68, 2)
    return {int(f): (p, float(c)) for f, p, c in zip(rows[:, col["frame"]], pts,
                                                     rows[:, col["confidence"]])}


def square_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int,
               margin: float = FACE_MARGIN) -> tuple[int, int, int]:
    """Square ``(left, top, side)`` around a box, grown by ``margin`` and kept inside the image."""
    side = int(round(min(max(x1 - x0, y1 - y0) * (1 + 2 * margin), width, height)))
    left, top = int(round((x0 + x1) / 2 - side / 2)), int(round((y0 + y1) / 2 - side / 2))
    return min(max(left, 0), width - side), min(max(top, 0), height - side), max(side, 1)


@cache
def face_cascade():
    """OpenCV's bundled frontal-face Haar cascade, or ``None`` where this OpenCV has none
    (OpenCV 5 dropped ``CascadeClassifier`` and its data; ``opencv-python-headless<5`` has both)."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    xml = Path(folder) / "haarcascade_frontalface_default.xml"
    if hasattr(cv2, "CascadeClassifier") and xml.is_file():
        return cv2.CascadeClassifier(str(xml))
    log.warning("OpenCV %s has no Haar face cascade: clips without landmark CSVs get a "
                "centre crop", cv2.__version__)
    return None


def haar_box(frames: np.ndarray) -> tuple[int, int, int] | None:
    """One face box for a clip from the Haar cascade (median of the largest detection over a
    few frames), or ``None`` when no face is found or no cascade is available."""
    if (cascade := face_cascade()) is None:
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
    return square_box(*np.median(np.array(found), 0), W, H, margin=0.05) if found else None


def crop_faces(frames: np.ndarray, numbers: np.ndarray, landmarks: Path | None,
               size: int) -> tuple[np.ndarray, str]:
    """Face-cropped clip ``(T, size, size, 3)`` uint8 and the method: landmarks when a CSV is given
    (low-confidence rows take the clip's median box), else the Haar cascade, else a centre crop."""
    T, H, W = frames.shape[:3]
    boxes = None
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
        method = "centre" if box is None else "haar"
        boxes = [box or square_box(0, 0, W, H, W, H, margin=0.0)] * T
    return np.stack([cv2.resize(img[t:t + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)
                     for img, (x, t, s) in zip(frames, boxes)]), method
