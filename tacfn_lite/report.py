"""Reproducibility report (DESIGN §2, README "Report"): run every ``notebooks/NN_*.ipynb`` with
papermill into ``reports/<run-id>/`` (executed notebooks, HTML, index.html, run.json)."""

import ast
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from .config import VARIANTS, get_config
from .frontpage import index_html
from .io import atomic_write, atomic_write_text, read_json, write_json
from .provenance import git_state, machine_info, package_versions
from .runtime import resolve_device

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
# Every notebook's `parameters` cell defines these; the report passes them all to each notebook.
DEFAULT_PARAMETERS = {"variant": "complementary", "seed": 0, "device": "auto"}
PATH_PARAMETERS = ("run_dir", "checkpoint_dir", "figures_dir", "cache_dir")
KIT = Path(__file__).resolve().parents[1]  # the kit checkout (editable install): notebooks/, git


class ReportError(RuntimeError):
    """A notebook failed; the message names the notebook and the cell."""


def record(key: str, value: Any, run_dir: str | Path | None) -> Any:
    """Store JSON-able ``value`` under ``key`` (``<notebook>.<what>``, e.g.
    ``04.tacfn.test_accuracy``) in ``run_dir/metrics.json`` (nothing when ``None``); return it."""
    if run_dir is not None:
        write_json(Path(run_dir) / METRICS_FILE, {**load_metrics(run_dir), key: value},
                   sort_keys=True)
    return value


def load_metrics(run_dir: str | Path) -> dict:
    """The metrics recorded so far in ``run_dir`` (empty dict when none)."""
    path = Path(run_dir) / METRICS_FILE
    return read_json(path, "metrics file") if path.exists() else {}


def parse_param(text: str) -> tuple[str, Any]:
    """``"seed=3"`` → ("seed", 3); values are Python literals when they parse, else strings."""
    if "=" not in text:
        raise ValueError(f"--param expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = {"true": True, "false": False, "none": None}.get(raw.lower(), raw)
    return key.strip(), value


def find_notebooks(notebooks_dir: str | Path, only: tuple[str, ...] = ()) -> list[Path]:
    """``NN_*.ipynb`` in order; ``only``: numbers (``4``, ``04``) or name starts, each must match."""
    every = sorted(Path(notebooks_dir).glob(NOTEBOOK_GLOB))
    if not every:
        raise ValueError(f"{notebooks_dir}: no notebooks match {NOTEBOOK_GLOB}; pass --notebooks "
                         "DIR (the kit's notebooks/ folder)")
    keys = [f"{int(e):02d}_" if e.strip().isdigit() else e.strip() for e in only]
    if missing := [e for e, k in zip(only, keys) if not any(p.name.startswith(k) for p in every)]:
        raise ValueError(f"--only {','.join(missing)}: no such notebook in {notebooks_dir} (it "
                         f"has {', '.join(p.name[:2] for p in every)})")
    return [p for p in every if not only or p.name.startswith(tuple(keys))]


def notebook_parameters(notebooks: list[Path]) -> dict:
    """Names and defaults in ``parameters.py`` (else the first notebook's ``parameters`` cell)."""
    src = notebooks[0].parent / "parameters.py"
    text = src.read_text() if src.is_file() else next(
        ("".join(c["source"]) for c in json.loads(notebooks[0].read_text())["cells"]
         if "parameters" in c.get("metadata", {}).get("tags", ())), "")
    return {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(text).body
            if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)}


def check_params(params: dict, notebooks: list[Path]) -> None:
    """``ValueError`` before any notebook runs for an unknown, mistyped or invalid ``--param``."""
    known = {**DEFAULT_PARAMETERS, **notebook_parameters(notebooks)}
    for key, value in params.items():
        if key in ("quick", "run_dir"):
            raise ValueError(f"--param {key}: set it with "
                             + ("--quick" if key == "quick" else "--out and --run-id"))
        if key not in known:
            raise ValueError(f"--param {key}: not a notebook parameter (known: "
                             f"{', '.join(sorted(known))})")
        want = known[key]
        if want is not None and not (type(value) is type(want)
                                     or isinstance(want, float) and type(value) is int):
            raise ValueError(f"--param {key}={value!r}: expected {type(want).__name__} "
                             f"(the parameters cell has {key} = {want!r})")
    if params.get("epochs", 0) < 0:
        raise ValueError(f"--param epochs={params['epochs']!r}: expected 0 (the course's own "
                         "epochs) or a positive number")
    if params.get("variant", VARIANTS[0]) not in VARIANTS:
        raise ValueError(f"--param variant={params['variant']!r}: choose from "
                         f"{', '.join(VARIANTS)}")
    try:
        resolve_device(params.get("device", "auto"))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"--param device={params['device']!r}: {exc}") from exc


