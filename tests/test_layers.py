"""The dependency rule (style.md): storage knows nothing of server or gateway, gateway nothing of
server or storage, in server only the composition root, the in-process dispatcher that
implements the gateway's `Dispatcher`, and the vendors' edges and declarations reach the gateway,
and the vendor dialects reach storage only through the ingest port. A vendor's package imports no
other vendor's, and its translator is pure. Every module is checked, at any depth."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.process import ROOT

DIALECTS = ROOT / "server" / "dialects"
VENDOR_PACKAGES = sorted(p.parent for p in DIALECTS.glob("*/__init__.py"))


def _modules(path: Path) -> set[str]:
    """Every module `path` imports, by full dotted name (`from a import b` names `a` and `a.b`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _imports(path: Path) -> set[str]:
    """The top-level packages `path` imports."""
    return {module.split(".")[0] for module in _modules(path)}


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
    allowed = {"main.py", "dispatch.py", "dialects/__init__.py", "dialects/base.py"}
    allowed |= {str((p / "edge.py").relative_to(server)) for p in VENDOR_PACKAGES}
    assert importers <= allowed


def test_a_vendor_edge_reaches_only_the_gateway_edge_port() -> None:
    """An edge renders its vendor's errors with `gateway.edge` and `gateway.status`, nothing more
    of the gateway."""
    for package in VENDOR_PACKAGES:
        reached = {m for m in _modules(package / "edge.py") if m.split(".")[0] == "gateway"}
        assert {m.rsplit(".", 1)[0] if m.count(".") > 1 else m for m in reached} <= {
            "gateway.edge",
            "gateway.status",
        }, package.name


def test_the_vendors_are_packages_of_one_shape() -> None:
    names = {p.name for p in VENDOR_PACKAGES}
    assert names == {"logister", "logstitch", "opensentry", "operyn", "otlp", "sentry", "simplelogs"}
    for package in VENDOR_PACKAGES:
        assert {"__init__.py", "translate.py", "service.py", "edge.py"} <= {
            p.name for p in package.glob("*.py")
        }


@pytest.mark.parametrize("package", VENDOR_PACKAGES, ids=lambda p: p.name)
def test_a_vendor_imports_no_other_vendor(package: Path) -> None:
    others = {f"server.dialects.{p.name}" for p in VENDOR_PACKAGES if p != package}
    offenders = {
        path.name: sorted(m for m in _modules(path) if any(m == o or m.startswith(o + ".") for o in others))
        for path in package.rglob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("package", VENDOR_PACKAGES, ids=lambda p: p.name)
def test_a_translator_is_pure(package: Path) -> None:
    """`translate.py` turns wire shapes into events: no storage, no transport, no writes, no calls."""
    impure = ("storage", "sqlalchemy", "gateway", "server.ingest", "server.pipeline", "server.queries")
    found = {
        m for m in _modules(package / "translate.py") if any(m == i or m.startswith(i + ".") for i in impure)
    }
    assert found == set()


def test_vendor_dialects_reach_storage_only_through_the_ingest_port() -> None:
    """A dialect parses, translates, writes through `server.ingest.Ingest` and answers: it opens no
    session and names no table, so storage can change under it."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & {"storage", "sqlalchemy"})
        for path in (ROOT / "server" / "dialects").rglob("*.py")
        if _imports(path) & {"storage", "sqlalchemy"}
    }
    assert offenders == {}
