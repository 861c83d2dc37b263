"""IEMOCAP from MulT's aligned pickle (restricted unpickler), MulT's split, 4 emotions, binary
accuracy / weighted F1 per emotion (:func:`binary_metrics`). Source tokens = text ⊕ audio per step
(``DataConfig.iemocap_text``), target = vision features (``video_backbone``). docs/real-data.md."""

import codecs
import pickle
from functools import partial
from pathlib import Path

import numpy as np

from ..config import IEMOCAP_DIMS, DataConfig
from ..provenance import file_sha256
from .core import ClipArrays
from .media import Clip, arrays_from_cache, default_cache, find_cache
from .prepare import write_prepared

CLASS_NAMES = ("neutral", "happy", "sad", "angry")
SPLITS = {"train": "train", "valid": "val", "test": "test"}  # MulT name → kit name
# The pickle names no speakers: one placeholder "actor" per split (the actor leak check is vacuous)
PLACEHOLDER_ACTOR = {"train": -1, "valid": -2, "test": -3}
MODALITIES = ("text", "audio", "vision")
PICKLE_NAME = "iemocap_data.pkl"
_CORE = getattr(np, "_core", None) or np.core
# The only globals a pickle may name: numpy's array/dtype/scalar rebuilders under their numpy 1.x
# (numpy.core) and 2.x (numpy._core) names; protocol <= 2 pickles spell bytes as _codecs.encode.
ALLOWED_GLOBALS = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                   ("_codecs", "encode"): codecs.encode,
                   **{(f"{prefix}.{mod}", name): getattr(getattr(_CORE, mod), name)
                      for prefix in ("numpy.core", "numpy._core")
                      for mod, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"),
                                        ("numeric", "_frombuffer"))
                      if hasattr(getattr(_CORE, mod), name)}}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that admits numpy arrays (and dtypes/scalars) plus plain containers only: any
    other global (``os.system``, a class) is refused in :meth:`find_class`, before it could run."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: only numpy arrays and plain containers "
                "are allowed") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused persistent id: not a plain data pickle")


def safe_load(path: str | Path):
    """Load a pickle with :class:`RestrictedUnpickler`; ``ValueError`` naming the file."""
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, encoding="latin1").load()  # latin1: Python 2 pickles
    except (pickle.UnpicklingError, EOFError, OSError, AttributeError, TypeError,
            ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"{path}: cannot load pickle safely ({exc})") from exc


