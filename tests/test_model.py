"""Behaviour of the encoders, the TACFN block and the baselines (issue 4)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from tacfn_lite.config import MODELS, get_config
from tacfn_lite.encoders import seconds_encoding
from tacfn_lite.fusion import SelectReinforce
from tacfn_lite.model import build_model

B, TA, F, T, S = 3, 63, 13, 16, 32


def inputs(batch=B, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, TA, F, generator=g), torch.rand(batch, T, 3, S, S, generator=g)


def model(**overrides):
    torch.manual_seed(0)
    return build_model(get_config("tiny", **overrides).model).eval()


@pytest.mark.parametrize("name", MODELS)
def test_every_model_returns_logits_per_sample(name):
    out = model(model=name)(*inputs())
    assert out.logits.shape == (B, 8)
    if name != "tacfn":
        assert out.audio_select is None and out.video_weight is None


@pytest.mark.parametrize("direction, present, absent", [
    ("audio->video", ("audio_select", "video_weight"), ("video_select", "audio_weight")),
    ("video->audio", ("video_select", "audio_weight"), ("audio_select", "video_weight")),
    ("both", ("audio_select", "video_weight", "video_select", "audio_weight"), ()),
])
def test_tacfn_maps_follow_direction_and_sum_to_one(direction, present, absent):
    out = model(direction=direction)(*inputs())
    sizes = {"audio_select": TA, "audio_weight": TA, "video_select": T * 16, "video_weight": T * 16}
    for name in present:
        m = getattr(out, name)
        assert m.shape == (B, sizes[name])
        assert torch.all(m >= 0)
        torch.testing.assert_close(m.sum(-1), torch.ones(B))
    for name in absent:
        assert getattr(out, name) is None
    assert out.video_grid == (T, 4, 4)


def test_maps_are_per_sample_and_equal_the_single_sample_maps():
    net = model(direction="both")
    audio, video = inputs()
    together = net(audio, video)
    assert not torch.allclose(together.video_weight[0], together.video_weight[1])
    for i in range(B):
        alone = net(audio[i : i + 1], video[i : i + 1])
        for name in ("audio_select", "video_weight", "video_select", "audio_weight"):
            torch.testing.assert_close(getattr(alone, name)[0], getattr(together, name)[i])


def test_maps_follow_batch_permutation():
    net = model()
    audio, video = inputs()
    perm = torch.tensor([2, 0, 1])
    a, b = net(audio, video), net(audio[perm], video[perm])
    torch.testing.assert_close(b.video_weight, a.video_weight[perm])
    torch.testing.assert_close(b.logits, a.logits[perm])


def test_zero_weights_leave_residual_only():
    """With a constant score (score_out = 0) the map is uniform: V' = V * (N * 1/N) + V = 2V."""
    cfg = get_config().model
    block = SelectReinforce(cfg).eval()
    torch.nn.init.zeros_(block.score_out.weight)
    source, target = torch.randn(2, 5, cfg.d_model), torch.randn(2, 7, cfg.d_model)
    pooled, _, _, weights = block(source, target)
    torch.testing.assert_close(weights, torch.full((2, 7), 1 / 7))
    torch.testing.assert_close(pooled, 2 * target.mean(1))
    no_res = SelectReinforce(replace(cfg, residual=False)).eval()
    no_res.load_state_dict(block.state_dict())
    torch.testing.assert_close(no_res(source, target)[0], target.mean(1))


def test_ablation_switches_change_the_computation():
    audio, video = inputs()
    full = model()
    ref = full(audio, video).logits
    for switch in ("select", "reinforce", "residual"):
        ablated = model(**{switch: False})
        ablated.load_state_dict(full.state_dict())
        out = ablated(audio, video)
        assert not torch.allclose(out.logits, ref), switch
    no_select = model(select=False)(audio, video)
    assert no_select.audio_select is None and no_select.video_weight is not None
    no_reinforce = model(reinforce=False)(audio, video)
    assert no_reinforce.video_weight is None and no_reinforce.audio_select is not None


def test_no_selection_means_mean_pooled_source():
    cfg = replace(get_config().model, select=False)
    block = SelectReinforce(cfg).eval()
    source, target = torch.randn(2, 5, cfg.d_model), torch.randn(2, 7, cfg.d_model)
    _, chosen, selection, _ = block(source, target)
    assert selection is None
    torch.testing.assert_close(chosen, source.mean(1))


