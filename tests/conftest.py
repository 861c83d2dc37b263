"""Shared fixtures: SynthAV sets generated once per test session into a temp cache."""

from __future__ import annotations

import json
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


def last_json(text: str) -> dict:
    """The JSON object that ends ``text`` (evaluate prints a model card before it)."""
    lines = text.rstrip().splitlines()
    return json.loads("\n".join(lines[max(i for i, ln in enumerate(lines) if ln == "{"):]))


@pytest.fixture
def cli_round_trip(tmp_path, capsys):
    """``run(corpus, raw, cache_dir, prep=None)``: ``tacfn-lite prepare`` (into ``prep``, or the
    default cache when None), ``train`` one epoch and ``evaluate``, each asserted to exit 0.
    Returns (prepare JSON, evaluate JSON, run folder)."""
    from tacfn_lite.cli import main

    def run(corpus: str, raw, cache_dir, prep=None):
        common = ["--set", f"cache_dir={cache_dir}"]
        out = ["--out", str(prep)] if prep else []
        assert main(["prepare", corpus, "--root", str(raw), *out, *common]) == 0
        prepared = json.loads(capsys.readouterr().out)
        run_dir = tmp_path / "run"
        assert main(["train", "--data", corpus, "--root", str(prep or raw), "--epochs", "1",
                     "--device", "cpu", "--out", str(run_dir), *common]) == 0
        capsys.readouterr()
        assert main(["evaluate", str(run_dir / "best.pt"), "--device", "cpu"]) == 0
        return prepared, last_json(capsys.readouterr().out), run_dir

    return run
