"""Real-browser test of the explorer: JupyterLab on localhost, headless Debian Chromium driven by
Playwright; run all cells, move the slider, check that the image and the label change.

Never runs `playwright install`: the browser is /usr/bin/chromium (CI installs it with apt).
Without Chromium or Playwright the test skips, except under ``CI=true`` where it fails.
The screenshot (explorer.png) goes to the test's tmp_path, or to ``$TACFN_SCREENSHOT_DIR`` when
set: ``TACFN_SCREENSHOT_DIR=figures .venv/bin/python -m pytest -q tests/test_browser.py``
refreshes the README figure on purpose.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("TACFN_CHROMIUM", "/usr/bin/chromium")  # e.g. a Chrome on macOS
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TRAINED = REPO / "runs/validity/tacfn/best.pt"  # bench/validity.py's TACFN, when present


def _missing_browser() -> str | None:
    """Why the browser test cannot run here, or None when Chromium and Playwright are present."""
    if not Path(CHROMIUM).is_file():
        return (f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium; elsewhere "
                "set TACFN_CHROMIUM to a Chrome or Chromium binary)")
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def _require_browser() -> str:
    """The Chromium path; skips when it or Playwright is missing, but fails under ``CI=true``,
    where a silently skipped browser test would hide a broken explorer."""
    reason = _missing_browser()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run under CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def chromium() -> str:
    return _require_browser()


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    """tmp_path, or $TACFN_SCREENSHOT_DIR when set (to refresh figures/explorer.png)."""
    path = Path(os.environ.get("TACFN_SCREENSHOT_DIR") or tmp_path / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _explorer_notebook(path: Path, cache_dir: str) -> None:
    model = repr(str(TRAINED)) if TRAINED.exists() else "build_model(cfg.model)"
    source = f"""\
from tacfn_lite.config import get_config
from tacfn_lite.data import load_arrays
from tacfn_lite.data.splits import split_indices
from tacfn_lite.model import build_model
from tacfn_lite.widgets import Explorer

