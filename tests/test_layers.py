"""Imports point one way (DESIGN §2 / README "Package layout"): every import inside the package,
lazy ones in functions included, must go to a strictly lower layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tacfn_lite"

# Bottom to top. A module may import modules of lower layers only; nothing imports the package
# root or the CLI. Inside data/, readers of one corpus never import another corpus's reader.
LAYERS = [
    ("config",),
    ("runtime", "io", "metrics"),
    ("provenance",),
    ("data.core", "data.features"),
    ("data.splits", "data.leakage"),
    ("data.media", "data.synthetic"),
    ("data.prepare",),
    ("data.ravdess", "data.cremad", "data.iemocap"),
    ("data.export",),
    ("data",),
    ("resnext", "fusion"),
    ("encoders", "baselines"),
    ("model",),
    ("cards",),
    ("train",),
    ("checkpoints",),
    ("inference",),
    ("explain", "robustness", "compare", "protocols"),
    ("validity",),
    ("viz",),
    ("widgets", "course"),
    ("frontpage",),
    ("report",),
    ("cli",),
    ("__main__",),  # python -m tacfn_lite
    ("",),  # the package root (tacfn_lite/__init__.py)
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def package_imports(path: Path) -> set[str]:
    """Every ``tacfn_lite`` module ``path`` imports (relative or absolute, at any depth)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [] if node.module else [a.name for a in node.names]
            elif (node.module or "").startswith("tacfn_lite"):
                target, names = node.module.removeprefix("tacfn_lite").lstrip("."), []
            else:
                continue
            # `from . import x` / `from .data import core` may name submodules
            subs = [f"{target}.{n}".lstrip(".") for n in names if f"{target}.{n}".lstrip(".") in RANK]
            found.update(subs or [target])
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("tacfn_lite").lstrip(".") for a in node.names
                         if a.name.startswith("tacfn_lite"))
    return found


def layer_of(module: str) -> int:
    while module not in RANK:  # data.synthetic → data when a submodule has no entry
        if "." not in module:
            raise KeyError(module)
        module = module.rsplit(".", 1)[0]
    return RANK[module]


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [module_name(p) for p in SOURCES if module_name(p) not in RANK]
    assert not missing, f"add these modules to LAYERS: {missing}"


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_imports_point_down_the_layers(path):
    me = module_name(path)
    wrong = sorted(t for t in package_imports(path) if layer_of(t) >= RANK[me])
    assert not wrong, f"tacfn_lite.{me} imports {wrong}, which are not below it"


def test_the_rule_catches_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: a data module importing the trainer is reported."""
    fake = PACKAGE / "data" / "media.py"
    source = fake.read_text() + "\n\ndef _bad():\n    from ..train import fit\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    assert "train" in package_imports(fake)
    assert layer_of("train") >= RANK["data.media"]
