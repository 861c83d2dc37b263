"""Unimodal encoders (audio 1D-CNN + transformer, video 3D-CNN) emitting ``(B, L, d_model)`` tokens
with a time encoding: ``shared`` seconds for both modalities, so fusion can bind co-occurring
events, or ``learned`` per modality (the ablation). Notebook 01."""

import copy
import math

import torch
from torch import nn

from .config import ModelConfig
from .runtime import dropout


def seconds_encoding(times: torch.Tensor, d_model: int, max_seconds: float = 10.0) -> torch.Tensor:
    """Sinusoidal encoding of absolute times (seconds), shared by all modalities; periods from
    ~20 ms to ``2 * max_seconds``. Shapes: times ``(L,)`` → ``(L, d_model)``."""
    half = d_model // 2
    periods = torch.logspace(math.log10(0.02), math.log10(2 * max_seconds), half,
                             device=times.device)
    angle = 2 * math.pi * times[:, None] / periods[None, :]  # (L, half)
    enc = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
    return nn.functional.pad(enc, (0, d_model - 2 * half))


class TimeEncoding(nn.Module):
    """Adds a time encoding to tokens sampled at ``rate`` tokens per second."""

    def __init__(self, cfg: ModelConfig, rate: float, offset: float, max_len: int = 512):
        super().__init__()
        self.kind, self.rate, self.max_seconds = cfg.time_encoding, rate, cfg.max_seconds
        self.offset = offset  # token i sits at (i + offset) / rate seconds
        self.d_model = cfg.d_model
        if self.kind == "learned":
            self.table = nn.Parameter(torch.randn(max_len, cfg.d_model) * 0.02)

    def forward(self, length: int, device: torch.device) -> torch.Tensor:
        if self.kind == "learned":
            if length > self.table.shape[0]:
                raise ValueError(f"sequence of {length} steps exceeds learned table "
                                 f"{self.table.shape[0]}")
            return self.table[:length]
        times = (torch.arange(length, device=device) + self.offset) / self.rate
        return seconds_encoding(times, self.d_model, self.max_seconds)


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer: what ``nn.TransformerEncoderLayer(norm_first=True,
    activation=relu)`` computes, with its parameter names, but attention as two batched matmuls
    (faster on a CPU than the fused kernels at head width 8 and ~60 tokens).
    Shapes: ``x (B, L, D)`` → ``(B, L, D)``; ``causal``: token t attends to steps ≤ t only."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, self.n_heads, self.p = cfg.d_model, cfg.n_heads, cfg.dropout
        self.self_attn = nn.MultiheadAttention(d, cfg.n_heads, batch_first=True)  # weights only
        self.linear1, self.linear2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        B, L, D = x.shape
        drop = lambda t: dropout(t, self.p, self.training)  # noqa: E731
        attn = self.self_attn
        qkv = nn.functional.linear(self.norm1(x), attn.in_proj_weight, attn.in_proj_bias)
        q, k, v = qkv.view(B, L, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        scores = (q * (D // self.n_heads) ** -0.5) @ k.transpose(-1, -2)  # (B, h, L, L)
        if causal:
            future = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        heads = drop(scores.softmax(-1)) @ v  # (B, h, L, D/h)
        x = x + drop(attn.out_proj(heads.transpose(1, 2).reshape(B, L, D)))
        return x + drop(self.linear2(drop(nn.functional.relu(self.linear1(self.norm2(x))))))


class AudioEncoder(nn.Module):
    """MFCC frames → 1D-CNN (local context) → transformer encoder (intra-modal self-attention).
    Shapes: ``audio (B, Ta, F)`` → tokens ``(B, Ta, D)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.norm_in = nn.BatchNorm1d(cfg.audio_dim)
        self.conv = nn.Sequential(nn.Conv1d(cfg.audio_dim, d, 3, padding=1), nn.GELU(),
                                  nn.Conv1d(d, d, 3, padding=1), nn.GELU())
        self.time = TimeEncoding(cfg, cfg.audio_rate, offset=0.0)  # centred STFT frames
        layer = EncoderLayer(cfg)  # copied like nn.TransformerEncoder does: same initial weights
        layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(cfg.audio_layers))
        self.transformer = nn.ModuleDict({"layers": layers})  # keys as nn.TransformerEncoder's
        # TACFN selection="last_step" (the authors' code): causal, so token t sees steps ≤ t only.
        self.causal = cfg.model == "tacfn" and cfg.selection == "last_step"

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.ndim != 3 or audio.shape[-1] != self.norm_in.num_features:
            raise ValueError(f"audio: expected (B, Ta, {self.norm_in.num_features}), "
                             f"got {tuple(audio.shape)}")
        x = self.conv(self.norm_in(audio.transpose(1, 2))).transpose(1, 2).contiguous()  # (B,Ta,D)
        x = x + self.time(x.shape[1], x.device)
        for layer in self.transformer["layers"]:
            x = layer(x, self.causal)
        return x  # (B, Ta, D)


class TinyVideoCNN(nn.Module):
    """A small 3D-CNN for CPU: per-frame 4×4 patches, then 3×3×3 and temporal convolutions.
    Its input is each frame next to its difference from the clip's mean frame (6 channels): the
    difference removes what stays constant (identity, skin colour, background) and shows what
    moves, so expressions stand out. Keeps every frame (temporal stride 1) and a 4×4 grid of
    cells at 32², so video tokens are frames × cells.
    Shapes: ``video (B, T, 3, H, W)`` → ``(B, D, T, H/8, W/8)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        w = cfg.video_width
        self.net = nn.Sequential(
            nn.Conv3d(6, w, (1, 4, 4), stride=(1, 4, 4)), nn.BatchNorm3d(w), nn.GELU(),
            nn.Conv3d(w, 2 * w, 3, stride=(1, 2, 2), padding=1), nn.BatchNorm3d(2 * w), nn.GELU(),
            nn.Conv3d(2 * w, cfg.d_model, (3, 1, 1), padding=(1, 0, 0)))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        # channels-last: the same convolutions, about twice as fast on a CPU (oneDNN)
        x = video.transpose(1, 2).contiguous(memory_format=torch.channels_last_3d)  # (B,3,T,H,W)
        first = self.net[0]  # on [x ; x - mean] with weights [W_x ; W_d], i.e. computed as
        w_x, w_d = first.weight[:, :3], first.weight[:, 3:]  # conv(x, W_x + W_d) - conv(mean, W_d)
        y = (nn.functional.conv3d(x, w_x + w_d, first.bias, first.stride)
             - nn.functional.conv3d(x.mean(2, keepdim=True), w_d, None, first.stride))
        return self.net[1:](y)  # (B, D, T, H/8, W/8)


class VideoEncoder(nn.Module):
    """Video backbone → tokens over frames × cells, plus time and cell encodings.
    Shapes: ``video (B, T, 3, H, W)`` → tokens ``(B, N, D)`` with N = T'·H'·W' and the grid
    ``(T', H', W')`` in ``self.grid`` after a forward."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.video_backbone == "tiny":
            self.backbone = TinyVideoCNN(cfg)
            self.time_stride = 1
        else:
            from .resnext import ResNeXt3D  # paper size, only built when asked for

            self.backbone = ResNeXt3D(cfg)
            self.time_stride = ResNeXt3D.time_stride
        self.time = TimeEncoding(cfg, cfg.video_rate / self.time_stride, offset=0.5)
        self.cell = nn.Parameter(torch.randn(64, cfg.d_model) * 0.02)  # learned cell positions

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        if video.ndim != 5 or video.shape[2] != 3:
            raise ValueError(f"video: expected (B, T, 3, H, W), got {tuple(video.shape)}")
        fmap = self.backbone(video)  # (B, D, T', H', W')
        B, D, T, H, W = fmap.shape
        if H * W > self.cell.shape[0]:
            raise ValueError(f"video grid {H}x{W} exceeds {self.cell.shape[0]} cell positions")
        x = fmap.flatten(3).permute(0, 2, 3, 1)  # (B, T', H'W', D)
        x = x + self.time(T, x.device)[None, :, None, :] + self.cell[: H * W][None, None]
        return x.reshape(B, T * H * W, D), (T, H, W)  # (B, N, D)
