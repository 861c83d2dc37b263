"""Faults of the machine (issue 13): a disk that fills part-way (ENOSPC), a read-only folder, a
file that vanishes while read, a disk too small for the cache. Every command ends with one line
``tacfn-lite <command>: error: <path>: <what>; <what to do>`` and a non-zero exit, leaves no
partial or temp file, and a stopped ``train``/``prepare`` continues where it stopped.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest
import torch
from test_fault_tolerance import comparable, train_argv

import tacfn_lite.io
from tacfn_lite import checkpoints
from tacfn_lite.cli import build_parser, main
from tacfn_lite.config import get_config
from tacfn_lite.data import prepare, ravdess, synthetic
from tacfn_lite.data.export import export_ravdess
from tacfn_lite.data.media import MANIFEST, settings_of
from tacfn_lite.data.prepare import prepared_bytes
from tacfn_lite.model import build_model
from tacfn_lite.report import KIT


class _Filling:
    """A file that takes ``room`` more bytes, then fails as a full disk does."""

    def __init__(self, fh, room: int):
        self.fh, self.room = fh, room

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        if len(data) > self.room:
            self.fh.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.fh.write(data)


def full_disk(monkeypatch, where: Path, after: int = 0, room: int = 100) -> list[str]:
    """The disk under ``where`` fills part-way: the first ``after`` files written there are
    whole, each later one gets ``room`` bytes, then ENOSPC. Returns the files written there
    (the targets of ``atomic_write``'s ``.NAME.XXXX.tmp`` files)."""
    opened: list[str] = []

    def fdopen(fd, *args, **kwargs):
        target = os.readlink(f"/proc/self/fd/{fd}")
        fh = os.fdopen(fd, *args, **kwargs)
        if not target.startswith(str(where)):
            return fh
        tmp = Path(target)
        opened.append(str(tmp.with_name(tmp.name[1:].rsplit(".", 2)[0])))
        return fh if len(opened) <= after else _Filling(fh, room)

    proxy = SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("_")})
    proxy.fdopen = fdopen
    monkeypatch.setattr(tacfn_lite.io, "os", proxy)
    return opened


def read_only(monkeypatch, folder: Path, code: int = errno.EROFS) -> None:
    """Creating, renaming into or making folders under ``folder`` fails with EROFS (or ``code``;
    root ignores ``chmod 0o555``, so the file system's answer is simulated)."""

    def guard(real, arg: int, creates=lambda *a: True):
        def call(*args, **kwargs):
            if str(args[arg]).startswith(str(folder)) and creates(*args):
                raise OSError(code, os.strerror(code), str(args[arg]))
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(os, "mkdir", guard(os.mkdir, 0))
    monkeypatch.setattr(os, "replace", guard(os.replace, 1))
    monkeypatch.setattr(os, "open", guard(os.open, 0, lambda p, flags, *a: flags & os.O_CREAT))


def one_line(capsys, rc: int, path, code: int = 1) -> str:
    """The command failed with ``code`` and said so in one stderr line naming ``path``."""
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]  # no tqdm bars
    assert rc == code and len(lines) == 1, err
    assert str(path) in lines[0] and "Traceback" not in out + err
    assert lines[0].startswith(f"tacfn-lite {lines[0].split()[1]} error: ")
    return lines[0]


def temp_files(folder: Path) -> list[str]:
    return [str(p) for p in Path(folder).rglob("*.tmp")]


@pytest.fixture(scope="module")
def corpus(synthav, tmp_path_factory):
    """Actor 1's 8 SynthAV clips in RAVDESS layout, prepared (tiny), an untrained checkpoint."""
    tmp = tmp_path_factory.mktemp("machine_faults")
    written = export_ravdess(synthav(), tmp / "raw", actors=[1])
    cfg = get_config("tiny", name="ravdess", root=str(tmp / "prep"))
    report = ravdess.prepare(tmp / "raw", tmp / "prep", cfg.data)
    ckpt = tacfn_lite.io.atomic_torch_save(
        {"model": build_model(cfg.model).state_dict(), "config": cfg.to_dict()}, tmp / "best.pt")
    clip = tmp / "raw" / "Actor_01" / f"01-{written[0]['key']}.mp4"
    return SimpleNamespace(raw=tmp / "raw", prep=tmp / "prep", ckpt=ckpt, report=report,
                           clip=clip, wav=clip.with_name(f"03-{written[0]['key']}.wav"))


# ----------------------------------------------------------------------------- generate
@pytest.fixture
def no_generation(synthav, monkeypatch):
    """``generate`` hands back the session's quick set (these tests are about the write)."""
    arrays, calls = synthav("complementary", "quick"), []
    monkeypatch.setattr(synthetic, "generate", lambda cfg, progress=True: calls.append(cfg)
                        or arrays.subset(np.arange(len(arrays))))
    return calls


def gen_argv(cache: Path, *extra: str) -> list[str]:
    return ["generate", "--set", f"cache_dir={cache}", *extra]


