"""RAVDESS pipeline on files written in the real layout by the SynthAV exporter."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from tacfn_lite.config import get_config
from tacfn_lite.data import features, make_loaders, ravdess
from tacfn_lite.data.export import export_ravdess, landmark_header, write_av
from tacfn_lite.data.features import crop_faces, read_landmarks
from tacfn_lite.data.media import MANIFEST
from tacfn_lite.data.splits import actor_folds


@pytest.fixture(scope="module")
def exported(synthav, tmp_path_factory):
    """6 actors × 8 classes exported at 15 fps, and the prepared cache."""
    arrays = synthav()
    raw = tmp_path_factory.mktemp("ravdess_raw")
    written = export_ravdess(arrays, raw, actors=range(1, 7), fps=15)
    out = tmp_path_factory.mktemp("ravdess_prep")
    report = ravdess.prepare(raw, out, get_config().data)
    return arrays, raw, out, written, report


def _cfg(root, **kw):
    return get_config(name="ravdess", root=str(root), **kw).data


def _subset(raw: Path, dest: Path, n_actors: int = 6) -> Path:
    """Copy actor folders 1..n of an exported tree (cheap fixture for bad-input tests)."""
    for a in range(1, n_actors + 1):
        shutil.copytree(raw / f"Actor_{a:02d}", dest / f"Actor_{a:02d}")
    return dest


def write_undecodable_video(path: Path) -> Path:
    """An mp4 whose video stream holds only packets of random bytes (no frame decodes)."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("mpeg4", rate=15)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
        for i in range(5):
            p = av.Packet(np.random.default_rng(i).integers(0, 256, 200, np.uint8).tobytes())
            p.stream, p.pts, p.dts, p.time_base = s, i, i, Fraction(1, 15)
            c.mux(p)
    return path


def _no_cache_left(out: Path) -> bool:
    return not out.exists() or not any(p for p in out.rglob("*") if p.is_file())


