"""The dialects' shared helpers."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from server.dialects.common import fill_struct

_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _json, max_size=6))
def test_fill_struct_builds_what_struct_update_builds(values: dict[str, Any]) -> None:
    expected = struct_pb2.Struct()
    expected.update(values)
    got = struct_pb2.Struct()
    fill_struct(got, values)
    assert got == expected


def test_fill_struct_refuses_what_struct_update_refuses() -> None:
    with pytest.raises(ValueError):
        fill_struct(struct_pb2.Struct(), {"when": object()})
