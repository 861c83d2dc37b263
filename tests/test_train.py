"""Trainer behaviour: learning, resume, checkpoints, DDP (issue 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tacfn_lite.io import load_checkpoint
from tacfn_lite.runtime import resolve_device
from tacfn_lite.train import train_model


def train(cfg, resume=False):
    return train_model(cfg, resume=resume, progress=False)[1]


def test_short_cpu_training_lowers_the_loss(tiny_run):
    hist = train(tiny_run(model="concat", epochs=4))
    losses = [r["train_loss"] for r in hist.epochs]
    assert losses[-1] < losses[0] - 0.05


def test_best_epoch_is_picked_on_validation_only(tiny_run):
    hist = train(tiny_run(epochs=3))
    val = [r["val_accuracy"] for r in hist.epochs]
    assert hist.best_epoch == val.index(max(val))
    ckpt = load_checkpoint(hist.checkpoint)
    assert ckpt["epoch"] == hist.best_epoch
    assert hist.test is not None and "accuracy" in hist.test


def test_resume_after_interruption_matches_uninterrupted_run(tiny_run, tmp_path):
    full = train(tiny_run(epochs=4, out_dir=str(tmp_path / "full")))
    train(tiny_run(epochs=2, out_dir=str(tmp_path / "cut")))  # "interrupted" after epoch 2
    resumed = train(tiny_run(epochs=4, out_dir=str(tmp_path / "cut")), resume=True)
    assert [r["train_loss"] for r in resumed.epochs] == [r["train_loss"] for r in full.epochs]
    assert resumed.test["accuracy"] == full.test["accuracy"]
    assert resumed.test["confusion"] == full.test["confusion"]


def test_resume_refuses_a_different_model_config(tiny_run, tmp_path):
    out = str(tmp_path / "r")
    train(tiny_run(epochs=1, out_dir=out))
    with pytest.raises(ValueError, match="cannot resume"):
        train(tiny_run(epochs=2, out_dir=out, d_model=16), resume=True)


def test_resume_names_each_changed_setting_and_refuses_fewer_epochs_than_done(tiny_run, tmp_path):
    """A resumed run is the same run: a new lr or seed was taken silently (the card then named
    the new seed), and --epochs below the epochs done returned the longer run under the shorter
    label. Epochs, device and other bookkeeping may change."""
    out = str(tmp_path / "r")
    train(tiny_run(epochs=2, out_dir=out, model="audio"))
    with pytest.raises(ValueError, match=r"last\.pt: cannot resume: train\.lr \(0\.001 there, "
                                         r"0\.01 now\), train\.seed \(0 there, 5 now\) differ; "
                                         r"keep its settings or use another --out"):
        train(tiny_run(epochs=3, out_dir=out, model="audio", lr=0.01, seed=5), resume=True)
    with pytest.raises(ValueError, match="2 epochs are done there, more than --epochs 1;"):
        train(tiny_run(epochs=1, out_dir=out, model="audio"), resume=True)
    hist = train(tiny_run(epochs=3, out_dir=out, model="audio", device="auto"), resume=True)
    assert len(hist.epochs) == 3


def test_checkpoints_hold_config_and_load_with_weights_only(tiny_run):
    cfg = tiny_run(epochs=1)
    train(cfg)
    ckpt = torch.load(f"{cfg.train.out_dir}/last.pt", weights_only=True)
    assert ckpt["config"]["model"]["model"] == "tacfn"
    assert {"optimizer", "rng", "loader_rng"} <= set(ckpt)


def test_amp_flag_trains_on_cpu_with_bfloat16(tiny_run):
    hist = train(tiny_run(epochs=1, amp=True, model="concat"))
    assert hist.epochs[0]["train_loss"] == hist.epochs[0]["train_loss"]  # not NaN


@pytest.mark.parametrize("name, backend", [("cuda", "cuda"), ("cuda:1", "cuda"), ("mps", "mps")])
def test_an_unavailable_device_is_a_clear_error(monkeypatch, name, backend):
    """Checked where every command resolves its device, before any checkpoint or data loads
    (``--device mps`` on a torch without MPS was a traceback in train, and evaluate blamed the
    checkpoint); the backends are made absent so the test runs on any machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match=f"'{name}' requested but this torch has no usable "
                                         f"{backend.upper()}: use --device cpu or auto"):
        resolve_device(name)


@pytest.mark.slow
def test_ddp_two_process_gloo_run_trains_and_writes_metrics(synthav_cache, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29517", "-m", "tacfn_lite.cli", "train", "--model", "concat",
           "--epochs", "1", "--device", "cpu", "--out", str(out),
           "--set", f"cache_dir={synthav_cache}", "--set", "progress=false"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    hist = json.loads((out / "history.json").read_text())
    assert len(hist["epochs"]) == 1 and hist["test"]["n"] > 0


def test_compare_reads_back_finished_runs_instead_of_retraining(tiny_run, tmp_path, monkeypatch):
    from tacfn_lite import compare as cmp

    base = tiny_run(epochs=1)
    first = cmp.compare(base, models=("audio",), seeds=(0,), out_dir=tmp_path / "c", progress=False)
    monkeypatch.setattr(cmp, "train_model", lambda *a, **k: pytest.fail("retrained a finished run"))
    again = cmp.compare(base, models=("audio",), seeds=(0,), out_dir=tmp_path / "c", progress=False)
    assert again["models"]["audio"]["runs"] == first["models"]["audio"]["runs"]


def test_early_stopping_counts_epochs_since_the_best_across_resume(tiny_run, tmp_path):
    cfg = tiny_run(epochs=6, patience=1, lr=0.0, out_dir=str(tmp_path / "p"))  # lr 0: no gain
    hist = train(cfg)
    assert hist.best_epoch == 0 and len(hist.epochs) == 2
    again = train(cfg, resume=True)  # already stopped: resuming does not train further
    assert len(again.epochs) == 2 and again.best_epoch == 0


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import stat

    from tacfn_lite.io import atomic_write_text

    path = atomic_write_text(tmp_path / "x.json", "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_fused_adamw_makes_the_same_update_as_the_plain_one():
    from tacfn_lite.config import get_config
    from tacfn_lite.model import build_model
    from tacfn_lite.train import make_optimizer

    cfg = get_config("tiny", model="concat", lr=1e-2)
    models, opts = [], []
    for fused in (True, False):
        torch.manual_seed(0)
        m = build_model(cfg.model)
        models.append(m)
        opts.append(make_optimizer(m, cfg.train) if fused else torch.optim.AdamW(
            m.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay))
    assert opts[0].defaults["fused"] and not opts[1].defaults.get("fused")
    g = torch.Generator().manual_seed(1)
    a, v = torch.randn(4, 63, 13, generator=g), torch.rand(4, 16, 3, 32, 32, generator=g)
    for _ in range(3):
        for m, opt in zip(models, opts):
            m.eval()  # no dropout: both see the same function
            opt.zero_grad()
            m(a, v).logits.square().mean().backward()
            opt.step()
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-4)  # a step moves each by ~lr = 1e-2