def test_too_few_actors_says_how_many_are_needed_and_a_file_is_not_a_root(tmp_path):
    with pytest.raises(ValueError, match=r"got 4: use a corpus .*export: --actors 6 or more"):
        actor_folds(np.arange(4))
    (tmp_path / "clip.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="clip.mp4: a file, not the RAVDESS root folder"):
        ravdess.scan(tmp_path / "clip.mp4")


def test_parse_name_reads_every_field():
    name = ravdess.parse_name("Actor_12/01-01-05-02-01-02-12.mp4")
    assert (name.modality, name.channel, name.emotion, name.intensity, name.statement,
            name.repetition, name.actor) == ("01", "01", "05", "02", "01", "02", "12")
    assert name.label == 4  # angry
    assert name.key == "01-05-02-01-02-12"


@pytest.mark.parametrize("path, field", [
    ("Actor_01/01-01-05-02-01-01.mp4", "not a RAVDESS name"),
    ("Actor_01/01-01-09-01-01-01-01.mp4", "emotion"),
    ("Actor_01/01-01-01-02-01-01-01.mp4", "neutral"),
    ("Actor_01/01-02-07-01-01-01-01.mp4", "song"),
    ("Actor_01/01-01-05-01-01-01-25.mp4", "actor"),
    ("Actor_02/01-01-05-01-01-01-01.mp4", "does not match folder"),
    ("Actor_01/03-01-05-01-01-01-01.mp4", ".wav"),
])
def test_parse_name_rejects_bad_names_naming_the_file(path, field):
    with pytest.raises(ValueError, match=field) as err:
        ravdess.parse_name(path)
    assert Path(path).name in str(err.value)


def test_round_trip_preserves_labels_actors_and_folds(exported):
    arrays, _, out, written, report = exported
    assert report["clips"] == len(written) == 48 and report["skipped"] == []
    assert report["crop"] == {"landmarks": 48}
    prepared = ravdess.load_prepared(_cfg(out))
    row_of = {c: i for i, c in enumerate(prepared.clip_ids)}
    idx = [row_of[w["clip_id"]] for w in written]
    src = [w["row"] for w in written]
    np.testing.assert_array_equal(prepared.labels[idx], arrays.labels[src])
    np.testing.assert_array_equal(prepared.actors[idx], arrays.actors[src])
    folds = actor_folds(prepared.actors)
    for rec in prepared.meta["clips"]:
        assert rec["actor"] in folds[rec["fold"]]
    assert prepared.meta["content_hash"] == report["content_hash"]


def test_round_trip_keeps_features_approximately(exported):
    arrays, _, out, written, _ = exported
    prepared = ravdess.load_prepared(_cfg(out))
    row_of = {c: i for i, c in enumerate(prepared.clip_ids)}
    idx = [row_of[w["clip_id"]] for w in written]
    src = [w["row"] for w in written]
    assert prepared.audio.dtype == np.float16 and prepared.video.dtype == np.uint8
    mfcc_r = np.corrcoef(prepared.audio[idx].astype(float).ravel(), arrays.audio[src].ravel())[0, 1]
    video_r = np.corrcoef(prepared.video[idx].astype(float).ravel(),
                          arrays.video[src].astype(float).ravel())[0, 1]
    assert mfcc_r > 0.95, mfcc_r
    assert video_r > 0.98, video_r


def test_folds_are_actor_independent_with_validation_from_training_actors(exported):
    _, _, out, _, _ = exported
    for fold in range(6):
        cfg = get_config(name="ravdess", root=str(out), fold=fold, device="cpu")
        _, manifest = make_loaders(cfg)
        actors = {k: set(v["actors"]) for k, v in manifest["splits"].items()}
        assert actors["test"] == {fold + 1}  # 6 actors: one per fold
        assert not (actors["val"] & actors["test"]) and not (actors["val"] & actors["train"])
        assert len(actors["train"]) == 4


def test_mp4_audio_track_is_used_when_the_wav_is_missing(exported, tmp_path):
    arrays, raw, _, written, _ = exported
    root = _subset(raw, tmp_path / "raw")
    w = written[0]
    (root / f"Actor_{w['actor']:02d}" / f"03-{w['key']}.wav").unlink()
    prepared_dir = tmp_path / "prep"
    ravdess.prepare(root, prepared_dir, get_config().data)
    prepared = ravdess.load_prepared(_cfg(prepared_dir))
    i = list(prepared.clip_ids).index(w["clip_id"])
    assert prepared.meta["clips"][i]["files"]["audio"].endswith(f"01-{w['key']}.mp4")
    r = np.corrcoef(prepared.audio[i].astype(float).ravel(), arrays.audio[w["row"]].ravel())[0, 1]
    assert r > 0.9, r


def test_landmark_csv_follows_the_openface_layout(exported):
    _, raw, _, written, _ = exported
    header = landmark_header()
    assert len(header) == 712 and header.index("x_0") == 297
    assert "face_id" not in header and "success" not in header
    csv = raw / f"Actor_{written[0]['actor']:02d}" / f"01-{written[0]['key']}.csv"
    lines = csv.read_text().splitlines()
    assert lines[0] == ",".join(header) and " " not in lines[0]
    assert lines[1].split(",")[0] == "1"
    table = read_landmarks(csv)
    assert min(table) == 1 and table[1][0].shape == (68, 2)


@pytest.mark.parametrize("text", ["", ",".join(landmark_header()) + "\n"])
def test_a_landmark_csv_without_rows_is_one_clear_error_without_numpy_warnings(tmp_path, text):
    csv = tmp_path / "01-01-01-01-01-01-01.csv"
    csv.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "input contained no data" would raise here
        with pytest.raises(ValueError, match=r"01-01\.csv: unreadable landmark CSV \(no rows: "
                                             r"no tracked frame\)$"):
            read_landmarks(csv)


def test_crop_falls_back_to_haar_box_then_centre(monkeypatch):
    frames = np.zeros((4, 60, 80, 3), np.uint8)
    frames[:, 10:30, 40:60] = 255  # the "face" a stub detector reports

    class Stub:
        def detectMultiScale(self, gray, *args, **kwargs):
            return np.array([[40, 10, 20, 20]])

    monkeypatch.setattr(features, "face_cascade", lambda: Stub())
    out, method = crop_faces(frames, np.arange(1, 5), None, 8)
    assert method == "haar" and out.shape == (4, 8, 8, 3) and out.mean() > 200
    monkeypatch.setattr(features, "face_cascade", lambda: None)
    out, method = crop_faces(frames, np.arange(1, 5), None, 8)
    assert method == "centre" and out.mean() < 200


def test_clips_without_landmarks_report_their_crop(exported, tmp_path):
    _, raw, _, _, _ = exported
    root = _subset(raw, tmp_path / "raw", n_actors=1)
    for csv in root.rglob("*.csv"):
        csv.unlink()
    report = ravdess.prepare(root, tmp_path / "prep", get_config().data)
    assert set(report["crop"]) <= {"haar", "centre"} and sum(report["crop"].values()) == 8


def test_bad_names_and_missing_pairs_are_skipped_with_reasons(exported, tmp_path):
    _, raw, _, written, _ = exported
    root = _subset(raw, tmp_path / "raw", n_actors=1)
    shutil.copy(root / "Actor_01" / f"01-{written[0]['key']}.mp4", root / "Actor_01" / "clip.mp4")
    (root / "Actor_01" / f"01-{written[1]['key']}.mp4").unlink()  # its wav loses its pair
    (root / "Actor_01" / "copy").mkdir()
    dup = shutil.copy(root / "Actor_01" / f"03-{written[2]['key']}.wav", root / "Actor_01" / "copy")
    report = ravdess.prepare(root, tmp_path / "prep", get_config().data)
    reasons = {Path(s["file"]).name: s["reason"] for s in report["skipped"]}
    assert any(s["file"] == str(dup) and "duplicate" in s["reason"] for s in report["skipped"])
    assert "not a RAVDESS name" in reasons["clip.mp4"] and "clip.mp4" in reasons["clip.mp4"]
    assert "missing pair" in reasons[f"03-{written[1]['key']}.wav"]
    assert report["clips"] == 7


@pytest.mark.parametrize("damage, message", [
    ("bad_name", "not a RAVDESS name"),
    ("truncated_mp4", "unreadable media file|cannot decode"),
    ("empty_wav", "no audio samples"),
    ("no_frames", "no decodable video frames"),
])
def test_strict_prepare_stops_naming_the_file_and_leaves_no_cache(exported, tmp_path, damage,
                                                                  message):
    _, raw, _, written, _ = exported
    root = _subset(raw, tmp_path / "raw", n_actors=1)
    key = written[0]["key"]
    mp4, wav = root / "Actor_01" / f"01-{key}.mp4", root / "Actor_01" / f"03-{key}.wav"
    if damage == "bad_name":
        bad = mp4.rename(root / "Actor_01" / "01-01-05-01-01-01.mp4")
    elif damage == "truncated_mp4":
        bad = mp4
        bad.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 3])
    elif damage == "empty_wav":
        bad = write_av(wav, None, None, np.zeros(0, np.float32), 48000, "wav")
    else:
        bad = write_undecodable_video(mp4)
    out = tmp_path / "prep"
    with pytest.raises(ValueError, match=message) as err:
        ravdess.prepare(root, out, get_config().data, strict=True)
    assert str(bad) in str(err.value)
    assert _no_cache_left(out)
    report = ravdess.prepare(root, out, get_config().data)  # lenient: skipped, rest prepared
    assert str(bad) in [s["file"] for s in report["skipped"]] and report["clips"] == 7


