"""Relay's answers, as `Answer`s: `{"detail": …, "causes": […]}` with Relay's status and wording
(docs/vendors/sentry.md §4)."""

from __future__ import annotations

from collections.abc import Mapping

from server.dialects.answer import Answer

#: Relay's detail for a discarded envelope: an unknown or disabled key, or a project number that is
#: not the key's project's.
PROJECT_ID = "event submission rejected with_reason: ProjectId"
#: Relay's detail for data dropped by a quota.
RATE_LIMITED = (
    "Sentry dropped data due to a quota or internal rate limit being reached. This will not affect "
    "your application. See https://docs.sentry.io/product/accounts/quotas/ for more information."
)


def refused(
    status: int, detail: str, *causes: str, why: str = "", headers: Mapping[str, str] | None = None
) -> Answer:
    """Relay's error body with `status`; `why` (else the detail and causes) goes to the log line."""
    body: dict[str, object] = {"detail": detail}
    if causes:
        body["causes"] = list(causes)
    return Answer(status, body, headers, detail=why or "; ".join((detail, *causes)))


def bad_envelope(cause: str, why: str = "") -> Answer:
    """400 `invalid event envelope`, with Relay's cause (`unexpected end of file`, …)."""
    return refused(400, "invalid event envelope", cause, why=why)
