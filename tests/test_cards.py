"""A model card is written next to every checkpoint and matches the run that produced it."""

from __future__ import annotations

import json

import pytest

from tacfn_lite.cards import CARD_JSON, CARD_MD, LICENCES, card_matches, card_report, load_card
from tacfn_lite.cli import main
from tacfn_lite.data import make_loaders
from tacfn_lite.io import load_checkpoint
from tacfn_lite.model import build_model
from tacfn_lite.train import fit


@pytest.fixture(scope="module")
def trained(synthav, tmp_path_factory, synthav_cache):
    from tacfn_lite.config import get_config

    out = tmp_path_factory.mktemp("card_run")
    cfg = get_config("tiny", cache_dir=synthav_cache, epochs=2, batch_size=64, device="cpu",
                     out_dir=str(out), progress=False, seed=3)
    loaders, manifest = make_loaders(cfg, synthav())
    hist = fit(build_model(cfg.model), loaders, cfg, manifest=manifest)
    return cfg, hist, manifest, out


def test_card_matches_its_run(trained):
    cfg, hist, manifest, out = trained
    card = load_card(out / "best.pt")
    ckpt = load_checkpoint(out / "best.pt")
    assert card_matches(card, out / "best.pt")
    assert card["config"] == ckpt["config"] == cfg.to_dict()
    assert card["seed"] == 3
    assert card["selection"]["best_epoch"] == hist.best_epoch == ckpt["epoch"]
    assert card["metrics"]["test"]["accuracy"] == hist.test["accuracy"]
    assert card["metrics"]["val"]["uar"] == hist.val["uar"]
    assert card["splits"]["manifest_hash"] == manifest["hash"]
    assert card["splits"]["actors"] == {k: v["actors"] for k, v in manifest["splits"].items()}
    assert card["data"]["hash"] == manifest["data"] is not None
    assert card["data"]["licence"] == LICENCES["synthav"]
    assert card["versions"]["torch"] and card["training"]["seconds"] > 0


def test_card_markdown_shows_metrics_baselines_and_licence(trained):
    _, hist, manifest, out = trained
    md = (out / CARD_MD).read_text()
    assert f"{100 * hist.test['accuracy']:.1f}" in md
    assert "| test | 96 |" in md and "12.5 |" in md  # 96 test clips; chance 1/8
    assert manifest["hash"] in md and "MIT" in md
    assert f"epoch {hist.best_epoch + 1} picked on validation (2 of 2 epochs run)" in md


def test_card_stops_matching_when_the_checkpoint_changes(trained, tmp_path):
    _, _, _, out = trained
    other = tmp_path / "best.pt"
    other.write_bytes((out / "best.pt").read_bytes() + b"x")
    assert not card_matches(load_card(out / "best.pt"), other)


def test_the_card_report_says_which_file_the_card_describes(trained):
    """``evaluate last.pt`` said the checkpoint was "replaced or edited after training"; it is
    the run's other checkpoint, and the card describes best.pt."""
    _, _, _, out = trained
    assert "Warning" not in card_report(out / "best.pt")
    assert (f"**Warning:** this card describes best.pt; {out / 'last.pt'} is another file "
            "(SHA-256 differs): last.pt, or one changed since.") in card_report(out / "last.pt")


def test_a_broken_card_is_an_error_naming_its_file(tmp_path):
    assert load_card(tmp_path / "best.pt") is None  # no card: nothing to report
    (tmp_path / CARD_JSON).write_text("{not json")
    with pytest.raises(ValueError, match=f"{tmp_path / CARD_JSON}: model card is not valid JSON"):
        load_card(tmp_path / "best.pt")


def test_real_corpus_licences_are_named():
    assert "CC BY-NC-SA 4.0" in LICENCES["ravdess"]
    assert "ODbL" in LICENCES["cremad"]
    assert "USC" in LICENCES["iemocap"]