def test_failed_rerun_keeps_the_previous_cache(exported, tmp_path):
    _, raw, _, written, _ = exported
    root = _subset(raw, tmp_path / "raw", n_actors=1)
    out = tmp_path / "prep"
    first = ravdess.prepare(root, out, get_config().data)
    mp4 = root / "Actor_01" / f"01-{written[0]['key']}.mp4"
    mp4.write_bytes(mp4.read_bytes()[:100])
    with pytest.raises(ValueError):
        ravdess.prepare(root, out, get_config().data, strict=True)
    again = ravdess.load_prepared(_cfg(out))
    assert again.meta["content_hash"] == first["content_hash"] and len(again) == 8
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, f"shards-{first['content_hash']}"]


def test_cache_prepared_with_other_settings_is_refused_saying_what_to_do(exported):
    _, _, out, _, _ = exported
    with pytest.raises(ValueError, match=r"prepared with other settings \{'n_frames': \(16, 8\)\} "
                       r"\(prepared, asked\); ask as prepared \(--preset, --set\) or prepare"):
        ravdess.load_prepared(_cfg(out, n_frames=8))


def test_a_folder_without_clips_is_named_in_the_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"^{empty.resolve()}: no usable ravdess clips "
                       r"\(0 skipped, e.g. none\)"):
        ravdess.prepare(empty, tmp_path / "out", get_config().data)


