"""Shared fixtures: SynthAV sets generated once per test session into a temp cache."""

from __future__ import annotations

import os

import pytest
import torch

from tacfn_lite.config import get_config

os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def synthav_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthav_cache"))


@pytest.fixture(scope="session")
def synthav(synthav_cache):
    """``synthav(variant="complementary", size="quick")`` → ClipArrays, generated once."""
    from tacfn_lite.data.synthetic import load_synthav

    memo = {}

    def get(variant: str = "complementary", size: str = "quick"):
        if (variant, size) not in memo:
            cfg = get_config(variant=variant, size=size, cache_dir=synthav_cache).data
            memo[variant, size] = load_synthav(cfg, progress=False)
        return memo[variant, size]

    return get


@pytest.fixture
def tiny_run(synthav_cache, tmp_path):
    """``tiny_run(**overrides)`` → RunConfig for a few fast CPU epochs writing to tmp_path."""

    def make(**overrides):
        base = dict(cache_dir=synthav_cache, epochs=2, batch_size=32, device="cpu",
                    out_dir=str(tmp_path / "run"), progress=False)
        return get_config("tiny", **{**base, **overrides})

    return make
