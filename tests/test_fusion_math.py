"""TACFN's spliced fusion score checked by hand (arXiv 2505.06536 §3.2-3.3, `SelectReinforce`):
s_n = u·tanh(W_t v_n + W_s a + b), w = softmax_n(s), V' = V·(N·w) + V, pooled = mean_n V'."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from tacfn_lite.config import get_config
from tacfn_lite.fusion import SelectReinforce

D = 4
# Target tokens of each sample (N = 3): orthogonal to, aligned with and opposite to e1.
TARGET = torch.tensor([[0.0, 1, 0, 0], [1, 0, 0, 0], [-1, 0, 0, 0]])
E1, E2 = [1.0, 0, 0, 0], [0.0, 1, 0, 0]


def hand_set_block(select: bool) -> SelectReinforce:
    """W_t = W_s = I, b = -2, u = ones. The bias keeps tanh in its convex (negative) half, where
    adding to a component that is already large raises the score most: a target token aligned
    with the selected vector scores highest. Selection (when on) maps a lone source token to
    itself: value and output projections are the identity, and softmax over one key is 1."""
    cfg = get_config("tiny", d_model=D, n_heads=1, score_hidden=D, select=select).model
    block = SelectReinforce(cfg).eval()
    with torch.no_grad():
        block.score_target.weight.copy_(torch.eye(D))
        block.score_source.weight.copy_(torch.eye(D))
        block.score_source.bias.fill_(-2.0)
        block.score_out.weight.fill_(1.0)
        attn = block.select_attn
        attn.in_proj_weight[2 * D :].copy_(torch.eye(D))  # value projection
        attn.in_proj_bias.zero_()
        attn.out_proj.weight.copy_(torch.eye(D))
        attn.out_proj.bias.zero_()
    return block


def hand_weights(a: list[float]) -> list[float]:
    """softmax_n of s_n = sum_k tanh(v_nk + a_k - 2), in float64."""
    scores = [sum(math.tanh(v + ak - 2) for v, ak in zip(row, a)) for row in TARGET.tolist()]
    exps = [math.exp(s) for s in scores]
    return [e / sum(exps) for e in exps]


@pytest.mark.parametrize("select", [False, True])
def test_spliced_score_weights_equal_the_hand_computed_softmax(select):
    block = hand_set_block(select)
    source = torch.tensor([[E1], [E2]])  # (B=2, S=1, D): the selected vector is the lone token
    target = TARGET.expand(2, 3, D)  # same three tokens in both samples
    _, chosen, _, weights = block(source, target)
    torch.testing.assert_close(chosen, source[:, 0])
    # Sample 0 selects e1: scores -3·tanh 2 (aligned) > -2·tanh 1 - 2·tanh 2 > -4·tanh 2.
    # Sample 1 selects e2, so token 0 = e2 is now the aligned one.
    assert weights.argmax(-1).tolist() == [1, 0]
    expected = torch.tensor([hand_weights(E1), hand_weights(E2)], dtype=torch.float32)
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2), atol=1e-6, rtol=0)


def test_pooled_output_is_the_mean_of_the_reinforced_tokens_plus_residual():
    block = hand_set_block(select=False)
    pooled, _, _, _ = block(torch.tensor([[E1]]), TARGET[None])
    w = hand_weights(E1)
    # V' = V·(N·w) + V per token, then the mean over the N = 3 tokens.
    expected = [sum(row[k] * (3 * w[n] + 1) for n, row in enumerate(TARGET.tolist())) / 3
                for k in range(D)]
    torch.testing.assert_close(pooled[0], torch.tensor(expected), atol=1e-6, rtol=0)
    # Spelled out: component 0 = ((3w1 + 1) - (3w2 + 1))/3 = w1 - w2; component 1 = (3w0 + 1)/3.
    assert pooled[0, 0].item() == pytest.approx(w[1] - w[2], abs=1e-6)
    assert pooled[0, 1].item() == pytest.approx(w[0] + 1 / 3, abs=1e-6)


def test_weights_of_a_sample_ignore_its_batch_mates():
    """Default TACFN block (selection on): replacing or permuting the other samples leaves a
    sample's selection and weights unchanged."""
    torch.manual_seed(0)
    block = SelectReinforce(get_config("tiny", d_model=D, n_heads=1, score_hidden=8).model).eval()
    source = torch.arange(3 * 2 * D, dtype=torch.float32).view(3, 2, D) % 5 - 2  # (B, S, D)
    target = torch.arange(3 * 3 * D, dtype=torch.float32).view(3, 3, D) % 7 - 3  # (B, N, D)
    _, _, selection, weights = block(source, target)
    assert not torch.allclose(weights[0], weights[1])
    mates_source, mates_target = source.clone(), target.clone()
    mates_source[1:], mates_target[1:] = -source[1:], 10 * target[1:]  # other samples replaced
    _, _, sel_b, w_b = block(mates_source, mates_target)
    torch.testing.assert_close(w_b[0], weights[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(sel_b[0], selection[0], atol=1e-6, rtol=0)
    perm = torch.tensor([2, 0, 1])
    _, _, sel_p, w_p = block(source[perm], target[perm])
    torch.testing.assert_close(w_p, weights[perm], atol=1e-6, rtol=0)
    torch.testing.assert_close(sel_p, selection[perm], atol=1e-6, rtol=0)


def test_hand_set_block_without_residual_drops_the_plus_v_term():
    block = hand_set_block(select=False)
    no_res = SelectReinforce(replace(block.cfg, residual=False)).eval()
    no_res.load_state_dict(block.state_dict())
    pooled, _, _, _ = no_res(torch.tensor([[E1]]), TARGET[None])
    w = hand_weights(E1)
    expected = [sum(row[k] * 3 * w[n] for n, row in enumerate(TARGET.tolist())) / 3
                for k in range(D)]
    torch.testing.assert_close(pooled[0], torch.tensor(expected), atol=1e-6, rtol=0)