def test_generate_on_a_disk_that_fills_names_the_cache_and_leaves_nothing(no_generation, tmp_path,
                                                                         monkeypatch, capsys):
    full_disk(monkeypatch, tmp_path, room=1_000_000)
    line = one_line(capsys, main(gen_argv(tmp_path)), tmp_path / "synthav_complementary_quick_")
    assert "No space left on device; free some space" in line and "--force" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("code", "says"), [
    (errno.EROFS, "Read-only file system; the folder is read-only"),
    (errno.EACCES, "Permission denied; choose a folder you may write to")])
def test_generate_into_a_read_only_folder_is_one_line(no_generation, tmp_path, monkeypatch,
                                                      capsys, code, says):
    read_only(monkeypatch, tmp_path / "ro", code)
    line = one_line(capsys, main(gen_argv(tmp_path / "ro" / "cache")), tmp_path / "ro")
    assert says in line and not no_generation  # found before generating, not after
    assert line.endswith("(--set cache_dir=DIR)")  # generate has no --out
    assert not (tmp_path / "ro").exists()


def test_generate_prints_where_the_set_is_cached_and_its_size(no_generation, tmp_path, capsys):
    assert main(gen_argv(tmp_path)) == 0
    summary, (cache,) = json.loads(capsys.readouterr().out), tmp_path.glob("*.npz")
    assert summary["cache"] == str(cache) and summary["clips"] == 576
    assert summary["megabytes"] == round(cache.stat().st_size / 2 ** 20, 1) > 1


def test_generate_stops_before_work_when_the_disk_is_too_small_unless_forced(
        no_generation, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "disk_usage", lambda p: SimpleNamespace(total=10**12,
                                                                         free=10_000_000))
    line = one_line(capsys, main(gen_argv(tmp_path)), tmp_path)
    assert "about 0.04 GB needed" in line and "0.01 GB free" in line and not no_generation
    assert main(gen_argv(tmp_path, "--force")) == 0 and len(no_generation) == 1


def test_generate_into_a_virtual_filesystem_says_choose_another_folder_not_disk_full(
        no_generation, capsys):
    line = one_line(capsys, main(gen_argv(Path("/proc/tacfn_cache"))), "/proc/tacfn_cache")
    assert "not a folder on a disk; choose a folder you may write to (--set cache_dir" in line
    assert "space" not in line and not no_generation


def test_generate_regenerates_a_cache_that_vanishes_while_read(no_generation, tmp_path,
                                                               monkeypatch, capsys):
    assert main(gen_argv(tmp_path)) == 0
    real_load = np.load

    def vanishing(path, *args, **kwargs):
        Path(path).unlink()
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(np, "load", vanishing)
    assert main(gen_argv(tmp_path)) == 0  # read failed: generated and cached again
    assert len(no_generation) == 2 and len(list(tmp_path.glob("*.npz"))) == 1
    assert not temp_files(tmp_path)


def test_a_truncated_cache_file_is_regenerated(no_generation, tmp_path):
    assert main(gen_argv(tmp_path)) == 0
    (cache,) = tmp_path.glob("*.npz")
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # a copy cut short
    assert main(gen_argv(tmp_path)) == 0 and len(no_generation) == 2


@pytest.mark.parametrize(("args", "message"), [
    (("--models", "tacfn,nosuch"), "--models 'tacfn,nosuch': unknown nosuch; choose from tacfn"),
    (("--seeds", "0"), "--seeds: give at least 1"),
    (("--models", ""), "--models '': none given; choose from"),  # ran all six models once
    (("--models", "audio, nosuch"), "--models 'audio,nosuch': unknown nosuch"),  # spaces are fine
])
def test_compare_refuses_unknown_models_and_no_seeds_before_training(tmp_path, capsys, args,
                                                                     message):
    rc = main(["compare", "--out", str(tmp_path / "c"), "--seeds", "1", "--device", "cpu",
               "--set", f"cache_dir={tmp_path}", *args])
    assert message in one_line(capsys, rc, "", code=2) and not any(tmp_path.iterdir())


def test_evaluate_names_the_device_choices_for_an_unknown_device(tmp_path, capsys):
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"")
    rc = main(["evaluate", str(ckpt), "--device", "tpu"])
    assert "device 'tpu': expected auto, cpu, cuda, cuda:N or mps" in one_line(capsys, rc, "",
                                                                               code=2)


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_device_this_torch_lacks_is_one_line_before_any_work(tmp_path, capsys, monkeypatch,
                                                               command):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"")  # evaluate blamed this file when the device was the problem
    argv = {"train": ["train", "--epochs", "1", "--out", str(tmp_path / "run"),
                      "--set", f"data.cache_dir={tmp_path / 'cache'}"],
            "evaluate": ["evaluate", str(ckpt)]}[command]
    line = one_line(capsys, main([*argv, "--device", "mps"]), "", code=2)
    assert "device 'mps' requested but this torch has no usable MPS" in line
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


