"""The authors' TACFN (issue 14): a reference written here from the equations of the authors'
`CrossModalAttentionLayer` equals the kit's ``tacfn="official"`` setting; each switch changes
what it claims and nothing else; batch-summed weights make a clip depend on its batch mates.

Reference (audio → video, per sample b, frame t, cell c, audio tokens a_1..a_Ta):
    y = a_Ta (last output of the causal audio transformer)
    s_tc = u·tanh(W_c v_tc + b_c + W_y y) + b_u,   w_tc = exp(s_tc) / sum_c' exp(s_tc')
    V'_tc = V_tc * w_tc + V_tc,   logits = W [mean_tc V'_tc ; a_1 … a_Ta flattened] + b
"""

from __future__ import annotations

import math

import pytest
import torch

from tacfn_lite.config import get_config
from tacfn_lite.fusion import batch_mate_effect, batch_summed_logits
from tacfn_lite.model import build_model

GRIDS = [(4, 16), (6, 24), (3, 32)]  # (frames, image size) → T' × H' × W' = 4×2×2, 6×3×3, 3×4×4


def official(n_frames: int = 4, image_size: int = 16, **switches):
    torch.manual_seed(0)
    cfg = get_config("tiny", tacfn="official", n_frames=n_frames, image_size=image_size,
                     **switches)
    return build_model(cfg.model).eval(), cfg


