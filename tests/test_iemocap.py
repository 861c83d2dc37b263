"""IEMOCAP in MulT's aligned pickle schema: restricted unpickling, validation, training path."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from tacfn_lite.config import get_config
from tacfn_lite.data import iemocap, make_loaders
from tacfn_lite.io import atomic_write
from tacfn_lite.model import build_model

SIZES = {"train": 24, "valid": 8, "test": 8}


def write_mult_pickle(path: str | Path, sizes: dict[str, int], steps: int = 20,
                      seed: int = 0) -> Path:
    """A small pickle in MulT's aligned IEMOCAP schema: ``{train, valid, test} × {text (N, T, 300),
    audio (N, T, 74), vision (N, T, 35), labels (N, 4, 2)}``, float64, some audio ``-inf``.
    Features carry a weak label signal so a model can learn something."""
    rng = np.random.default_rng(seed)
    data = {}
    for split, n in sizes.items():
        y = rng.integers(0, 4, n)
        labels = np.eye(2)[(np.arange(4)[None] == y[:, None]).astype(int)]  # (N, 4, 2) one-hot
        feats = {}
        for name, dim in (("text", 300), ("audio", 74), ("vision", 35)):
            x = rng.normal(size=(n, steps, dim))
            x[np.arange(n), :, y] += 1.5  # feature y is raised for class y
            feats[name] = x
        feats["audio"][0, 0, -1] = -np.inf  # as in MulT's COVAREP features
        data[split] = {"labels": labels, **feats}
    return atomic_write(path, lambda fh: pickle.dump(data, fh, protocol=4))


def make_marker(path: str) -> str:
    """What a malicious pickle would run: creates ``path``."""
    Path(path).write_text("pwned")
    return path


class Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return make_marker, (self.marker,)


@pytest.fixture
def raw(tmp_path):
    write_mult_pickle(tmp_path / "raw" / "iemocap_data.pkl", SIZES)
    return tmp_path / "raw"


def _cfg(root, **kw):
    return get_config(name="iemocap", root=str(root), **kw)


def test_prepare_keeps_splits_labels_and_counts_nonfinite(raw, tmp_path):
    report = iemocap.prepare(raw, tmp_path / "prep", _cfg(raw).data)
    assert report["clips"] == 40 and report["skipped"] == []
    assert report["nonfinite_set_to_zero"]["train/audio"] == 1
    arrays = iemocap.load_prepared(_cfg(tmp_path / "prep").data)
    assert arrays.audio.shape == (40, 20, 300 + 74) and arrays.video.shape == (40, 20, 35)
    assert np.isfinite(arrays.audio).all() and arrays.audio[0, 0, -1] == 0.0
    split = arrays.meta["fixed_split"]
    assert {k: len(v) for k, v in split.items()} == {"train": 24, "val": 8, "test": 8}
    source = iemocap.safe_load(raw / "iemocap_data.pkl")
    np.testing.assert_array_equal(arrays.labels[split["test"]],
                                  source["test"]["labels"].argmax(-1).argmax(-1))
    audio_only = iemocap.load_prepared(_cfg(tmp_path / "prep", iemocap_text=False).data)
    assert audio_only.audio.shape == (40, 20, 74)


def test_restricted_unpickler_refuses_other_classes_without_running_them(tmp_path):
    marker = tmp_path / "marker"
    blob = pickle.dumps({"train": {"labels": Payload(marker)}})
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(Payload(control)))  # plain pickle does run the payload
    assert control.exists()
    path = tmp_path / "iemocap_data.pkl"
    path.write_bytes(blob)
    with pytest.raises(ValueError, match="refused global .*make_marker") as err:
        iemocap.safe_load(path)
    assert str(path) in str(err.value)
    assert not marker.exists()
    with pytest.raises(ValueError, match="refused global"):
        iemocap.prepare(tmp_path, tmp_path / "prep", _cfg(tmp_path).data)
    assert not marker.exists() and not (tmp_path / "prep").exists()


@pytest.mark.parametrize("protocol", [2, 3])
def test_numpy1_pickles_with_numpy_core_names_load(tmp_path, protocol):
    arr = np.arange(6.0).reshape(2, 3)
    blob = pickle.dumps({"a": arr, "s": np.int64(7)}, protocol=protocol)  # text GLOBAL opcodes
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in blob
    (tmp_path / "old.pkl").write_bytes(blob)
    out = iemocap.safe_load(tmp_path / "old.pkl")
    np.testing.assert_array_equal(out["a"], arr)
    assert out["s"] == 7 and isinstance(out["s"], np.int64)


@pytest.mark.parametrize("split, key, shape", [
    ("train", "audio", (24, 20, 73)), ("valid", "vision", (8, 20)), ("test", "labels", (8, 3, 2)),
    ("train", "text", (24, 20, 299)), ("train", "vision", (23, 20, 35)),
])
def test_wrong_shapes_are_refused_naming_file_and_field(tmp_path, split, key, shape):
    path = write_mult_pickle(tmp_path / "iemocap_data.pkl", SIZES)
    data = iemocap.safe_load(path)
    data[split][key] = np.zeros(shape)
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=f"{split}/") as err:
        iemocap.prepare(tmp_path, tmp_path / "prep", _cfg(tmp_path).data)
    assert str(path) in str(err.value) and str(shape) in str(err.value)
    assert not (tmp_path / "prep").exists()


def test_rows_without_exactly_one_emotion_are_skipped_or_stop_strict(tmp_path):
    path = write_mult_pickle(tmp_path / "iemocap_data.pkl", SIZES)
    data = iemocap.safe_load(path)
    data["train"]["labels"][3] = [[0, 1], [0, 1], [1, 0], [1, 0]]  # two emotions present
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=r"train\[3\].*2 emotions"):
        iemocap.prepare(tmp_path, tmp_path / "prep", _cfg(tmp_path).data, strict=True)
    assert not (tmp_path / "prep").exists()
    report = iemocap.prepare(tmp_path, tmp_path / "prep", _cfg(tmp_path).data)
    assert report["clips"] == 39 and "train[3]" in report["skipped"][0]["file"]


def test_binary_metrics_match_hand_computed_values():
    cm = [[2, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    out = iemocap.binary_metrics(cm)
    # neutral: tp 2, fn 1, fp 0, tn 3 → acc 5/6; F1 present 4/5, absent 6/7, weighted by 3 and 3
    assert out["neutral"]["accuracy"] == pytest.approx(5 / 6)
    assert out["neutral"]["f1"] == pytest.approx((3 * 0.8 + 3 * 6 / 7) / 6)
    # sad: perfect one-vs-rest
    assert out["sad"] == {"accuracy": 1.0, "f1": 1.0}


def test_model_reads_text_audio_source_and_vision_features(raw, tmp_path):
    iemocap.prepare(raw, tmp_path / "prep", _cfg(raw).data)
    cfg = _cfg(tmp_path / "prep", device="cpu")
    assert cfg.model.video_backbone == "features" and cfg.model.audio_dim == 374
    loaders, _ = make_loaders(cfg)
    batch = next(iter(loaders["train"]))
    assert batch.video.shape[1:] == (20, 35) and batch.audio.shape[1:] == (20, 374)
    out = build_model(cfg.model)(batch.audio, batch.video)
    assert out.logits.shape == (len(batch), 4) and out.video_grid == (20, 1, 1)
    assert out.video_weight.shape == (len(batch), 20)
    torch_sum = out.video_weight.sum(-1).detach().numpy()
    np.testing.assert_allclose(torch_sum, 1.0, rtol=1e-5)


def test_prepare_train_evaluate_through_the_cli(raw, tmp_path, cli_round_trip):
    prepared, result, run = cli_round_trip("iemocap", raw, tmp_path / "cache")  # default cache
    assert prepared["clips"] == 40
    assert result["n"] == 8
    assert set(result["iemocap_binary"]) == {"neutral", "happy", "sad", "angry"}
    # MulT's fixed split has no actor fold: the card must not claim "fold 0"
    card = json.loads((run / "model_card.json").read_text())
    assert card["data"]["fold"] is None
    assert "its fixed split (no fold)" in (run / "model_card.md").read_text()
