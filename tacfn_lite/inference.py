"""Predict on your own clip: ``tacfn-lite predict CLIP.mp4 [--audio CLIP.wav] --checkpoint CKPT``
or ``tacfn_lite.predict(path, checkpoint)`` (this module is ``inference`` so that
``tacfn_lite.predict`` can be the function).

Runs exactly the preprocessing the checkpoint's data config describes (window of
``duration`` seconds, ``n_frames`` face crops of ``image_size``², audio resampled to
``sample_rate``, MFCC with ``n_mfcc``/``hop_length``), using the same decode / crop / MFCC
functions as ``prepare`` (``data.media``, ``data.ravdess``). docs/predict-and-cards.md.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch

from .config import DataConfig, RunConfig
from .data.media import clip_window, decode_audio, decode_video, mfcc_window, video_length

log = logging.getLogger(__name__)

MIN_LENGTH_SHARE = 0.95  # a clip shorter than 95 % of the checkpoint's window is refused
MAP_NAMES = {"audio->video": ("video_weight", "audio_select"),  # (video map, audio map)
             "video->audio": ("video_select", "audio_weight"),
             "both": ("video_weight", "audio_select")}


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for one clip and the exact model inputs they came from.

    Shapes: probs ``(C,)``; audio ``(Ta, F)`` MFCC; video ``(T, S, S, 3)`` uint8 face crops.
    """

    path: str
    class_names: tuple[str, ...]
    probs: np.ndarray
    audio: np.ndarray
    video: np.ndarray
    crop: str  # landmarks | haar | centre
    window_start: float

    @property
    def label(self) -> str:
        return self.class_names[int(self.probs.argmax())]

    def to_dict(self) -> dict:
        return {"clip": self.path, "prediction": self.label, "crop": self.crop,
                "window_start": self.window_start,
                "probabilities": {n: round(float(p), 4) for n, p in
                                  zip(self.class_names, self.probs)}}

    def format(self) -> str:
        """Probabilities as a small text table, most likely first."""
        order = np.argsort(-self.probs)
        lines = [f"{self.path}: {self.label} (face crop: {self.crop}, window from "
                 f"{self.window_start:.2f} s)"]
        bar = lambda p: "#" * round(30 * float(p))  # noqa: E731
        lines += [f"  {self.class_names[c]:<10s} {self.probs[c]:6.3f}  {bar(self.probs[c])}"
                  for c in order]
        return "\n".join(lines)


def _has_audio(path: Path) -> bool:
    try:
        with av.open(str(path)) as c:
            return bool(c.streams.audio)
    except (av.error.FFmpegError, OSError) as exc:
        raise ValueError(f"{path}: unreadable media file ({exc})") from exc


def load_clip(video: str | Path, cfg: DataConfig, audio: str | Path | None = None,
              landmarks: str | Path | None = None, allow_centre_crop: bool = False
              ) -> tuple[np.ndarray, np.ndarray, str, float]:
    """Decode, crop and featurise one clip the way ``prepare`` does for ``cfg``.

    Args:
        video: the clip (any container PyAV reads; its audio track is used unless ``audio``).
        cfg: the checkpoint's data config.
        audio: a separate audio file (e.g. the RAVDESS ``03-`` wav), else the clip's own track.
        landmarks: an OpenFace CSV; by default ``<clip stem>.csv`` next to the clip, if present.
        allow_centre_crop: accept a centre crop when neither landmarks nor the face detector
            find a face (otherwise a ``ValueError``).
    Returns:
        mfcc ``(Ta, F)`` float32, faces ``(T, S, S, 3)`` uint8, crop method, window start (s).
    """
    from .data.ravdess import crop_faces  # the face-crop chain prepare uses

    video = Path(video)
    if not video.is_file():
        raise ValueError(f"{video}: clip not found")
    audio = Path(audio) if audio else video
    if not audio.is_file():
        raise ValueError(f"{audio}: audio file not found")
    if not _has_audio(audio):
        raise ValueError(f"{audio}: no audio track; pass the clip's sound with --audio FILE.wav")
    sibling = video.with_suffix(".csv")
    csv = Path(landmarks) if landmarks else (sibling if sibling.is_file() else None)
    length = video_length(video)
    if length < MIN_LENGTH_SHARE * cfg.duration:
        raise ValueError(f"{video}: clip too short ({length:.2f} s); this checkpoint was trained "
                         f"on {cfg.duration:g} s windows (data.duration)")
    t0, times = clip_window(length, cfg)
    frames, numbers = decode_video(video, times)  # (T, H, W, 3) at native size
    faces, method = crop_faces(frames, numbers, csv, cfg.image_size)  # (T, S, S, 3)
    if method == "centre" and not allow_centre_crop:
        raise ValueError(f"{video}: no face found (no landmark CSV and the face detector found "
                         "none); pass --landmarks CSV, or --centre-crop to use the centre square")
    wave, sr = decode_audio(audio)
    mfcc = mfcc_window(wave, sr, t0, cfg)  # (Ta, F)
    if cfg.name != "synthav":  # prepared shards hold MFCC as float16: feed what training saw
        mfcc = mfcc.astype(np.float16)
    return mfcc.astype(np.float32), faces, method, round(t0, 4)