def inputs(cfg, batch: int = 3, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    d = cfg.data
    ta = 1 + int(d.sample_rate * d.duration) // d.hop_length
    return (torch.randn(batch, ta, d.n_mfcc, generator=gen),
            torch.rand(batch, d.n_frames, 3, d.image_size, d.image_size, generator=gen))


def reference_logits(model, audio, video, b_u: float = 0.7):
    """The equations above, one frame at a time, with the model's weights (b_u: any shift)."""
    block, head = model.fusion.a2v, model.fusion.head
    W_c, W_y, b_c = block.score_target.weight, block.score_source.weight, block.score_source.bias
    u = block.score_out.weight[0]
    a = model.audio_encoder(audio)  # (B, Ta, D)
    v, (T, H, W) = model.video_encoder(video)  # (B, T·H·W, D)
    logits, weights = [], []
    for b in range(a.shape[0]):
        y = a[b, -1]
        reinforced, w_b = [], []
        for t in range(T):
            cells = v[b, t * H * W:(t + 1) * H * W]  # (H·W, D)
            s = torch.stack([u @ torch.tanh(W_c @ c + b_c + W_y @ y) + b_u for c in cells])
            w = torch.exp(s - s.max()) / torch.exp(s - s.max()).sum()
            reinforced.append(cells * w[:, None] + cells)
            w_b.append(w)
        pooled = torch.cat(reinforced).mean(0)
        logits.append(head.weight @ torch.cat([pooled, a[b].flatten()]) + head.bias)
        weights.append(torch.cat(w_b))
    return torch.stack(logits), torch.stack(weights)


def test_named_setting_turns_on_every_official_switch_and_explicit_ones_win():
    m = get_config("tiny", tacfn="official").model
    assert (m.selection, m.weight_norm, m.weight_scale, m.classifier_source) == (
        "last_step", "frame", "none", "all")
    assert get_config("tiny", **{"model.tacfn": "official", "weight_norm": "clip"}).model.weight_norm == "clip"
    k = get_config("tiny").model
    assert (k.selection, k.weight_norm, k.weight_scale, k.classifier_source) == (
        "query", "clip", "count", "selected")
    with pytest.raises(ValueError, match="tacfn"):
        get_config("tiny", tacfn="paper")


@pytest.mark.parametrize("n_frames,image_size", GRIDS)
def test_official_setting_equals_the_reference_equations(n_frames, image_size):
    model, cfg = official(n_frames, image_size)
    audio, video = inputs(cfg)
    with torch.no_grad():
        out = model(audio, video)
        ref_logits, ref_weights = reference_logits(model, audio, video)
    T = out.video_grid[0]
    assert T > 1 and out.audio_select is None  # no selection map exists in the authors' code
    assert (out.logits - ref_logits).abs().max() <= 1e-6
    assert (out.video_weight * T - ref_weights).abs().max() <= 1e-6


@pytest.mark.parametrize("n_frames,image_size", GRIDS)
def test_frame_weights_sum_to_one_in_every_frame(n_frames, image_size):
    model, cfg = official(n_frames, image_size)
    with torch.no_grad():
        out = model(*inputs(cfg))
    T, H, W = out.video_grid
    per_frame = out.video_weight.view(-1, T, H * W).sum(-1) * T  # map is divided by T'
    torch.testing.assert_close(per_frame, torch.ones_like(per_frame), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.video_weight.sum(-1), torch.ones(3), atol=1e-6, rtol=0)


def test_last_step_selection_is_causal_and_takes_the_last_token():
    model, cfg = official()
    audio, _ = inputs(cfg)
    later = audio.clone()
    later[:, 40:] += 1.0  # change steps 40.. only
    with torch.no_grad():
        a, b = model.audio_encoder(audio), model.audio_encoder(later)
        chosen, selection = model.fusion.a2v.select(a)
    # The transformer is causal; the two 3-wide convolutions before it see 2 steps ahead.
    torch.testing.assert_close(a[:, :38], b[:, :38])
    assert not torch.allclose(a[:, 40:], b[:, 40:])
    torch.testing.assert_close(chosen, a[:, -1])
    assert selection is None


def parts(model, audio, video):
    """(encoder audio, selected vector, per-sample weights, logits) of a model."""
    a = model.audio_encoder(audio)
    v, grid = model.video_encoder(video)
    chosen, _ = model.fusion.a2v.select(a)
    return a, chosen, model.fusion.a2v.weigh(chosen, v, grid), model(audio, video).logits


def same_weights(**switches):
    """The official model and one with ``switches`` flipped, sharing every common parameter."""
    ref, cfg = official(n_frames=6, image_size=24)
    flipped, _ = official(n_frames=6, image_size=24, **switches)
    flipped.load_state_dict(ref.state_dict(), strict=False)
    audio, video = inputs(cfg)
    with torch.no_grad():
        return parts(ref, audio, video), parts(flipped, audio, video)


def test_weight_norm_switch_changes_weights_not_the_selected_vector():
    (a0, c0, w0, _), (a1, c1, w1, _) = same_weights(weight_norm="clip")
    torch.testing.assert_close(c0, c1)
    torch.testing.assert_close(a0, a1)
    assert (w0 - w1).abs().max() > 1e-3
    torch.testing.assert_close(w1.sum(-1), torch.ones(3))  # one softmax over the clip


def test_weight_scale_switch_changes_only_the_reinforcement_strength():
    (_, c0, w0, l0), (_, c1, w1, l1) = same_weights(weight_scale="count")
    torch.testing.assert_close(c0, c1)
    torch.testing.assert_close(w0, w1)
    assert (l0 - l1).abs().max() > 1e-4


def test_classifier_switch_changes_only_the_head():
    (_, c0, w0, _), (_, c1, w1, _) = same_weights(classifier_source="selected")
    torch.testing.assert_close(c0, c1)
    torch.testing.assert_close(w0, w1)
    flipped, _ = official(classifier_source="selected")
    assert flipped.fusion.head.net[1].in_features == 2 * flipped.cfg.d_model


def test_selection_switch_changes_the_selected_vector_and_adds_a_map():
    (a0, c0, _, _), (a1, c1, _, _) = same_weights(selection="query")
    assert not torch.allclose(a0, a1)  # the encoder is no longer causal
    assert not torch.allclose(c0, c1)
    model, cfg = official(selection="query")
    with torch.no_grad():
        out = model(*inputs(cfg))
    torch.testing.assert_close(out.audio_select.sum(-1), torch.ones(3))


def test_batch_summed_weights_move_a_clip_with_its_batch_mates_per_sample_weights_do_not():
    model, cfg = official()
    audio, video = inputs(cfg, batch=12)
    with torch.no_grad():
        assert (batch_summed_logits(model, audio, video, batch_sum=False)
                - model(audio, video).logits).abs().max() <= 1e-6
    summed = batch_mate_effect(model, audio, video, batch_size=4, n_draws=4)
    alone = batch_mate_effect(model, audio, video, batch_size=4, n_draws=4, batch_sum=False)
    assert summed["max_change"] > 1e-4 and not math.isnan(summed["mean_change"])
    assert alone["max_change"] <= 1e-6 and alone["flips"] == 0
