"""Protocol-pitfall experiments (notebook 09): splits, epoch picking, summary arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from tacfn_lite.data.leakage import find_overlaps
from tacfn_lite.data.splits import make_manifest, split_indices
from tacfn_lite.protocols import pick_epochs, random_clip_split, run_protocols, summary_rows
from tacfn_lite.viz import plot_protocols


def test_random_clip_split_keeps_sizes_and_rows_but_shares_actors(synthav):
    arrays = synthav()
    actor = split_indices(arrays.actors, fold=0)
    rand = random_clip_split(actor, seed=0)
    assert {k: len(v) for k, v in rand.items()} == {k: len(v) for k, v in actor.items()}
    assert sorted(np.concatenate(list(rand.values()))) == list(range(len(arrays)))
    kinds = {o.kind for o in find_overlaps(make_manifest(arrays.clip_ids, arrays.actors, rand))}
    assert kinds == {"actor"}
    assert find_overlaps(make_manifest(arrays.clip_ids, arrays.actors, actor)) == []


def test_pick_epochs_reports_the_test_accuracy_of_each_rule():
    track = {"val_accuracy": [0.1, 0.5, 0.4, 0.5], "test_accuracy": [0.2, 0.3, 0.6, 0.1]}
    assert pick_epochs(track) == {"on_val": {"epoch": 1, "test_accuracy": 0.3},
                                  "on_test": {"epoch": 2, "test_accuracy": 0.6}}


@pytest.mark.slow
def test_run_protocols_summary_follows_from_its_runs(synthav, tiny_run):
    cfg = tiny_run(model="audio", epochs=2, batch_size=64)
    result = run_protocols(cfg, synthav(), seeds=(0, 1))
    runs, s = result["runs"], result["summary"]
    assert [(r["seed"], r["split"]) for r in runs] == [(0, "actor"), (0, "random"),
                                                       (1, "actor"), (1, "random")]
    honest = [r["on_val"]["test_accuracy"] for r in runs if r["split"] == "actor"]
    on_test = [r["on_test"]["test_accuracy"] for r in runs if r["split"] == "actor"]
    assert all(len(r["test_accuracy"]) == 2 for r in runs)
    assert all(t >= h for t, h in zip(on_test, honest))  # picking on test can only flatter
    assert s["epoch_pick"]["inflation"] == pytest.approx(np.mean(on_test) - np.mean(honest))
    assert s["seeds"]["std"] == pytest.approx(np.std(honest, ddof=1))
    assert s["seeds"]["best_single"] == max(honest)
    assert s["leaks"] == {"actor": [], "random": ["actor"]}
    assert [r["pitfall"] for r in summary_rows(result)] == [
        "epoch picked on test", "random clip split", "best single seed"]
    fig = plot_protocols(result)
    assert len(fig.axes) == 2


def test_protocol_config_uses_quick_preset_and_accepts_overrides():
    from tacfn_lite.protocols import QUICK, protocol_config

    cfg, seeds = protocol_config(seed=4)
    assert (cfg.model.model, cfg.train.epochs, cfg.data.size) == (QUICK["model"], QUICK["epochs"],
                                                                  "quick")
    assert seeds == tuple(range(4, 4 + QUICK["n_seeds"]))
    cfg, _ = protocol_config(model="tacfn", epochs=2)
    assert (cfg.model.model, cfg.train.epochs) == ("tacfn", 2)