# ----------------------------------------------------------------------------- prepare
def prep_argv(raw: Path, out: Path, *extra: str) -> list[str]:
    return ["prepare", "ravdess", "--root", str(raw), "--out", str(out), *extra]


@pytest.fixture
def raw(corpus, tmp_path):
    return Path(shutil.copytree(corpus.raw, tmp_path / "raw"))


@pytest.fixture
def counted(monkeypatch):
    """Clip ids ``prepare.process_clip`` was called for."""
    calls, real = [], prepare.process_clip
    monkeypatch.setattr(prepare, "process_clip",
                        lambda item, *a: calls.append(item["clip_id"]) or real(item, *a))
    return calls


def test_prepare_rerun_after_a_full_disk_reuses_finished_shards(raw, tmp_path, monkeypatch,
                                                                capsys, counted):
    monkeypatch.setattr(prepare, "SHARD_SIZE", 2)  # 8 clips → 4 shards
    assert main(prep_argv(raw, tmp_path / "ref")) == 0
    want = json.loads(capsys.readouterr().out)
    with monkeypatch.context() as m:
        full_disk(m, tmp_path / "out", after=4)  # shards 0, 1 and their progress.json
        line = one_line(capsys, main(prep_argv(raw, tmp_path / "out")), "shard-00002.npz")
    assert "a rerun reuses the finished shards" in line
    left = sorted(p.name for p in (tmp_path / "out").rglob("*"))
    assert not temp_files(tmp_path / "out") and MANIFEST not in left
    assert [n for n in left if n.startswith("shard")] == ["shard-00000.npz", "shard-00001.npz"]
    counted.clear()
    assert main(prep_argv(raw, tmp_path / "out")) == 0
    got = json.loads(capsys.readouterr().out)
    assert len(counted) == 4  # clips 5-8 only: shards 0 and 1 were reused
    assert got["content_hash"] == want["content_hash"] and got["clips"] == 8
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        MANIFEST, f"shards-{want['content_hash']}"]


def test_prepare_redoes_a_finished_shard_whose_source_changed(raw, tmp_path, monkeypatch,
                                                              counted):
    monkeypatch.setattr(prepare, "SHARD_SIZE", 2)
    with monkeypatch.context() as m:
        full_disk(m, tmp_path / "out", after=4)
        assert main(prep_argv(raw, tmp_path / "out")) == 1
    first = sorted(raw.rglob("*.wav"))[0]  # a source of shard 0 is edited before the rerun
    first.write_bytes(first.read_bytes()[:-2] + b"\0\0")
    counted.clear()
    assert main(prep_argv(raw, tmp_path / "out")) == 0 and len(counted) == 8


def test_prepare_into_a_read_only_folder_is_one_line(raw, tmp_path, monkeypatch, capsys, counted):
    read_only(monkeypatch, tmp_path / "ro")
    one_line(capsys, main(prep_argv(raw, tmp_path / "ro" / "prep")), tmp_path / "ro" / "prep")
    assert not counted and not (tmp_path / "ro").exists()


def test_prepare_stops_before_work_when_the_disk_is_too_small(raw, tmp_path, monkeypatch, capsys,
                                                             counted):
    monkeypatch.setattr(shutil, "disk_usage", lambda p: SimpleNamespace(total=10**12, free=1000))
    line = one_line(capsys, main(prep_argv(raw, tmp_path / "prep")), tmp_path / "prep")
    assert "GB needed" in line and "--force" in line and not counted
    assert not (tmp_path / "prep").exists()


def test_prepare_source_vanishing_while_read_is_named(raw, tmp_path, monkeypatch, capsys):
    real, victim = prepare.process_clip, sorted(raw.rglob("01-*.mp4"))[2]

    def vanishing(item, *args):
        if item["files"]["video"] == victim:
            victim.unlink()
        return real(item, *args)

    monkeypatch.setattr(prepare, "process_clip", vanishing)
    one_line(capsys, main(prep_argv(raw, tmp_path / "prep", "--strict")), victim, code=2)
    assert not (tmp_path / "prep").exists()


# ----------------------------------------------------------------------------- estimates
def cache_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_prepared_size_estimate_is_within_10_percent(corpus, tmp_path, preset):
    cfg = get_config(preset).data
    report = ravdess.prepare(corpus.raw, tmp_path / "prep", cfg)
    real = cache_size(tmp_path / "prep")
    assert abs(prepared_bytes(settings_of(cfg), report["clips"]) - real) <= 0.1 * real


@pytest.mark.parametrize("size", ["quick", pytest.param("full", marks=pytest.mark.slow)])
def test_synthav_size_estimate_is_within_10_percent(synthav, synthav_cache, size):
    # synchrony: the full set is then the one the report tests' claim reuses (same cache)
    cfg = get_config(variant="synchrony", size=size, cache_dir=synthav_cache).data
    synthav("synchrony", size)
    real = synthetic.synthav_path(cfg).stat().st_size
    assert abs(synthetic.cache_bytes(cfg) - real) <= 0.1 * real


