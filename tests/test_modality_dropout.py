"""Modality dropout (``ModelConfig.audio_dropout`` / ``video_dropout``): training mode only,
whole modality per sample."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tacfn_lite.cli import build_parser, config_from_args
from tacfn_lite.config import get_config
from tacfn_lite.model import build_model

B, TA, T, S = 6, 63, 16, 32


def _model(model: str = "tacfn", **overrides) -> nn.Module:
    cfg = get_config("tiny", model=model, dropout=0.0, **overrides)  # no ordinary dropout
    torch.manual_seed(0)
    return build_model(cfg.model)


def _inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, TA, 13, generator=g), torch.rand(B, T, 3, S, S, generator=g)


def _freeze_batchnorm(model: nn.Module) -> nn.Module:
    """Training mode for the model (so modality dropout acts) but running statistics in
    BatchNorm, so each sample's output depends on that sample alone."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


@pytest.mark.parametrize("model_name", ["tacfn", "concat", "mult"])
def test_zero_probability_feeds_inputs_unchanged_and_draws_no_random_numbers(model_name):
    model = _model(model_name).train()
    audio, video = _inputs()
    with torch.no_grad():
        v, grid = model.video_encoder(video)
        expected = model.fusion(model.audio_encoder(audio), v, grid).logits
        rng_before = torch.get_rng_state()
        got = model(audio, video).logits
    assert torch.equal(got, expected)
    # No random numbers drawn: runs with p=0 reproduce runs made before the option existed.
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_audio_probability_one_makes_training_output_independent_of_audio():
    model = _model(audio_dropout=1.0).train()
    audio, video = _inputs(1)
    other_audio, _ = _inputs(2)
    with torch.no_grad():
        out = model(audio, video).logits
        out_other = model(other_audio, video).logits
        out_zero = model(torch.zeros_like(audio), video).logits
    assert torch.equal(out, out_other)
    assert torch.equal(out, out_zero)


def test_audio_probability_one_leaves_evaluation_untouched():
    model = _model(audio_dropout=1.0).eval()
    audio, video = _inputs(1)
    other_audio, _ = _inputs(2)
    with torch.no_grad():
        assert not torch.allclose(model(audio, video).logits, model(other_audio, video).logits)


def test_video_probability_one_makes_training_output_independent_of_video():
    model = _model(video_dropout=1.0).train()
    audio, video = _inputs(1)
    _, other_video = _inputs(2)
    with torch.no_grad():
        assert torch.equal(model(audio, video).logits, model(audio, other_video).logits)


def test_dropout_removes_the_whole_modality_of_a_sample_or_none_of_it():
    model = _freeze_batchnorm(_model(audio_dropout=0.5))
    audio, video = _inputs(3)
    audio, video = audio.repeat(4, 1, 1), video.repeat(4, 1, 1, 1, 1)  # 24 samples
    with torch.no_grad():
        torch.manual_seed(5)
        got = model(audio, video).logits
        model.cfg = get_config("tiny", dropout=0.0).model  # same weights, no modality dropout
        full = model(audio, video).logits
        silent = model(torch.zeros_like(audio), video).logits
    is_full = torch.isclose(got, full, atol=1e-6).all(-1)  # (B,)
    is_silent = torch.isclose(got, silent, atol=1e-6).all(-1)
    assert bool((is_full ^ is_silent).all()), "each sample must be either intact or audio-free"
    assert 0 < int(is_silent.sum()) < len(got), "p=0.5 should drop some but not all of 24"


def test_cli_flags_set_modality_dropout():
    args = build_parser().parse_args(["train", "--audio-dropout", "0.3", "--video-dropout", "0.1"])
    cfg = config_from_args(args)
    assert cfg.model.audio_dropout == 0.3
    assert cfg.model.video_dropout == 0.1


def test_probability_outside_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="audio_dropout"):
        get_config("tiny", audio_dropout=1.5)
