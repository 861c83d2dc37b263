"""bench/ scripts: each prints ONE JSON object, writes the same object under the results folder,
and records the machine and command. Run in smoke mode; schema and consistency, never speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tacfn_lite.baselines import MulTFusion
from tacfn_lite.compare import flop_counter, fusion_flops
from tacfn_lite.config import get_config

REPO = Path(__file__).resolve().parent.parent


def run_bench(script: str, *args: str, results: Path) -> tuple[dict, Path]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    out = subprocess.run([sys.executable, str(REPO / "bench" / script), *args,
                          "--results-dir", str(results)], cwd=REPO, env=env, text=True,
                         capture_output=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be one JSON object, got {len(lines)} lines"
    record = json.loads(lines[0])
    name = script.removesuffix(".py")
    path = results / f"{name}{'.smoke' if record.get('smoke') else ''}.json"
    assert json.loads(path.read_text()) == record
    assert record["bench"] == name
    assert f"bench/{script}" in record["command"]
    for key in ("platform", "python", "torch", "cpu", "cpu_cores", "cuda_available"):
        assert key in record["machine"]
    return record, path


def test_fusion_flops_match_a_hand_count_for_the_mult_block():
    """The counter must include the attention products (CPU SDPA), not only the projections."""
    cfg = get_config("tiny").model
    D, C, N, Ta = cfg.d_model, cfg.n_classes, 16 * 16, 63

    def cross_layer(lq: int, lk: int) -> int:  # q, k+v, scores, weighted sum, out, FFN
        return (2 * lq * D * D + 2 * lk * D * 2 * D + 2 * (2 * lq * lk * D) + 2 * lq * D * D
                + 2 * (2 * lq * D * 2 * D))

    head = 2 * (2 * D) * D + 2 * D * C
    block = MulTFusion(cfg).eval()
    with flop_counter() as counter:
        block(torch.randn(1, Ta, D), torch.randn(1, N, D), (16, 4, 4))
    assert counter.get_total_flops() == cross_layer(N, Ta) + cross_layer(Ta, N) + head
    assert fusion_flops(get_config("tiny", model="mult")) == counter.get_total_flops()


def test_fusion_flops_runs_for_every_model():
    flops = {m: fusion_flops(get_config("tiny", model=m)) for m in ("tacfn", "mult", "concat")}
    assert 0 < flops["concat"] < flops["tacfn"] < flops["mult"]


def test_fusion_cost_smoke_json_and_figure(tmp_path):
    rec, _ = run_bench("fusion_cost.py", "--smoke", results=tmp_path)
    assert rec["smoke"] is True
    for name in ("tiny", "paper"):
        cfg = rec["configs"][name]
        assert set(cfg["models"]) == {"tacfn", "tacfn_both", "mult", "concat"}
        for row in cfg["models"].values():
            assert row["params"] > 0 and row["flops"] > 0 and row["latency_ms"] > 0
        assert cfg["models"]["concat"]["params_block"] == 0  # concat has only its head
        tacfn, mult = cfg["models"]["tacfn"], cfg["models"]["mult"]
        assert cfg["ratios"]["tacfn/mult"]["flops"] == pytest.approx(
            tacfn["flops"] / mult["flops"], abs=1e-4)
    frames = rec["sweeps"]["frames"]
    assert [p["frames"] for p in frames] == [4, 16]
    assert [p["video_tokens"] for p in frames] == [64, 256]
    # MulT attends every video token to every audio step: its FLOPs grow with the frames,
    # while pooled concat's counted cost (its head) does not depend on the length at all.
    assert frames[1]["models"]["mult"]["flops"] > frames[0]["models"]["mult"]["flops"]
    assert frames[1]["models"]["concat"]["flops"] == frames[0]["models"]["concat"]["flops"]
    assert (tmp_path / "fusion_cost.smoke.png").stat().st_size > 0


@pytest.mark.slow
def test_train_throughput_smoke_reports_clips_per_second_and_peak_fraction(synthav,
                                                                          synthav_cache, tmp_path):
    synthav("synchrony")  # generated once per session, reused by the script
    rec, _ = run_bench("train_throughput.py", "--smoke", "--parts", "--cache-dir", synthav_cache,
                       results=tmp_path)
    row = rec["current"]["models"]["tacfn"]
    assert rec["current"]["matmul_gflops"] > 0 and row["clips_per_s"] > 0
    assert row["fraction_of_matmul_peak"] == pytest.approx(
        row["gflops"] / rec["current"]["matmul_gflops"], abs=1e-3)
    assert 0 < row["fraction_of_matmul_peak"] < 1
    parts = rec["tacfn_parts"]  # --parts: each part of a step timed, fractions of the whole
    assert set(parts["ms"]) == {"video_encoder", "audio_encoder", "fusion_and_head",
                                "optimizer_step", "whole_step"}
    assert all(0 < f < 1 for f in parts["fraction_of_step"].values())


def test_gpu_smoke_json_records_both_amp_settings(tmp_path):
    rec, _ = run_bench("gpu.py", "--smoke", "--device", "cpu", results=tmp_path)
    assert rec["smoke"] is True and rec["errors"] == {}
    assert rec["mode"] == "cpu smoke size (not a GPU measurement)"
    assert rec["machine"]["device"] == "cpu" and rec["machine"]["device_name"]
    assert [r["amp"] for r in rec["rows"]] == [False, True]
    for row in rec["rows"]:
        assert row["batch_size"] == 2 and row["steps_timed"] == 2 and row["loss_finite"]
        assert row["samples_per_s"] == pytest.approx(2 / row["step_time_s"], rel=1e-2)
        assert row["peak_memory_mb"] > 0 and row["params"] > 20_000_000  # ResNeXt-50 inside
    assert rec["rows"][1]["amp_dtype"] == "bfloat16"


@pytest.mark.slow
def test_compare_smoke_wraps_the_cli_per_variant(synthav, synthav_cache, tmp_path):
    synthav("complementary", "quick")
    rec, _ = run_bench("compare.py", "--smoke", "--variants", "complementary",
                       "--models", "tacfn,concat", "--runs-dir", str(tmp_path / "runs"),
                       "--set", f"data.cache_dir={synthav_cache}", results=tmp_path)
    assert rec["failures"] == {} and rec["seeds"] == 1 and rec["size"] == "quick"
    v = rec["variants"]["complementary"]
    assert set(v["models"]) == {"tacfn", "concat"}
    assert v["ceilings"]["fusion"] == 1.0
    assert 0.0 <= v["models"]["tacfn"]["test_accuracy_mean"] <= 1.0
    assert isinstance(v["hypotheses"]["tacfn_within_2_of_fusion_ceiling"], bool)
    assert Path(v["json"]).is_file()


def test_report_time_reads_the_claim_from_the_timed_runs_run_json(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from report_time import claim_of

    metrics = {"04.claim.tacfn": {"test_accuracy": 0.986}, "04.claim.late": {"test_accuracy": 0.5},
               "04.claim.concat": {"test_accuracy": 0.8},
               "04.claim.gap_points": {"concat": 18.6, "late": 48.6}, "04.tacfn": {}}
    (tmp_path / "run.json").write_text(json.dumps({"metrics": metrics}))
    claim = claim_of(str(tmp_path / "run.json"))
    assert claim["test_accuracy"] == {"tacfn": 0.986, "late": 0.5, "concat": 0.8}
    assert claim["gap_points"] == {"concat": 18.6, "late": 48.6} and claim["shown"] is False
    metrics["04.claim.gap_points"]["concat"] = 20.0
    (tmp_path / "run.json").write_text(json.dumps({"metrics": metrics}))
    assert claim_of(str(tmp_path / "run.json"))["shown"] is True
    assert claim_of(str(tmp_path / "missing.json")) is None


@pytest.mark.slow  # collects the whole suite
def test_report_time_smoke_times_report_and_test_collection(tmp_path):
    rec, _ = run_bench("report_time.py", "--smoke", results=tmp_path)
    timings = rec["timings"]
    assert set(timings) == {"quick_report", "test_suite"}
    for row in timings.values():
        assert row["status"] in ("ok", "unavailable") and row["seconds"] >= 0
    assert "collected" in timings["test_suite"]["summary"]


def test_report_time_says_clearly_when_the_report_command_is_missing(tmp_path):
    cmd = f"{sys.executable} -m tacfn_lite.cli no-such-report"
    rec, _ = run_bench("report_time.py", "--skip-tests", "--report-cmd", cmd, results=tmp_path)
    row = rec["timings"]["quick_report"]
    assert row["status"] == "unavailable" and row["returncode"] == 2
    assert "not available in this checkout" in row["error"]


@pytest.mark.slow
def test_deviations_smoke_trains_official_and_kit_and_reads_them_back(synthav, synthav_cache,
                                                                      tmp_path):
    synthav("synchrony", "quick")
    args = ("--smoke", "--variant", "synchrony", "--runs", str(tmp_path / "runs"),
            "--cache-dir", synthav_cache)
    env = {**os.environ, "TQDM_DISABLE": "1"}

    def bench(*extra):  # one JSON line on stdout, the same object in deviations_<variant>
        out = subprocess.run([sys.executable, str(REPO / "bench" / "deviations.py"), *args, *extra,
                              "--results-dir", str(tmp_path)], cwd=REPO, env=env, text=True,
                             capture_output=True, timeout=600, check=False)
        assert out.returncode == 0, out.stderr[-2000:]
        record = json.loads(out.stdout)
        assert json.loads((tmp_path / "deviations_synchrony.smoke.json").read_text()) == record
        return record

    rec = bench()
    assert rec["smoke"] is True and rec["unfinished"] == [] and rec["seeds"] == [0]
    official, kit = rec["settings"]["official"], rec["settings"]["kit"]
    assert official["switches"] == {"selection": "last_step", "weight_norm": "frame",
                                    "weight_scale": "none", "classifier_source": "all"}
    assert kit["switches"]["weight_norm"] == "clip" and kit["n_seeds"] == 1
    assert official["params"] > 0 and official["fusion_flops"] > 0
    again = bench("--collect")  # reads the finished runs back, trains nothing
    assert again["settings"]["official"]["runs"] == official["runs"]
