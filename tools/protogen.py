"""Generates the Python code for `proto/ingestd/**.proto` next to the sources.

The output (`*_pb2.py`, `*_pb2.pyi`, `*_pb2_grpc.py`) is committed, marked DO NOT EDIT by protoc,
and `tests/test_generated.py` fails when it is stale. Run `make generate` after editing a proto.

The vendored `proto/google/**` files are only compiled against: their Python modules come from
the googleapis-common-protos package, so nothing is generated for them.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"


def sources(proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Every ingestd proto file, sorted, relative to `proto_root`."""
    return sorted(p.relative_to(proto_root) for p in (proto_root / "ingestd").rglob("*.proto"))


def generate(out_dir: Path, proto_root: Path = PROTO_ROOT) -> None:
    """Writes the generated modules for every ingestd proto under `out_dir`.

    Raises:
        RuntimeError: protoc reported an error (it prints the details to stderr).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p) for p in sources(proto_root)),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")


def generated_files(root: Path) -> dict[str, bytes]:
    """The generated files under `root`, keyed by their path relative to it."""
    patterns = ("*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py")
    return {
        str(p.relative_to(root)): p.read_bytes()
        for pattern in patterns
        for p in (root / "ingestd").rglob(pattern)
    }


if __name__ == "__main__":
    generate(PROTO_ROOT)
    sys.exit(0)
