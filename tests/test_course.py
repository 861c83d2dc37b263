"""course.Course: the configs, checkpoint names and claim settings every notebook shares."""

from __future__ import annotations

import pytest

from tacfn_lite import course


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