def test_paper_settings_give_30_frames_at_224_and_13_mfcc(exported, tmp_path):
    _, raw, _, written, _ = exported
    root = tmp_path / "raw"
    (root / "Actor_01").mkdir(parents=True)
    for ext, m in (("mp4", "01"), ("wav", "03"), ("csv", "01")):
        shutil.copy(raw / "Actor_01" / f"{m}-{written[0]['key']}.{ext}", root / "Actor_01")
    cfg = get_config("paper", name="ravdess", root=str(tmp_path / "prep"))
    ravdess.prepare(root, tmp_path / "prep", cfg.data)
    arrays = ravdess.load_prepared(cfg.data)
    assert arrays.video.shape == (1, 30, 224, 224, 3)
    assert arrays.audio.shape == (1, 1 + int(2.45 * 44100) // 1024, 13)


def test_prepare_train_evaluate_through_the_cli(exported, tmp_path, cli_round_trip, synthav_cache):
    _, raw, _, _, _ = exported
    prepared, result, run = cli_round_trip("ravdess", raw, synthav_cache, prep=tmp_path / "prep")
    assert prepared["clips"] == 48
    assert result["n"] == 8 and 0.0 <= result["accuracy"] <= 1.0
    manifest = json.loads((run / "split_manifest.json").read_text())
    assert manifest["data"] == json.loads((tmp_path / "prep" / MANIFEST).read_text())["content_hash"]
    assert manifest["fold"] == 0 and ", fold 0, " in (run / "model_card.md").read_text()


@pytest.mark.slow
def test_loader_bench_smoke_prints_one_json_and_writes_it(synthav, synthav_cache, tmp_path):
    import subprocess
    import sys

    synthav()  # the bench reads the cached SynthAV set
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "bench/loader_throughput.py", "--smoke",
                           "--results-dir", str(tmp_path), "--cache-dir", synthav_cache],
                          cwd=repo, capture_output=True, text=True, timeout=300, check=True)
    printed = json.loads(proc.stdout.strip())
    saved = json.loads((tmp_path / "loader_throughput.smoke.json").read_text())
    assert printed == saved and printed["smoke"] is True
    for name in ("tiny_16x32", "paper_30x224"):
        r = printed["results"][name]
        assert r["shards_samples_per_s"] > 0 and r["jpeg_samples_per_s"] > 0
        assert r["speedup"] == pytest.approx(r["shards_samples_per_s"] / r["jpeg_samples_per_s"],
                                             rel=1e-2)
