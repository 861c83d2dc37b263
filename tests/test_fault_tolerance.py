"""Fault tolerance (DESIGN §7): SIGKILL mid-epoch then resume equals an uninterrupted run; a crash
while writing a checkpoint or a cache leaves the previous file intact; a corrupt checkpoint is a
clear error; a whole CPU run is bitwise deterministic for a fixed seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tacfn_lite import io
from tacfn_lite.cli import main as cli_main
from tacfn_lite.data import make_loaders, synthetic
from tacfn_lite.model import build_model
from tacfn_lite.runtime import seed_everything
from tacfn_lite.train import fit


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def no_temp_files(folder: Path) -> bool:
    return not [p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp")]


def comparable(history: dict) -> dict:
    """history.json without wall-clock fields."""
    h = json.loads(json.dumps(history))
    for row in h["epochs"]:
        row.pop("seconds")
    h.pop("seconds_per_epoch")
    h.pop("checkpoint")
    return h


def train_argv(cache: str, out: Path, epochs: int = 3) -> list[str]:
    return ["train", "--epochs", str(epochs), "--batch-size", "16", "--device", "cpu",
            "--seed", "3", "--out", str(out), "--set", f"data.cache_dir={cache}",
            "--set", "train.progress=false"]


def run_cli(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "tacfn_lite.cli", *argv], env=env, text=True,
                          capture_output=True, timeout=300, check=False)


def saved_epoch(path: Path) -> int:
    return int(io.load_checkpoint(path)["epoch"])


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(synthav, synthav_cache, tmp_path):
    synthav("complementary", "quick")  # fill the shared cache so no process generates data
    full = run_cli(train_argv(synthav_cache, tmp_path / "full"))
    assert full.returncode == 0, full.stderr

    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tacfn_lite.cli",
                             *train_argv(synthav_cache, out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (out / "last.pt").exists():  # epoch 0 finished, epoch 1 is starting
            assert proc.poll() is None, "training ended before writing last.pt"
            assert time.monotonic() < deadline, "no last.pt within 240 s"
            time.sleep(0.02)
        time.sleep(0.1)  # inside epoch 1 (24 training steps)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert saved_epoch(out / "last.pt") == 0, "the kill landed after epoch 1 was saved"
    assert not (out / "history.json").exists()

    resumed = run_cli([*train_argv(synthav_cache, out), "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    got, want = json.loads(resumed.stdout), json.loads(full.stdout)
    got.pop("checkpoint"), want.pop("checkpoint")
    assert got == want  # exact float equality of final metrics
    h_got = json.loads((out / "history.json").read_text())
    h_want = json.loads((tmp_path / "full" / "history.json").read_text())
    assert comparable(h_got) == comparable(h_want)
    best_got = io.load_checkpoint(out / "best.pt")["model"]
    best_want = io.load_checkpoint(tmp_path / "full" / "best.pt")["model"]
    assert all(torch.equal(best_got[k], best_want[k]) for k in best_want)


def test_whole_cpu_run_is_bitwise_deterministic_for_a_fixed_seed(synthav, tiny_run, tmp_path):
    synthav("complementary", "quick")
    results = []
    for name in ("first", "second"):  # two runs in one process, as in a notebook
        torch.manual_seed(12345 if name == "first" else 999)  # unrelated global RNG state
        cfg = tiny_run(epochs=2, seed=5, out_dir=str(tmp_path / name))
        loaders, _ = make_loaders(cfg, progress=False)
        seed_everything(cfg.train.seed)
        hist = fit(build_model(cfg.model), loaders, cfg)
        results.append(comparable(hist.to_dict()))
    assert results[0] == results[1]


def test_cli_train_twice_in_one_process_gives_identical_metrics(synthav, synthav_cache, tmp_path,
                                                                capsys):
    """The seed alone fixes a run, whatever ran before in the process (e.g. a notebook)."""
    synthav("complementary", "quick")
    outputs = []
    for name in ("a", "b"):
        assert cli_main(train_argv(synthav_cache, tmp_path / name, epochs=1)) == 0
        res = json.loads(capsys.readouterr().out)
        res.pop("checkpoint")
        outputs.append(res)
    assert outputs[0] == outputs[1]


def _exploding_writer():
    """A stand-in for ``torch.save(obj, fh)`` / ``np.savez(fh, **arrays)`` that puts a few bytes
    into the file, then fails as a full disk or a crash would."""

    def write(*args, **kwargs):
        fh = next(a for a in args if hasattr(a, "write"))
        fh.write(b"PARTIAL")
        raise OSError("simulated crash while writing")

    return write


def test_crash_while_writing_checkpoint_keeps_previous_one(synthav, tiny_run, monkeypatch):
    synthav("complementary", "quick")
    cfg = tiny_run(epochs=1)
    loaders, _ = make_loaders(cfg, progress=False)
    fit(build_model(cfg.model), loaders, cfg)
    out = Path(cfg.train.out_dir)
    before = {name: digest(out / name) for name in ("last.pt", "best.pt")}

    monkeypatch.setattr(torch, "save", _exploding_writer())
    cfg2 = tiny_run(epochs=2)
    with pytest.raises(OSError, match="simulated crash"):
        fit(build_model(cfg2.model), loaders, cfg2, resume=True)
    assert {name: digest(out / name) for name in before} == before
    assert no_temp_files(out)
    monkeypatch.undo()
    assert saved_epoch(out / "last.pt") == 0  # still a readable, complete checkpoint


def test_crash_while_writing_cache_leaves_no_partial_file_and_keeps_old(synthav, tmp_path,
                                                                       monkeypatch):
    arrays = synthav("complementary", "quick")
    cfg = synthetic.DataConfig(cache_dir=str(tmp_path))
    path = synthetic.synthav_path(cfg)
    # Generation is replaced by the session's arrays: this test is about the write.
    monkeypatch.setattr(synthetic, "generate",
                        lambda cfg, progress=True: arrays.subset(np.arange(len(arrays))))
    monkeypatch.setattr(np, "savez", _exploding_writer())
    with pytest.raises(OSError, match="simulated crash"):
        synthetic.load_synthav(cfg, progress=False)
    assert not path.exists() and no_temp_files(tmp_path)

    path.write_bytes(b"an older, unreadable cache")  # a previous file is kept on a failed rewrite
    with pytest.raises(OSError, match="simulated crash"):
        synthetic.load_synthav(cfg, progress=False)
    assert path.read_bytes() == b"an older, unreadable cache" and no_temp_files(tmp_path)


def test_atomic_save_replaces_file_only_when_complete(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    io.atomic_torch_save({"model": {"w": torch.ones(2)}, "config": {}}, path)
    old = digest(path)
    monkeypatch.setattr(torch, "save", _exploding_writer())
    with pytest.raises(OSError):
        io.atomic_torch_save({"model": {"w": torch.zeros(2)}, "config": {}}, path)
    assert digest(path) == old and no_temp_files(tmp_path)


@pytest.fixture
def trained_checkpoint(synthav, tiny_run):
    synthav("complementary", "quick")
    cfg = tiny_run(epochs=1)
    loaders, _ = make_loaders(cfg, progress=False)
    fit(build_model(cfg.model), loaders, cfg)
    return cfg, Path(cfg.train.out_dir) / "last.pt"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_a_value_error_naming_the_file(trained_checkpoint, damage):
    _, path = trained_checkpoint
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\xab" + random.Random(0).randbytes(4095),
                      "empty": b""}[damage])
    with pytest.raises(ValueError, match=str(path)) as info:
        io.load_checkpoint(path)
    message = str(info.value)  # one line, without torch's advice to load it unsafely
    assert "\n" not in message and "weights_only" not in message, message


def test_a_checkpoint_damaged_inside_its_weights_is_refused_not_loaded_as_noise(tmp_path):
    """torch.load reads a flipped byte in a tensor without complaint: the CRC check catches it."""
    path = tmp_path / "best.pt"
    torch.save({"model": {"w": torch.arange(1000.0)}, "config": {}}, path)
    data = bytearray(path.read_bytes())
    data[data.index(torch.arange(1000.0).numpy().tobytes()) + 2000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{path}: .*record .*/data/0 fails its CRC-32 check"):
        io.load_checkpoint(path)


def test_checkpoint_without_model_or_config_is_rejected(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(1)}, path)
    with pytest.raises(ValueError, match=rf"{path}.*lacks 'model'/'config'"):
        io.load_checkpoint(path)


def test_resume_from_truncated_checkpoint_reports_the_file(trained_checkpoint, capsys):
    cfg, path = trained_checkpoint
    path.write_bytes(path.read_bytes()[:1000])
    loaders, _ = make_loaders(cfg, progress=False)
    with pytest.raises(ValueError, match=str(path)):
        fit(build_model(cfg.model), loaders, cfg, resume=True)
    argv = ["train", "--resume", "--epochs", "2", "--device", "cpu", "--out", cfg.train.out_dir,
            "--set", f"data.cache_dir={cfg.data.cache_dir}", "--set", "train.progress=false"]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "not a readable tacfn-lite checkpoint" in err