def _inputs(mfcc: np.ndarray, faces: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Model inputs as ``to_batch`` makes them: audio ``(1, Ta, F)``, video ``(1, T, 3, S, S)``."""
    audio = torch.from_numpy(mfcc)[None]
    video = torch.from_numpy(np.ascontiguousarray(faces))[None].permute(0, 1, 4, 2, 3)
    return audio, video.float().div_(255.0)


def predict(path: str | Path, checkpoint: str | Path, audio: str | Path | None = None,
            landmarks: str | Path | None = None, device: str = "cpu",
            allow_centre_crop: bool = False) -> Prediction:
    """Class probabilities of ``checkpoint``'s model for the clip at ``path``.

    Errors (no audio track, no face, too short, unreadable file) are ``ValueError`` naming the
    file. Example: ``tacfn_lite.predict("clip.mp4", "runs/x/best.pt").format()``.
    """
    from .checkpoints import load_model

    model, cfg = load_model(checkpoint, device)
    if cfg.model.video_backbone == "features":
        raise ValueError(f"{checkpoint}: trained on pre-extracted features ({cfg.data.name}); "
                         "predict needs a model trained on video frames")
    mfcc, faces, crop, t0 = load_clip(path, cfg.data, audio, landmarks, allow_centre_crop)
    a, v = _inputs(mfcc, faces)
    with torch.no_grad():
        probs = model.eval()(a.to(device), v.to(device)).logits.float().softmax(-1)[0].cpu()
    names = _class_names(cfg)
    return Prediction(str(path), names, probs.numpy(), mfcc, faces, crop, t0)


def _class_names(cfg: RunConfig) -> tuple[str, ...]:
    from importlib import import_module

    if cfg.data.name == "synthav":
        from . import CLASS_NAMES

        return CLASS_NAMES
    return tuple(import_module(f".data.{cfg.data.name}", __package__).CLASS_NAMES)


def explain_prediction(pred: Prediction, checkpoint: str | Path, out_dir: str | Path,
                       device: str = "cpu", ig_steps: int = 32) -> list[Path]:
    """Write the attention-map figure (TACFN-style models) and the Captum IG figure for the
    predicted class into ``out_dir``, plus ``prediction.json``; the paths written."""
    import matplotlib.pyplot as plt

    from .checkpoints import load_model
    from .explain import attribute
    from .io import atomic_write_text
    from .viz import plot_explanation, save_figure

    model, cfg = load_model(checkpoint, device)
    out = Path(out_dir)
    a, v = _inputs(pred.audio, pred.video)
    target = int(pred.probs.argmax())
    title = f"{Path(pred.path).name}: {pred.label} (p={pred.probs[target]:.2f})"
    written = [atomic_write_text(out / "prediction.json", json.dumps(pred.to_dict(), indent=1))]
    with torch.no_grad():
        res = model(a.to(device), v.to(device))
    vname, aname = MAP_NAMES[cfg.model.direction]
    vmap, amap = getattr(res, vname), getattr(res, aname)
    if vmap is not None or amap is not None:
        vmap = None if vmap is None else vmap[0].cpu().numpy().reshape(res.video_grid)
        amap = None if amap is None else amap[0].cpu().numpy()
        fig = plot_explanation(pred.video, pred.audio, vmap, amap, title=f"attention: {title}",
                               map_names=(vname, aname))
        written.append(save_figure(fig, out / "attention.png"))
        plt.close(fig)
    else:
        log.info("%s returns no attention maps; only the Captum figure is written", cfg.model.model)
    attr = attribute(model, a.to(device), v.to(device), torch.tensor([target], device=device),
                     "ig", "mean", n_steps=ig_steps)
    fig = plot_explanation(pred.video, pred.audio, attr.video_pixels()[0].cpu().numpy(),
                           attr.audio[0].cpu().numpy(), title=f"integrated gradients: {title}",
                           signed=True, map_names=("IG video", "IG audio"))
    written.append(save_figure(fig, out / "integrated_gradients.png"))
    plt.close(fig)
    return written
