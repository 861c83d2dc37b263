"""SynthAV clips in real corpus layouts (``tacfn-lite export``) so the real pipelines run end to
end in tests: RAVDESS (mp4, wav, OpenFace CSV) and CREMA-D (wav + flv). docs/real-data.md."""

from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import cv2
import librosa
import numpy as np

from ..config import DataConfig
from ..io import atomic_write, atomic_write_text
from .core import ClipArrays
from .cremad import EMOTIONS, SENTENCES
from .features import FACE_MARGIN, audio_features
from .synthetic import GEN_KEYS, clip_plan, load_synthav, make_actors, synth_audio

RAVDESS_FPS = Fraction(30000, 1001)  # 29.97 fps like the originals
# container → video codec, audio codec, sample format fed to it (FFmpeg encodes FLV1, not VP6)
CODECS = {"mp4": ("libx264", "aac", "fltp"), "flv": ("flv1", "mp3", "fltp"),
          "wav": (None, "pcm_s16le", "s16")}


def synth_config(arrays: ClipArrays) -> DataConfig:
    """The DataConfig a SynthAV set was generated with (from its ``meta``)."""
    return DataConfig(**{k: arrays.meta[k] for k in GEN_KEYS})


def synth_wave(arrays: ClipArrays, row: int) -> np.ndarray:
    """Replay the generator's random draws for clip ``row`` to rebuild its waveform (ClipArrays
    keeps only MFCC); raises ``ValueError`` if the replay no longer matches the stored MFCC."""
    cfg = synth_config(arrays)
    i = int(str(arrays.clip_ids[row]).rsplit("-", 1)[1])  # generator index of the clip
    rng, lat, _, start = clip_plan(i, int(arrays.labels[row]), cfg)
    actor = make_actors(cfg.data_seed)[int(arrays.actors[row]) - 1]
    wave = synth_audio(actor, lat.audio_code, start, cfg, rng)
    if not np.allclose(audio_features(wave, cfg), arrays.audio[row], atol=1e-3):
        raise ValueError(f"clip {arrays.clip_ids[row]}: waveform replay does not match its MFCC "
                         "(SynthAV generator changed; update export.synth_wave)")
    return wave


def write_av(path: str | Path, frames: np.ndarray | None, fps, wave: np.ndarray | None, sr: int,
             fmt: str = "mp4", info: bool = True) -> Path:
    """Mux frames ``(T, H, W, 3)`` uint8 and/or a mono track: mp4 = H.264 + AAC, flv = FLV1 + MP3,
    wav = 16-bit PCM; ``info=False`` drops the muxer's name (the LIST chunk RAVDESS wavs have)."""
    vcodec, acodec, sample_fmt = CODECS[fmt]
    if wave is not None:
        wave = ((np.clip(wave, -1, 1) * 32767).round().astype(np.int16) if sample_fmt == "s16"
                else wave.astype(np.float32))

    def write(fh):
        with av.open(fh, "w", format=fmt,
                     container_options={} if info else {"fflags": "+bitexact"}) as c:
            if frames is not None:
                vs = c.add_stream(vcodec, rate=fps)
                vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
                vs.options = {"crf": "16", "preset": "veryfast"} if fmt == "mp4" else {}
            a = c.add_stream(acodec, rate=sr, layout="mono") if wave is not None else None
            c.start_encoding()  # the header, even for an empty file
            if frames is not None:
                for img in np.ascontiguousarray(frames):
                    c.mux(vs.encode(av.VideoFrame.from_ndarray(img, "rgb24")))
                c.mux(vs.encode())
            if a is not None:
                step = a.codec_context.frame_size or 1024
                for k in range(0, len(wave), step):
                    fr = av.AudioFrame.from_ndarray(wave[None, k:k + step], sample_fmt, "mono")
                    fr.sample_rate, fr.pts = sr, k
                    c.mux(a.encode(fr))
                c.mux(a.encode())

    return atomic_write(path, write)


def landmark_header() -> list[str]:
    """The 712 OpenFace 2.1 columns of the RAVDESS landmark CSVs (no face_id, no success)."""
    gaze = [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
    eye = [f"eye_lmk_{a}_{i}" for a in ("x", "y", "X", "Y", "Z") for i in range(56)]
    pose = [f"pose_{a}" for a in ("Tx", "Ty", "Tz", "Rx", "Ry", "Rz")]
    lmk = [f"{a}_{i}" for a in ("x", "y", "X", "Y", "Z") for i in range(68)]
    pdm = ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"] + [f"p_{i}" for i in range(34)]
    aus = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26)
    return ["frame", "timestamp", "confidence", *gaze, *eye, *pose, *lmk, *pdm,
            *(f"AU{u:02d}_r" for u in (*aus, 45)), *(f"AU{u:02d}_c" for u in (*aus, 28, 45))]