def validate(data, path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Check MulT's schema and shapes; ``ValueError`` naming file, split, key and shape."""
    if not isinstance(data, dict) or set(SPLITS) - set(data):
        raise ValueError(f"{path}: expected a dict with splits {sorted(SPLITS)}, got "
                         f"{sorted(data) if isinstance(data, dict) else type(data).__name__}")
    for split in SPLITS:
        part = data[split]
        if not isinstance(part, dict):
            raise ValueError(f"{path}: {split}: expected dict of arrays, got {type(part).__name__}")
        for key in ("labels", *MODALITIES):
            if not isinstance(part.get(key), np.ndarray):
                raise ValueError(f"{path}: {split}/{key}: missing or not a numpy array")
        n, steps = part["text"].shape[:2] if part["text"].ndim == 3 else (-1, -1)
        for key in MODALITIES:
            if part[key].shape != (n, steps, IEMOCAP_DIMS[key]) or n < 1:
                raise ValueError(f"{path}: {split}/{key}: expected shape (N, T, "
                                 f"{IEMOCAP_DIMS[key]}) with N, T as text's, got {part[key].shape}")
        if part["labels"].shape not in ((n, 4, 2), (n, 4)):
            raise ValueError(f"{path}: {split}/labels: expected shape ({n}, 4, 2), got "
                             f"{part['labels'].shape}")
    return {split: data[split] for split in SPLITS}


def prepare(root: str | Path, out_dir: str | Path | None, cfg: DataConfig,
            strict: bool = False, force: bool = False) -> dict:
    """MulT's pickle (``root``: the file or its folder) → shard cache. NaN/±inf become 0 (as MulT
    does), counted; utterances without exactly one emotion are skipped (a strict run stops)."""
    path = Path(root) if Path(root).is_file() else Path(root) / PICKLE_NAME
    if not path.is_file():
        raise ValueError(f"{root}: no {PICKLE_NAME} found (MulT aligned IEMOCAP pickle)")
    data = validate(safe_load(path), path)
    out = Path(out_dir) if out_dir else default_cache(root, cfg, "iemocap", settings={})
    nonfinite: dict[str, int] = {}

    def clip(split: str, i: int, present: np.ndarray, feats: dict) -> Clip:
        if present.sum() != 1:
            raise ValueError(f"{path}: {split}[{i}]: {int(present.sum())} emotions present, need 1")
        record = {"clip_id": f"iemocap-{split}-{i:05d}", "split": SPLITS[split], "index": i}
        return Clip(feats["audio"], feats["vision"], int(present.argmax()),
                    PLACEHOLDER_ACTOR[split], record, {"text": feats["text"].astype(np.float16)})

    def jobs():
        for split in SPLITS:
            clean = {}
            for key in MODALITIES:
                x = np.asarray(data[split][key], dtype=np.float64)
                nonfinite[f"{split}/{key}"] = int((~np.isfinite(x)).sum())
                clean[key] = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
            labels = data[split]["labels"]  # (N, 4, 2) one-hot absent/present or (N, 4) scores
            hot = labels.argmax(-1) if labels.ndim == 3 else (labels > 0).astype(int)  # (N, 4)
            for i, present in enumerate(hot):
                feats = {k: v[i] for k, v in clean.items()}
                yield [f"{path}:{split}[{i}]"], partial(clip, split, i, present, feats)

    return write_prepared("iemocap", jobs(), out, class_names=CLASS_NAMES, settings={}, skipped=[],
                          strict=strict, folds=False, force=force, extra_meta={
                              "source": str(path.resolve()), "source_hash": file_sha256(path, 16),
                              "nonfinite_set_to_zero": nonfinite,
                              "protocol": "MulT aligned split; 4 emotions"})


def load_prepared(cfg: DataConfig) -> ClipArrays:
    """:class:`ClipArrays`: audio ``(N, 20, 374|74)`` = [text ; audio] (text if ``iemocap_text``),
    video = vision ``(N, 20, 35)``, MulT's split in ``meta["fixed_split"]``, placeholder actors."""
    folder, manifest = find_cache(cfg, "iemocap", settings={})

    def post(d):  # audio (N, T, 300+74) = [text ; audio], or audio alone
        audio = np.concatenate([d["text"], d["audio"]] if cfg.iemocap_text else [d["audio"]], -1)
        return audio.astype(np.float32), d["video"].astype(np.float32)

    arrays = arrays_from_cache(folder, manifest, post)
    splits = np.array([r["split"] for r in manifest["clips"]])
    arrays.meta["fixed_split"] = {s: np.flatnonzero(splits == s).tolist() for s in SPLITS.values()}
    return arrays


def binary_metrics(confusion) -> dict[str, dict[str, float]]:
    """MulT's IEMOCAP numbers from a 4-class confusion matrix: per emotion, one-vs-rest binary
    accuracy and weighted F1 (sklearn's ``average="weighted"`` over present/absent)."""
    cm = np.asarray(confusion, dtype=float)
    total, out = cm.sum(), {}
    f1 = lambda a, b, c: 2 * a / (2 * a + b + c) if a + b + c > 0 else 0.0
    for e, name in enumerate(CLASS_NAMES):
        tp = cm[e, e]
        fn, fp = cm[e].sum() - tp, cm[:, e].sum() - tp
        tn = total - tp - fn - fp
        pos, neg = tp + fn, tn + fp  # supports of "present" and "absent"
        out[name] = ({"accuracy": float((tp + tn) / total),
                      "f1": float((pos * f1(tp, fp, fn) + neg * f1(tn, fn, fp)) / total)}
                     if total else {"accuracy": float("nan"), "f1": float("nan")})
    return out