# ----------------------------------------------------------------------------- train, compare
def test_train_after_a_full_disk_resumes_to_the_uninterrupted_metrics(synthav, synthav_cache,
                                                                      tmp_path, monkeypatch,
                                                                      capsys):
    """Mirrors the SIGKILL test: torch's zip writer meets ENOSPC in epoch 1's checkpoint."""
    synthav("complementary", "quick")
    assert main(train_argv(synthav_cache, tmp_path / "full", epochs=2)) == 0
    want = json.loads(capsys.readouterr().out)
    out = tmp_path / "stopped"
    with monkeypatch.context() as m:
        opened = full_disk(m, out, after=2, room=4096)  # epoch 0's best.pt and last.pt whole
        line = one_line(capsys, main(train_argv(synthav_cache, out, epochs=2)), opened[2])
    assert "No space left on device" in line and "train --resume" in line
    assert not temp_files(out) and not (out / "history.json").exists()
    assert tacfn_lite.io.load_checkpoint(out / "last.pt")["epoch"] == 0
    assert main([*train_argv(synthav_cache, out, epochs=2), "--resume"]) == 0
    got = json.loads(capsys.readouterr().out)
    got.pop("checkpoint"), want.pop("checkpoint")
    assert got == want  # exact float equality of final metrics
    history = [json.loads((d / "history.json").read_text()) for d in (out, tmp_path / "full")]
    assert comparable(history[0]) == comparable(history[1])
    best = [tacfn_lite.io.load_checkpoint(d / "best.pt")["model"] for d in (out, tmp_path / "full")]
    assert all(torch.equal(best[0][k], best[1][k]) for k in best[1])


def test_train_into_a_read_only_folder_is_one_line(synthav, synthav_cache, tmp_path, monkeypatch,
                                                   capsys):
    synthav("complementary", "quick")
    read_only(monkeypatch, tmp_path / "ro")
    one_line(capsys, main(train_argv(synthav_cache, tmp_path / "ro" / "run", epochs=1)),
             tmp_path / "ro" / "run")
    assert not (tmp_path / "ro").exists()


def test_train_out_naming_a_file_stops_before_any_epoch(synthav, synthav_cache, tmp_path,
                                                        monkeypatch, capsys):
    synthav("complementary", "quick")
    (tmp_path / "run").write_text("notes")
    monkeypatch.setattr("tacfn_lite.train._epoch", lambda *a: pytest.fail("an epoch ran"))
    line = one_line(capsys, main(train_argv(synthav_cache, tmp_path / "run", epochs=1)),
                    tmp_path / "run")
    assert "a file stands where a folder is needed" in line and "--out" in line
    assert (tmp_path / "run").read_text() == "notes"


def test_train_resume_without_a_checkpoint_says_it_starts_from_epoch_0(synthav, synthav_cache,
                                                                       tmp_path, capsys):
    synthav("complementary", "quick")
    assert main([*train_argv(synthav_cache, tmp_path / "run", epochs=1), "--resume"]) == 0
    err = capsys.readouterr().err
    assert "nothing to resume (no last.pt there); training from epoch 0" in err
    assert main([*train_argv(synthav_cache, tmp_path / "run", epochs=2), "--resume"]) == 0
    assert "nothing to resume" not in capsys.readouterr().err  # epoch 0's last.pt is there now


def test_train_into_a_folder_holding_a_run_refuses_unless_resume_or_overwrite(
        synthav, synthav_cache, tmp_path, capsys):
    synthav("complementary", "quick")
    argv = train_argv(synthav_cache, tmp_path / "run", epochs=1)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["picked_epoch"] == 1  # from 1, as the card
    before = (tmp_path / "run" / "last.pt").read_bytes()
    line = one_line(capsys, main(argv), tmp_path / "run", code=2)
    assert "holds a run already (last.pt): --resume continues it, --overwrite" in line
    assert (tmp_path / "run" / "last.pt").read_bytes() == before
    assert main([*argv, "--overwrite"]) == 0


def test_compare_json_naming_a_folder_stops_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("tacfn_lite.compare.compare", lambda *a: pytest.fail("it trained"))
    rc = main(["compare", "--json", str(tmp_path), "--set", f"cache_dir={tmp_path}"])
    assert f"a folder; give a file, e.g. {tmp_path}/compare.json" in one_line(capsys, rc, tmp_path,
                                                                              code=2)


@pytest.mark.parametrize("args, message", [
    (["--actors", "30"], "--actors 30 --per-class 1: SynthAV complementary/quick has actors 1..24"),
    (["--actors", "0"], "--actors 0 --per-class 1: SynthAV complementary/quick has actors 1..24"),
    (["--per-class", "0"], "--per-class 0: SynthAV complementary/quick has actors 1..24, 3 clips "
                           "per actor and class"),
    (["--per-class", "4"], "--per-class 4: SynthAV complementary/quick has actors 1..24, 3 clips "
                           "per actor and class")])
