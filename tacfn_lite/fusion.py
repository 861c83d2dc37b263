"""TACFN fusion block (arXiv 2505.06536, §3): intra-modal selection → spliced fusion weights →
reinforcement with residual → pool and classify. Returns per-sample maps. Notebooks 02 and 03."""

from dataclasses import dataclass

import torch
from torch import nn

from .config import ModelConfig
from .runtime import Dropout

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
                                 Dropout(cfg.dropout), nn.Linear(cfg.d_model, cfg.n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SelectReinforce(nn.Module):
    """One TACFN direction: source tokens select a vector that reweights every target token.

    Four switches on :class:`ModelConfig` reproduce the authors' code (``shuzihuaiyu/TACFN``,
    ``networks/msaf_ravdess.py``, ``CrossModalAttentionLayer``); ``tacfn="official"`` sets all:
    ``selection``: ``query`` (kit) a learned query attends over the source tokens, its attention
    is the selection map | ``last_step`` (official) the selected vector is the source token at
    the last step; the audio encoder's own transformer is then causal (encoders.py), standing for
    the causal transformer the authors run inside the block. No selection map exists: None.
    ``weight_norm``: ``clip`` (kit) softmax over all T'·H'·W' cells | ``frame`` (official) softmax
    over the H'·W' cells of each frame, every frame sums to 1 (no frame preferred over another).
    ``weight_scale``: ``count`` (kit) w × the cells one softmax spans (N or H'·W'), so a uniform
    map is 1 | ``none`` (official) w as is. The authors also sum w over the batch: a bug, not a
    mode (see :func:`batch_summed_logits`).
    Shapes: source ``(B, S, D)``, target ``(B, N, D)``, grid ``(T', H', W')`` with N = T'·H'·W'
    (None: one frame) → (pooled target ``(B, D)``, selected source ``(B, D)``, selection
    ``(B, S)`` or None, weights ``(B, N)`` or None, each softmax group summing to 1)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, self.cfg = cfg.d_model, cfg
        if cfg.selection == "query":  # §3.1 intra-modal selection: a learned query attends
            self.query = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            self.select_attn = nn.MultiheadAttention(d, cfg.n_heads, dropout=0.0, batch_first=True)
        # §3.2 spliced fusion weights: s = u·tanh(W_v v + W_a a + b). The authors put b on the
        # video side and add b_u after u; a shift of all scores cancels in the softmax.
        self.score_source = nn.Linear(d, cfg.score_hidden)
        self.score_target = nn.Linear(d, cfg.score_hidden, bias=False)
        self.score_out = nn.Linear(cfg.score_hidden, 1, bias=False)

    def frames(self, grid) -> int:
        """How many softmax groups the weights have: T' per-frame groups, or one per clip."""
        return grid[0] if grid is not None and self.cfg.weight_norm == "frame" else 1

    def select(self, source: torch.Tensor):
        """Step 1: ``(B, S, D)`` → selected vector ``(B, D)``, selection ``(B, S)`` or None."""
        if not self.cfg.select:  # ablation: no selection, the source is mean-pooled
            return source.mean(1), None
        if self.cfg.selection == "last_step":  # official: output of the causal transformer at t=S
            return source[:, -1], None
        # what select_attn(query, source, source) computes, written out for one query: each head
        # scores every source token against the learned query; the map averages the heads
        attn, (B, S, D), h = self.select_attn, source.shape, self.cfg.n_heads
        w, b = attn.in_proj_weight, attn.in_proj_bias
        q = nn.functional.linear(self.query[0, 0], w[:D], b[:D]).view(h, D // h)  # (h, D/h)
        k, v = nn.functional.linear(source, w[D:], b[D:]).view(B, S, 2, h, D // h).unbind(2)
        probs = torch.einsum("bshd,hd->bhs", k, q * (D // h) ** -0.5).softmax(-1)  # (B, h, S)
        picked = attn.out_proj(torch.einsum("bhs,bshd->bhd", probs, v).reshape(B, D))
        return picked, probs.mean(1)  # (B, D), (B, S)

    def weigh(self, chosen: torch.Tensor, target: torch.Tensor, grid=None) -> torch.Tensor:
        """Step 2: splice the chosen vector with every target token; per-sample softmax over the
        clip or within each frame. ``(B, D), (B, N, D)`` → ``(B, N)``."""
        B, N, _ = target.shape
        z = self.score_target(target) + self.score_source(chosen)[:, None]  # (B, N, hidden)
        hidden = 2 * torch.sigmoid(2 * z) - 1  # = tanh(z); a CPU computes sigmoid 5x faster
        scores = self.score_out(hidden)[..., 0].float()  # (B, N)
        frames = self.frames(grid)
        return torch.softmax(scores.view(B, frames, N // frames), dim=-1).view(B, N)

    def reinforce(self, target: torch.Tensor, weights: torch.Tensor, grid=None) -> torch.Tensor:
        """Step 3: V' = V·(s·w) + V, s = cells per softmax ("count") or 1 (no residual: V·s·w)."""
        scale = target.shape[1] // self.frames(grid) if self.cfg.weight_scale == "count" else 1
        scaled = (weights * scale).to(target.dtype)[..., None]  # (B, N, 1)
        return target * scaled + target if self.cfg.residual else target * scaled

    def forward(self, source: torch.Tensor, target: torch.Tensor, grid=None):
        chosen, selection = self.select(source)
        weights = self.weigh(chosen, target, grid) if self.cfg.reinforce else None
        if weights is not None:
            target = self.reinforce(target, weights, grid)
        return target.mean(1), chosen, selection, weights  # step 4 pools V'


class TACFNFusion(nn.Module):
    """TACFN over audio and video tokens in one direction or both. Classifier (§3.4), switch
    ``classifier_source``: ``selected`` (kit) a LayerNorm-MLP on [mean V' ; selected source]
    (both directions: both pairs) | ``all`` (official, audio→video only) one Linear layer on
    [mean V' ; every source token, flattened (Ta·D)]; the authors flatten the unselected audio
    features, here the (causal) audio encoder's output. Frame-normalised video weights are
    divided by T' in the returned map so every map sums to 1 per sample."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.direction, self.cfg = cfg.direction, cfg
        n_dirs = 2 if cfg.direction == "both" else 1
        self.a2v = SelectReinforce(cfg) if cfg.direction != "video->audio" else None
        self.v2a = SelectReinforce(cfg) if cfg.direction != "audio->video" else None
        if cfg.classifier_source == "all":
            if cfg.direction != "audio->video" or cfg.audio_steps < 1:
                raise ValueError("classifier_source='all' (the official head) needs direction="
                                 f"'audio->video' and audio_steps >= 1, got {cfg.direction!r}, "
                                 f"{cfg.audio_steps}: keep audio->video, or set "
                                 "classifier_source='selected' (CLI --set classifier_source=selected)")
            self.head = nn.Linear(cfg.d_model * (1 + cfg.audio_steps), cfg.n_classes)
        else:
            self.head = Head(2 * cfg.d_model * n_dirs, cfg)

    def classify(self, feats: list[torch.Tensor], audio: torch.Tensor) -> torch.Tensor:
        """Step 4: ``[pooled, chosen, ...]`` (each ``(B, D)``), audio ``(B, Ta, D)`` → logits."""
        if self.cfg.classifier_source == "all":
            if audio.shape[1] != self.cfg.audio_steps:
                raise ValueError(f"audio: expected {self.cfg.audio_steps} tokens to flatten, "
                                 f"got {audio.shape[1]}")
            return self.head(torch.cat([feats[0], audio.flatten(1)], -1))  # (B, D + Ta·D)
        return self.head(torch.cat(feats, -1))

    def forward(self, audio: torch.Tensor, video: torch.Tensor, grid) -> FusionOutput:
        feats, maps = [], {}
        if self.a2v is not None:
            pooled, chosen, maps["audio_select"], w = self.a2v(audio, video, grid)
            maps["video_weight"] = None if w is None else w / self.a2v.frames(grid)  # sums to 1
            feats += [pooled, chosen]
        if self.v2a is not None:
            pooled, chosen, maps["video_select"], maps["audio_weight"] = self.v2a(video, audio)
            feats += [pooled, chosen]
        return FusionOutput(self.classify(feats, audio), video_grid=grid, **maps)


def batch_summed_logits(model: nn.Module, audio: torch.Tensor, video: torch.Tensor,
                        batch_sum: bool = True) -> torch.Tensor:
    """Reference computation, outside the model, of the authors' reinforcement with the weights
    summed over the batch (``res += w_i`` for every clip i, then ``V * res + V`` for each clip):
    one clip's logits then depend on its batch mates. ``batch_sum=False`` is the kit's per-sample
    path and equals ``model(audio, video).logits``. Audio→video TACFN only. Notebook 03.
    Shapes: audio ``(B, Ta, F)``, video ``(B, T, 3, H, W)`` → logits ``(B, C)``."""
    a = model.audio_encoder(audio)  # (B, Ta, D)
    v, grid = model.video_encoder(video)  # (B, N, D)
    block = model.fusion.a2v
    chosen, _ = block.select(a)
    w = block.weigh(chosen, v, grid)  # (B, N), per sample
    if batch_sum:
        w = w.sum(0, keepdim=True)  # (1, N): one map for the whole batch
    return model.fusion.classify([block.reinforce(v, w, grid).mean(1), chosen], a)


@torch.no_grad()
def batch_mate_effect(model: nn.Module, audio: torch.Tensor, video: torch.Tensor, clip: int = 0,
                      batch_size: int = 16, n_draws: int = 10, batch_sum: bool = True,
                      seed: int = 0) -> dict:
    """How far one clip's predicted probabilities move from the clip alone to the clip in a batch
    (its size and its mates together): ``n_draws`` batches of ``batch_size`` clips, clip first.
    Returns ``max_change`` and ``mean_change`` (largest / mean over draws of max |Δp| over
    classes against the clip's probabilities alone) and ``flips`` (draws whose predicted class
    differs from the clip's alone). Zero by construction for ``batch_sum=False``."""
    model.eval()
    alone = torch.softmax(batch_summed_logits(model, audio[clip:clip + 1], video[clip:clip + 1],
                                              batch_sum), -1)[0]  # (C,)
    rest = torch.tensor([i for i in range(audio.shape[0]) if i != clip])
    gen = torch.Generator().manual_seed(seed)
    changes, flips = [], 0
    for _ in range(n_draws):
        idx = torch.cat([torch.tensor([clip]), rest[torch.randperm(len(rest), generator=gen)[
            : batch_size - 1]]])
        p = torch.softmax(batch_summed_logits(model, audio[idx], video[idx], batch_sum), -1)[0]
        changes.append(float((p - alone).abs().max()))
        flips += int(p.argmax() != alone.argmax())
    return {"max_change": max(changes), "mean_change": sum(changes) / n_draws, "flips": flips,
            "n_draws": n_draws, "batch_size": batch_size, "batch_sum": batch_sum}
