"""TACFN fusion block (arXiv 2505.06536, §3): intra-modal selection → spliced fusion weights →
reinforcement with residual → pool and classify. Returns per-sample maps. Notebooks 02 and 03.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .config import ModelConfig


# Which maps show a direction: (map over video cells, map over audio tokens).
DIRECTION_MAPS = {"audio->video": ("video_weight", "audio_select"),
                  "video->audio": ("video_select", "audio_weight"),
                  "both": ("video_weight", "audio_select")}


@dataclass(frozen=True)
class FusionOutput:
    """What every model returns. Maps are per sample, normalised over tokens, never batch-reduced.

    Shapes:
        logits ``(B, C)``; audio_select ``(B, Ta)`` (audio tokens selected, audio→video);
        video_weight ``(B, N)`` over N = T'·H'·W' video cells (reinforcement map, audio→video);
        video_select ``(B, N)`` and audio_weight ``(B, Ta)`` for the video→audio direction.
        ``video_grid`` is (T', H', W') so ``video_weight.view(B, *video_grid)`` is frames × cells.
    """

    logits: torch.Tensor
    audio_select: torch.Tensor | None = None
    video_weight: torch.Tensor | None = None
    video_select: torch.Tensor | None = None
    audio_weight: torch.Tensor | None = None
    video_grid: tuple[int, int, int] | None = None


class Head(nn.Module):
    """Classifier shared by all models: LayerNorm → Linear → GELU → Linear."""

    def __init__(self, in_dim: int, cfg: ModelConfig):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, cfg.d_model), nn.GELU(),
                                 nn.Dropout(cfg.dropout), nn.Linear(cfg.d_model, cfg.n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SelectReinforce(nn.Module):
    """One TACFN direction: source tokens select a vector that reweights every target token.

    Shapes: source ``(B, S, D)``, target ``(B, N, D)`` → (pooled target ``(B, D)``, selected
    source ``(B, D)``, selection ``(B, S)`` or None, weights ``(B, N)`` or None).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, self.cfg = cfg.d_model, cfg
        # §3.1 intra-modal selection: a learned query self-attends over the source tokens.
        self.query = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.select_attn = nn.MultiheadAttention(d, cfg.n_heads, dropout=0.0, batch_first=True)
        # §3.2 spliced fusion weights: [selected source ; target token] → tanh → score.
        self.score_source = nn.Linear(d, cfg.score_hidden)
        self.score_target = nn.Linear(d, cfg.score_hidden, bias=False)
        self.score_out = nn.Linear(cfg.score_hidden, 1, bias=False)

    def forward(self, source: torch.Tensor, target: torch.Tensor):
        B, N, _ = target.shape
        selection = None
        if self.cfg.select:  # step 1: select (per sample, averaged over heads)
            q = self.query.expand(B, -1, -1)  # (B, 1, D)
            picked, attn = self.select_attn(q, source, source, need_weights=True,
                                            average_attn_weights=True)  # (B,1,D), (B,1,S)
            chosen, selection = picked[:, 0], attn[:, 0]  # (B, D), (B, S)
        else:  # ablation: no selection, the source is mean-pooled
            chosen = source.mean(1)
        weights = None
        if self.cfg.reinforce:  # step 2: splice the chosen vector with every target token
            hidden = torch.tanh(self.score_target(target) + self.score_source(chosen)[:, None])
            weights = torch.softmax(self.score_out(hidden)[..., 0].float(), dim=-1)  # (B, N)
            # step 3: reinforce, V' = V * w + V. w is scaled by N so that a uniform map is 1 and
            # the reweighted term keeps the residual's scale whatever the number of cells.
            scaled = (weights * N).to(target.dtype)[..., None]  # (B, N, 1)
            target = target * scaled + target if self.cfg.residual else target * scaled
        return target.mean(1), chosen, selection, weights  # step 4 pools V'


class TACFNFusion(nn.Module):
    """TACFN over audio and video tokens in one direction or both; logits from
    [pooled reinforced target ; selected source] (both directions: both pairs concatenated).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.direction = cfg.direction
        n_dirs = 2 if cfg.direction == "both" else 1
        self.a2v = SelectReinforce(cfg) if cfg.direction != "video->audio" else None
        self.v2a = SelectReinforce(cfg) if cfg.direction != "audio->video" else None
        self.head = Head(2 * cfg.d_model * n_dirs, cfg)

    def forward(self, audio: torch.Tensor, video: torch.Tensor, grid) -> FusionOutput:
        feats, maps = [], {}
        if self.a2v is not None:
            pooled, chosen, maps["audio_select"], maps["video_weight"] = self.a2v(audio, video)
            feats += [pooled, chosen]
        if self.v2a is not None:
            pooled, chosen, maps["video_select"], maps["audio_weight"] = self.v2a(video, audio)
            feats += [pooled, chosen]
        return FusionOutput(self.head(torch.cat(feats, -1)), video_grid=grid, **maps)
