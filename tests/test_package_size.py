"""The size rules a reader relies on (shared/STYLE.md item 5, issue 16): no function over 60
lines, no file over 400 (fusion.py, the block itself, within 250), and the package smaller than
the 5,689 lines it had before one path per job."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tacfn_lite"
FILES = sorted(PACKAGE.rglob("*.py"))
MAX_FUNCTION, MAX_FILE, MAX_FUSION, MAX_PACKAGE = 60, 400, 250, 5_689


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_no_function_in_the_package_is_over_60_lines():
    long = [f"{p.relative_to(PACKAGE)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for p in FILES for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION]
    assert not long, f"functions over {MAX_FUNCTION} lines: {long}"


def test_no_package_file_is_over_400_lines_and_fusion_within_250():
    long = [f"{p.relative_to(PACKAGE)} ({_lines(p)})" for p in FILES if _lines(p) > MAX_FILE]
    assert not long, f"files over {MAX_FILE} lines: {long}"
    assert _lines(PACKAGE / "fusion.py") <= MAX_FUSION


def test_the_package_stays_smaller_than_before_the_consolidation():
    total = sum(_lines(p) for p in FILES)
    assert len(FILES) > 30 and total < MAX_PACKAGE, f"{len(FILES)} files, {total} lines"
