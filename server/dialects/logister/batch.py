"""Logister's NDJSON batches between decoding and writing: each line translated, the entries that
name the other signal's uuid, and the bodies of the answer (docs/vendors/logister.md §7). Pure,
like `translate`."""

from __future__ import annotations

from typing import Any

from ingestd.v1 import event_pb2
from server.dialects.logister import translate as logister
from server.dialects.logister.limits import legacy_id

ROLLED_BACK = "Batch was rolled back because another envelope was invalid"
#: `X-Logister-Batch-Id` is echoed up to this many characters.
MAX_BATCH_ID = 128


def head(batch_id: str) -> dict[str, object]:
    """The fields every batch answer starts with: `schema_version`, and `batch_id` when the
    request named one."""
    top: dict[str, object] = {"schema_version": 1}
    batch_id = batch_id[:MAX_BATCH_ID]
    if batch_id.strip():
        top["batch_id"] = batch_id
    return top


def translate_lines(
    events: list[dict[str, Any]], *, project: str, default_environment: str, now_us: int
) -> tuple[list[tuple[int, logister.Translated]], dict[int, list[str]]]:
    """Each decoded line as a canonical event: the valid ones with their index, and the 422
    messages of the others by index."""
    valid: list[tuple[int, logister.Translated]] = []
    errors: dict[int, list[str]] = {}
    for index, raw in enumerate(events):
        translated = logister.translate_event(
            raw,
            project=project,
            default_environment=default_environment,
            now_us=now_us,
            fallback_uuid="",  # unused: the decoder requires every line's uuid
        )
        if isinstance(translated, list):
            errors[index] = translated
        else:
            valid.append((index, translated))
    return valid, errors


def conflicts(
    valid: list[tuple[int, logister.Translated]], existing: dict[str, tuple[str, int]]
) -> dict[int, list[str]]:
    """The batch entries whose uuid names an event of the other signal (span versus event),
    stored before (`existing`, by idempotency key) or earlier in the batch."""
    seen: dict[str, bool] = {}
    found: dict[int, list[str]] = {}
    for index, translated in valid:
        key = translated.event.idempotency_key
        earlier = existing[key][1] == event_pb2.KIND_SPAN if key in existing else seen.get(key)
        if earlier is not None and earlier != translated.span:
            found[index] = [logister.CONFLICT]
        seen.setdefault(key, translated.span)
    return found


def accepted(index: int, kind: str, uuid: str, *, duplicate: bool) -> dict[str, object]:
    """The result of an accepted entry."""
    return {
        "index": index,
        "status": "accepted",
        "type": kind,
        "id": uuid,
        "legacy_id": legacy_id(uuid),
        "duplicate": duplicate,
    }


def rejected_results(
    spans: list[bool], errors: dict[int, list[str]], duplicates: dict[int, str]
) -> list[dict[str, object]]:
    """The results of a rejected batch: its invalid entries `rejected` with their errors, entries
    stored before `accepted` as duplicates, and the others `rolled_back`."""
    results: list[dict[str, object]] = []
    for index, span in enumerate(spans):
        kind = "span" if span else "event"
        if index in errors:
            results.append({"index": index, "status": "rejected", "type": kind, "errors": errors[index]})
        elif index in duplicates:
            results.append(accepted(index, kind, duplicates[index], duplicate=True))
        else:
            results.append({"index": index, "status": "rolled_back", "type": kind, "errors": [ROLLED_BACK]})
    return results
