"""CREMA-D pipeline on AudioWAV/*.wav + VideoFlash/*.flv files written by the exporter."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from tacfn_lite.config import get_config
from tacfn_lite.data import cremad, make_loaders
from tacfn_lite.data.export import export_cremad, write_av


@pytest.fixture(scope="module")
def exported(synthav, tmp_path_factory):
    """6 actors × 6 CREMA-D emotions, and the prepared cache."""
    arrays = synthav()
    raw = tmp_path_factory.mktemp("cremad_raw")
    written = export_cremad(arrays, raw, actors=range(1, 7))
    out = tmp_path_factory.mktemp("cremad_prep")
    report = cremad.prepare(raw, out, get_config().data)
    return arrays, raw, out, written, report


def _copy(raw: Path, dest: Path, actor: int = 1001) -> Path:
    for sub in ("AudioWAV", "VideoFlash"):
        (dest / sub).mkdir(parents=True)
        for f in (raw / sub).glob(f"{actor}_*"):
            shutil.copy(f, dest / sub)
    return dest


def test_parse_name_reads_every_field():
    name = cremad.parse_name("AudioWAV/1091_IEO_HAP_HI.wav")
    assert (name.actor, name.sentence, name.emotion, name.level) == (1091, "IEO", "HAP", "HI")
    assert cremad.CLASS_NAMES[name.label] == "happy"


@pytest.mark.parametrize("stem, field", [
    ("1001_DFA_ANG", "not a CREMA-D name"),
    ("0999_DFA_ANG_XX", "actor"),
    ("1001_ABC_ANG_XX", "sentence"),
    ("1001_DFA_CAL_XX", "emotion"),
    ("1001_DFA_ANG_ZZ", "level"),
])
def test_parse_name_rejects_bad_names_naming_the_file(stem, field):
    with pytest.raises(ValueError, match=field) as err:
        cremad.parse_name(f"AudioWAV/{stem}.wav")
    assert f"{stem}.wav" in str(err.value)


def test_exported_files_have_the_cremad_formats(exported):
    _, raw, _, written, _ = exported
    stem = written[0]["stem"]
    with av.open(str(raw / "AudioWAV" / f"{stem}.wav")) as c:
        a = c.streams.audio[0]
        assert (a.rate, a.codec_context.name, a.channels) == (16000, "pcm_s16le", 1)
    with av.open(str(raw / "VideoFlash" / f"{stem}.flv")) as c:
        assert c.format.name == "flv"
        assert c.streams.video[0].codec_context.name == "flv"  # FLV1 (Sorenson H.263)
        assert c.streams.audio[0].codec_context.name.startswith("mp3")


def test_round_trip_preserves_labels_actors_and_features(exported):
    arrays, _, out, written, report = exported
    assert report["clips"] == len(written) == 36 and report["skipped"] == []
    prepared = cremad.load_prepared(get_config(name="cremad", root=str(out)).data)
    row_of = {c: i for i, c in enumerate(prepared.clip_ids)}
    idx = [row_of[f"cremad-{w['stem']}"] for w in written]
    src = [w["row"] for w in written]
    assert [prepared.class_names[y] for y in prepared.labels[idx]] == [w["emotion"] for w in written]
    np.testing.assert_array_equal(prepared.actors[idx], arrays.actors[src] + 1000)
    r = np.corrcoef(prepared.audio[idx].astype(float).ravel(), arrays.audio[src].ravel())[0, 1]
    assert r > 0.95, r


def test_splits_are_actor_independent(exported):
    _, _, out, _, _ = exported
    _, manifest = make_loaders(get_config(name="cremad", root=str(out), fold=2, device="cpu"))
    actors = {k: set(v["actors"]) for k, v in manifest["splits"].items()}
    assert actors["test"] == {1003}
    assert not (actors["train"] & actors["val"]) and not (actors["train"] & actors["test"])


@pytest.mark.parametrize("damage, message", [
    ("empty_wav", "no audio samples"),
    ("truncated_flv", "no decodable video frames|unreadable media file"),
    ("missing_flv", "missing pair"),
])
def test_bad_files_stop_strict_prepare_naming_the_file(exported, tmp_path, damage, message):
    _, raw, _, written, _ = exported
    root = _copy(raw, tmp_path / "raw")
    stem = written[0]["stem"]
    wav, flv = root / "AudioWAV" / f"{stem}.wav", root / "VideoFlash" / f"{stem}.flv"
    if damage == "empty_wav":
        bad = write_av(wav, None, None, np.zeros(0, np.float32), 16000, "wav", info=False)
    elif damage == "truncated_flv":
        bad = flv
        flv.write_bytes(flv.read_bytes()[:40])
    else:
        flv.unlink()
        bad = wav
    out = tmp_path / "prep"
    with pytest.raises(ValueError, match=message) as err:
        cremad.prepare(root, out, get_config().data, strict=True)
    assert str(bad) in str(err.value)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    report = cremad.prepare(root, out, get_config().data)
    assert [s["file"] for s in report["skipped"]] == [str(bad)] and report["clips"] == 5


def test_prepare_train_evaluate_through_the_cli(exported, tmp_path, cli_round_trip, synthav_cache):
    _, raw, _, _, _ = exported
    prepared, result, run = cli_round_trip("cremad", raw, synthav_cache, prep=tmp_path / "prep")
    assert prepared["clips"] == 36
    assert result["n"] == 6 and np.array(result["confusion"]).shape == (6, 6)


def test_prepare_refuses_a_folder_holding_another_corpus_cache(exported, tmp_path):
    _, _, prepared, _, _ = exported
    out = shutil.copytree(prepared, tmp_path / "other")  # stands for a RAVDESS cache
    manifest = out / "prepared.json"
    manifest.write_text(manifest.read_text().replace('"corpus": "cremad"', '"corpus": "ravdess"'))
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*"))
    with pytest.raises(ValueError, match="holds a prepared ravdess cache, not cremad") as err:
        cremad.prepare(_copy(exported[1], tmp_path / "raw"), out, get_config().data)
    assert str(out) in str(err.value)
    assert sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*")) == before