def test_export_refuses_actors_synthav_does_not_have(synthav, synthav_cache, tmp_path, capsys,
                                                    args, message):
    synthav("complementary", "quick")
    rc = main(["export", "ravdess", "--out", str(tmp_path / "raw"), "--size", "quick",
               "--variant", "complementary", "--set", f"data.cache_dir={synthav_cache}", *args])
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()


def test_export_into_a_folder_that_holds_files_refuses_and_leaves_it(synthav, synthav_cache,
                                                                     tmp_path, capsys):
    synthav("complementary", "quick")
    (tmp_path / "raw" / "Actor_01").mkdir(parents=True)
    (tmp_path / "raw" / "notes.txt").write_text("mine")
    rc = main(["export", "ravdess", "--out", str(tmp_path / "raw"), "--size", "quick",
               "--variant", "complementary", "--set", f"data.cache_dir={synthav_cache}"])
    assert "not empty; export writes a whole corpus" in one_line(capsys, rc, tmp_path / "raw", 2)
    assert sorted(p.name for p in (tmp_path / "raw").rglob("*")) == ["Actor_01", "notes.txt"]


@pytest.mark.parametrize("command, target, hint", [
    ("train", "tacfn_lite.train.train_model",
     "; `train --resume` continues after the last finished epoch (if any"),
    ("compare", "tacfn_lite.compare.compare", "")])
