"""Notebooks are stored clean, each paired with a jupytext percent script and sharing one
parameters cell (notebooks/parameters.py); the report runs them, names a failing notebook and
cell, records metrics, and repeats its metrics for the same seed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest

from tacfn_lite.report import (
    ReportError,
    ReportOptions,
    find_notebooks,
    load_metrics,
    parse_param,
    record,
    run_report,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SCRIPTS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
PARAMETERS = (NOTEBOOK_DIR / "parameters.py").read_text().rstrip("\n")
REQUIRED_PARAMETERS = ("variant", "quick", "seed", "device", "checkpoint_dir", "figures_dir",
                       "run_dir", "cache_dir")
IMPORT_LINE = re.compile(r"^\s*(import \w|from [\w.]+ import )", re.MULTILINE)


def _code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _parameters_cells(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])]


def test_course_numbers_notebooks_00_to_09_without_gaps_or_duplicates():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(10)]


def test_every_notebook_has_a_paired_percent_script_and_vice_versa():
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SCRIPTS], \
        "pair each NN_name.ipynb with NN_name.py: run `make notebooks`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_the_cells_of_its_paired_script(path):
    script = jupytext.read(path.with_suffix(".py"), fmt="py:percent")
    stored = nbformat.read(path, as_version=4)
    assert [(c.cell_type, c.source) for c in stored.cells] == \
        [(c.cell_type, c.source) for c in script.cells], \
        f"{path.name} and its .py differ: run `make notebooks`"
    assert stored.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_is_notebooks_parameters_py(path):
    script = jupytext.read(path.with_suffix(".py"), fmt="py:percent")
    for nb in (nbformat.read(path, as_version=4), script):
        assert _parameters_cells(nb) == [PARAMETERS], \
            f"{path.stem}: edit notebooks/parameters.py, then run `make notebooks`"


def test_sync_check_names_a_notebook_edited_without_syncing(tmp_path):
    nb_dir = shutil.copytree(NOTEBOOK_DIR, tmp_path / "notebooks",
                             ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))

    def sync(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(nb_dir / "sync.py"), *args],
                              check=False, capture_output=True, text=True, timeout=120)

    assert sync("--check").returncode == 0, "run `make notebooks`"
    script = nb_dir / "07_robustness.py"
    script.write_text(script.read_text().replace("seed = 0\n", "seed = 1\n", 1))
    check = sync("--check")
    listed = [line.strip() for line in check.stdout.splitlines()[1:]]
    assert check.returncode == 1 and listed == ["07_robustness.py"]
    assert sync().returncode == 0 and sync("--check").returncode == 0
    assert script.read_text() == (NOTEBOOK_DIR / "07_robustness.py").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    for cell in _code_cells(path):
        assert cell.outputs == [] and cell.execution_count is None, \
            f"{path.name}: a code cell has outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_one_parameters_cell_with_the_report_parameters(path):
    tagged = [c for c in _code_cells(path) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected one cell tagged 'parameters'"
    defined = set(re.findall(r"^(\w+)\s*=", tagged[0].source, re.MULTILINE))
    missing = set(REQUIRED_PARAMETERS) - defined
    assert not missing, f"{path.name}: parameters cell lacks {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_keeps_the_course_shape(path):
    cells = _code_cells(path)
    assert len(cells) <= 25, f"{path.name}: {len(cells)} code cells"
    for cell in cells:
        assert len(cell.source.splitlines()) <= 15, f"{path.name}: cell too long:\n{cell.source}"
    importing = [c for c in cells if IMPORT_LINE.search(c.source)]
    assert len(importing) == 1, f"{path.name}: imports belong in one cell, found {len(importing)}"


def test_record_appends_and_converts_numpy_values(tmp_path):
    record("00.a", np.float32(0.5), tmp_path)
    record("04.b", {"acc": np.int64(3), "curve": np.arange(2)}, tmp_path)
    assert load_metrics(tmp_path) == {"00.a": 0.5, "04.b": {"acc": 3, "curve": [0, 1]}}
    assert record("x", np.float64(1.0), None) == 1.0  # no run dir: nothing written
    assert not (tmp_path / "None").exists()


def test_record_writes_nan_as_null_so_metrics_json_stays_valid_json(tmp_path):
    record("06.validity", {"concat": {"audio_select_pointing": float("nan"),
                                      "curve": np.array([1.0, np.inf])}}, tmp_path)
    text = (tmp_path / "metrics.json").read_text()
    strict = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert strict == {"06.validity": {"concat": {"audio_select_pointing": None,
                                                 "curve": [1.0, None]}}}


def test_parse_param_reads_python_literals_else_strings():
    assert parse_param("seed=3") == ("seed", 3)
    assert parse_param("quick=false") == ("quick", False)
    assert parse_param("variant=synchrony") == ("variant", "synchrony")
    assert parse_param("levels=(0.5, 2.0)") == ("levels", (0.5, 2.0))
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_param("seed")


def test_find_notebooks_orders_by_number_and_filters(tmp_path):
    for name in ("04_b.ipynb", "00_a.ipynb", "build.py", "notes.ipynb", "10_c.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in find_notebooks(tmp_path)] == ["00_a.ipynb", "04_b.ipynb", "10_c.ipynb"]
    assert [p.name for p in find_notebooks(tmp_path, ("04",))] == ["04_b.ipynb"]
    with pytest.raises(ValueError, match=r"--only 99: no such notebook .* \(it has 00, 04, 10\)"):
        find_notebooks(tmp_path, ("99",))
    # "0" is notebook 00 (it matched every name starting with 0), "4" is 04 (it matched none and
    # was dropped without a word when another entry matched)
    assert [p.name for p in find_notebooks(tmp_path, ("0", "4"))] == ["00_a.ipynb", "04_b.ipynb"]
    assert [p.name for p in find_notebooks(tmp_path, ("10_c",))] == ["10_c.ipynb"]
    with pytest.raises(ValueError, match=r"--only 7,99: no such notebook"):
        find_notebooks(tmp_path, ("04", "7", "99"))
    with pytest.raises(ValueError, match="no notebooks match .*; pass --notebooks DIR"):
        find_notebooks(tmp_path / "build.py")  # not a notebook folder


def _notebook(path: Path, *sources: str) -> None:
    params = nbformat.v4.new_code_cell("run_dir = None\nseed = 0",
                                       metadata={"tags": ["parameters"]})
    cells = [params] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}), path)


@pytest.mark.slow
def test_report_passes_parameters_and_names_the_failing_notebook_and_cell(tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _notebook(nb_dir / "00_ok.ipynb", "from tacfn_lite.report import record",
              "record('00.seed_seen', seed, run_dir)")
    _notebook(nb_dir / "01_fail.ipynb", "x = 1", "raise ValueError('broken on purpose')")
    _notebook(nb_dir / "02_never.ipynb", "x = 2")
    opts = ReportOptions(params={"seed": 7, "device": "cpu"}, repo=tmp_path, run_id="r",
                         figures_dir=str(tmp_path / "fig"), progress=False)
    failed = r"01_fail\.ipynb failed at cell In \[\d+\] \(\"raise Val.*broken on purpose"
    with pytest.raises(ReportError, match=failed):
        run_report(opts)
    run = json.loads((tmp_path / "reports/r/run.json").read_text())
    assert run["status"] == "failed" and run["metrics"] == {"00.seed_seen": 7}
    assert [n["status"] for n in run["notebooks"]] == ["ok", "failed"]  # stops at the failure
    assert (tmp_path / "reports/r/01_fail.html").exists()
    assert "01_fail.ipynb" in (tmp_path / "reports/r/index.html").read_text()


@pytest.mark.slow
def test_report_progress_bars_are_text_whose_last_line_shows_in_the_html(tmp_path, monkeypatch):
    # a widget bar stores only "0%" as text and needs a widget manager from the web in the HTML
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # conftest turns bars off elsewhere
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _notebook(nb_dir / "00_bar.ipynb", "from tacfn_lite.runtime import tqdm\n"
              "for _ in tqdm(range(5), desc='steps'):\n    pass")
    run_report(ReportOptions(params={}, repo=tmp_path, run_id="r", progress=False,
                             figures_dir=str(tmp_path / "fig")))
    assert "TACFN_TEXT_PROGRESS" not in os.environ  # set for the kernels only, not left behind
    executed = (tmp_path / "reports/r/00_bar.ipynb").read_text()
    assert "widget-view+json" not in executed and "steps: 100%" in executed  # stored as text
    page = (tmp_path / "reports/r/00_bar.html").read_text()
    assert "steps: 100%" in page and "steps:   0%" not in page


def test_ctrl_c_in_a_report_still_writes_its_run_json_and_front_page(tmp_path, monkeypatch,
                                                                     capsys):
    from tacfn_lite import report
    from tacfn_lite.cli import main

    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    for name in ("00_first", "01_second", "02_never"):
        _notebook(nb_dir / f"{name}.ipynb", "x = 1")

    def execute(nb, out, params):  # no kernel: the first notebook runs, Ctrl-C in the second
        if nb.name.startswith("01"):
            raise KeyboardInterrupt
        return {"notebook": nb.name, "executed": out.name, "status": "ok", "seconds": 1.0}

    monkeypatch.setattr(report, "_execute", execute)
    rc = main(["report", "--notebooks", str(nb_dir), "--out", str(tmp_path / "reports"),
               "--run-id", "r", "--param", "device=cpu"])
    assert rc == 130
    assert capsys.readouterr().err.strip().endswith(
        "tacfn-lite report: interrupted; index.html in the run folder shows the notebooks that ran")
    run = json.loads((tmp_path / "reports/r/run.json").read_text())
    assert run["status"] == "interrupted"
    assert [(n["notebook"], n["status"]) for n in run["notebooks"]] == [
        ("00_first.ipynb", "ok"), ("01_second.ipynb", "interrupted")]  # 02 never started
    page = (tmp_path / "reports/r/index.html").read_text()
    assert "<b>01_second.ipynb interrupted</b> at cell (Ctrl-C): stopped by the user" in page


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_prints_one_line_not_the_kernels_traceback(tmp_path):
    """The terminal sends SIGINT to the whole process group, the kernel included: its traceback
    (ipykernel, zmq) came before the one line the README promises."""
    import signal
    import time

    nb_dir, marker = tmp_path / "notebooks", tmp_path / "running"
    nb_dir.mkdir()
    _notebook(nb_dir / "00_slow.ipynb", f"import pathlib, time\npathlib.Path({str(marker)!r})"
              ".write_text('x')\ntime.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-m", "tacfn_lite.cli", "report", "--notebooks",
                             str(nb_dir), "--out", str(tmp_path / "reports"), "--run-id", "r"],
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert marker.exists(), "the notebook never started"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    err = proc.communicate(timeout=120)[1]
    lines = [ln for ln in err.splitlines()  # not the bar, nor this toy notebook's missing params
             if ln.strip() and "%|" not in ln and not ln.startswith("WARNING papermill")]
    assert proc.returncode == 130 and lines == [
        "tacfn-lite report: interrupted; index.html in the run folder shows the notebooks that ran"
    ], err
    assert json.loads((tmp_path / "reports/r/run.json").read_text())["status"] == "interrupted"


def _numbers(metrics: dict, prefix: str = "") -> dict:
    """Flatten nested metrics to {"key/sub": value}."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update(_numbers(value, f"{prefix}{key}/"))
        else:
            out[prefix + key] = value
    return out


