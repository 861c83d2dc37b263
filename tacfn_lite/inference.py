"""Predict on your own clip (``tacfn-lite predict``, docs/predict-and-cards.md) featurised as
``prepare`` does; ``predict_arrays``, the one batched inference over stored clips."""

from dataclasses import dataclass, fields
from importlib import import_module
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import CLASS_NAMES, DataConfig
from .data.core import ClipArrays, to_batch
from .data.media import featurise_clip, open_media, video_length
from .fusion import FusionOutput
from .io import need_file

MIN_LENGTH_SHARE = 0.95  # a clip shorter than 95 % of the checkpoint's window is refused


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for one clip and the exact model inputs they came from.
    Shapes: probs ``(C,)``; audio ``(Ta, F)`` MFCC; video ``(T, S, S, 3)`` uint8 face crops."""

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
        probs = {n: round(float(p), 4) for n, p in zip(self.class_names, self.probs)}
        return {"clip": self.path, "prediction": self.label, "crop": self.crop,
                "window_start": self.window_start, "probabilities": probs}

    def format(self) -> str:
        """Probabilities as a small text table, most likely first."""
        p = self.probs
        rows = [f"  {self.class_names[c]:<10s} {p[c]:6.3f}  {'#' * round(30 * float(p[c]))}"
                for c in np.argsort(-p)]
        return "\n".join([f"{self.path}: {self.label} (face crop: {self.crop}, window from "
                          f"{self.window_start:.2f} s)", *rows])


def load_clip(video: str | Path, cfg: DataConfig, audio: str | Path | None = None,
              landmarks: str | Path | None = None, allow_centre_crop: bool = False
              ) -> tuple[np.ndarray, np.ndarray, str, float]:
    """Decode, crop and featurise one clip the way ``prepare`` does for ``cfg``.
    Args:
        video: the clip (any container PyAV reads; its audio track is used unless ``audio``).
        cfg: the checkpoint's data config.
        audio: a separate audio file (e.g. the RAVDESS ``03-`` wav), else the clip's own track.
        landmarks: an OpenFace CSV; by default ``<clip stem>.csv`` next to the clip, if present.
        allow_centre_crop: accept a centre crop when no face is found (else a ``ValueError``).
    Returns:
        mfcc ``(Ta, F)`` float32, faces ``(T, S, S, 3)`` uint8, crop method, window start (s)."""
    video, audio = need_file(video, "clip"), need_file(audio or video, "audio file")
    open_media(audio, "audio",  # a readable file with an audio track, before any decoding
               "no audio track; pass the clip's sound with --audio FILE.wav").close()
    sibling = video.with_suffix(".csv")
    csv = Path(landmarks) if landmarks else (sibling if sibling.is_file() else None)
    length = video_length(video)
    if length < MIN_LENGTH_SHARE * cfg.duration:
        raise ValueError(f"{video}: clip too short ({length:.2f} s); this checkpoint was trained "
                         f"on {cfg.duration:g} s windows (data.duration)")
    mfcc, faces, info = featurise_clip(video, audio, csv, cfg)  # (Ta, F), (T, S, S, 3)
    if info["crop"] == "centre" and not allow_centre_crop:
        raise ValueError(f"{video}: no face found (no landmark CSV and the face detector found "
                         "none); pass --landmarks CSV, or --centre-crop to use the centre square")
    if cfg.name != "synthav":  # prepared shards hold MFCC as float16: feed what training saw
        mfcc = mfcc.astype(np.float16)
    return mfcc.astype(np.float32), faces, info["crop"], info["window_start"]


def clip_inputs(mfcc: np.ndarray, faces: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Model inputs as ``to_batch`` makes them: audio ``(1, Ta, F)``, video ``(1, T, 3, S, S)``."""
    video = torch.from_numpy(np.ascontiguousarray(faces))[None].permute(0, 1, 4, 2, 3)
    return torch.from_numpy(mfcc)[None], video.float().div_(255.0)


def predict(path: str | Path, checkpoint: str | Path, audio: str | Path | None = None,
            landmarks: str | Path | None = None, device: str = "cpu",
            allow_centre_crop: bool = False) -> Prediction:
    """Class probabilities of ``checkpoint``'s model for the clip at ``path``. Errors (no audio
    track, no face, too short, unreadable file) are ``ValueError`` naming the file. Example:
    ``tacfn_lite.predict("clip.mp4", "runs/x/best.pt").format()``."""
    from .checkpoints import load_model  # looked up at call time (tests patch it)

    model, cfg = load_model(checkpoint, device)
    if cfg.model.video_backbone == "features":
        raise ValueError(f"{checkpoint}: trained on pre-extracted features ({cfg.data.name}); "
                         "predict needs a model trained on video frames")
    mfcc, faces, crop, t0 = load_clip(path, cfg.data, audio, landmarks, allow_centre_crop)
    a, v = clip_inputs(mfcc, faces)
    with torch.no_grad():
        probs = model.eval()(a.to(device), v.to(device)).logits.float().softmax(-1)[0].cpu()
    names = CLASS_NAMES if cfg.data.name == "synthav" else tuple(
        import_module(f".data.{cfg.data.name}", __package__).CLASS_NAMES)
    return Prediction(str(path), names, probs.numpy(), mfcc, faces, crop, t0)


@torch.no_grad()
def predict_arrays(model: nn.Module, arrays: ClipArrays, idx=None, *, batch_size: int = 64,
                   device: torch.device | str | None = None, transform=None) -> FusionOutput:
    """``model`` (eval mode) on rows ``idx`` of ``arrays`` (all when None): one CPU
    :class:`FusionOutput`, fields concatenated in ``idx`` order. ``transform(audio, video) ->
    (audio, video)`` perturbs each batch first (robustness).
    Shapes: logits ``(len(idx), C)``; maps ``(len(idx), Ta)`` / ``(len(idx), N)`` or None."""
    model.eval()
    if device is None:  # where the model's weights are (CPU for a model without any)
        device = next(model.parameters(), torch.empty(0)).device
    idx = np.arange(len(arrays)) if idx is None else np.asarray(idx)
    parts = []
    for start in range(0, len(idx), batch_size):
        batch = to_batch(arrays, idx[start:start + batch_size])
        audio, video = batch.audio, batch.video
        if transform is not None:
            audio, video = transform(audio, video)
        parts.append(model(audio.to(device), video.to(device)))
    if not parts:
        raise ValueError("predict_arrays: no clips selected")
    cat = lambda name: (None if getattr(parts[0], name) is None
                        else torch.cat([getattr(p, name).float().cpu() for p in parts]))
    return FusionOutput(**{f.name: cat(f.name) for f in fields(FusionOutput)
                           if f.name != "video_grid"}, video_grid=parts[0].video_grid)