def environment(repo: Path, device: str) -> dict:
    """Git commit, package versions, Python, platform and the device the notebooks ran on."""
    return {"git": git_state(repo), "versions": package_versions(),
            "machine": machine_info(resolve_device(device)), "device_requested": device}


def synthav_hash(params: dict) -> dict | None:
    """Content hash of the SynthAV set the notebooks used (from the cache they filled)."""
    from .data.synthetic import load_synthav, params_hash  # librosa, OpenCV: only when needed

    try:
        cfg = get_config(variant=params["variant"], size="quick" if params["quick"] else "full",
                         cache_dir=params["cache_dir"]).data
    except ValueError:  # not a SynthAV variant (a real corpus run)
        return None
    meta = load_synthav(cfg, progress=False).meta
    return {"variant": cfg.variant, "size": cfg.size, "content_hash": meta["content_hash"],
            "params_hash": params_hash(cfg), "ceilings": meta.get("ceilings")}


@dataclass
class ReportOptions:
    """What :func:`run_report` runs and where it writes (relative paths: from ``repo``)."""

    quick: bool = True
    params: dict = field(default_factory=dict)
    repo: Path = KIT
    notebooks_dir: str = "notebooks"  # relative to repo, or absolute (--notebooks DIR)
    out_root: str = "reports"
    run_id: str | None = None
    figures_dir: str | None = None  # default: <run dir>/figures
    update_figures: bool = False  # copy the run's figures into the repository's figures/
    checkpoint_dir: str | None = None  # default: <run dir>/checkpoints (fresh training per run)
    cache_dir: str = ".cache/tacfn_lite"
    only: tuple[str, ...] = ()
    progress: bool = True