@pytest.mark.slow
def test_quick_report_runs_every_notebook_and_repeats_its_metrics(tmp_path, synthav_cache):
    # epochs=1: every model trains one epoch (a smoke run of the whole course; the course's own
    # epochs and the claim's numbers are timed and checked by bench/report_time.py)
    def run(run_id: str, only: tuple[str, ...] = ()) -> dict:
        opts = ReportOptions(quick=True, params={"device": "cpu", "seed": 0, "epochs": 1},
                             repo=REPO,
                             out_root=str(tmp_path / "reports"), run_id=run_id, only=only,
                             figures_dir=str(tmp_path / "figures"), cache_dir=synthav_cache,
                             progress=False)
        return json.loads((run_report(opts) / "run.json").read_text())

    first = run("first")
    assert [n["notebook"] for n in first["notebooks"]] == [p.name for p in NOTEBOOKS]
    assert all(n["status"] == "ok" for n in first["notebooks"])
    for n in first["notebooks"]:
        assert (tmp_path / "reports/first" / n["html"]).stat().st_size > 0
    assert {"00.ceilings", "04.tacfn", "04.mult", "07.robustness", "04.claim.tacfn",
            "04.claim.gap_points"} <= set(first["metrics"])
    page = (tmp_path / "reports/first/index.html").read_text()
    assert "<h2>The claim: synchrony</h2>" in page and '"image": "clip_000.png"' in page
    assert 0.0 <= first["metrics"]["04.tacfn"]["test_accuracy"] <= 1.0
    assert re.fullmatch(r"[0-9a-f]{16}", first["data"]["synthav"]["content_hash"])
    assert first["environment"]["git"]["commit"] and first["environment"]["versions"]["torch"]
    for fig in ("synthav_complementary_clips.png", "04_comparison_complementary.png",
                "07_robustness_complementary.png"):
        assert fig in first["figures"] and (tmp_path / "figures" / fig).stat().st_size > 0
    # Same seed, fresh checkpoints: notebooks that train give identical numbers (01-02 keep CI
    # short; whole-run determinism is also checked in test_fault_tolerance.py).
    second = run("second", only=("01", "02"))
    a, b = _numbers(first["metrics"]), _numbers(second["metrics"])
    shared = set(a) & set(b)
    assert len(shared) > 5 and {k: a[k] for k in shared} == {k: b[k] for k in shared}