def test_evaluate_prints_the_card_on_stderr_and_only_json_on_stdout(trained, capsys):
    _, _, _, out = trained
    assert main(["evaluate", str(out / "best.pt"), "--device", "cpu"]) == 0
    printed = capsys.readouterr()
    assert "# Model card: tacfn on synthav" in printed.err
    assert json.loads((out / CARD_JSON).read_text())["checkpoint"]["sha256"][:16] in printed.err
    assert json.loads(printed.out)["split"] == "test"  # `tacfn-lite evaluate ... | jq` works


def test_evaluate_prints_each_confusion_row_on_one_line_as_valid_json(trained, capsys):
    _, _, _, out = trained
    assert main(["evaluate", str(out / "best.pt"), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    confusion = json.loads(text)["confusion"]
    rows = [ln.strip().rstrip(",") for ln in text.splitlines() if ln.strip().startswith("[ ")]
    assert len(confusion) > 1 and [json.loads(r) for r in rows] == confusion


def test_evaluate_refuses_a_checkpoint_whose_data_changed_since_training(trained, tmp_path,
                                                                        capsys):
    """A corpus prepared again into the same folder (another clip set) was scored silently."""
    import shutil

    _, _, manifest, out = trained
    run = shutil.copytree(out, tmp_path / "run")
    assert main(["evaluate", str(run / "best.pt"), "--device", "cpu"]) == 0  # unchanged: scored
    capsys.readouterr()
    then = {**manifest, "data": "0123456789abcdef", "hash": "fedcba9876543210"}
    (run / "split_manifest.json").write_text(json.dumps(then))  # what training saw
    assert main(["evaluate", str(run / "best.pt"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'best.pt'}: its data changed since training" in err
    assert f"data hash 0123456789abcdef then, {manifest['data']} now" in err


def test_variant_and_size_with_a_real_corpus_are_refused_not_ignored(tmp_path, capsys):
    assert main(["train", "--data", "ravdess", "--root", str(tmp_path), "--variant",
                 "synchrony", "--out", str(tmp_path / "run")]) == 2
    assert "--variant, --size: SynthAV's; --data ravdess reads its --root" in capsys.readouterr().err


def test_uar_is_the_mean_per_class_recall_on_a_hand_computed_example():
    from tacfn_lite.metrics import classification_metrics

    # class 0: 4/4 recalled, class 1: 1/2, class 2: 1/2; class 3 absent (left out of UAR)
    m = classification_metrics([0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 0, 1, 0, 2], n_classes=4)
    assert m["accuracy"] == 6 / 8
    assert m["uar"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 2 / 3) / 3)  # class 0: P 4/6, R 1
    assert m["majority_baseline"] == 0.5 and m["chance_baseline"] == 0.25


def test_train_prints_one_line_per_epoch_counted_from_one(synthav, synthav_cache, tmp_path,
                                                          capsys):
    import re

    synthav("complementary")
    assert main(["train", "--variant", "complementary", "--epochs", "2", "--device", "cpu",
                 "--out", str(tmp_path / "run"), "--set", f"cache_dir={synthav_cache}"]) == 0
    err = capsys.readouterr().err.replace("\r", "\n")  # the bars redraw with \r
    line = r"^epoch {}/2: train loss \d+\.\d{{4}}, val accuracy [01]\.\d{{4}}( \(best\))?, [\d.]+ s$"
    assert re.search(line.format(1), err, re.M) and re.search(line.format(2), err, re.M), err
    assert "epoch 0" not in err


def test_a_cli_checkpoint_evaluates_from_any_folder_on_the_same_cached_data(
        synthav, synthav_cache, tmp_path, monkeypatch):
    import os

    from tacfn_lite.data import synthetic

    synthav("complementary")
    here, elsewhere = tmp_path / "here", tmp_path / "else" / "where"
    here.mkdir(), elsewhere.mkdir(parents=True)
    monkeypatch.chdir(here)  # the cache given relative to the folder the run is trained from
    assert main(["train", "--variant", "complementary", "--epochs", "1", "--device", "cpu",
                 "--out", "run", "--set", f"cache_dir={os.path.relpath(synthav_cache)}"]) == 0
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: pytest.fail("generated again"))
    assert main(["evaluate", str(here / "run" / "best.pt"), "--device", "cpu"]) == 0