cfg = get_config(variant="synchrony", size="quick", cache_dir={cache_dir!r})
arrays = load_arrays(cfg.data, progress=False)
test = split_indices(arrays.actors, 0)["test"][::5]  # unseen actors
explorer = Explorer({{"tacfn": {model}}}, {{"synchrony": arrays}}, indices={{"synchrony": test}})
explorer"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def _start_kernel(url: str, notebook: str) -> None:
    """Open a kernel session for ``notebook`` through the REST API, so the page attaches to a
    running kernel instead of asking which one to start."""
    body = json.dumps({"path": notebook, "name": notebook, "type": "notebook",
                       "kernel": {"name": "python3"}}).encode()
    request = urllib.request.Request(url + "api/sessions", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        if reply.status not in (200, 201):
            raise RuntimeError(f"could not start a kernel for {notebook}: HTTP {reply.status}")


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "api/status", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer at {url} within {timeout} s")


PROMPT = "document.querySelector('.jp-Notebook .jp-InputPrompt').innerText"


def _run_all_cells(page, tries: int = 6) -> None:
    """Run every cell; retry while the kernel connection is still settling (the command is a
    no-op until then), until the first cell's prompt changes to queued ([*]) or a new count."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    before = page.evaluate(PROMPT)
    accept = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel" may pop up late
    for _ in range(tries):
        if accept.count():
            accept.first.click()
            page.wait_for_timeout(1000)
        page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:
            page.wait_for_function(f"before => {PROMPT} !== before && "
                                   rf"/\[(\*|\d+)\]/.test({PROMPT})", arg=before, timeout=10_000)
            return
        except PlaywrightTimeout:  # not started yet, try again
            page.wait_for_timeout(1000)
    raise TimeoutError("JupyterLab never started executing the notebook")


def _show_explorer(page, log: Path, failure_png: Path, tries: int = 3):
    """Run the notebook until the explorer's image is visible and return it. A run whose cell
    finished without a rendered widget (the widget manager can miss the first comm while the
    kernel connection settles) is run again; a Python error fails at once with its text."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    image, outputs = page.locator(".widget-image").first, []
    for _ in range(tries):
        _run_all_cells(page)
        page.wait_for_function(rf"/\[\d+\]/.test({PROMPT})", timeout=300_000)  # cell done
        try:
            image.wait_for(state="visible", timeout=30_000)
            return image
        except PlaywrightTimeout:
            outputs.append(page.locator(".jp-Notebook .jp-Cell-outputWrapper").first.inner_text())
            if "Traceback" in outputs[-1]:  # the notebook itself failed: no point in rerunning
                break
    page.screenshot(path=str(failure_png))
    server = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise AssertionError(f"the explorer never rendered an image (screenshot {failure_png}).\n"
                         f"cell outputs per run: {outputs!r}\njupyter log tail:\n{server}")


def _move_slider(page, label_before: str, failure_png: Path, tries: int = 4) -> None:
    """Click the sample slider's track further right (then, if needed, press → on its handle)
    until the label shows another clip."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    track = page.locator(".widget-slider .noUi-target").first
    handle = page.locator(".widget-slider .noUi-handle").first
    for attempt in range(tries):
        if attempt % 2 == 0:
            box = track.bounding_box()
            track.click(position={"x": box["width"] * (0.4 + 0.1 * attempt),
                                  "y": box["height"] / 2})
        else:
            handle.focus()
            handle.press("ArrowRight")
        try:
            page.wait_for_function("text => document.querySelector('.widget-html-content')"
                                   ".innerText !== text", arg=label_before, timeout=20_000)
            return
        except PlaywrightTimeout:  # the click or key press was lost: try again
            pass
    page.screenshot(path=str(failure_png))
    raise TimeoutError(f"moving the slider never changed the label (see {failure_png})")


@pytest.fixture
def jupyter_lab(chromium, tmp_path, synthav, synthav_cache):
    """A JupyterLab server (own process group, isolated config) serving one explorer notebook.
    Asks for ``chromium`` first, so a missing browser skips before anything starts."""
    synthav("synchrony", "quick")  # generate the cache the notebook's kernel reads
    cache_dir = synthav_cache
    root = tmp_path / "lab"
    root.mkdir()
    _explorer_notebook(root / "explorer.ipynb", cache_dir)
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "OMP_NUM_THREADS": "1"}
    jupyter = Path(sys.executable).parent / "jupyter"
    cmd = [str(jupyter), "lab", "--allow-root", "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
           "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--ServerApp.disable_check_xsrf=True"]
    with open(tmp_path / "jupyter.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{port}/"
        try:
            _wait_for_server(url, proc)
            _start_kernel(url, "explorer.ipynb")
            yield url
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # its own group; it shuts its kernels down
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@pytest.mark.browser
@pytest.mark.slow
def test_explorer_slider_changes_the_image_and_the_label(chromium, jupyter_lab, screenshot_dir,
                                                          tmp_path):
    from playwright.sync_api import sync_playwright

    failure_png = screenshot_dir / "explorer_failure.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(jupyter_lab + "lab/tree/explorer.ipynb")
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')",
                                   timeout=90_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=90_000)
            image = _show_explorer(page, tmp_path / "jupyter.log", failure_png)
            label = page.locator(".widget-html-content").first
            page.wait_for_function("document.querySelector('.widget-html-content')"
                                   ".innerText.includes('predicted')", timeout=60_000)
            before_label, before_png = label.inner_text(), image.screenshot()
            _move_slider(page, before_label, failure_png)
            page.wait_for_timeout(1500)  # let the new PNG load into the <img>
            after_label, after_png = label.inner_text(), image.screenshot()
            page.locator(".jp-OutputArea-output").first.screenshot(
                path=str(screenshot_dir / "explorer.png"))
        finally:
            browser.close()
    assert "predicted" in after_label and "true" in after_label
    assert after_label != before_label
    assert after_png != before_png
    assert (screenshot_dir / "explorer.png").stat().st_size > 0


def _outcome() -> tuple[type | None, str]:
    """What ``_require_browser`` does: (skip or fail exception type, message), caught here so a
    wrong skip cannot pass for a skipped test."""
    try:
        _require_browser()
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        return type(exc), str(exc)
    return None, ""


def test_missing_chromium_skips_with_the_reason_outside_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    kind, message = _outcome()
    assert kind is pytest.skip.Exception
    missing = tmp_path / "no-chromium"
    assert message == (f"Chromium not found at {missing} (Debian: apt-get install chromium; "
                       "elsewhere set TACFN_CHROMIUM to a Chrome or Chromium binary)")


def test_missing_chromium_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("CI", "true")
    kind, message = _outcome()
    assert kind is pytest.fail.Exception
    assert message.startswith("browser test cannot run under CI=true: Chromium not found")


def test_missing_playwright_fails_under_ci(monkeypatch, tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("")
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", str(fake))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # no playwright
    monkeypatch.setenv("CI", "true")
    kind, message = _outcome()
    assert kind is pytest.fail.Exception
    assert "the playwright package is not installed" in message