@pytest.mark.slow
def test_quick_report_on_a_fresh_clone_leaves_the_tree_clean(tmp_path, synthav_cache):
    """A report writes only under reports/<run>/ (figures included): the clone stays clean and
    run.json names its commit as clean. The kit is imported from the clone itself."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, text=True,
                          capture_output=True, check=True).stdout.strip()
    tmp = tmp_path / "tmp"  # the kernel's IPC sockets go in a private folder here
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(clone), "TQDM_DISABLE": "1", "TMPDIR": str(tmp)}
    out = subprocess.run([sys.executable, "-m", "tacfn_lite.cli", "report", "--quick", "--only",
                          "00", "--run-id", "clean", "--param", f"cache_dir={synthav_cache}"],
                         cwd=clone, env=env, text=True, capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "without encryption" not in out.stderr  # ipykernel's warning for a TCP kernel
    assert not list(tmp.iterdir())  # the socket folder is removed
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=clone, text=True, capture_output=True, check=True).stdout
    assert status == "", f"the report changed the clone:\n{status}"
    run = json.loads((clone / "reports" / "clean" / "run.json").read_text())
    assert run["environment"]["git"] == {"commit": head, "dirty": False}
    assert any((clone / "reports" / "clean" / "figures").glob("*.png"))  # the run keeps them


def test_a_notebook_run_by_hand_writes_only_into_git_ignored_folders():
    """Run in JupyterLab with the default parameters, a notebook must not touch tracked files
    (the README's figures/ change only via `make figures`)."""
    defaults: dict = {}
    exec(PARAMETERS, {}, defaults)  # noqa: S102  (the kit's own parameters cell)
    for name in ("checkpoint_dir", "figures_dir", "run_dir", "cache_dir"):
        probe = (NOTEBOOK_DIR / defaults[name] / "probe.png").resolve()
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", str(probe)],
                                 cwd=REPO, check=False).returncode == 0
        assert ignored, f"{name} = {defaults[name]!r} writes into tracked folders"