def _kernel_manager(log: Path):
    """A kernel manager whose kernel process writes its own stderr (not the cells') to ``log``:
    Ctrl-C in a terminal reaches the kernel too, and its traceback belongs there, not on screen."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            with open(log, "ab") as fh:  # the kernel keeps its own copy of the descriptor
                return await super()._async_launch_kernel(kernel_cmd, **kw, stderr=fh)

    return LoggedKernelManager


def _execute(nb: Path, out: Path, params: dict) -> dict:
    import papermill as pm
    from nbconvert import HTMLExporter
    from papermill.exceptions import PapermillExecutionError
    from traitlets.config import Config

    # kernel CPU time (less load-bound than seconds): user + system of finished children
    t0, cpu0 = time.perf_counter(), sum(os.times()[2:4])
    entry = {"notebook": nb.name, "executed": out.name, "status": "ok"}
    log = out.with_suffix(".kernel.log")  # kept when the kernel said something
    try:  # kernel on IPC sockets in a private folder (ipykernel warns TCP is unencrypted), Unix
        with tempfile.TemporaryDirectory(prefix="tacfn-kernel-") as tmp, mock.patch.dict(
                os.environ, TACFN_TEXT_PROGRESS="1"):  # the kernel's bars as text (runtime.tqdm)
            ipc = {"transport": "ipc", "ip": f"{tmp}/k"} if os.name == "posix" else {}
            pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name="python3",
                                progress_bar=False, cwd=str(nb.parent),
                                config=Config(KernelManager=ipc),
                                kernel_manager_class=_kernel_manager(log))
    except PapermillExecutionError as exc:
        src = (exc.source or "").strip().splitlines()
        entry.update(status="failed", cell=f"In [{exc.exec_count}]", error=f"{exc.ename}: "
                     f"{exc.evalue}", cell_source=src[0] if src else "")
    except (RuntimeError, TimeoutError) as exc:  # kernel died, did not start, or timed out
        entry.update(status="failed", cell="(kernel)", error=f"{type(exc).__name__}: {exc}",
                     cell_source="")
    entry["seconds"] = round(time.perf_counter() - t0, 1)
    if log.is_file() and not log.stat().st_size:
        log.unlink()
    entry["cpu_seconds"] = round(sum(os.times()[2:4]) - cpu0, 1)
    if out.exists():
        quiet = logging.getLogger(f"{__name__}.nbconvert")  # it warns of images without alt text
        quiet.setLevel(logging.ERROR)
        merge = Config(CoalesceStreamsPreprocessor={"enabled": True})  # a text bar: last line
        body, _ = HTMLExporter(template_name="lab", log=quiet, config=merge).from_filename(str(out))
        entry["html"] = atomic_write_text(out.with_suffix(".html"), body).name
    return entry


def run_report(opts: ReportOptions) -> Path:
    """Run the notebooks in order; write run.json and index.html; return the run folder. Stops at
    the first failing notebook (later ones use its outputs), then raises :class:`ReportError`."""
    from tqdm.auto import tqdm

    repo = opts.repo.resolve()
    notebooks = find_notebooks(repo / opts.notebooks_dir, opts.only)
    check_params(opts.params, notebooks)  # a misspelt --param stops here, not in a notebook
    run_id = opts.run_id or time.strftime("%Y%m%d-%H%M%S") + ("-quick" if opts.quick else "")
    run_dir = repo / opts.out_root / run_id
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"{run_dir}: report folder exists and is not empty; choose another run id")
    run_dir.mkdir(parents=True, exist_ok=True)
    params = {**DEFAULT_PARAMETERS, "quick": opts.quick, "run_dir": run_dir,
              "checkpoint_dir": opts.checkpoint_dir or run_dir / "checkpoints",
              "figures_dir": opts.figures_dir or run_dir / "figures", "cache_dir": opts.cache_dir,
              **opts.params}  # `quick` is not a --param (check_params)
    # notebooks run in notebooks/: hand them absolute paths (an absolute one stays as it is)
    params.update({k: str(repo / params[k]) for k in PATH_PARAMETERS})
    fig_dir = Path(params["figures_dir"])
    fig_dir.mkdir(parents=True, exist_ok=True)
    t0, started, entries = time.perf_counter(), time.time(), []
    with tqdm(notebooks, desc="report", unit="notebook", disable=not opts.progress) as bar:
        for nb in bar:
            bar.set_postfix_str(nb.name)
            try:
                t_nb = time.perf_counter()
                entries.append(_execute(nb, run_dir / nb.name, params))
            except KeyboardInterrupt:  # what ran still gets its run.json and index.html
                entries.append({"notebook": nb.name, "executed": nb.name, "status": "interrupted",
                                "cell": "(Ctrl-C)", "error": "stopped by the user", "cell_source":
                                "", "seconds": round(time.perf_counter() - t_nb, 1)})
                break
            log.info("%s: %s in %.1f s", nb.name, entries[-1]["status"], entries[-1]["seconds"])
            if entries[-1]["status"] != "ok":
                break
    bad = next((n for n in entries if n["status"] != "ok"), None)
    figures = sorted(str(p.relative_to(fig_dir)) for p in fig_dir.rglob("*")
                     if p.is_file() and p.stat().st_mtime >= started - 1)
    run = {"run_id": run_id, "status": bad["status"] if bad else "ok", "quick": opts.quick,
           "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
           "seconds_total": round(time.perf_counter() - t0, 1),
           "seeds": {"seed": params["seed"], "data_seed": params.get("data_seed", 0)},
           "parameters": params, "environment": environment(repo, str(params["device"])),
           "data": {"synthav": synthav_hash(params) if not bad else None},
           "notebooks": entries, "figures": figures, "figures_dir": params["figures_dir"],
           "metrics": load_metrics(run_dir)}
    write_json(run_dir / "run.json", run)
    atomic_write_text(run_dir / "index.html", index_html(run, run_dir))
    if opts.update_figures and not bad:  # the README's figures change only on request
        for name in figures:
            data = (fig_dir / name).read_bytes()
            atomic_write(repo / "figures" / name, lambda fh, data=data: fh.write(data))
    if bad and bad["status"] == "interrupted":
        raise KeyboardInterrupt  # the command line says so in one line
    if bad:
        raise ReportError(f"{bad['notebook']} failed at cell {bad['cell']} "
                          f"({bad['cell_source']!r}): {bad['error']}; executed copy: "
                          f"{run_dir / bad['executed']}")
    return run_dir