def face_template() -> np.ndarray:
    """68 landmarks ``(68, 2)`` in iBUG order (jaw, brows, nose, eyes, mouth) in the unit square."""
    th = np.linspace(0, np.pi, 17)
    jaw = np.stack([0.5 - 0.5 * np.cos(th), 0.3 + 0.7 * np.sin(th)], 1)
    bx = np.linspace(0.1, 0.42, 5)
    by = 0.12 - 0.12 * np.sin(np.pi * (bx - 0.1) / 0.32)
    brows = np.concatenate([np.stack([bx, by], 1), np.stack([1 - bx[::-1], by[::-1]], 1)])
    nose = np.array([[0.5, y] for y in (0.3, 0.4, 0.5, 0.6)] +
                    [[x, 0.65] for x in (0.42, 0.46, 0.5, 0.54, 0.58)])
    ang = np.linspace(0, 2 * np.pi, 7)[:-1]
    eye = lambda cx: np.stack([cx + 0.09 * np.cos(ang), 0.32 + 0.04 * np.sin(ang)], 1)
    a12, a8 = np.linspace(0, 2 * np.pi, 13)[:-1], np.linspace(0, 2 * np.pi, 9)[:-1]
    mouth = np.concatenate([np.stack([0.5 - 0.2 * np.cos(a12), 0.8 + 0.07 * np.sin(a12)], 1),
                            np.stack([0.5 - 0.12 * np.cos(a8), 0.8 + 0.03 * np.sin(a8)], 1)])
    pts = np.concatenate([jaw, brows, nose, eye(0.3), eye(0.7), mouth])
    return (pts - pts.min(0)) / (pts.max(0) - pts.min(0))


def write_landmark_csv(path: str | Path, boxes: list[tuple[float, float, float]], fps) -> Path:
    """One row per video frame: the 68 2D landmarks fill the square ``(left, top, side)``;
    other columns hold plausible constants. Floats are written with ``repr``."""
    header = landmark_header()
    col = {h: i for i, h in enumerate(header)}
    tpl = face_template()
    lines = [",".join(header)]
    for k, (left, top, side) in enumerate(boxes):
        row = [0.0] * len(header)
        row[0], row[1], row[2] = k + 1, k / float(fps), 0.98
        for i, (x, y) in enumerate(tpl):
            row[col[f"x_{i}"]], row[col[f"y_{i}"]] = left + x * side, top + y * side
        row[col["p_scale"]] = side / 100 + 0.000000000000001
        lines.append(",".join(str(int(v)) if j == 0 else repr(float(v)) for j, v in enumerate(row)))
    return atomic_write_text(path, "\n".join(lines) + "\n")


