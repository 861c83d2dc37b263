"""The code passes the linter configured in pyproject.toml (pyflakes, import order, pycodestyle
errors), so an unused import or an undefined name fails the suite, not a reader."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing_in_the_package_tests_and_benchmarks():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: it comes with the dev extra (requirements.txt)")
    out = subprocess.run([ruff, "check", "--no-cache", "tacfn_lite", "tests", "bench"], cwd=REPO,
                         text=True, capture_output=True, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
