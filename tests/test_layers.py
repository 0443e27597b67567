"""The dependency rule (style.md): storage knows nothing of server or gateway, gateway nothing of
server or storage, and in server only the composition root, and the in-process dispatcher that
implements the gateway's `Dispatcher`, reach the gateway."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.process import ROOT


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("storage", {"server", "gateway", "tests"}), ("gateway", {"server", "storage", "tests"})],
)
def test_lower_layers_import_no_upper_layer(package: str, forbidden: set[str]) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & forbidden)
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & forbidden
    }
    assert offenders == {}


def test_only_the_composition_root_reaches_the_gateway() -> None:
    importers = sorted(path.name for path in (ROOT / "server").glob("*.py") if "gateway" in _imports(path))
    assert set(importers) <= {"main.py", "dispatch.py"}
