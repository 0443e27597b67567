"""Logister's check-ins and deployments (already parsed JSON) as canonical events. Pure, like
`server.dialects.logister.translate`.

Both follow Logister's controllers (taimoorq/logister `CheckInsController`,
`ProjectDeploymentIndexer`; docs/vendors/logister.md §8, §9): the same envelope rule (a `check_in` or
`CHECK_IN` object holding at least one known key), the same defaults, and the same 422 messages in
the same order.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from ingestd.v1 import event_pb2
from server.dialects.common import fill_struct
from server.dialects.logister.limits import (
    derived_uuid,
    first_present,
    idempotency_key,
    int64,
    normalize_uuid,
    number,
    parse_time,
    present,
    text,
    underscore,
)
from server.dialects.logister.translate import CHECK_IN_STATUSES, Translated, normalized_keys
from server.normalize import MAX_CHECK_IN_INTERVAL_S

E = event_pb2

_CHECK_IN_KEYS = frozenset(
    {
        "slug",
        "status",
        "occurred_at",
        "environment",
        "release",
        "expected_interval_seconds",
        "duration_ms",
        "trace_id",
        "request_id",
        "uuid",
        "event_id",
    }
)
_DEPLOYMENT_KEYS = frozenset(
    {
        "release",
        "environment",
        "repository",
        "repo",
        "github_repository",
        "commit_sha",
        "sha",
        "branch",
        "deployed_at",
    }
)
#: The interval of a check-in that names none (or a non-positive one), as Logister defaults it.
DEFAULT_INTERVAL_S = 300
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_PULL_REF = re.compile(r"^refs/pull/(\d+)/")
_GITHUB = "https://github.com"

# Where a deployment's fields may be, first match wins (keys as normalized: `commitSha` is
# `commit_sha`).
_COMMIT_SHA = (
    ("commit_sha",),
    ("git_sha",),
    ("sha",),
    ("git", "sha"),
    ("git", "commit_sha"),
    ("github", "sha"),
    ("github", "commit_sha"),
    ("deployment", "commit_sha"),
)
_REPOSITORY = (
    ("repository",),
    ("repo",),
    ("github_repository",),
    ("github", "repository"),
    ("github", "repo"),
    ("git", "repository"),
    ("deployment", "repository"),
)
_BRANCH = (
    ("branch",),
    ("git", "branch"),
    ("github", "branch"),
    ("deployment", "branch"),
    ("ref",),
    ("github", "ref"),
)
_RELEASE = (("release",), ("deployment", "release"))
_ENVIRONMENT = (("environment",), ("deployment", "environment"))
_DEPLOYED_AT = (("deployed_at",), ("deployment", "deployed_at"))
_PR_NUMBER = (
    ("pull_request_number",),
    ("pull_request", "number"),
    ("github", "pull_request", "number"),
    ("github", "event", "pull_request", "number"),
    ("deployment", "pull_request_number"),
)
_PR_URL = (
    ("pull_request_url",),
    ("pull_request", "html_url"),
    ("github", "pull_request", "html_url"),
    ("github", "event", "pull_request", "html_url"),
    ("deployment", "pull_request_url"),
)
_RELEASE_URL = (
    ("release_url",),
    ("github_release_url",),
    ("github", "release", "html_url"),
    ("github", "event", "release", "html_url"),
    ("deployment", "release_url"),
)
_RELEASE_TAG = (
    ("release_tag",),
    ("tag",),
    ("tag_name",),
    ("github", "release", "tag_name"),
    ("github", "event", "release", "tag_name"),
    ("deployment", "release_tag"),
)
_OTHER_URLS = {
    "compare": (("compare_url",), ("github", "compare_url"), ("deployment", "compare_url")),
    "workflow_run": (
        ("workflow_run_url",),
        ("github", "workflow_run_url"),
        ("deployment", "workflow_run_url"),
    ),
    "deployment": (("deployment_url",), ("github", "deployment_url"), ("deployment", "url")),
}


def _candidate(body: object, name: str, known: frozenset[str]) -> dict[str, Any] | None:
    """The `name` or `NAME` object of `body` that holds at least one key Logister knows."""
    if not isinstance(body, dict):
        return None
    for key in (name, name.upper()):
        raw = body.get(key)
        if isinstance(raw, dict) and any(underscore(k) in known for k in raw):
            return raw
    return None


def check_in_envelope(body: object) -> dict[str, Any] | None:
    """The check-in object of a parsed body, or None (Logister then answers 400)."""
    return _candidate(body, "check_in", _CHECK_IN_KEYS)


def deployment_envelope(body: object) -> dict[str, Any] | None:
    """The deployment object of a parsed body, or None (Logister then answers 400)."""
    return _candidate(body, "deployment", _DEPLOYMENT_KEYS)


def _stripped(value: object) -> str:
    return text(value).strip()


def translate_check_in(
    raw_check_in: dict[str, Any], *, default_environment: str, fallback_uuid: str
) -> Translated | list[str]:
    """A check-in as a `check_in` event whose message is its slug, or Logister's 422 messages.

    Unknown keys are ignored (logister-js sends `checked_at` and `context`); the status defaults to
    `ok`, the interval to 300 s, the environment to the server's.
    """
    p = normalized_keys(raw_check_in)
    slug = _stripped(p.get("slug"))
    status = _stripped(p.get("status")) or "ok"
    given = first_present(p.get("uuid"), p.get("event_id"))
    uuid = normalize_uuid(given) if given is not None else None
    errors: list[str] = []
    if not slug:
        errors.append("Message can't be blank")
    if given is not None and uuid is None:
        errors.append("Uuid is invalid")
    # Logister's own rule: a positive interval, else the default. Beyond a year, where its
    # document is silent, the monitor's next due time would not fit a timestamp.
    interval = int64(number(p.get("expected_interval_seconds")))
    if interval > MAX_CHECK_IN_INTERVAL_S:
        errors.append(f"Expected interval seconds must be less than or equal to {MAX_CHECK_IN_INTERVAL_S}")
    if errors:
        return errors
    uuid = uuid or fallback_uuid
    duration = number(p.get("duration_ms")) or 0.0
    context: dict[str, Any] = {
        "environment": _stripped(p.get("environment")) or default_environment,
        "release": _stripped(p.get("release")) or None,
        "check_in_slug": slug,
        "check_in_status": status,
        "expected_interval_seconds": interval if interval > 0 else DEFAULT_INTERVAL_S,
        "duration_ms": duration if duration > 0 else None,
        "trace_id": _stripped(p.get("trace_id")) or None,
        "request_id": _stripped(p.get("request_id")) or None,
    }
    context = {k: v for k, v in context.items() if v is not None}
    event = E.Event(
        kind=E.KIND_CHECK_IN,
        message=slug,
        level=E.LEVEL_ERROR if status == "error" else E.LEVEL_INFO,
        idempotency_key=idempotency_key(uuid),
        check_in=E.CheckInBody(
            slug=slug,
            status=CHECK_IN_STATUSES.get(status.lower(), E.CHECK_IN_STATUS_UNSPECIFIED),  # type: ignore[arg-type]
            expected_interval_seconds=context["expected_interval_seconds"],
            duration_ms=context.get("duration_ms", 0.0),
        ),
    )
    for name in ("environment", "release", "trace_id", "request_id"):
        value = context.get(name, "")
        if len(value) <= 200:
            setattr(event, name, value)
    occurred = parse_time(p.get("occurred_at"))
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    fill_struct(event.context, context)
    return Translated(event, uuid, False)


def _nested_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {underscore(k): _nested_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nested_keys(v) for v in value]
    return value


def _first(payload: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> Any:
    for path in paths:
        value: Any = payload
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if present(value):
            return value
    return None


def repository_name(value: object) -> str:
    """`owner/name` of a repository given as a name, a GitHub URL or an SSH remote."""
    name = _stripped(value)
    name = re.sub(r"^https://github\.com/", "", name, flags=re.IGNORECASE)
    name = re.sub(r"^git@github\.com:", "", name, flags=re.IGNORECASE)
    name = name.removeprefix("/").removesuffix(".git")
    return "/".join(name.split("/")[:2])


def translate_deployment(
    raw_deployment: dict[str, Any], *, project: str, default_environment: str
) -> Translated | list[str]:
    """A deployment as a `deployment` event, or Logister's 422 messages in Logister's order.

    Logister upserts deployments on (repository, environment, release); here that triple derives
    the deployment's id and idempotency key, so repeating a deployment stores nothing new and
    answers with the same id.
    """
    payload = _nested_keys(raw_deployment)
    release = _stripped(_first(payload, _RELEASE))
    repository = repository_name(_first(payload, _REPOSITORY))
    commit_sha = _stripped(_first(payload, _COMMIT_SHA)).lower()
    errors: list[str] = []
    if not release:
        errors.append("Release can't be blank")
    if not repository:
        errors.append("Repository can't be blank")
    if not commit_sha:
        errors.append("Commit sha can't be blank")
    elif not _SHA.match(commit_sha):
        errors.append("Commit sha must be a 7 to 40 character commit SHA")
    if errors:
        return errors
    environment = _stripped(_first(payload, _ENVIRONMENT)) or default_environment
    raw_branch = _stripped(_first(payload, _BRANCH))
    branch = raw_branch.removeprefix("refs/heads/")
    pr_number = _stripped(_first(payload, _PR_NUMBER))
    if not pr_number and (match := _PULL_REF.match(raw_branch)):
        pr_number = match.group(1)
    tag = _stripped(_first(payload, _RELEASE_TAG))
    urls = {
        "pull_request": _stripped(_first(payload, _PR_URL))
        or (f"{_GITHUB}/{repository}/pull/{pr_number}" if pr_number else ""),
        "release": _stripped(_first(payload, _RELEASE_URL))
        or (f"{_GITHUB}/{repository}/releases/tag/{quote(tag, safe='')}" if tag else ""),
    }
    urls.update({name: _stripped(_first(payload, paths)) for name, paths in _OTHER_URLS.items()})
    uuid = derived_uuid(f"logister:deployment:{project}:{repository}:{environment}:{release}")
    event = E.Event(
        kind=E.KIND_DEPLOYMENT,
        message=f"Deployed {release} to {environment}",
        idempotency_key=idempotency_key(uuid),
        deployment=E.DeploymentBody(
            repository=repository,
            commit_sha=commit_sha,
            branch=branch,
            release_tag=tag,
            pull_request_number=int(pr_number) if pr_number.isdigit() and len(pr_number) < 18 else 0,
            urls={name: url for name, url in urls.items() if url},
        ),
    )
    if len(release) <= 200:
        event.release = release
    if len(environment) <= 200:
        event.environment = environment
    deployed = parse_time(_first(payload, _DEPLOYED_AT))
    if deployed is not None:
        event.occurred_at.CopyFrom(deployed)
    fill_struct(event.context, payload)
    return Translated(event, uuid, False)