def place_face(video: np.ndarray, duration: float, fps, canvas: tuple[int, int], scale: int,
               shift: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int]]:
    """SynthAV frames ``(T, S, S, 3)`` → frames at ``fps`` on a ``(W, H)`` canvas, the face
    enlarged ``scale``× and moved by ``shift``; returns frames and the face square."""
    (T, S), (W, H) = video.shape[:2], canvas
    side = S * scale
    left = int(np.clip((W - side) // 2 + shift[0], 0, W - side))
    top = int(np.clip((H - side) // 2 + shift[1], 0, H - side))
    n_out = int(round(duration * float(fps)))
    src = np.minimum((np.arange(n_out) / float(fps) * T / duration).astype(int), T - 1)
    grad = np.linspace(60, 140, W, dtype=np.float32)[None, :, None]  # background, left to right
    out = np.broadcast_to(grad, (n_out, H, W, 3)).astype(np.uint8)
    big = [cv2.resize(f, (side, side), interpolation=cv2.INTER_NEAREST) for f in video]
    for k, s in enumerate(src):
        out[k, top:top + side, left:left + side] = big[s]
    return out, (left, top, side)


def _pick(arrays: ClipArrays, actors, per_class: int) -> list[tuple[int, int, int, int]]:
    """``(row, actor, label, k)``: the first ``per_class`` clips (k = 0, 1, …) of each pair."""
    keep, seen = [], Counter()
    for row in np.lexsort((arrays.labels, arrays.actors)):
        actor, label = int(arrays.actors[row]), int(arrays.labels[row])
        if (actors is None or actor in actors) and seen[actor, label] < per_class:
            keep.append((int(row), actor, label, seen[actor, label]))
            seen[actor, label] += 1
    return keep


def export_ravdess(arrays: ClipArrays, out_dir: str | Path, *, actors=None, per_class: int = 1,
                   fps=RAVDESS_FPS, canvas: tuple[int, int] = (160, 120), scale: int = 2,
                   sample_rate: int = 48000, landmarks: bool = True) -> list[dict]:
    """Write up to ``per_class`` clips per (actor, class) in the RAVDESS layout, the face off-centre
    in a larger ``canvas`` so cropping matters; returns one record per clip written."""
    out, cfg = Path(out_dir), synth_config(arrays)
    combos = [f"{i}-{s}-{r}" for i in ("01", "02") for s in ("01", "02") for r in ("01", "02")]
    written = []
    for row, actor, label, k in _pick(arrays, actors, per_class):
        options = combos[:4] if label == 0 else combos  # (intensity, statement, repetition)
        if k >= len(options):
            raise ValueError(f"per_class={per_class}: RAVDESS names allow {len(options)} "
                             f"clips of class {label} per actor")
        key = f"01-{label + 1:02d}-{options[k]}-{actor:02d}"
        folder = out / f"Actor_{actor:02d}"
        wave = librosa.resample(synth_wave(arrays, row), orig_sr=cfg.sample_rate,
                                target_sr=sample_rate)
        shift = ((actor * 7) % 5 * 4 - 8, (actor % 3) * 4 - 4)  # each actor's face elsewhere
        frames, (left, top, side) = place_face(arrays.video[row], cfg.duration, fps, canvas,
                                               scale, shift)
        write_av(folder / f"01-{key}.mp4", frames, fps, wave, sample_rate)
        write_av(folder / f"03-{key}.wav", None, None, wave, sample_rate, "wav")
        if landmarks:
            inner = side / (1 + 2 * FACE_MARGIN)  # the crop grows landmark boxes
            box = (left + (side - inner) / 2, top + (side - inner) / 2, inner)
            write_landmark_csv(folder / f"01-{key}.csv", [box] * len(frames), fps)
        written.append({"row": row, "key": key, "label": label, "actor": actor,
                        "clip_id": f"ravdess-{key}"})
    return written


def export_cremad(arrays: ClipArrays, out_dir: str | Path, *, actors=None, per_class: int = 1,
                  fps: int = 30, canvas: tuple[int, int] = (120, 90), scale: int = 2) -> list[dict]:
    """Write SynthAV clips of the 6 CREMA-D emotions as ``AudioWAV/*.wav`` (16 kHz 16-bit mono)
    and ``VideoFlash/*.flv`` (FLV1 + MP3: FFmpeg cannot encode the originals' VP6)."""
    out, cfg = Path(out_dir), synth_config(arrays)
    code_of = {name: code for code, name in EMOTIONS.items()}
    written = []
    for row, actor, label, k in _pick(arrays, actors, per_class):
        emotion = arrays.class_names[label]
        if emotion not in code_of:
            continue  # calm and surprised are not CREMA-D emotions
        stem = f"{1000 + actor}_{SENTENCES[k % len(SENTENCES)]}_{code_of[emotion]}_XX"
        wave = synth_wave(arrays, row)
        wave16k, wave44k = (librosa.resample(wave, orig_sr=cfg.sample_rate, target_sr=sr)
                            for sr in (16000, 44100))
        write_av(out / "AudioWAV" / f"{stem}.wav", None, None, wave16k, 16000, "wav", info=False)
        frames, _ = place_face(arrays.video[row], cfg.duration, fps, canvas, scale, (0, 0))
        write_av(out / "VideoFlash" / f"{stem}.flv", frames, fps, wave44k, 44100, "flv")
        written.append({"row": row, "stem": stem, "emotion": emotion, "actor": 1000 + actor})
    return written


def export_corpus(corpus: str, cfg: DataConfig, out_dir: str | Path | None, n_actors: int = 24,
                  per_class: int = 1) -> dict:
    """``tacfn-lite export``: the SynthAV set of ``cfg`` written in ``corpus``'s layout."""
    if not out_dir:
        raise ValueError("export needs --out DIR")
    if Path(out_dir).is_dir() and any(Path(out_dir).iterdir()):  # two sets would mix there
        raise ValueError(f"{out_dir}: not empty; export writes a whole corpus: give a new folder")
    arrays = load_synthav(cfg)
    have = int(arrays.actors.max())
    most = len(arrays) // (have * len(set(arrays.labels.tolist())))  # balanced: per actor, class
    if not 1 <= n_actors <= have or not 1 <= per_class <= most:  # was capped without a word
        raise ValueError(f"--actors {n_actors} --per-class {per_class}: SynthAV {cfg.variant}/"
                         f"{cfg.size} has actors 1..{have}, {most} clips per actor and class")
    write = {"ravdess": export_ravdess, "cremad": export_cremad}[corpus]
    written = write(arrays, out_dir, actors=range(1, n_actors + 1), per_class=per_class)
    return {"corpus": corpus, "out_dir": str(out_dir), "clips": len(written),
            "source": {k: arrays.meta[k] for k in ("variant", "size", "content_hash")}}
