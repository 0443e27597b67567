"""Property-based: the canonical `/v1/...` operations, driven by schemathesis from the document a
live ingestd serves, answer no 5xx and only responses that conform to that document.

The server runs on this test's event loop; schemathesis is synchronous (requests), so it runs in
a worker thread while the loop serves. SQLite only, and a bounded number of examples, so that
the whole run stays well under a minute.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from server.endpoints import CANONICAL_SERVICES
from server.main import running
from tests.conftest import PROJECT_SECRET, make_settings

#: Examples per operation and pass.
_EXAMPLES = 10
_DEFAULTS = {"project": "default", "organization": "default"}
#: Cases that name the bootstrap project and organization get past the access check to the
#: handlers; the others are whatever the schema allows; negative ones must be refused with a 4xx.
_PASSES: tuple[tuple[dict[str, str], GenerationMode], ...] = (
    ({}, GenerationMode.POSITIVE),
    (_DEFAULTS, GenerationMode.POSITIVE),
    (_DEFAULTS, GenerationMode.NEGATIVE),
)
_AUTH = {"Authorization": f"Bearer {PROJECT_SECRET}"}


def _fuzz(base_url: str) -> list[str]:
    """Runs every canonical operation in every pass; returns the failures, each with its reproduction."""
    answer = requests.get(f"{base_url}/openapi.json", timeout=10)
    if answer.status_code == 404:
        pytest.skip("this ingestd serves no /openapi.json: wire gateway.docs.add_docs_routes in server.main")
    loaded = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=10)
    schema = loaded.include(tag=[service.name for service in CANONICAL_SERVICES])
    failures: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) == sum(len(service.methods) for service in CANONICAL_SERVICES)
    for operation in operations:
        for fixed, mode in _PASSES:
            given = {k: v for k, v in fixed.items() if k in operation.path_parameters}

            @hypothesis.settings(
                max_examples=_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=operation.as_strategy(mode, path_parameters=given))
            def run(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(
                    base_url=base_url,
                    headers=_AUTH,
                    checks=[not_a_server_error, response_schema_conformance],
                    timeout=10,
                )

            try:
                run()
            # Every operation runs and every failure is reported; schemathesis raises a group.
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} {mode.value} {given}: {str(exc)[:2000]}")
    return failures


async def test_canonical_operations_conform_to_the_served_document(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'ingestd.db'}")
    async with running(settings) as started:
        failures = await asyncio.to_thread(_fuzz, f"http://127.0.0.1:{started.http_port}")
    assert not failures, "\n\n".join(failures)
