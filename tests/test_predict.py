"""``predict`` on an exported clip matches the dataset path; bad clips get clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import tacfn_lite
from tacfn_lite.cli import main
from tacfn_lite.config import get_config
from tacfn_lite.data import ravdess
from tacfn_lite.data.core import to_batch
from tacfn_lite.data.export import RAVDESS_FPS, export_ravdess, write_av
from tacfn_lite.inference import predict
from tacfn_lite.io import atomic_torch_save
from tacfn_lite.model import build_model


@pytest.fixture(scope="module")
def exported(synthav, tmp_path_factory):
    """Actor 1's 8 SynthAV clips in RAVDESS layout, prepared through the dataset path, and an
    untrained checkpoint whose config points at that corpus."""
    tmp = tmp_path_factory.mktemp("predict")
    raw = tmp / "raw"
    written = export_ravdess(synthav(), raw, actors=[1], per_class=1)
    cfg = get_config("tiny", name="ravdess", root=str(raw), cache_dir=str(tmp / "cache"))
    ravdess.prepare(raw, None, cfg.data)
    arrays = ravdess.load_prepared(cfg.data)
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    ckpt = atomic_torch_save({"model": model.state_dict(), "config": cfg.to_dict()}, tmp / "best.pt")
    return raw, written, arrays, model, ckpt


def test_predict_matches_the_dataset_path(exported):
    raw, written, arrays, model, ckpt = exported
    with torch.no_grad():
        batch = to_batch(arrays, np.arange(len(arrays)))
        probs = model(batch.audio, batch.video).logits.softmax(-1).numpy()  # (N, C)
    row_of = {str(c): i for i, c in enumerate(arrays.clip_ids)}
    for rec in written[:3]:
        folder = raw / f"Actor_{rec['actor']:02d}"
        pred = tacfn_lite.predict(folder / f"01-{rec['key']}.mp4", ckpt,
                                  audio=folder / f"03-{rec['key']}.wav")
        row = row_of[rec["clip_id"]]
        assert pred.crop == "landmarks"
        np.testing.assert_array_equal(pred.video, arrays.video[row])
        np.testing.assert_array_equal(pred.audio, arrays.audio[row].astype(np.float32))
        np.testing.assert_allclose(pred.probs, probs[row], rtol=0, atol=1e-6)
        assert pred.class_names == ravdess.CLASS_NAMES


def test_predict_cli_prints_probabilities_and_writes_explanations(exported, tmp_path, capsys):
    raw, written, _, _, ckpt = exported
    folder = raw / f"Actor_{written[0]['actor']:02d}"
    mp4, wav = folder / f"01-{written[0]['key']}.mp4", folder / f"03-{written[0]['key']}.wav"
    assert main(["predict", str(mp4), "--audio", str(wav), "--checkpoint", str(ckpt), "--json",
                 "--explain", str(tmp_path / "explain")]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[:out.index("\n}") + 2])
    assert set(result["probabilities"]) == set(ravdess.CLASS_NAMES)
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    for name in ("prediction.json", "attention.png", "integrated_gradients.png"):
        assert (tmp_path / "explain" / name).stat().st_size > 0
    assert not (tmp_path / "explain" / "attention_video_to_audio.png").exists()  # one direction


def test_explain_draws_both_directions_of_a_both_model(exported, tmp_path, capsys):
    """A ``--direction both`` model has four maps; the figure of its video→audio pair was left
    out before (only video_weight and audio_select were drawn)."""
    raw, written, _, _, _ = exported
    cfg = get_config("tiny", name="ravdess", root=str(raw), cache_dir=str(tmp_path / "cache"),
                     direction="both")
    torch.manual_seed(0)
    ckpt = atomic_torch_save({"model": build_model(cfg.model).eval().state_dict(),
                              "config": cfg.to_dict()}, tmp_path / "both.pt")
    folder = raw / f"Actor_{written[0]['actor']:02d}"
    assert main(["predict", str(folder / f"01-{written[0]['key']}.mp4"), "--checkpoint", str(ckpt),
                 "--explain", str(tmp_path / "x")]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ("attention.png", "attention_video_to_audio.png"):
        assert f"wrote {tmp_path / 'x' / name}" in lines and (tmp_path / "x" / name).stat().st_size


def _frames(n: int, face: bool = True) -> np.ndarray:
    return np.full((n, 64, 64, 3), 128, np.uint8)  # a flat grey picture: no face in it


def test_clip_without_audio_track_is_refused(exported, tmp_path):
    *_, ckpt = exported
    clip = write_av(tmp_path / "silent.mp4", _frames(60), RAVDESS_FPS, None, 48000)
    with pytest.raises(ValueError, match="silent.mp4: no audio track; pass the clip's sound"):
        predict(clip, ckpt)


def test_too_short_clip_is_refused(exported, tmp_path):
    *_, ckpt = exported
    clip = write_av(tmp_path / "short.mp4", _frames(15), RAVDESS_FPS, np.zeros(24000), 48000)
    with pytest.raises(ValueError, match=r"short.mp4: clip too short \(0.50 s\)"):
        predict(clip, ckpt)


def test_clip_without_a_face_is_refused_unless_centre_crop_is_asked_for(exported, tmp_path):
    *_, ckpt = exported
    wave = 0.1 * np.sin(np.linspace(0, 2000, 2 * 48000)).astype(np.float32)
    clip = write_av(tmp_path / "wall.mp4", _frames(60), RAVDESS_FPS, wave, 48000)
    with pytest.raises(ValueError, match="wall.mp4: no face found"):
        predict(clip, ckpt)
    assert predict(clip, ckpt, allow_centre_crop=True).crop == "centre"


def test_missing_clip_is_named_and_a_folder_is_called_one(exported, tmp_path):
    *_, ckpt = exported
    with pytest.raises(ValueError, match="nope.mp4: clip not found"):
        predict(tmp_path / "nope.mp4", ckpt)
    with pytest.raises(ValueError, match=f"{tmp_path}: a folder; give a file"):
        predict(tmp_path, ckpt)


def test_a_file_that_is_not_media_is_named_in_words_without_the_library_error_number(exported,
                                                                                    tmp_path):
    *_, ckpt = exported
    (tmp_path / "notes.mp4").write_text("these are my notes, not a video")
    with pytest.raises(ValueError) as err:
        predict(tmp_path / "notes.mp4", ckpt)
    assert str(err.value) == (f"{tmp_path / 'notes.mp4'}: unreadable media file "
                              "(Invalid data found when processing input)")
