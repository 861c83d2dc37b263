"""SynthAV (DESIGN §3, notebook 00): a seeded synthetic audio-visual emotion set whose answers are
known: an audio and a video cue per clip, and ceilings computed from :func:`latent_cases`."""

import hashlib
import json
import logging
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import CLASS_NAMES, VARIANTS, DataConfig
from ..io import atomic_write, check_space
from ..runtime import tqdm
from .core import ClipArrays
from .features import audio_features

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
N_ACTORS = 24
CLIPS_PER_ACTOR = {"quick": 24, "full": 144}  # multiples of 8: balanced classes per actor
CUE_SECONDS = 0.5  # length of every cue event

# Audio cue codes: (F0 factor relative to the actor, spectral tilt, tremolo on/off).
AUDIO_CODES = tuple((p, t, m) for m in (0, 1) for p in (1.6, 0.62) for t in (0.35, 2.4))
# Video cue codes: region (0 brows+eyes, 1 mouth), brow_dy (px, < 0 raised), eye_open, mouth_h/w
VIDEO_CODES = (
    (0, -2.5, 1.7, 1.0, 1.0),  # brows raised, eyes wide
    (0, 2.0, 0.25, 1.0, 1.0),  # brows lowered, eyes narrowed
    (1, 0.0, 1.0, 3.2, 0.9),  # mouth open tall
    (1, 0.0, 1.0, 0.6, 1.7),  # mouth wide and thin
    (0, -2.5, 0.25, 1.0, 1.0),  # brows raised, eyes narrowed
    (0, 2.0, 1.7, 1.0, 1.0),  # brows lowered, eyes wide
    (1, 0.0, 1.0, 2.6, 1.6),  # mouth open and wide
    (1, 0.0, 1.0, 1.4, 0.45))  # mouth small and round
NEUTRAL_FACE = (0, 0.0, 1.0, 1.0, 1.0)  # no cue: each code above changes one region only
REDUNDANT_CUE_DROP = 0.2  # `redundant`: each modality's cue is missing with this probability
# DataConfig fields a set depends on (recorded in its meta; export rebuilds the config from them)
GEN_KEYS = ("variant", "size", "data_seed", "n_frames", "image_size", "sample_rate", "duration",
            "n_mfcc", "hop_length")
NPZ_KEYS = ("audio", "video", "labels", "actors", "clip_ids", "audio_mask", "video_mask")  # cache


@dataclass(frozen=True)
class Latent:
    """What a clip of a given label shows: audio code (None = no cue) and video events
    ``(code, synchronous_with_audio)``; the synchronous one carries the label."""

    audio_code: int | None
    video_events: tuple[tuple[int, bool], ...]