@pytest.mark.parametrize("name", ["tacfn", "mult", "concat", "late"])
def test_gradients_reach_both_encoders(name):
    net = model(model=name).train()
    net(*inputs()).logits.sum().backward()
    for enc in (net.audio_encoder, net.video_encoder):
        grads = [p.grad for p in enc.parameters() if p.requires_grad]
        assert all(g is not None for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0


def test_unimodal_model_ignores_the_other_modality():
    audio, video = inputs()
    net = model(model="audio")
    torch.testing.assert_close(net(audio, video).logits, net(audio, torch.zeros_like(video)).logits)
    assert net.video_encoder is None


def test_shared_time_encoding_gives_audio_and_video_the_same_code_at_the_same_second():
    """Audio at 32 tokens/s (hop 500): token j at j/32 s; video at 8 fps: frame f at (f + ½)/8 s.
    So frame f and audio token 4f + 2 sit at the same second, and no other pair does."""
    net = model(hop_length=500)
    cpu = torch.device("cpu")
    a_time = net.audio_encoder.time(64, cpu)  # (64, D): 0 .. 1.97 s
    v_time = net.video_encoder.time(T, cpu)  # (16, D): 0.0625 .. 1.9375 s
    torch.testing.assert_close(v_time[0], a_time[2])  # both at 0.0625 s
    torch.testing.assert_close(v_time[5], a_time[22])  # both at 0.6875 s
    torch.testing.assert_close(v_time[0], seconds_encoding(torch.tensor([0.0625]), 32)[0])
    assert (v_time[0] - a_time[0]).abs().max() > 0.1  # 0.0625 s vs 0 s
    gap = (a_time[:, None] - v_time[None]).abs().amax(-1)  # (64, 16): token j vs frame f
    same = gap < 1e-6
    expected = torch.zeros(64, T, dtype=torch.bool)
    expected[4 * torch.arange(T) + 2, torch.arange(T)] = True
    assert torch.equal(same, expected)


def test_learned_time_encoding_gives_each_modality_its_own_table():
    net = model(time_encoding="learned")
    names = sorted(n for n, _ in net.named_parameters() if ".time." in n)
    assert names == ["audio_encoder.time.table", "video_encoder.time.table"]
    a_table, v_table = net.audio_encoder.time.table, net.video_encoder.time.table
    assert a_table.data_ptr() != v_table.data_ptr() and not torch.equal(a_table, v_table)
    audio, video = inputs()
    with torch.no_grad():
        a_ref, (v_ref, _) = net.audio_encoder(audio), net.video_encoder(video)
        a_table += 1.0  # moves only the audio positions
        a_new, (v_new, _) = net.audio_encoder(audio), net.video_encoder(video)
        assert not torch.allclose(a_new, a_ref)
        torch.testing.assert_close(v_new, v_ref)
        a_table -= 1.0
        v_table += 1.0  # moves only the video positions
        a_new, (v_new, _) = net.audio_encoder(audio), net.video_encoder(video)
        torch.testing.assert_close(a_new, a_ref)
        assert not torch.allclose(v_new, v_ref)


def test_shared_time_encoding_has_no_learned_table():
    net = model(time_encoding="shared")
    assert [n for n, _ in net.named_parameters() if ".time." in n] == []
    assert not hasattr(net.audio_encoder.time, "table")
    assert not hasattr(net.video_encoder.time, "table")


def test_wrong_input_shape_names_expected_and_got():
    net = model()
    with pytest.raises(ValueError, match=r"audio: expected \(B, Ta, 13\), got \(3, 63, 12\)"):
        net(torch.randn(3, 63, 12), torch.rand(3, T, 3, S, S))
    with pytest.raises(ValueError, match="video: expected"):
        net(torch.randn(3, 63, 13), torch.rand(3, T, S, S, 3))


def test_modality_dropout_only_acts_in_training():
    audio, video = inputs()
    net = model(audio_dropout=1.0)
    torch.testing.assert_close(net(audio, video).logits, model()(audio, video).logits)


def test_paper_preset_builds_resnext_with_2048_channels_before_projection():
    cfg = get_config("paper").model
    net = build_model(cfg)
    assert net.video_encoder.backbone.proj.in_channels == 2048
    assert cfg.audio_layers == 5 and cfg.n_heads == 8


@pytest.mark.parametrize("causal", [False, True])
def test_audio_layer_computes_what_torch_transformer_layer_computes(causal):
    """encoders.EncoderLayer is a faster nn.TransformerEncoderLayer(norm_first=True): same
    parameter names (old checkpoints load) and the same outputs, causal mask included."""
    from tacfn_lite.encoders import EncoderLayer

    cfg = get_config("tiny", d_model=16, n_heads=4).model
    ref = nn.TransformerEncoderLayer(16, 4, 32, cfg.dropout, batch_first=True, norm_first=True)
    mine = EncoderLayer(cfg)
    mine.load_state_dict(ref.state_dict())  # strict: every name matches
    x = torch.randn(3, 11, 16)
    mask = nn.Transformer.generate_square_subsequent_mask(11) if causal else None
    expected = ref.eval()(x, src_mask=mask, is_causal=causal)
    torch.testing.assert_close(mine.eval()(x, causal), expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(mine(x, not causal), expected, atol=1e-3)  # the mask matters


def test_video_cnn_first_conv_sees_each_frame_and_its_difference_from_the_clip_mean():
    """TinyVideoCNN computes its first convolution on [x ; x − mean over time] without building
    the 6-channel input: the same output as the plain network on the concatenated frames."""
    from tacfn_lite.encoders import TinyVideoCNN

    torch.manual_seed(0)
    net = TinyVideoCNN(get_config("tiny").model).eval()
    video = torch.rand(3, 16, 3, 32, 32)
    x = video.transpose(1, 2)
    expected = net.net(torch.cat([x, x - x.mean(2, keepdim=True)], dim=1))
    torch.testing.assert_close(net(video), expected, atol=1e-5, rtol=1e-5)
    still = video[:, :1].expand_as(video)  # no motion: the difference channels are zero
    without_diff = net.net(torch.cat([still.transpose(1, 2), torch.zeros_like(x)], dim=1))
    torch.testing.assert_close(net(still), without_diff, atol=1e-5, rtol=1e-5)


def test_dropout_keeps_each_element_with_probability_one_minus_p_and_rescales():
    from tacfn_lite.runtime import dropout

    torch.manual_seed(0)
    x = torch.ones(400, 1000)
    y = dropout(x, 0.1, True)
    assert y.unique().tolist() == pytest.approx([0.0, 1 / 0.9])
    assert (y == 0).float().mean().item() == pytest.approx(0.1, abs=0.002)  # 400k draws: σ 5e-4
    assert (y == 0).float().mean(0).std().item() < 0.03  # no column always dropped or kept
    assert dropout(x, 0.1, False) is x and dropout(x, 0.0, True) is x


def test_dropout_is_seeded_by_torch_manual_seed_and_its_gradient_is_the_mask():
    from tacfn_lite.runtime import dropout

    x = torch.randn(64, 63, 32, requires_grad=True)
    torch.manual_seed(5)
    a = dropout(x, 0.3, True)
    torch.manual_seed(5)
    b = dropout(x, 0.3, True)
    assert torch.equal(a, b) and not torch.equal(a, dropout(x, 0.3, True))
    a.sum().backward()
    assert torch.equal(x.grad, torch.where(a == 0, 0.0, 1 / 0.7))


def test_training_mode_uses_the_kits_dropout_and_evaluation_is_deterministic():
    m = model().train()
    a, v = inputs()
    torch.manual_seed(0)
    first = m(a, v).logits
    assert not torch.equal(first, m(a, v).logits)  # dropout acts in training
    torch.manual_seed(0)
    assert torch.equal(first, m(a, v).logits)  # and is seeded
    m.eval()
    assert torch.equal(m(a, v).logits, m(a, v).logits)


def test_selection_computes_what_the_multihead_attention_module_computes():
    block = SelectReinforce(get_config("tiny").model).eval()
    nn.init.normal_(block.query)  # away from the near-zero initial query
    source = torch.randn(5, 63, 32)
    picked, selection = block.select(source)
    want, want_map = block.select_attn(block.query.expand(5, -1, -1), source, source)
    torch.testing.assert_close(picked, want[:, 0])
    torch.testing.assert_close(selection, want_map[:, 0])
