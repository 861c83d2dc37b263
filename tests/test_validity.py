"""Validity metrics: token-grid ↔ pixel mapping, pointing game, deletion/insertion curves, table."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_explain import LinearToy

from tacfn_lite.data import to_batch
from tacfn_lite.data.core import Batch
from tacfn_lite.validity import (
    cell_mask,
    curve_auc,
    grid_to_pixels,
    map_pointing,
    perturbation_curve,
    pixels_to_grid,
    pointing_game,
    time_pointing,
    validity_table,
)


def test_cell_mask_is_the_fraction_of_cue_pixels_per_cell():
    mask = torch.zeros(1, 2, 4, 4, dtype=torch.bool)
    mask[0, 1, 0, 0] = True  # one pixel of the top-left cell of frame 1
    mask[0, 0, 2:, 2:] = True  # the whole bottom-right cell of frame 0
    cells = cell_mask(mask, (2, 2, 2))
    assert cells.shape == (1, 2, 2, 2)
    assert cells[0, 1, 0, 0] == 0.25 and cells[0, 0, 1, 1] == 1.0
    assert cells.sum() == 1.25


def test_grid_to_pixels_then_back_multiplies_by_cell_size():
    grid = torch.arange(8.0).view(1, 2, 2, 2)
    pixels = grid_to_pixels(grid, (4, 4, 6))
    assert pixels.shape == (1, 4, 4, 6)
    assert pixels[0, 3, 3, 5] == grid[0, 1, 1, 1] and pixels[0, 0, 0, 0] == grid[0, 0, 0, 0]
    torch.testing.assert_close(pixels_to_grid(pixels, (2, 2, 2)), grid * 2 * 2 * 3)


def test_pixels_to_grid_rejects_a_grid_that_does_not_tile():
    with pytest.raises(ValueError, match="tile"):
        pixels_to_grid(torch.zeros(1, 5, 4, 4), (2, 2, 2))


def test_pointing_game_hits_only_when_the_argmax_is_inside_the_mask():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
    mask = torch.tensor([[False, True, False], [False, True, True]])
    assert pointing_game(scores, mask).tolist() == [True, False]


def test_map_pointing_scores_video_weights_on_the_token_grid():
    video_mask = torch.zeros(1, 2, 4, 4, dtype=torch.bool)
    video_mask[0, 1, 3, 3] = True  # a single cue pixel in cell (1, 1, 1)
    batch = Batch(torch.zeros(1, 3, 2), torch.zeros(1, 2, 3, 4, 4), torch.zeros(1), [],
                  torch.tensor([[False, True, True]]), video_mask)
    hit_cell = torch.zeros(1, 8)
    hit_cell[0, 7] = 1.0  # last cell = (1, 1, 1)
    hit, chance = map_pointing("video_weight", hit_cell, batch, (2, 2, 2))
    assert hit.tolist() == [True] and chance.tolist() == [1 / 8]
    miss, _ = map_pointing("video_weight", hit_cell.flip(1), batch, (2, 2, 2))
    assert miss.tolist() == [False]
    hit_a, chance_a = map_pointing("audio_select", torch.tensor([[0.2, 0.5, 0.3]]), batch, None)
    assert hit_a.tolist() == [True] and chance_a.item() == pytest.approx(2 / 3)


def test_time_pointing_accepts_the_right_frame_in_the_wrong_region():
    video_mask = torch.zeros(1, 2, 4, 4, dtype=torch.bool)
    video_mask[0, 1, 0, 0] = True  # cue in frame 1, top-left cell
    weights = torch.zeros(1, 8)
    weights[0, 7] = 1.0  # frame 1, bottom-right cell: right moment, wrong region
    assert time_pointing(weights, video_mask, (2, 2, 2)).tolist() == [True]
    weights = torch.zeros(1, 8)
    weights[0, 0] = 1.0  # frame 0: wrong moment
    assert time_pointing(weights, video_mask, (2, 2, 2)).tolist() == [False]


def _linear_case():
    g = torch.Generator().manual_seed(4)
    audio, video = torch.rand(3, 6, 2, generator=g), torch.rand(3, 4, 3, 8, 8, generator=g)
    w_a, w_v = torch.randn(6, 2, generator=g), torch.randn(4, 3, 8, 8, generator=g) * 0.1
    model = LinearToy(w_a, w_v)
    contrib_a = (audio * w_a).sum(-1)  # (B, Ta) exact IG with a zero baseline
    contrib_v = pixels_to_grid((video * w_v).sum(2), (2, 2, 2))  # (B, 2, 2, 2)
    return model, audio, video, torch.zeros(3, dtype=torch.long), contrib_a, contrib_v


def test_deletion_curve_runs_from_the_input_to_the_baseline():
    model, audio, video, target, sa, sv = _linear_case()
    curve = perturbation_curve(model, audio, video, target, sa, sv, "zeros", "deletion", 7)
    p_input = model(audio, video).logits.softmax(-1)[:, 0]
    torch.testing.assert_close(curve[:, 0], p_input)
    torch.testing.assert_close(curve[:, -1], torch.full((3,), 0.5))  # zero input: s = 0
    ins = perturbation_curve(model, audio, video, target, sa, sv, "zeros", "insertion", 7)
    torch.testing.assert_close(ins[:, 0], curve[:, -1])
    torch.testing.assert_close(ins[:, -1], curve[:, 0])


def test_deleting_by_exact_contribution_beats_any_random_order_on_a_linear_model():
    model, audio, video, target, sa, sv = _linear_case()
    best = perturbation_curve(model, audio, video, target, sa, sv, "zeros", "deletion", 7)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        rand = perturbation_curve(model, audio, video, target, torch.rand(sa.shape, generator=g),
                                  torch.rand(sv.shape, generator=g), "zeros", "deletion", 7)
        assert torch.all(best <= rand + 1e-6)
        assert torch.all(curve_auc(best) <= curve_auc(rand) + 1e-6)


def test_curve_auc_of_a_constant_curve_is_that_constant():
    torch.testing.assert_close(curve_auc(torch.full((2, 11), 0.3)), torch.full((2,), 0.3))


@pytest.mark.slow
def test_validity_table_reports_every_metric_for_a_model_without_maps(synthav):
    arrays = synthav("synchrony", "quick")
    idx = np.flatnonzero(arrays.labels == 0)[:6]
    b = to_batch(arrays, idx[:1])
    # a linear toy padded to 8 classes whose logit 0 always wins: every clip of class 0 is correct
    model = LinearToy(torch.full(b.audio.shape[1:], 0.01), torch.full(b.video.shape[1:], 1e-3))
    model.cfg.n_classes = 8

    def forward(audio, video, _inner=model.forward):
        out = _inner(audio, video)
        pad = torch.full((len(audio), 6), -1e3)
        return type(out)(torch.cat([out.logits[:, :1] + 10.0, pad, out.logits[:, 1:]], 1))

    model.forward = forward
    table = validity_table(model, arrays, idx, baseline="zeros", n_steps=8, curve_steps=4, n_random=1,
                           n_randomised=2, batch_size=4).to_dict()
    assert table["n_correct"] == 6 and table["accuracy"] == 1.0
    assert "video_weight_pointing" not in table  # no maps to score
    assert 0.0 <= table["ig_video_pointing"] <= 1.0 and 0.0 < table["ig_audio_chance"] < 1.0
    assert table["completeness_error_mean"] < 0.01
    assert len(table["deletion_ig_curve"]) == 5
    assert np.array(table["modality_ablation_per_class"]).shape == (8, 2)
