"""The committed generated code is what the protos and the pinned grpcio-tools produce, and the
vendored googleapis protos are the ones the runtime's googleapis-common-protos was built from."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2

from tools.protogen import DESCRIPTOR_SET, PROTO_ROOT, generate, generated_files, sources

VENDORED = [
    "google/api/annotations.proto",
    "google/api/http.proto",
    "google/api/field_behavior.proto",
    "google/rpc/status.proto",
]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = generated_files(tmp_path)
    committed = generated_files(PROTO_ROOT)
    assert sorted(fresh) == sorted(committed), "generated files added or removed: run `make generate`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert stale == [], f"stale generated code, run `make generate`: {stale}"


def test_generated_code_is_marked_do_not_edit() -> None:
    for name, content in generated_files(PROTO_ROOT).items():
        if name != DESCRIPTOR_SET:  # binary: it cannot carry the mark
            assert b"DO NOT EDIT" in content[:400], name


def test_descriptor_set_has_every_ingestd_proto_with_comments() -> None:
    content = (PROTO_ROOT / DESCRIPTOR_SET).read_bytes()
    files = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(content).file}
    for source in sources():
        described = files[source.as_posix()]
        assert any(loc.leading_comments for loc in described.source_code_info.location), source
    # Imports are included, so the set describes itself without the runtime's descriptor pool.
    assert "google/rpc/status.proto" in files


def test_vendored_protos_match_googleapis_common_protos() -> None:
    package = resources.files("google")
    for relative in VENDORED:
        ours = (PROTO_ROOT / relative).read_text()
        upstream = (package / relative.removeprefix("google/")).read_text()
        assert ours == upstream, f"{relative} differs from googleapis-common-protos"