def test_ctrl_c_is_one_line_with_how_to_continue(monkeypatch, capsys, tmp_path, command, target,
                                                hint):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(target, interrupted)
    rc = main([command, "--epochs", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 130 and err.startswith(f"tacfn-lite {command}: interrupted{hint}")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_reader_that_goes_away_ends_the_command_quietly(synthav, synthav_cache, tmp_path):
    """``tacfn-lite ... | head``: no "(no path): Broken pipe" line, no traceback."""
    synthav("complementary", "quick")
    cli = (f"{sys.executable} -m tacfn_lite.cli generate --size quick --variant complementary "
           f"--set data.cache_dir={synthav_cache}")
    done = subprocess.run(f"{cli} | true", shell=True, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    assert done.stderr == "", done.stderr


@pytest.mark.parametrize("command", ["train", "compare"])
def test_prepared_shard_vanishing_while_read_is_named(corpus, tmp_path, monkeypatch, capsys,
                                                      command):
    prep = Path(shutil.copytree(corpus.prep, tmp_path / "prep"))
    shard = next(prep.glob("shards-*/shard-00000.npz"))
    real = Path.read_bytes

    def vanishing(path):
        if path == shard:
            path.unlink()
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", vanishing)
    argv = [command, "--data", "ravdess", "--root", str(prep), "--epochs", "1", "--device", "cpu",
            "--out", str(tmp_path / "runs")]
    line = one_line(capsys, main(argv), shard, code=2)
    assert "shard missing" in line and "re-run prepare" in line


def compare_argv(cache: str, tmp_path: Path) -> list[str]:
    return ["compare", "--models", "audio", "--seeds", "1", "--epochs", "1", "--device", "cpu",
            "--out", str(tmp_path / "runs"), "--json", str(tmp_path / "res" / "compare.json"),
            "--set", f"data.cache_dir={cache}", "--set", "train.progress=false"]


def test_compare_on_a_disk_that_fills_names_the_checkpoint(synthav, synthav_cache, tmp_path,
                                                           monkeypatch, capsys):
    synthav("complementary", "quick")
    with monkeypatch.context() as m:
        opened = full_disk(m, tmp_path / "runs", after=1)  # best.pt whole, last.pt part-way
        one_line(capsys, main(compare_argv(synthav_cache, tmp_path)), opened[1])
    assert opened[1] == str(tmp_path / "runs" / "audio_s0" / "last.pt")
    assert not temp_files(tmp_path) and not (tmp_path / "runs/audio_s0/last.pt").exists()
    with monkeypatch.context() as m:
        read_only(m, tmp_path / "res")
        line = one_line(capsys, main(compare_argv(synthav_cache, tmp_path)), tmp_path / "res")
    assert line.endswith("choose a writable one (--out, --json)")  # compare's own options
    assert (tmp_path / "runs/audio_s0/history.json").exists() and not (tmp_path / "res").exists()


def test_compare_without_json_saves_under_its_runs_not_the_repository_results(
        synthav, synthav_cache, tmp_path, monkeypatch, capsys):
    """A trial ``compare`` must not overwrite the tracked bench/results/compare_<variant>.json."""
    synthav("complementary", "quick")
    monkeypatch.chdir(tmp_path)
    argv = compare_argv(synthav_cache, tmp_path)
    del argv[argv.index("--json"):argv.index("--json") + 2]
    assert main(argv) == 0
    assert f"saved {tmp_path / 'runs' / 'compare_complementary.json'}" in capsys.readouterr().out
    assert not (tmp_path / "bench").exists()


def test_compare_keeps_each_variant_in_its_own_default_folder(synthav, synthav_cache, tmp_path,
                                                              monkeypatch, capsys):
    """Two variants in a row with the default --out: the second one's runs used to meet the
    first one's checkpoints ("cannot resume")."""
    monkeypatch.chdir(tmp_path)
    for variant in ("complementary", "synchrony"):
        synthav(variant, "quick")
        argv = compare_argv(synthav_cache, tmp_path)
        del argv[argv.index("--out"):argv.index("--out") + 2]
        assert main([*argv, "--variant", variant, "--size", "quick"]) == 0, capsys.readouterr()
        run = tmp_path / "runs" / "compare" / f"{variant}-quick" / "audio_s0"
        assert (run / "best.pt").is_file()



def test_compare_of_more_models_later_keeps_the_earlier_ones_in_its_json(synthav, synthav_cache,
                                                                         tmp_path, capsys):
    synthav("complementary", "quick")
    argv = compare_argv(synthav_cache, tmp_path)
    assert main(argv) == 0
    assert main([*argv, "--models", "video"]) == 0  # the README's second command
    result = json.loads((tmp_path / "res" / "compare.json").read_text())
    assert list(result["models"]) == ["audio", "video"]
    assert main([*argv, "--models", "video", "--lr", "0.002", "--out", str(tmp_path / "lr")]) == 0
    result = json.loads((tmp_path / "res" / "compare.json").read_text())
    assert list(result["models"]) == ["video"] and "(video)" in capsys.readouterr().out

# ----------------------------------------------------------------------------- predict --explain
def predict_argv(corpus, out: Path) -> list[str]:
    return ["predict", str(corpus.clip), "--audio", str(corpus.wav), "--checkpoint",
            str(corpus.ckpt), "--explain", str(out)]


def test_predict_explain_on_a_full_disk_leaves_no_partial_figure(corpus, tmp_path, monkeypatch,
                                                                 capsys):
    full_disk(monkeypatch, tmp_path, after=1, room=2000)  # prediction.json whole
    one_line(capsys, main(predict_argv(corpus, tmp_path / "x")), tmp_path / "x" / "attention.png")
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["prediction.json"]


def test_predict_explain_into_a_read_only_folder_is_one_line(corpus, tmp_path, monkeypatch,
                                                             capsys):
    read_only(monkeypatch, tmp_path / "ro")
    line = one_line(capsys, main(predict_argv(corpus, tmp_path / "ro" / "x")), tmp_path / "ro")
    assert line.endswith("choose a writable one (--explain DIR)")  # predict's own option
    assert not (tmp_path / "ro").exists()


def test_predict_explain_naming_a_file_stops_before_the_prediction(corpus, tmp_path, capsys,
                                                                   monkeypatch):
    from tacfn_lite import inference

    monkeypatch.setattr(inference, "predict", lambda *a, **k: pytest.fail("predicted first"))
    (tmp_path / "figs").write_text("not a folder")
    line = one_line(capsys, main(predict_argv(corpus, tmp_path / "figs")), tmp_path / "figs", code=2)
    assert "a file; give a folder for the figures" in line
    assert (tmp_path / "figs").read_text() == "not a folder"


def test_predict_explain_checkpoint_vanishing_is_named(corpus, tmp_path, monkeypatch, capsys):
    ckpt = Path(shutil.copy(corpus.ckpt, tmp_path / "best.pt"))
    real, calls = checkpoints.load_model, []

    def vanishing(path, *args, **kwargs):  # predict reads it, then it is gone for --explain
        calls.append(path)
        if len(calls) == 2:
            Path(path).unlink()
        return real(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "load_model", vanishing)
    argv = predict_argv(corpus, tmp_path / "x")
    argv[argv.index("--checkpoint") + 1] = str(ckpt)
    line = one_line(capsys, main(argv), ckpt, code=2)
    assert "checkpoint not found" in line and not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- report
@pytest.fixture
def fake_papermill(monkeypatch):
    """papermill copies each notebook instead of running it (the faults are in the writes)."""
    import papermill

    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **kw: calls.append(
        Path(src)) or shutil.copyfile(src, dst))
    return calls


@pytest.fixture
def notebooks(tmp_path):
    """One notebook whose parameters cell is the course's (notebooks/parameters.py)."""
    cell = nbformat.v4.new_code_cell((KIT / "notebooks/parameters.py").read_text(),
                                     metadata={"tags": ["parameters"]})
    (tmp_path / "nbs").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / "nbs/00_probe.ipynb")
    return tmp_path / "nbs"


def report_argv(notebooks: Path, out: Path, cache: str, *extra: str) -> list[str]:
    return ["report", "--quick", "--notebooks", str(notebooks), "--out", str(out), "--run-id",
            "r", "--param", f"cache_dir={cache}", "--param", "device=cpu", *extra]


def test_report_on_a_disk_that_fills_names_run_json(synthav, synthav_cache, notebooks, tmp_path,
                                                    monkeypatch, capsys, fake_papermill):
    synthav("complementary", "quick")
    opened = full_disk(monkeypatch, tmp_path / "reports", after=1)  # 00_probe.html whole
    one_line(capsys, main(report_argv(notebooks, tmp_path / "reports", synthav_cache)),
             tmp_path / "reports/r/run.json")
    assert opened[1].endswith("run.json") and not temp_files(tmp_path)
    assert not (tmp_path / "reports/r/run.json").exists()


def test_report_into_a_read_only_folder_is_one_line(synthav_cache, notebooks, tmp_path,
                                                    monkeypatch, capsys, fake_papermill):
    read_only(monkeypatch, tmp_path / "ro")
    one_line(capsys, main(report_argv(notebooks, tmp_path / "ro", synthav_cache)), tmp_path / "ro")
    assert not fake_papermill and not (tmp_path / "ro").exists()


def test_report_notebook_vanishing_while_read_is_named(synthav_cache, notebooks, tmp_path,
                                                       monkeypatch, capsys):
    import papermill

    real = papermill.execute_notebook

    def vanishing(src, *args, **kwargs):
        Path(src).unlink()
        return real(src, *args, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", vanishing)
    one_line(capsys, main(report_argv(notebooks, tmp_path / "reports", synthav_cache)),
             notebooks / "00_probe.ipynb")


def test_report_runs_the_kits_notebooks_from_any_folder(synthav, synthav_cache, tmp_path,
                                                        monkeypatch, capsys, fake_papermill):
    synthav("complementary", "quick")
    monkeypatch.chdir(tmp_path)
    argv = ["report", "--quick", "--only", "00", "--out", "rel", "--run-id", "r", "--param",
            f"cache_dir={synthav_cache}"]
    assert main(argv) == 0, capsys.readouterr().err
    assert fake_papermill == [KIT / "notebooks" / "00_data_tour.ipynb"]
    run = json.loads((tmp_path / "rel/r/run.json").read_text())
    assert run["parameters"]["run_dir"] == str(tmp_path / "rel/r")
    assert run["parameters"]["figures_dir"] == str(tmp_path / "rel/r/figures")


@pytest.mark.parametrize(("param", "message"), [
    ("nosuch=1", "--param nosuch: not a notebook parameter (known: cache_dir, checkpoint_dir"),
    ("seed=abc", "--param seed='abc': expected int (the parameters cell has seed = 0)"),
    ("quick=true", "--param quick: set it with --quick"),
    ("run_dir='/tmp/elsewhere'", "--param run_dir: set it with --out and --run-id"),
    ("variant=synchronous", "--param variant='synchronous': choose from complementary, "),
    ("device=tpu", "--param device='tpu': "),
    ("epochs=-3", "--param epochs=-3: expected 0 (the course's own epochs) or a positive"),
])
def test_report_params_are_checked_before_any_notebook_runs(notebooks, tmp_path, capsys,
                                                            fake_papermill, param, message):
    rc = main(["report", "--notebooks", str(notebooks), "--out", str(tmp_path / "reports"),
               "--param", param])
    line = one_line(capsys, rc, "--param", code=2)
    assert message in line and not fake_papermill and not (tmp_path / "reports").exists()


def test_report_only_a_missing_notebook_lists_the_notebooks_there(notebooks, tmp_path, capsys,
                                                                  fake_papermill):
    rc = main(["report", "--notebooks", str(notebooks), "--out", str(tmp_path / "r"), "--only",
               "99"])
    line = one_line(capsys, rc, "--only 99: no such notebook in", code=2)
    assert "(it has 00" in line and "--notebooks DIR" not in line and not fake_papermill


@pytest.mark.parametrize(("args", "message"), [
    (("--set", "d_model=30"), "model.d_model 30 must be a multiple of model.n_heads 4"),
    (("--set", "n_heads=3"), "model.d_model 32 must be a multiple of model.n_heads 3"),
    (("--epochs", "0"), "train.epochs: expected a positive number, got 0"),
    (("--epochs", "-1"), "train.epochs: expected a positive number, got -1"),
    (("--set", "n_heads=0"), "model.n_heads: expected a positive number, got 0"),
    (("--set", "n_frames=0"), "data.n_frames: expected a positive number, got 0"),
    (("--set", "dropout=2"), "model.dropout: expected a probability in [0, 1], got 2.0"),
    (("--device", "tpu"), "train.device: expected auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
    (("--seed", "-1"), "train.seed: expected 0 to 2**32 - 1 (a seed), got -1"),
    (("--lr", "-1"), "train.lr: expected a number >= 0, got -1.0"),
    (("--root", "/no/such/ravdess"), "data.root '/no/such/ravdess' is for a real corpus: add "
                                     "--data ravdess"),
    (("--model", "concat", "--direction", "both"),  # recorded in its card before, never used
     "--direction: TACFN's; --model concat has no fusion direction"),
])
def test_train_rejects_bad_settings_in_one_line_before_training(tmp_path, capsys, args, message):
    rc = main(["train", "--out", str(tmp_path / "run"), "--device", "cpu", *args])
    assert message in one_line(capsys, rc, "", code=2)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["generate"], ["export", "ravdess", "--out", "{tmp}/x"],
                                     ["prepare", "ravdess", "--root", "{tmp}/raw"]])
def test_data_commands_refuse_a_model_or_training_field_in_set(tmp_path, capsys, command):
    """generate/prepare/export never build a model: --set d_model=64 would be silently ignored."""
    command = [part.format(tmp=tmp_path) for part in command]
    rc = main([*command, "--set", "d_model=64", "--set", f"cache_dir={tmp_path}"])
    line = one_line(capsys, rc, "--set d_model: not a data field", code=2)
    assert f"{command[0]} uses data fields only" in line and not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- CLI
TRAINING = ("--epochs", "--lr", "--model", "--batch-size", "--seed", "--amp", "--device")


@pytest.mark.parametrize(("command", "present", "absent"), [
    ("generate", ("--variant", "--size", "--set", "--force"), (*TRAINING, "--root", "--out")),
    ("prepare", ("--root", "--out", "--set", "--force", "--strict"),
     (*TRAINING, "--variant", "--data")),
    ("export", ("--variant", "--out", "--actors", "--set"), (*TRAINING, "--root", "--force")),
    ("train", (*TRAINING, "--root", "--resume", "--set"), ("--force", "--models")),
    ("compare", ("--models", "--seeds", "--epochs", "--root", "--set"), ("--model", "--seed")),
    ("report", ("--notebooks", "--param", "--quick"), ("--set", "--epochs")),
])
def test_each_command_lists_only_its_own_options(command, present, absent):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    flags = {f for a in sub._actions for f in a.option_strings}
    assert set(present) <= flags and not set(absent) & flags


def test_root_help_says_raw_for_prepare_and_prepared_for_train(capsys):
    for command in ("prepare", "train"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
    prepare_help, train_help = capsys.readouterr().out.split("usage: tacfn-lite train")
    assert "--root ROOT           folder of the raw corpus" in prepare_help
    assert "a prepared folder (prepare --out)" in " ".join(train_help.split())
    assert "--lr" not in prepare_help and "--epochs" not in prepare_help


def test_prepare_says_when_it_replaces_a_cache_made_from_another_folder(corpus, raw, tmp_path,
                                                                       caplog):
    out = tmp_path / "prep"
    assert main(prep_argv(corpus.raw, out)) == 0 and main(prep_argv(corpus.raw, out)) == 0
    assert "replacing" not in caplog.text  # the same folder again: a rerun, nothing to say
    assert main(prep_argv(raw, out)) == 0  # a copy elsewhere: the cache is rebuilt from it
    assert f"{out}: replacing the ravdess cache prepared from {corpus.raw.resolve()} with one " \
           f"from {raw.resolve()}" in caplog.text


def test_version_and_python_m_run_the_command_line():
    from tacfn_lite import __version__

    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'\nversion = "{__version__}"\n' in pyproject  # one version, said twice
    for argv in (["tacfn_lite.cli"], ["tacfn_lite"]):
        done = subprocess.run([sys.executable, "-m", *argv, "--version"], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip() == f"tacfn-lite {__version__}"


def test_help_shows_the_defaults_of_both_presets(capsys):
    """The parser leaves these unset (the config decides), so argparse alone showed no default."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--epochs EPOCHS training epochs (default: 20; --preset paper: 70)" in text
    assert "SynthAV variant (default: complementary)" in text and "(default: runs/default)" in text
    assert "--preset {tiny,paper} tiny: CPU; paper: GPU (default: tiny)" in text


def test_export_usage_shows_out_as_required_and_argparse_asks_for_it(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "ravdess"])
    usage = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2 and "[--out OUT]" not in usage and " --out OUT " in usage
    assert "the following arguments are required: --out" in usage


def cli(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tacfn_lite.cli", *argv], text=True,
                          capture_output=True, env={**os.environ, **env}, timeout=120)


def test_os_error_is_one_line_and_debug_shows_the_traceback(corpus, tmp_path):
    """A real unwritable path: ``--out`` under a plain file (ENOTDIR), in a fresh process."""
    (tmp_path / "file").write_text("not a folder")
    argv = prep_argv(corpus.raw, tmp_path / "file" / "prep")
    plain = cli(*argv)
    assert plain.returncode == 1 and plain.stderr.count("\n") == 1, plain.stderr
    assert plain.stderr.startswith(f"tacfn-lite prepare: error: {tmp_path / 'file'}")
    assert "Not a directory" in plain.stderr and "Traceback" not in plain.stderr
    assert "a file stands where a folder is needed" in plain.stderr  # not "check the disk"
    for debug in (cli("--debug", *argv), cli(*argv, "--debug"), cli(*argv, TACFN_DEBUG="1")):
        assert debug.returncode == 1 and "Traceback" in debug.stderr
        assert "NotADirectoryError" in debug.stderr


def test_a_run_folder_given_for_a_checkpoint_says_it_is_a_folder(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    line = one_line(capsys, main(["evaluate", str(tmp_path / "run")]), tmp_path / "run", code=2)
    assert "a folder; give a checkpoint file in it, e.g. best.pt" in line
