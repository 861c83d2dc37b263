"""The leakage checker catches actors, utterances, clips and identical content shared across
train/val/test, names them, passes clean manifests and runs before training."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from tacfn_lite.cli import main
from tacfn_lite.data import make_loaders
from tacfn_lite.data.core import ClipArrays
from tacfn_lite.data.leakage import check_manifest, check_splits, find_overlaps
from tacfn_lite.model import build_model
from tacfn_lite.train import fit


def _manifest(splits: dict[str, list[tuple[str, int, str | None, str]]]) -> dict:
    """splits: name → [(clip, actor, utterance, content_hash)]."""
    fields = {c: {"actor": a, "content_hash": h, **({"utterance": u} if u else {})}
              for rows in splits.values() for c, a, u, h in rows}
    return {"splits": {name: {"actors": sorted({a for _, a, _, _ in rows}),
                              "clips": [c for c, _, _, _ in rows]}
                       for name, rows in splits.items()},
            "clip_fields": fields}


CLEAN = {
    "train": [("01-01-05-01-02-01-01", 1, "01-05-01-02-01-01", "h1"),
              ("03-01-05-01-02-01-01", 1, "01-05-01-02-01-01", "h2")],
    "val": [("01-01-03-01-01-01-02", 2, "01-03-01-01-01-02", "h3")],
    "test": [("01-01-04-02-01-02-03", 3, "01-04-02-01-02-03", "h4")],
}


def test_clean_manifest_passes():
    assert find_overlaps(_manifest(CLEAN)) == []
    check_manifest(_manifest(CLEAN))


def test_actor_shared_by_train_and_test_is_named():
    splits = {**CLEAN, "test": CLEAN["test"] + [("01-01-06-01-01-01-01", 1, "u-other", "h9")]}
    with pytest.raises(ValueError, match=r"actor 1 is in test \[01-01-06-01-01-01-01\] and train"):
        check_manifest(_manifest(splits))


def test_ravdess_mp4_and_its_wav_copy_in_different_splits_is_an_utterance_leak():
    # The audio-only 03- copy of a training 01- recording sits in the test split.
    splits = {"train": [CLEAN["train"][0]], "val": CLEAN["val"],
              "test": CLEAN["test"] + [CLEAN["train"][1]]}
    overlaps = find_overlaps(_manifest(splits))
    utterances = [o for o in overlaps if o.kind == "utterance"]
    assert len(utterances) == 1
    assert utterances[0].key == "01-05-01-02-01-01"
    assert utterances[0].clips == {"test": ["03-01-05-01-02-01-01"],
                                   "train": ["01-01-05-01-02-01-01"]}
    with pytest.raises(ValueError, match="utterance 01-05-01-02-01-01"):
        check_manifest(_manifest(splits))


def test_identical_content_under_two_names_is_caught_even_with_distinct_actors():
    splits = {**CLEAN, "val": CLEAN["val"] + [("copy_of_train_clip", 7, None, "h1")]}
    overlaps = find_overlaps(_manifest(splits))
    assert [(o.kind, o.key) for o in overlaps] == [("content", "h1")]
    assert overlaps[0].clips == {"train": ["01-01-05-01-02-01-01"], "val": ["copy_of_train_clip"]}


def test_same_clip_id_listed_in_two_splits_is_caught():
    m = _manifest(CLEAN)
    m["splits"]["val"]["clips"].append("01-01-04-02-01-02-03")
    assert ("clip", "01-01-04-02-01-02-03") in [(o.kind, o.key) for o in find_overlaps(m)]


def test_manifest_without_splits_is_rejected_with_a_clear_error():
    with pytest.raises(ValueError, match="'splits'"):
        find_overlaps({"train": []})


def test_synthav_loader_manifest_is_clean_and_hashes_every_clip(synthav, tiny_run):
    _, manifest = make_loaders(tiny_run(), synthav())
    check_manifest(manifest)
    n = sum(len(b["clips"]) for b in manifest["splits"].values())
    hashes = {f["content_hash"] for f in manifest["clip_fields"].values()}
    assert len(manifest["clip_fields"]) == n == len(hashes)  # every clip hashed, all distinct


def _with_duplicate(arrays: ClipArrays) -> ClipArrays:
    """Copy the audio and video of clip 0 (actor 1) into a clip of the last actor."""
    j = int(np.flatnonzero(arrays.actors == arrays.actors.max())[0])
    audio, video = arrays.audio.copy(), arrays.video.copy()
    audio[j], video[j] = audio[0], video[0]
    return replace(arrays, audio=audio, video=video)


def test_duplicated_clip_in_data_is_caught_and_training_refuses(synthav, tiny_run):
    cfg = tiny_run(epochs=1, fold=0)  # fold 0 tests actors 1-4: clip 0 (actor 1) is in test
    loaders, manifest = make_loaders(cfg, _with_duplicate(synthav()))
    overlaps = find_overlaps(manifest)
    assert [o.kind for o in overlaps] == ["content"]
    assert list(overlaps[0].clips)[1] in ("train", "val") and "test" in overlaps[0].clips
    with pytest.raises(ValueError, match="split leak"):
        fit(build_model(cfg.model), loaders, cfg, manifest=manifest)


def test_check_splits_cli_passes_clean_and_fails_leaky_manifest(tmp_path, capsys):
    clean, leaky = tmp_path / "clean.json", tmp_path / "leaky.json"
    clean.write_text(json.dumps(_manifest(CLEAN)))
    splits = {**CLEAN, "val": CLEAN["val"] + [("dup", 7, None, "h4")]}
    leaky.write_text(json.dumps(_manifest(splits)))
    assert main(["check-splits", str(clean)]) == 0
    assert json.loads(capsys.readouterr().out)["checked"] == ["actor", "clip", "utterance",
                                                              "content"]
    assert main(["check-splits", str(leaky)]) == 2
    err = capsys.readouterr().err
    assert "content h4 is in test [01-01-04-02-01-02-03] and val [dup]" in err


def test_check_splits_names_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="nope.json: manifest not found"):
        check_splits(tmp_path / "nope.json")


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text(json.dumps({"splits": {"test": "actors 1-4"}, "epochs": 3})),
     "not a split manifest"),  # a model card has "splits" too, but no split mapping
    (lambda p: p.write_bytes(b"PK\x03\x04\x80\x81binary"), "manifest is not valid JSON"),
    (lambda p: p.mkdir(), "a folder; give its split_manifest.json")])
def test_check_splits_names_the_file_when_it_is_not_a_manifest(tmp_path, capsys, make, message):
    """A model card, a checkpoint or a run folder given by mistake: one line naming the path."""
    make(path := tmp_path / "given")
    assert main(["check-splits", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tacfn-lite check-splits: error: {path}: ") and message in err
    assert len(err.splitlines()) == 1
