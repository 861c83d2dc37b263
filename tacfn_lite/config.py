"""Frozen configuration dataclasses and size presets (``tiny`` for CPU, ``paper`` for GPU): one
:class:`RunConfig` per run, saved in each checkpoint and run.json. Notebooks 01 and 04."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

VERSION = "0.1.0"  # the kit's; pyproject.toml says the same (tests/test_machine_faults.py)
CLASS_NAMES = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
MODELS = ("tacfn", "concat", "late", "mult", "audio", "video")
DEVICES = "auto, cpu, cuda, cuda:N or mps"  # what train.device, --device and --param accept
DIRECTIONS = ("audio->video", "video->audio", "both")
VARIANTS = ("complementary", "redundant", "synchrony")
# MulT's aligned IEMOCAP features per step; steps are words, given one shared nominal rate so
# the shared time encoding puts step i of every modality at the same "time".
IEMOCAP_DIMS = {"text": 300, "audio": 74, "vision": 35}
IEMOCAP_STEP_RATE = 10.0


@dataclass(frozen=True)
class DataConfig:
    """Which data and how clips are turned into tensors."""

    name: str = "synthav"  # synthav | ravdess | cremad | iemocap
    variant: str = "complementary"  # SynthAV only
    size: str = "quick"  # SynthAV: quick | full
    root: str | None = None  # real corpora: folder given by --root
    data_seed: int = 0
    fold: int = 0  # actor-independent test fold (0..5)
    n_frames: int = 16
    image_size: int = 32
    sample_rate: int = 16000
    duration: float = 2.0  # seconds per clip
    n_mfcc: int = 13
    hop_length: int = 512
    cache_dir: str = ".cache/tacfn_lite"
    iemocap_text: bool = True  # IEMOCAP: text features joined to the audio (source) tokens


@dataclass(frozen=True)
class ModelConfig:
    """Encoder sizes and fusion switches. ``audio_dim``/``n_classes``/rates follow the data."""

    model: str = "tacfn"
    n_classes: int = 8
    audio_dim: int = 13  # features per audio token (MFCC count)
    audio_rate: float = 31.25  # audio tokens per second (sample_rate / hop_length)
    video_rate: float = 8.0  # video frames per second (n_frames / duration)
    d_model: int = 32
    n_heads: int = 4
    audio_layers: int = 2
    video_backbone: str = "tiny"  # tiny | resnext50 | features (per-step feature vectors)
    video_dim: int = 0  # video_backbone="features": features per video step (IEMOCAP vision 35)
    video_width: int = 16
    direction: str = "audio->video"
    select: bool = True  # False: source vector = mean pool (no intra-modal selection)
    reinforce: bool = True  # False: target tokens pass unweighted
    residual: bool = True  # False: V' = V * w instead of V * w + V
    # TACFN deviations from the authors' code (fusion.SelectReinforce documents each);
    # tacfn="official" sets the official value of every switch not given explicitly.
    tacfn: str = "kit"  # kit | official (a named starting point for the four switches below)
    selection: str = "query"  # query | last_step (official: causal audio encoder, last token)
    weight_norm: str = "clip"  # clip | frame (official: softmax within each frame)
    weight_scale: str = "count"  # count (w × cells per softmax) | none (official: w)
    classifier_source: str = "selected"  # selected (MLP) | all (official: Linear, flattened)
    audio_steps: int = 0  # audio tokens per clip (derived; classifier_source="all" needs it)
    time_encoding: str = "shared"  # shared seconds encoding | learned (per modality)
    score_hidden: int = 64
    dropout: float = 0.1
    max_seconds: float = 10.0
    # Modality dropout (training mode only): per sample, zero the whole audio / video input
    # with these probabilities, so the model learns to cope with a missing modality.
    audio_dropout: float = 0.0
    video_dropout: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, device and bookkeeping."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    amp: bool = False
    patience: int = 0  # early stopping on validation accuracy; 0 = off
    num_workers: int = 0
    out_dir: str = "runs/default"
    progress: bool = True


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return cls(DataConfig(**d["data"]), ModelConfig(**d["model"]), TrainConfig(**d["train"]))


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {},  # runs on a laptop CPU in minutes on SynthAV
    # The paper's RAVDESS setting (public CFN-SR/MSAF code): 30 face frames at 224², 2.45 s of
    # 44.1 kHz audio, 13 MFCC, 5-layer 8-head audio transformer, 3D-ResNeXt-50 video, batch 16.
    "paper": {"data.n_frames": 30, "data.image_size": 224, "data.sample_rate": 44100,
              "data.duration": 2.45, "data.hop_length": 1024,
              "model.d_model": 256, "model.n_heads": 8, "model.audio_layers": 5,
              "model.video_backbone": "resnext50", "model.score_hidden": 256,
              "train.batch_size": 16, "train.epochs": 70, "train.seed": 1234, "train.amp": True}}

_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
_CHOICES = {"model.model": MODELS, "model.direction": DIRECTIONS,
            "model.video_backbone": ("tiny", "resnext50", "features"),
            "model.time_encoding": ("shared", "learned"), "model.tacfn": ("kit", "official"),
            "model.selection": ("query", "last_step"), "model.weight_norm": ("clip", "frame"),
            "model.weight_scale": ("count", "none"), "model.classifier_source": ("selected", "all"),
            "data.variant": VARIANTS, "data.size": ("quick", "full"),
            "data.name": ("synthav", "ravdess", "cremad", "iemocap")}
# The authors' TACFN (issue 14). Explicit overrides win: get_config(tacfn="official",
# weight_norm="clip") is the official setting with one switch flipped.
OFFICIAL_TACFN = {"model.selection": "last_step", "model.weight_norm": "frame",
                  "model.weight_scale": "none", "model.classifier_source": "all"}
_PROBABILITIES = ("model.audio_dropout", "model.video_dropout", "model.dropout")
_POSITIVE = ("data.n_frames", "data.image_size", "data.sample_rate", "data.duration",
             "data.n_mfcc", "data.hop_length", "model.d_model", "model.n_heads",
             "model.video_width", "model.score_hidden", "train.epochs", "train.batch_size")


def resolve_key(key: str) -> str:
    """Map ``d_model`` or ``model.d_model`` (or ``model__d_model``) to ``section.field``."""
    section, _, name = key.replace("__", ".").rpartition(".")
    owners = [s for s, cls in _SECTIONS.items()
              if section in ("", s) and name in {f.name for f in fields(cls)}]
    if not owners:
        raise ValueError(f"unknown config key {key!r}")
    return f"{owners[0]}.{name}"


def _coerce(key: str, value: Any) -> Any:
    section, name = key.split(".")
    ftype = {f.name: f.type for f in fields(_SECTIONS[section])}[name]
    base = ftype.split("|")[0].strip()
    if isinstance(value, str) and base != "str":  # values from the command line
        if value.lower() in ("none", "null") and "None" in ftype:
            return None
        if base == "bool":
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"{key}: expected a boolean, got {value!r}")
            value = value.lower() in ("true", "1", "yes")
        else:  # then checked below like any value (range, choices)
            try:
                value = {"int": int, "float": float}[base](value)
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{key}: expected {base}, got {value!r}") from exc
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "bool": isinstance(value, bool),
          "str": isinstance(value, str) or (value is None and "None" in ftype)}[base]
    if not ok:
        raise ValueError(f"{key}: expected {ftype}, got {type(value).__name__} {value!r}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ValueError(f"{key}: expected one of {_CHOICES[key]}, got {value!r}")
    if key in _PROBABILITIES and not 0.0 <= value <= 1.0:
        raise ValueError(f"{key}: expected a probability in [0, 1], got {value!r}")
    if key in _POSITIVE and value <= 0:
        raise ValueError(f"{key}: expected a positive number, got {value!r}")
    if key in ("train.lr", "train.weight_decay") and value < 0:
        raise ValueError(f"{key}: expected a number >= 0, got {value!r}")
    if key in ("train.seed", "data.data_seed") and not 0 <= value < 2 ** 32:
        raise ValueError(f"{key}: expected 0 to 2**32 - 1 (a seed), got {value!r}")
    if key == "train.device" and not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
        raise ValueError(f"{key}: expected {DEVICES}, got {value!r}")
    return float(value) if base == "float" else value


def derive(cfg: RunConfig) -> RunConfig:
    """Fill the model fields that follow from the data (feature size, token rates, classes)."""
    d = cfg.data
    n_classes = {"synthav": 8, "ravdess": 8, "cremad": 6, "iemocap": 4}[d.name]
    model = replace(cfg.model, n_classes=n_classes, audio_dim=d.n_mfcc,
                    audio_rate=d.sample_rate / d.hop_length, video_rate=d.n_frames / d.duration)
    if model.classifier_source == "all":  # only then (older configs stay equal)
        model = replace(model, audio_steps=1 + int(d.sample_rate * d.duration) // d.hop_length)
    if d.name == "iemocap":  # MulT aligned features: 20 word-aligned steps, no pixels
        model = replace(model, video_backbone="features", video_dim=IEMOCAP_DIMS["vision"],
                        audio_dim=IEMOCAP_DIMS["audio"] + IEMOCAP_DIMS["text"] * d.iemocap_text,
                        audio_rate=IEMOCAP_STEP_RATE, video_rate=IEMOCAP_STEP_RATE,
                        audio_steps=20 if model.audio_steps else 0)
    return replace(cfg, model=model)


def get_config(preset: str = "tiny", **overrides: Any) -> RunConfig:
    """Build a :class:`RunConfig` from a preset plus overrides.
    Keys may be a field name (``d_model=64``), ``section.field`` or ``section__field``. Unknown
    keys and wrongly typed values raise ``ValueError``. Strings are parsed for the CLI.
    ``tacfn="official"`` (CLI ``--set tacfn=official``) sets the authors' value of each TACFN
    switch (:data:`OFFICIAL_TACFN`) that is not given explicitly; explicit ones win.

    Example:
        >>> get_config("tiny", model="concat", epochs=3).train.epochs
        3
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    values: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    for key, value in {**PRESETS[preset], **overrides}.items():
        full = resolve_key(key)
        section, name = full.split(".")
        values[section][name] = _coerce(full, value)
    if values["model"].get("tacfn") == "official":  # explicit switches win over the name
        for full, value in OFFICIAL_TACFN.items():
            values["model"].setdefault(full.split(".")[1], value)
    cfg = RunConfig.from_dict(values)
    _check_combinations(cfg)
    return derive(cfg)


def _check_combinations(cfg: RunConfig) -> None:
    """Values that are fine alone but not together."""
    m, d = cfg.model, cfg.data
    if m.d_model % m.n_heads:
        raise ValueError(f"model.d_model {m.d_model} must be a multiple of model.n_heads "
                         f"{m.n_heads} (each attention head gets d_model / n_heads features)")
    if d.root is not None and d.name == "synthav":
        raise ValueError(f"data.root {d.root!r} is for a real corpus: add --data ravdess, cremad "
                         "or iemocap (SynthAV is generated, not read from a folder)")
