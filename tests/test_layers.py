"""The dependency rule (style.md): storage knows nothing of server or gateway, gateway nothing of
server or storage, in server only the composition root, and the in-process dispatcher that
implements the gateway's `Dispatcher`, reach the gateway, and the vendor dialects reach storage
only through the ingest port. Every module is checked, at any depth."""

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
    server = ROOT / "server"
    importers = {str(p.relative_to(server)) for p in server.rglob("*.py") if "gateway" in _imports(p)}
    assert importers <= {"main.py", "dispatch.py"}


def test_vendor_dialects_reach_storage_only_through_the_ingest_port() -> None:
    """A dialect parses, translates, writes through `server.ingest.Ingest` and answers: it opens no
    session and names no table, so storage can change under it."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & {"storage", "sqlalchemy"})
        for path in (ROOT / "server" / "dialects").rglob("*.py")
        if _imports(path) & {"storage", "sqlalchemy"}
    }
    assert offenders == {}
