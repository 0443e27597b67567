"""Sentry's grouping of errors into issues (https://docs.sentry.io/concepts/data-management/event-grouping/,
docs/vendors/sentry.md §6): the fingerprint of an error event, from the first rule that applies.

1. A `fingerprint` the SDK sent: its entries, where `{{ default }}` stands for the default grouping
   (https://docs.sentry.io/platforms/python/usage/sdk-fingerprinting/);
2. the stack traces of the exception chain: each exception's type and its in-app frames' module
   (else filename), function and context line; every frame when none is in-app. As Sentry's
   JavaScript grouping does, a filename that is a URL (a browser's script, whose origin, port and
   query differ between deployments) and the names engines give anonymous code (`?`,
   `<anonymous>`) do not count, and a frame left with nothing does not count at all;
3. the exception types and values, for exceptions without frames that count;
4. the message, its `logentry` template preferred (so `"user %s"` groups every user).

The fingerprint is the first 32 hex digits of the SHA-256 of the chosen components, as ingestd's
own fingerprints are. Pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from ingestd.v1 import event_pb2

#: `{{ default }}` with any spacing, and Sentry's older `{{default}}`.
_DEFAULT = re.compile(r"^\{\{\s*default\s*\}\}$")
#: A frame whose path starts so points to a URL (Sentry's `has_url_origin`; `file:` is a path).
_URL_SCHEMES = ("http:", "https:", "applewebdata:", "blob:")
#: The function names JavaScript engines and SDKs give anonymous code, which Sentry ignores.
_ANONYMOUS = frozenset({"?", "<anonymous>", "<anonymous function>", "Anonymous function"})


def fingerprint(exceptions: Sequence[event_pb2.ExceptionInfo], template: str, sent: object = None) -> str:
    """The fingerprint of an error whose exception chain is `exceptions` (any order, each once),
    whose message template is `template`, and which the SDK sent with fingerprint `sent` (a list of
    strings, or anything else for none)."""
    entries = [e for e in sent if isinstance(e, str | int | float)] if isinstance(sent, list) else []
    if not entries:
        return _hash(default_components(exceptions, template))
    components: list[str] = []
    for entry in entries:
        if isinstance(entry, str) and _DEFAULT.match(entry.strip()):
            components.extend(default_components(exceptions, template))
        else:
            components.append(str(entry))
    return _hash(["custom", *components])


def default_components(exceptions: Sequence[event_pb2.ExceptionInfo], template: str) -> list[str]:
    """What Sentry's default grouping hashes, from its first rule that applies."""
    frames_of = [[(f, key) for f in e.frames if (key := _frame(f))] for e in exceptions]
    if any(frames_of):
        in_app = any(f.in_app for frames in frames_of for f, _ in frames)
        components = ["stacktrace"]
        for exception, frames in zip(exceptions, frames_of, strict=True):
            components.append(exception.type)
            components.extend(key for f, key in frames if f.in_app or not in_app)
        return components
    if any(e.type or e.value for e in exceptions):
        return ["exception", *(f"{e.type}: {e.value}" for e in exceptions)]
    return ["message", template]


def _frame(frame: event_pb2.StackFrame) -> str:
    """What a frame contributes: its module (else filename), function and context line; empty
    when none of them counts."""
    url = frame.abs_path.startswith(_URL_SCHEMES) or frame.filename.startswith(_URL_SCHEMES)
    filename = "" if url else frame.filename
    function = "" if frame.function in _ANONYMOUS else frame.function
    parts = (frame.module or filename, function, frame.context_line.strip())
    return "|".join(parts) if any(parts) else ""


def _hash(components: Sequence[str]) -> str:
    return hashlib.sha256("\x1f".join(components).encode()).hexdigest()[:32]
