"""Missing / noisy modality evaluation (tacfn_lite.robustness, notebook 07)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tacfn_lite.config import get_config
from tacfn_lite.data.core import ClipArrays
from tacfn_lite.model import build_model
from tacfn_lite.robustness import (
    Condition,
    ModalityStats,
    default_conditions,
    evaluate_robustness,
    format_robustness,
    perturb,
    training_stats,
)


def hand_arrays() -> ClipArrays:
    """Two clips, Ta=2, F=2, video T=1, 1×1 pixels: every statistic is computable by hand."""
    audio = np.array([[[1.0, 10.0], [3.0, 10.0]], [[5.0, 20.0], [7.0, 20.0]]], np.float32)
    video = np.array([[[[[0, 51, 255]]]], [[[[255, 51, 255]]]]], np.uint8)  # (2, 1, 1, 1, 3)
    return ClipArrays(audio, video, np.array([0, 1]), np.array([1, 2]), np.array(["a", "b"]),
                      class_names=("x", "y"))


def flat_stats(audio_std=(1.0, 2.0), video_std=(0.1, 0.1, 0.1)) -> ModalityStats:
    return ModalityStats(torch.zeros(4, 2), torch.tensor(audio_std), torch.full((2, 3, 5, 5), 0.5),
                         torch.tensor(video_std))


def test_training_stats_are_mean_clip_and_per_feature_std():
    s = training_stats(hand_arrays())
    assert torch.allclose(s.audio_mean, torch.tensor([[3.0, 15.0], [5.0, 15.0]]))
    # feature 0 takes values 1, 3, 5, 7 → population std sqrt(5); feature 1: 10, 10, 20, 20 → 5
    assert torch.allclose(s.audio_std, torch.tensor([5 ** 0.5, 5.0]))
    assert s.video_mean.shape == (1, 3, 1, 1)  # (T, 3, H, W)
    assert torch.allclose(s.video_mean[0, :, 0, 0], torch.tensor([0.5, 0.2, 1.0]))
    assert torch.allclose(s.video_std, torch.tensor([0.5, 0.0, 0.0]), atol=1e-6)


def test_zeros_blanks_only_the_chosen_modality():
    audio, video = torch.randn(3, 4, 2), torch.rand(3, 2, 3, 5, 5)
    a, v = perturb(audio, video, Condition("zeros", "audio"), flat_stats())
    assert torch.equal(a, torch.zeros_like(audio)) and v is video
    a, v = perturb(audio, video, Condition("zeros", "video"), flat_stats())
    assert a is audio and torch.equal(v, torch.zeros_like(video))


def test_mean_replaces_every_clip_with_the_training_mean_clip():
    stats = flat_stats()
    _, v = perturb(torch.randn(3, 4, 2), torch.rand(3, 2, 3, 5, 5), Condition("mean", "video"),
                   stats)
    assert torch.equal(v, stats.video_mean.expand(3, -1, -1, -1, -1))


def test_mean_clip_of_wrong_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="audio mean clip has shape"):
        perturb(torch.randn(3, 7, 2), torch.rand(3, 2, 3, 5, 5), Condition("mean", "audio"),
                flat_stats())


def test_audio_noise_std_is_level_times_training_std_per_feature():
    audio = torch.zeros(64, 500, 2)
    a, _ = perturb(audio, torch.rand(64, 2, 3, 5, 5), Condition("noise", "audio", 0.5),
                   flat_stats(audio_std=(1.0, 2.0)), torch.Generator().manual_seed(0))
    std = a.reshape(-1, 2).std(0)
    assert torch.allclose(std, torch.tensor([0.5, 1.0]), rtol=0.02)


def test_noise_level_zero_leaves_input_unchanged():
    audio, video = torch.randn(2, 4, 2), torch.rand(2, 2, 3, 5, 5)
    a, _ = perturb(audio, video, Condition("noise", "audio", 0.0), flat_stats())
    _, v = perturb(audio, video, Condition("noise", "video", 0.0), flat_stats())
    assert torch.equal(a, audio) and torch.equal(v, video)


def test_noisy_video_stays_a_valid_image():
    _, v = perturb(torch.randn(2, 4, 2), torch.rand(2, 2, 3, 5, 5),
                   Condition("noise", "video", 5.0),
                   flat_stats(video_std=(1.0, 1.0, 1.0)), torch.Generator().manual_seed(0))
    assert v.min() >= 0.0 and v.max() <= 1.0 and (v == 0).any() and (v == 1).any()


@pytest.mark.parametrize("kwargs", [{"kind": "blur", "modality": "audio"},
                                    {"kind": "zeros", "modality": None},
                                    {"kind": "clean", "modality": "audio"},
                                    {"kind": "noise", "modality": "text", "level": 1.0},
                                    {"kind": "noise", "modality": "audio", "level": -1.0}])
def test_invalid_condition_is_rejected(kwargs):
    with pytest.raises(ValueError, match="Condition"):
        Condition(**kwargs)


def test_default_conditions_cover_both_modalities_and_all_kinds():
    names = [c.name for c in default_conditions(levels=(0.5, 1.0))]
    assert names == ["clean", "audio zeros", "audio mean", "audio noise 0.5", "audio noise 1",
                     "video zeros", "video mean", "video noise 0.5", "video noise 1"]


@pytest.fixture(scope="module")
def small_split(synthav):
    arrays = synthav("complementary", "quick")
    return arrays.subset(np.arange(0, 96)), arrays.subset(np.arange(96, 144))


def untrained(model: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(get_config("tiny", model=model).model)


def test_unimodal_models_ignore_perturbations_of_the_other_modality(small_split):
    train, test = small_split
    rows = evaluate_robustness({"audio": untrained("audio"), "video": untrained("video")}, test,
                               training_stats(train), default_conditions(levels=(1.0,)),
                               batch_size=32)
    by = {(r["model"], r["condition"]): r["accuracy"] for r in rows}
    for cond in ("video zeros", "video mean", "video noise 1"):
        assert by["audio", cond] == by["audio", "clean"]
    for cond in ("audio zeros", "audio mean", "audio noise 1"):
        assert by["video", cond] == by["video", "clean"]


def test_every_model_sees_the_same_noise(small_split):
    train, test = small_split
    model = untrained("tacfn")
    conds = [Condition("noise", "audio", 2.0), Condition("noise", "video", 2.0)]
    rows = evaluate_robustness({"a": model, "b": copy.deepcopy(model)}, test,
                               training_stats(train), conds, batch_size=32, seed=3)
    acc = {(r["model"], r["condition"]): r["uar"] for r in rows}
    for c in conds:
        assert acc["a", c.name] == acc["b", c.name]


def test_rows_form_a_tidy_table_with_drop_from_clean(small_split):
    train, test = small_split
    conds = default_conditions(levels=(0.5,))
    rows = evaluate_robustness({"concat": untrained("concat"), "late": untrained("late")}, test,
                               training_stats(train), conds, batch_size=48)
    assert len(rows) == 2 * len(conds)
    assert {(r["model"], r["condition"]) for r in rows} == {
        (m, c.name) for m in ("concat", "late") for c in conds}
    for r in rows:
        assert r["n"] == len(test) and 0.0 <= r["accuracy"] <= 1.0
        clean = next(x["accuracy"] for x in rows
                     if x["model"] == r["model"] and x["kind"] == "clean")
        assert r["accuracy_drop"] == pytest.approx(clean - r["accuracy"])
    table = format_robustness(rows)
    assert table.splitlines()[0] == "| condition | concat | late |"
    assert len(table.splitlines()) == 2 + len(conds)


def test_robustness_figure_has_noise_curves_and_missing_modality_bars():
    from tacfn_lite.viz import plot_robustness

    rows = []
    for m, base in (("tacfn", 0.9), ("audio", 0.5)):
        rows.append({"model": m, "condition": "clean", "kind": "clean", "modality": None,
                     "level": 0.0, "accuracy": base})
        for mod in ("audio", "video"):
            rows.append({"model": m, "condition": f"{mod} zeros", "kind": "zeros",
                         "modality": mod, "level": 0.0, "accuracy": base / 2})
            rows += [{"model": m, "condition": f"{mod} noise {lv:g}", "kind": "noise",
                      "modality": mod, "level": lv, "accuracy": base - lv / 10} for lv in (1, 2)]
    fig = plot_robustness(rows)
    audio_ax, _, bar_ax = fig.axes
    assert [line.get_label() for line in audio_ax.lines] == ["tacfn", "audio"]
    assert list(audio_ax.lines[0].get_xdata()) == [0.0, 1, 2]  # clean drawn at level 0
    assert len(bar_ax.patches) == 2 * 5  # 2 models × 5 bars (missing "mean" rows are NaN)

