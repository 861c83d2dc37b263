"""Baseline fusions on the same encoders, so comparisons are only about fusion: unimodal, late
average of logits, concat + MLP, a MulT-style cross-modal transformer. Notebook 04."""

import torch
from torch import nn

from .config import ModelConfig
from .fusion import FusionOutput, Head


class UnimodalFusion(nn.Module):
    """Mean-pooled tokens of one modality → head (the other modality is ignored)."""

    def __init__(self, cfg: ModelConfig, modality: str):
        super().__init__()
        self.modality = modality
        self.head = Head(cfg.d_model, cfg)

    def forward(self, audio, video, grid) -> FusionOutput:
        tokens = audio if self.modality == "audio" else video
        return FusionOutput(self.head(tokens.mean(1)), video_grid=grid)


class LateFusion(nn.Module):
    """Average of an audio head's and a video head's logits (each sees one modality only)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.audio_head, self.video_head = Head(cfg.d_model, cfg), Head(cfg.d_model, cfg)

    def forward(self, audio, video, grid) -> FusionOutput:
        logits = 0.5 * (self.audio_head(audio.mean(1)) + self.video_head(video.mean(1)))
        return FusionOutput(logits, video_grid=grid)


class ConcatFusion(nn.Module):
    """[mean-pooled audio ; mean-pooled video] → MLP head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.head = Head(2 * cfg.d_model, cfg)

    def forward(self, audio, video, grid) -> FusionOutput:
        return FusionOutput(self.head(torch.cat([audio.mean(1), video.mean(1)], -1)),
                            video_grid=grid)


class CrossModalLayer(nn.Module):
    """MulT-style block: queries of one modality attend over all tokens of the other, then FFN."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(context)
        x = query + self.attn(self.norm_q(query), kv, kv, need_weights=False)[0]  # (B, Lq, D)
        return x + self.ff(self.norm_ff(x))


class MulTFusion(nn.Module):
    """Full cross-attention both ways (video←audio, audio←video), pooled and concatenated."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.video_from_audio, self.audio_from_video = CrossModalLayer(cfg), CrossModalLayer(cfg)
        self.head = Head(2 * cfg.d_model, cfg)

    def forward(self, audio, video, grid) -> FusionOutput:
        v = self.video_from_audio(video, audio)  # (B, N, D)
        a = self.audio_from_video(audio, video)  # (B, Ta, D)
        return FusionOutput(self.head(torch.cat([a.mean(1), v.mean(1)], -1)), video_grid=grid)
