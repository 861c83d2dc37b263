"""Wall time of the quick report (``tacfn-lite report --quick``, all notebooks via papermill on
SynthAV) and of the test suite, on this machine (target: quick report ≤ 5 min on 2 cores).

    python bench/report_time.py                      # both (minutes)
    python bench/report_time.py --skip-tests
    python bench/report_time.py --smoke              # `report --help` and `pytest --collect-only`
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, base_parser, write_result


def time_command(cmd: list[str], timeout: float) -> dict:
    """Run ``cmd`` from the repository root; wall seconds, exit code and a short error."""
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=REPO, text=True, capture_output=True, timeout=timeout,
                             check=False)
    except subprocess.TimeoutExpired:
        return {"command": shlex.join(cmd), "status": "timeout", "seconds": round(timeout, 1),
                "returncode": None, "error": f"still running after {timeout:.0f} s"}
    seconds = round(time.perf_counter() - t0, 2)
    row = {"command": shlex.join(cmd), "seconds": seconds, "returncode": out.returncode,
           "status": "ok" if out.returncode == 0 else "failed", "error": None}
    if out.returncode != 0:
        tail = (out.stderr.strip() or out.stdout.strip()).splitlines()[-5:]
        row["error"] = "\n".join(tail)
        if "invalid choice:" in out.stderr:  # argparse: the subcommand does not exist
            row["status"] = "unavailable"
            row["error"] = (f"`{shlex.join(cmd[2:4])}` is not available in this checkout (no "
                            "such subcommand); nothing was timed")
    summary = [ln for ln in out.stdout.strip().splitlines()[-3:]
               if re.search(r"\d+ (passed|failed|errors?|tests? collected|skipped)", ln)]
    if summary:
        row["summary"] = summary[-1].strip("= ")
    return row


def claim_of(run_json: str) -> dict | None:
    """The claim notebook 04 recorded in a report's run.json: test accuracy per model and
    TACFN's gap in points (None when the report did not get that far)."""
    try:
        metrics = json.loads(Path(run_json).read_text())["metrics"]
    except (OSError, ValueError, KeyError):
        return None
    claim = {k.rsplit(".", 1)[1]: v for k, v in metrics.items() if k.startswith("04.claim.")}
    gaps = claim.pop("gap_points", {})
    return {"test_accuracy": {m: round(r["test_accuracy"], 4) for m, r in claim.items()},
            "gap_points": {m: round(g, 1) for m, g in gaps.items()},
            "shown": bool(gaps) and min(gaps.values()) >= 20}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--skip-report", action="store_true")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--pytest-args", default="-q",
                   help='extra pytest arguments, e.g. "-q -m \'not browser\'"')
    p.add_argument("--timeout", type=float, default=3600, help="seconds per command")
    p.add_argument("--report-cmd", help="command to time instead of the quick report")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to the report, e.g. --param seed=1 (repeatable)")
    args = p.parse_args()
    py = sys.executable
    rows, load_start = {}, os.getloadavg()[0]
    if not args.skip_report:
        if args.report_cmd:
            cmd = shlex.split(args.report_cmd)
        elif args.smoke:
            cmd = [py, "-m", "tacfn_lite.cli", "report", "--help"]
        else:  # report runs (and their figures) go to a temp folder, as `make report` to reports/
            out_dir = tempfile.mkdtemp(prefix="tacfn_report_time_")
            cmd = [py, "-m", "tacfn_lite.cli", "report", "--quick", "--out", out_dir,
                   "--run-id", "timed", *(f"--param={p}" for p in args.param)]
        rows["quick_report"] = time_command(cmd, args.timeout)
        if not (args.report_cmd or args.smoke):
            rows["quick_report"]["claim"] = claim_of(os.path.join(out_dir, "timed", "run.json"))
    if not args.skip_tests:
        extra = ["--collect-only", "-q"] if args.smoke else shlex.split(args.pytest_args)
        rows["test_suite"] = time_command([py, "-m", "pytest", "-p", "no:cacheprovider", *extra],
                                          args.timeout)
    for name, row in rows.items():
        if row["status"] != "ok":
            print(f"report_time: {name}: {row['status']}: {row['error']}", file=sys.stderr)
    write_result("report_time", {"smoke": args.smoke, "timings": rows,
                                 "load_average_1min_at_start": round(load_start, 2),
                                 "target": "quick report <= 300 s on 2 CPU cores"},
                 args.results_dir)


if __name__ == "__main__":
    main()
