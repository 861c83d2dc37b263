"""Captum adapter: IG completeness and exact values on a linear toy, named baselines, occlusion,
modality ablation, layer attributions, randomisation check, load-or-train."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tacfn_lite.checkpoints import load_model, load_or_train
from tacfn_lite.config import get_config
from tacfn_lite.data import to_batch
from tacfn_lite.explain import (
    LogitsForward,
    integrated_gradients,
    make_baselines,
    modality_ablation,
    modality_importance_per_class,
    occlusion,
    randomised_copy,
    rank_correlation,
    token_attributions,
)
from tacfn_lite.fusion import FusionOutput
from tacfn_lite.model import build_model


class LinearToy(nn.Module):
    """logit_0 = <w_a, audio> + <w_v, video>, logit_1 = −logit_0: IG is exactly (x − b)·w."""

    def __init__(self, w_audio: torch.Tensor, w_video: torch.Tensor):
        super().__init__()
        self.register_buffer("w_audio", w_audio)
        self.register_buffer("w_video", w_video)
        self.cfg = SimpleNamespace(n_classes=2)

    def forward(self, audio, video):
        s = (audio * self.w_audio).flatten(1).sum(1) + (video * self.w_video).flatten(1).sum(1)
        return FusionOutput(torch.stack([s, -s], 1))


def _toy_inputs(B=2, Ta=6, F=3, T=4, H=8, W=8):
    g = torch.Generator().manual_seed(1)
    return torch.rand(B, Ta, F, generator=g), torch.rand(B, T, 3, H, W, generator=g)


def test_ig_on_linear_model_equals_input_times_weight():
    audio, video = _toy_inputs()
    w_a, w_v = torch.randn(audio.shape[1:]), torch.randn(video.shape[1:])
    attr = integrated_gradients(LinearToy(w_a, w_v), audio, video, torch.tensor([0, 1]),
                                baseline="zeros", n_steps=8)
    sign = torch.tensor([1.0, -1.0])
    torch.testing.assert_close(attr.audio, audio * w_a * sign.view(2, 1, 1))
    torch.testing.assert_close(attr.video, video * w_v * sign.view(2, 1, 1, 1, 1))
    assert float(attr.completeness_error.max()) < 1e-4


class SteepToy(LinearToy):
    """logit_0 = exp(4·s) of the linear toy's s: its path integral needs many steps."""

    def forward(self, audio, video):
        s = torch.exp(4 * super().forward(audio, video).logits[:, 0])
        return FusionOutput(torch.stack([s, -s], 1))


def test_ig_doubles_its_steps_until_completeness_is_met():
    audio, video = _toy_inputs(B=1)
    toy = SteepToy(torch.full(audio.shape[1:], 0.01), torch.full(video.shape[1:], 0.001))
    once = integrated_gradients(toy, audio, video, torch.tensor([0]), "zeros", n_steps=2,
                                max_error=None)
    assert float(once.completeness_error.max()) > 1e-3  # two steps are not enough here
    met = integrated_gradients(toy, audio, video, torch.tensor([0]), "zeros", n_steps=2,
                               max_error=1e-3)
    assert float(met.completeness_error.max()) <= 1e-3


def test_ig_completeness_within_1pct_on_tacfn(synthav):
    arrays = synthav("synchrony", "quick")
    model = build_model(get_config(variant="synchrony").model).eval()
    batch = to_batch(arrays, [0, 100, 300])
    attr = integrated_gradients(model, batch.audio, batch.video, batch.label, "mean", n_steps=64)
    assert attr.audio.shape == batch.audio.shape and attr.video.shape == batch.video.shape
    assert float(attr.completeness_error.max()) < 0.01


@pytest.mark.parametrize("modality", ["audio", "video"])
def test_ig_gives_a_unimodal_model_zero_attribution_on_the_input_it_ignores(synthav, modality):
    arrays = synthav("synchrony", "quick")
    model = build_model(get_config(variant="synchrony", model=modality).model).eval()
    batch = to_batch(arrays, [0, 300])
    attr = integrated_gradients(model, batch.audio, batch.video, batch.label, "mean", n_steps=32,
                                max_error=None)
    used, ignored = (attr.audio, attr.video) if modality == "audio" else (attr.video, attr.audio)
    assert float(ignored.abs().max()) == 0.0 and float(used.abs().max()) > 0.0
    assert float(attr.completeness_error.max()) < 0.05


def test_mean_baseline_is_each_clips_temporal_mean():
    audio, video = _toy_inputs()
    base_a, base_v = make_baselines("mean", audio, video)
    torch.testing.assert_close(base_a[:, 3], audio.mean(1))
    torch.testing.assert_close(base_v[:, 0], video.mean(1))


