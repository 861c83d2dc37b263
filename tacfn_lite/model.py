"""Assemble encoders + a fusion from a :class:`ModelConfig` (notebook 01 onwards)."""

import torch
from torch import nn

from .baselines import ConcatFusion, LateFusion, MulTFusion, UnimodalFusion
from .config import ModelConfig
from .encoders import AudioEncoder, TimeEncoding, VideoEncoder
from .fusion import FusionOutput, TACFNFusion


class FeatureVideoEncoder(nn.Module):
    """Video given as per-step feature vectors (IEMOCAP's 35 facial features): Linear → tokens
    with the shared time encoding, one cell per step, so the grid is ``(T, 1, 1)``.
    Shapes: ``video (B, T, Fv)`` → tokens ``(B, T, D)`` and grid ``(T, 1, 1)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.video_dim)
        self.proj = nn.Linear(cfg.video_dim, cfg.d_model)
        self.time = TimeEncoding(cfg, cfg.video_rate, offset=0.0)

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        if video.ndim != 3 or video.shape[-1] != self.proj.in_features:
            raise ValueError(f"video: expected (B, T, {self.proj.in_features}) features, "
                             f"got {tuple(video.shape)}")
        x = self.proj(self.norm(video))  # (B, T, D)
        return x + self.time(x.shape[1], x.device), (x.shape[1], 1, 1)


class EmotionModel(nn.Module):
    """Audio and video encoders feeding one fusion module.
    ``forward(audio, video)`` returns a :class:`FusionOutput`. Unimodal models do not build the
    encoder they ignore (its input still has to be passed, and does not affect the output).
    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)`` → logits ``(B, C)`` plus maps."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.audio_encoder = AudioEncoder(cfg) if cfg.model != "video" else None
        video_cls = FeatureVideoEncoder if cfg.video_backbone == "features" else VideoEncoder
        self.video_encoder = video_cls(cfg) if cfg.model != "audio" else None
        fusions = {"tacfn": TACFNFusion, "concat": ConcatFusion, "late": LateFusion,
                   "mult": MulTFusion}
        self.fusion = (UnimodalFusion(cfg, cfg.model) if cfg.model in ("audio", "video")
                       else fusions[cfg.model](cfg))

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> FusionOutput:
        if audio.shape[0] != video.shape[0]:
            raise ValueError(f"audio and video batch sizes differ: {audio.shape[0]} vs "
                             f"{video.shape[0]}")
        if self.training and (self.cfg.audio_dropout > 0 or self.cfg.video_dropout > 0):
            audio, video = self._drop_modalities(audio, video)
        a = self.audio_encoder(audio) if self.audio_encoder is not None else None  # (B, Ta, D)
        v, grid = self.video_encoder(video) if self.video_encoder is not None else (None, None)
        return self.fusion(a, v, grid)

    def _drop_modalities(self, audio: torch.Tensor, video: torch.Tensor):
        """Zero whole modalities per sample (training only). Shapes unchanged."""
        B = audio.shape[0]
        keep_a = torch.rand(B, device=audio.device) >= self.cfg.audio_dropout  # (B,)
        keep_v = torch.rand(B, device=video.device) >= self.cfg.video_dropout
        return (audio * keep_a.view(B, 1, 1).to(audio.dtype),
                video * keep_v.view(B, *[1] * (video.ndim - 1)).to(video.dtype))


def build_model(cfg: ModelConfig) -> EmotionModel:
    """The one entry point used by training, notebooks and the CLI."""
    return EmotionModel(cfg)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
