"""course.Course: the configs, checkpoint names and claim settings every notebook shares."""

from __future__ import annotations

import json

import pytest
import torch

from tacfn_lite import course
from tacfn_lite.data.synthetic import synthav_path


def test_config_follows_the_run_parameters_and_overrides():
    c = course.Course(variant="synchrony", quick=False, seed=3, device="cpu", cache_dir="x")
    cfg = c.config("concat", select=False)
    assert (cfg.model.model, cfg.data.variant, cfg.data.size) == ("concat", "synchrony", "full")
    assert (cfg.train.seed, cfg.train.device, cfg.data.cache_dir) == (3, "cpu", "x")
    assert cfg.train.epochs == course.FULL_EPOCHS and cfg.model.select is False
    assert course.Course().config().train.epochs == course.QUICK_EPOCHS


def test_claim_trains_on_the_full_synchrony_set_even_in_quick_mode():
    for quick in (True, False):
        cfg = course.Course(variant="complementary", quick=quick).claim_config("late")
        assert (cfg.data.variant, cfg.data.size) == (course.CLAIM_VARIANT, "full")
        assert cfg.train.epochs == course.CLAIM_EPOCHS[quick] and cfg.model.model == "late"


def test_epochs_parameter_overrides_every_training_including_the_claim():
    c = course.Course(epochs=1)
    assert c.config("tacfn").train.epochs == 1 and c.claim_config().train.epochs == 1
    assert c.config("tacfn", epochs=7).train.epochs == 1  # the smoke run wins


def test_checkpoint_name_holds_every_setting_a_notebook_varies(tmp_path):
    c = course.Course(checkpoint_dir=str(tmp_path), seed=2)
    plain, ablated = c.checkpoint(c.config("tacfn")), c.checkpoint(c.config("tacfn", select=False))
    assert plain == tmp_path / "complementary-quick" / "tacfn-s2-e12" / "best.pt"
    assert ablated.parent.name == "tacfn-selectFalse-s2-e12"
    assert c.checkpoint(c.claim_config()).parts[-3] == "synchrony-full"


def test_trained_refuses_a_checkpoint_made_for_another_config(tmp_path, synthav_cache):
    c = course.Course(device="cpu", cache_dir=synthav_cache, checkpoint_dir=str(tmp_path),
                      epochs=1)
    cfg = c.config("tacfn")
    model, history = c.trained(cfg)
    assert not model.training and history["test"]["accuracy"] >= 0.0
    assert c.trained(cfg)[1] == history  # second call loads, same history
    accs, models = c.trained_settings({"plain": {}, "no selection": {"select": False}})
    assert accs["plain"] == history["test"]["accuracy"]  # the same checkpoint, loaded
    assert models["no selection"].cfg.select is False and set(accs) == set(models)
    other = c.config("tacfn", data_seed=1)  # same checkpoint name, other data
    with pytest.raises(ValueError, match="differs from the requested one"):
        c.trained(other)


def test_trained_all_trains_missing_checkpoints_side_by_side_and_deterministically(
        tmp_path, synthav_cache, synthav):
    synthav("complementary")  # the workers read the cached set
    runs, threads = [], torch.get_num_threads()
    torch.set_num_threads(2)  # here; each worker trains with one
    try:
        for folder in ("a", "b"):
            c = course.Course(device="cpu", cache_dir=synthav_cache, epochs=1,
                              checkpoint_dir=str(tmp_path / folder))
            cfgs = {name: c.config(name) for name in ("concat", "late")}
            runs.append(c.trained_all(cfgs, workers=2))
            for cfg in cfgs.values():
                card = json.loads((c.checkpoint(cfg).parent / "model_card.json").read_text())
                assert card["training"]["device"].endswith("1 threads)")  # a worker trained it
    finally:
        torch.set_num_threads(threads)
    first, second = runs
    assert set(first) == {"concat", "late"}
    def numbers(history):  # everything but the wall time
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history["epochs"]]

    for name in first:  # two parallel trainings of one config: the same numbers
        assert numbers(first[name][1]) == numbers(second[name][1])
        assert first[name][1]["test"] == second[name][1]["test"]
        assert not first[name][0].training


def test_markdown_table_counts_the_picked_epoch_from_one():
    row = {"test_accuracy": 0.5, "test_macro_f1": 0.25, "test_uar": 0.5, "val_accuracy": 0.75,
           "best_epoch": 0}
    table = course.markdown_table({"tacfn": row}, {"fusion": 1.0})
    assert "| tacfn | 50.0 | 25.0 | 50.0 | 75.0 | 1 |" in table and "fusion 100.0" in table


def test_trained_all_makes_each_data_set_once_before_the_workers_start(tmp_path, monkeypatch):
    cache = tmp_path / "cache"  # empty: SynthAV must be generated
    c = course.Course(device="cpu", cache_dir=str(cache), epochs=1,
                      checkpoint_dir=str(tmp_path / "runs"))
    cfgs = {name: c.config(name) for name in ("concat", "late")}
    seen = []

    class InProcessPool:  # stands in for the worker pool: records what exists when it starts
        def __init__(self, *args, **kwargs):
            seen.append(synthav_path(cfgs["concat"].data).exists())

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, *iterables):
            return map(fn, *iterables)

    monkeypatch.setattr(course, "ProcessPoolExecutor", InProcessPool)
    c.trained_all(cfgs, workers=2)
    assert seen == [True]