def test_blur_baseline_leaves_constant_input_unchanged():
    audio, video = torch.full((1, 10, 2), 0.3), torch.full((1, 6, 3, 8, 8), 0.7)
    base_a, base_v = make_baselines("blur", audio, video)
    torch.testing.assert_close(base_a, audio)
    torch.testing.assert_close(base_v, video)


def test_unknown_baseline_and_bad_target_shape_raise():
    audio, video = _toy_inputs()
    with pytest.raises(ValueError, match="baseline"):
        make_baselines("noise", audio, video)
    model = LinearToy(torch.ones(audio.shape[1:]), torch.ones(video.shape[1:]))
    with pytest.raises(ValueError, match="target"):
        integrated_gradients(model, audio, video, torch.tensor([0]))


def test_occlusion_only_touches_frames_near_the_weighted_frame():
    audio, video = _toy_inputs(B=1)
    w_a = torch.zeros(audio.shape[1:])
    w_a[0] = 1.0  # only audio frame 0 matters
    attr = occlusion(LinearToy(w_a, torch.zeros(video.shape[1:])), audio, video,
                     torch.tensor([0]), baseline="zeros", audio_window=2)
    per_frame = attr.audio_time()[0]
    assert per_frame[0] > 0 and torch.all(per_frame[2:] == 0)
    assert torch.all(attr.video == 0)


def test_modality_ablation_gives_each_modality_its_exact_logit_share():
    audio, video = _toy_inputs()
    w_a, w_v = torch.randn(audio.shape[1:]), torch.zeros(video.shape[1:])
    imp = modality_ablation(LinearToy(w_a, w_v), audio, video, torch.tensor([0, 0]), "zeros")
    torch.testing.assert_close(imp[:, 0], (audio * w_a).flatten(1).sum(1))
    assert torch.all(imp[:, 1] == 0)
    per_class = modality_importance_per_class(imp, torch.tensor([1, 1]), 3)
    torch.testing.assert_close(per_class[1], imp.mean(0))
    assert torch.isnan(per_class[0]).all()


def test_token_attributions_live_on_the_encoder_grid(synthav):
    arrays = synthav("synchrony", "quick")
    model = build_model(get_config(variant="synchrony").model).eval()
    batch = to_batch(arrays, [0, 1])
    audio_tok, video_tok = token_attributions(model, batch.audio, batch.video, batch.label,
                                              n_steps=8)
    grid = model(batch.audio, batch.video).video_grid
    assert audio_tok.shape == batch.audio.shape[:2]
    assert video_tok.shape == (2, *grid)


def test_randomised_copy_changes_every_weight_and_keeps_the_original():
    model = build_model(get_config(model="tacfn").model).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clone = randomised_copy(model, seed=3)
    for name, p in clone.named_parameters():
        if p.numel() > 1 and before[name].std() > 0:
            assert not torch.equal(p, before[name]), name
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_rank_correlation_is_one_for_monotone_and_minus_one_for_reversed_maps():
    a = torch.arange(10.0).view(1, 10)
    torch.testing.assert_close(rank_correlation(a, a ** 2), torch.tensor([1.0]))
    torch.testing.assert_close(rank_correlation(a, -a), torch.tensor([-1.0]))


def test_logits_forward_returns_the_models_logits():
    audio, video = _toy_inputs()
    model = LinearToy(torch.ones(audio.shape[1:]), torch.ones(video.shape[1:]))
    torch.testing.assert_close(LogitsForward(model)(audio, video), model(audio, video).logits)


def test_load_or_train_trains_once_then_loads(tiny_run, tmp_path):
    cfg = tiny_run(variant="synchrony", epochs=1)
    path = tmp_path / "ckpt" / "tacfn.pt"
    model, saved = load_or_train(cfg, path)
    assert path.is_file() and saved.model == cfg.model
    stamp = path.stat().st_mtime_ns
    again, _ = load_or_train(cfg, path)
    assert path.stat().st_mtime_ns == stamp  # loaded, not retrained
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_load_model_names_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_model(tmp_path / "nope.pt")


def test_attributions_come_back_detached_and_finite():
    audio, video = _toy_inputs()
    attr = integrated_gradients(LinearToy(torch.ones(audio.shape[1:]), torch.ones(video.shape[1:])),
                                audio, video, torch.tensor([0, 0]), "zeros", n_steps=4)
    assert not attr.audio.requires_grad and isinstance(attr.video, torch.Tensor)
    assert np.isfinite(attr.video.numpy()).all()