def latent_cases(variant: str, label: int) -> list[tuple[float, Latent]]:
    """All latent configurations of one label, with probabilities (the variant's definition):
    - complementary: audio code label // 2, video code (label % 2) + 2 (label // 4), together;
    - redundant: both codes equal the label, each missing with probability REDUNDANT_CUE_DROP;
    - synchrony: audio code label // 2; the face shows the true event (region r, polarity label
      % 2) at the audio cue's time and a decoy (other region, opposite polarity) elsewhere."""
    if variant == "complementary":
        return [(1.0, Latent(label // 2, (((label % 2) + 2 * (label // 4), True),)))]
    if variant == "redundant":
        p = REDUNDANT_CUE_DROP
        return [((1 - p if a_on else p) * (1 - p if v_on else p),
                 Latent(label if a_on else None, ((label, a_on),) if v_on else ()))
                for a_on in (True, False) for v_on in (True, False)]
    if variant == "synchrony":
        pol = label % 2
        return [(0.5, Latent(label // 2, ((2 * r + pol, True), (2 * (1 - r) + (1 - pol), False))))
                for r in (0, 1)]
    raise ValueError(f"unknown SynthAV variant {variant!r}; choose from {VARIANTS}")


def _observations(lat: Latent) -> dict[str, tuple]:
    codes = tuple(sorted(c for c, _ in lat.video_events))
    sync = tuple(c for c, s in lat.video_events if s and lat.audio_code is not None)
    return {"audio": (lat.audio_code,), "video": codes, "fusion": (lat.audio_code, sync, codes)}


def variant_ceilings(variant: str) -> dict[str, float]:
    """Bayes-optimal accuracy of each view, enumerating :func:`latent_cases`: ``audio``/``video``
    one modality alone (it sees the set of events, not which one is synchronous); ``late`` the
    product of the unimodal posteriors (the best averaging unimodal logits can do); ``fusion``
    both modalities jointly with their timing (the oracle)."""
    cases = [(label, prob, _observations(lat))
             for label in range(8) for prob, lat in latent_cases(variant, label)]
    joint: dict[str, dict[tuple, np.ndarray]] = {"audio": {}, "video": {}, "fusion": {}}
    for label, prob, observed in cases:
        for view, obs in observed.items():
            joint[view].setdefault(obs, np.zeros(8))[label] += prob / 8
    out = {view: sum(p.max() for p in table.values()) for view, table in joint.items()}
    # Late fusion: argmax_c P(c|a) P(c|v) (uniform prior), scored against the joint truth.
    post = {v: {o: p / p.sum() for o, p in joint[v].items()} for v in ("audio", "video")}
    out["late"] = 0.0
    for label, prob, obs in cases:
        score = post["audio"][obs["audio"]] * post["video"][obs["video"]]
        winners = np.flatnonzero(np.isclose(score, score.max()))
        out["late"] += prob / 8 * (label in winners) / len(winners)
    return {k: round(float(out[k]), 4) for k in ("audio", "video", "late", "fusion")}


@dataclass(frozen=True)
class Actor:
    f0: float  # Hz
    rate: float  # syllables per second
    tilt: float
    face_w: float
    face_h: float
    skin: tuple[float, float, float]


def make_actors(seed: int) -> list[Actor]:
    """24 actors; odd ids low voices, even ids high voices (like RAVDESS male/female)."""
    rng = np.random.default_rng([seed, 999])
    actors = []
    for i in range(N_ACTORS):
        f0 = rng.uniform(95, 140) if i % 2 == 0 else rng.uniform(175, 240)
        skin = tuple(float(c) for c in np.clip(rng.normal([0.85, 0.65, 0.5], 0.12), 0.2, 1.0))
        actors.append(Actor(f0, rng.uniform(2.5, 4.5), rng.uniform(1.0, 1.4),
                            rng.uniform(0.85, 1.1), rng.uniform(0.9, 1.1), skin))
    return actors


def _window_curve(t: np.ndarray, start: float, stop: float, ramp: float = 0.03) -> np.ndarray:
    """Smooth 0→1→0 indicator of [start, stop) on times ``t``."""
    return np.clip(np.minimum(t - start, stop - t) / ramp + 0.5, 0.0, 1.0)


def synth_audio(actor: Actor, code: int | None, start: float, cfg: DataConfig,
                rng: np.random.Generator) -> np.ndarray:
    """A harmonic voice with syllables, background noise and noise bursts; cue in a window."""
    sr, n = cfg.sample_rate, int(cfg.sample_rate * cfg.duration)
    t = np.arange(n, dtype=np.float32) / sr
    win = _window_curve(t, start, start + CUE_SECONDS) if code is not None else np.zeros(n)
    pitch, tilt, trem = AUDIO_CODES[code] if code is not None else (1.0, actor.tilt, 0)
    f0 = actor.f0 * (1 + 0.06 * np.sin(2 * np.pi * rng.uniform(0.3, 0.9) * t + rng.uniform(0, 6)))
    f0 = f0 * (1 + (pitch - 1) * win)
    phase = (2 * np.pi * np.cumsum(f0) / sr).astype(np.float32)
    log_k = -(actor.tilt + (tilt - actor.tilt) * win).astype(np.float32)
    voice = np.zeros(n, np.float32)
    for k in range(1, 21):  # harmonics up to ~20 F0; those above Nyquist are muted
        alive = k * f0 < sr / 2 - 200
        voice += alive * np.exp(log_k * np.log(k)) * np.sin(k * phase)
    syll = 0.55 + 0.45 * np.abs(np.sin(np.pi * actor.rate * t + rng.uniform(0, np.pi)))
    env = syll * (1 + 0.8 * win) * (1 + 0.7 * trem * win * np.sin(2 * np.pi * 7.0 * t))
    wave = 0.2 * voice * env + rng.normal(0, 0.01, n)
    # Distractors: 1-2 broadband noise bursts that never overlap the cue.
    for _ in range(rng.integers(1, 3)):
        s = rng.uniform(0, cfg.duration - 0.25)
        if code is None or s >= start + CUE_SECONDS or s + 0.25 <= start:
            wave += rng.normal(0, 0.12, n) * _window_curve(t, s, s + 0.25)
    return wave.astype(np.float32)


def synth_video(actor: Actor, events: list[tuple[int, int]], cfg: DataConfig,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Face clip ``(T, S, S, 3)`` uint8 and cue mask ``(T, S, S)`` of the first (true) event;
    ``events`` lists (video code, first frame), each lasting CUE_SECONDS."""
    T, S = cfg.n_frames, cfg.image_size
    u = S / 32.0  # drawing unit: shapes are designed on a 32-pixel grid
    L = max(1, round(CUE_SECONDS * (cfg.n_frames / cfg.duration)))  # frames per cue
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) + 0.5
    jitter = np.cumsum(rng.normal(0, 0.35, (T, 2)), axis=0).clip(-1.5, 1.5) * u
    bg = rng.uniform(0.05, 0.35, 3)
    light = 1 + rng.normal(0, 0.04, T)  # flicker: global distractor
    blob_y = rng.choice([2.5, 29.5]) * u
    blob_x = (rng.uniform(2, 30) + np.arange(T) * rng.choice([-1.5, 1.5])) % 28 + 2
    frames, mask = np.zeros((T, S, S, 3), np.float32), np.zeros((T, S, S), bool)
    ellipse = lambda cx, cy, rx, ry: np.clip(
        (1 - ((xx - cx) / rx) ** 2 - ((yy - cy) / ry) ** 2) * 4, 0, 1)
    paint = lambda img, m, rgb: img * (1 - m[..., None]) + m[..., None] * np.array(rgb)
    for f in range(T):
        # the event on screen (events never overlap: a decoy starts >= L + 2 frames away)
        _, brow_dy, eye, mouth_h, mouth_w = next(
            (VIDEO_CODES[c] for c, s in events if s <= f < s + L), NEUTRAL_FACE)
        cx, cy = S / 2 + jitter[f, 0], S / 2 + jitter[f, 1]
        img = paint(bg, ellipse(cx, cy, 10.5 * u * actor.face_w, 13 * u * actor.face_h), actor.skin)
        dark = np.zeros((S, S), np.float32)
        by = cy - 6.5 * u + brow_dy * u
        for side in (-1, 1):
            dark = np.maximum(dark, ellipse(cx + side * 4.5 * u, by, 3.2 * u, 0.9 * u))
            dark = np.maximum(dark, ellipse(cx + side * 4.5 * u, cy - 2.5 * u, 1.9 * u,
                                            max(0.35, 1.2 * eye) * u))
        img = img * (1 - 0.85 * dark[..., None])
        mouth = ellipse(cx, cy + 6.5 * u, 3.8 * u * mouth_w, 1.0 * u * mouth_h)
        img = paint(img, mouth, [0.55, 0.1, 0.12])
        img = paint(img, ellipse(blob_x[f] * u, blob_y, 1.6 * u, 1.6 * u), [0.9, 0.9, 0.3])
        frames[f] = img * light[f]
        if events and events[0][1] <= f < events[0][1] + L:
            top, bottom = ((cy - 10 * u, cy + 0.5 * u) if VIDEO_CODES[events[0][0]][0] == 0
                           else (cy + 2.5 * u, cy + 11 * u))
            mask[f] = (yy >= top) & (yy < bottom) & (np.abs(xx - cx) < 9.5 * u)
    return (frames.clip(0, 1) * 255).round().astype(np.uint8), mask


def clip_plan(i: int, label: int, cfg: DataConfig):
    """The first seeded draws of clip ``i``: ``(rng, latent, video events [(code, first
    frame)], start of the true cue in seconds)``; ``rng`` then draws the audio and video."""
    rng = np.random.default_rng([cfg.data_seed, i, GENERATOR_VERSION])
    cases = latent_cases(cfg.variant, label)
    lat = cases[rng.choice(len(cases), p=[p for p, _ in cases])][1]
    fps = cfg.n_frames / cfg.duration
    L = max(1, round(CUE_SECONDS * fps))
    starts = [int(rng.integers(0, cfg.n_frames - L + 1))]
    if len(lat.video_events) == 2:  # decoy at least one cue length away from the true event
        free = [s for s in range(cfg.n_frames - L + 1) if abs(s - starts[0]) >= L + 2]
        starts.append(int(rng.choice(free)))
    return rng, lat, [(c, s) for (c, _), s in zip(lat.video_events, starts)], starts[0] / fps


def generate_clip(i: int, label: int, actor_id: int, cfg: DataConfig, actors: list[Actor]):
    """One clip: (mfcc (Ta, F), video (T, S, S, 3), audio_mask (Ta,), video_mask (T, S, S))."""
    rng, lat, events, start = clip_plan(i, label, cfg)
    mfcc = audio_features(synth_audio(actors[actor_id], lat.audio_code, start, cfg, rng), cfg)
    frame_t = np.arange(len(mfcc)) * cfg.hop_length / cfg.sample_rate
    a_mask = (frame_t >= start) & (frame_t < start + CUE_SECONDS) & (lat.audio_code is not None)
    video, v_mask = synth_video(actors[actor_id], events, cfg, rng)
    return mfcc, video, a_mask, v_mask


def generation_params(cfg: DataConfig) -> dict:
    return {"generator": GENERATOR_VERSION, "clips_per_actor": CLIPS_PER_ACTOR[cfg.size],
            "n_actors": N_ACTORS, **{k: getattr(cfg, k) for k in GEN_KEYS}}


def params_hash(cfg: DataConfig) -> str:
    blob = json.dumps(generation_params(cfg), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def generate(cfg: DataConfig, progress: bool = True) -> ClipArrays:
    """Generate a SynthAV set in memory (deterministic; unknown variants raise ``ValueError``)."""
    actors = make_actors(cfg.data_seed)
    n = N_ACTORS * CLIPS_PER_ACTOR[cfg.size]
    labels, actor_ids = np.arange(n) // N_ACTORS % 8, np.arange(n) % N_ACTORS
    out = [generate_clip(i, int(labels[i]), int(actor_ids[i]), cfg, actors)
           for i in tqdm(range(n), desc=f"SynthAV {cfg.variant}/{cfg.size}", disable=not progress)]
    mfcc, video, a_mask, v_mask = (np.stack(x) for x in zip(*out))
    content = hashlib.sha256()
    for arr in (mfcc, video, a_mask, v_mask, labels):
        content.update(np.ascontiguousarray(arr).tobytes())
    meta = {**generation_params(cfg), "content_hash": content.hexdigest()[:16],
            "ceilings": variant_ceilings(cfg.variant)}
    return ClipArrays(audio=np.ascontiguousarray(mfcc, dtype=np.float32), video=video,
                      labels=labels.astype(np.int64), actors=actor_ids.astype(np.int64) + 1,
                      clip_ids=np.array([f"synthav-{cfg.variant}-{i:05d}" for i in range(n)]),
                      audio_mask=a_mask, video_mask=v_mask, class_names=CLASS_NAMES, meta=meta)


def cache_bytes(cfg: DataConfig) -> int:
    """Estimated size of the cache file: frames T×S×S×3 uint8 and their mask T×S×S, MFCC
    Ta×F float32 and its mask Ta, labels, actors and clip ids, per clip."""
    ta = 1 + round(cfg.sample_rate * cfg.duration) // cfg.hop_length  # librosa centred frames
    per_clip = 4 * cfg.n_frames * cfg.image_size ** 2 + ta * (4 * cfg.n_mfcc + 1) + 16 + 4 * 32
    return N_ACTORS * CLIPS_PER_ACTOR[cfg.size] * per_clip + 4096


def synthav_path(cfg: DataConfig) -> Path:
    """The cache file of ``cfg``'s set: variant, size and :func:`params_hash` in its name."""
    return Path(cfg.cache_dir) / f"synthav_{cfg.variant}_{cfg.size}_{params_hash(cfg)}.npz"


def load_synthav(cfg: DataConfig, progress: bool = True, force: bool = False) -> ClipArrays:
    """Load SynthAV from the cache (keyed by :func:`params_hash`, so a changed parameter never
    reads a stale set), generating and caching it atomically when missing. Before generating,
    ENOSPC (``OSError``) when :func:`cache_bytes` exceed the free disk space, unless ``force``."""
    path = synthav_path(cfg)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return ClipArrays(*(z[k] for k in NPZ_KEYS), CLASS_NAMES,
                                  json.loads(str(z["meta"])))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("SynthAV cache %s is unreadable (%s); regenerating", path, exc)
    check_space(path, cache_bytes(cfg), force)
    path.parent.mkdir(parents=True, exist_ok=True)  # a read-only or foreign cache folder fails
    tempfile.TemporaryFile(dir=path.parent).close()  # here, not after minutes of generation
    t0 = time.perf_counter()
    arrays = generate(cfg, progress=progress)
    arrays.meta["generation_seconds"] = round(time.perf_counter() - t0, 2)
    atomic_write(path, lambda fh: np.savez(fh, **{k: getattr(arrays, k) for k in NPZ_KEYS},
                                           meta=np.array(json.dumps(arrays.meta))))
    return arrays
