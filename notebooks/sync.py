"""Sync the course notebooks: each NN_name.py (jupytext percent) is the source of NN_name.ipynb.

Copies parameters.py into every cell tagged `parameters`, then rewrites each .ipynb from its .py
without outputs (an .ipynb edited after its .py, or without one, is read back into the .py
first). ``python notebooks/sync.py --check`` writes nothing and exits 1 naming what differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_config

HERE = Path(__file__).resolve().parent
CONFIG = load_jupytext_config(str(HERE))  # jupytext.toml: pairing and header filter
METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}}


def _sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def expected(stem: str, parameters: str) -> tuple[str, str]:
    """The .py text and the .ipynb text that sync writes for notebook ``stem``."""
    py, ipynb = HERE / f"{stem}.py", HERE / f"{stem}.ipynb"
    nb = jupytext.read(py, config=CONFIG) if py.exists() else None
    if ipynb.exists():
        stored = nbformat.read(ipynb, as_version=4)
        if nb is None or (ipynb.stat().st_mtime > py.stat().st_mtime
                          and _sources(stored) != _sources(nb)):
            nb = stored  # edited as .ipynb (without jupytext): keep those edits
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{stem}: expected one cell tagged 'parameters', found {len(tagged)}")
    tagged[0].source = parameters
    text = jupytext.writes(nb, "py:percent", config=CONFIG)
    clean = jupytext.reads(text, "py:percent")  # the .ipynb holds exactly what the .py says
    clean.metadata = METADATA
    for i, cell in enumerate(clean.cells):
        cell.id = f"{stem[:2]}-{i:02d}"  # stable ids: syncing twice changes nothing
    return text, nbformat.writes(clean) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    parameters = (HERE / "parameters.py").read_text().rstrip("\n")
    stems = sorted({p.stem for p in HERE.glob("[0-9][0-9]_*") if p.suffix in (".py", ".ipynb")})
    stale = []
    for stem in stems:
        for suffix, text in zip((".py", ".ipynb"), expected(stem, parameters)):
            path = HERE / f"{stem}{suffix}"
            if path.exists() and path.read_text() == text:
                continue
            stale.append(path.name)
            if not check:
                path.write_text(text)
    if check and stale:
        print("out of sync (run `make notebooks`):", *stale, sep="\n  ")
        return 1
    for name in [] if check else stale:
        print("wrote", name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
