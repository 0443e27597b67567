"""Python tracebacks, as OpenTelemetry's Python SDK puts them in `exception.stacktrace`
(`traceback.format_exception`), read back into exceptions with their frames
(docs/vendors/otlp.md §5.2).

`parse` returns the exceptions of a traceback in the order the text shows them (a chain's cause
first, the raised exception last), each with its frames outermost first, as `ingestd.v1` orders
them; or None when the text is not a Python traceback (another language's stack trace, which the
translator keeps as text instead).
"""

from __future__ import annotations

import re

from ingestd.v1 import event_pb2

E = event_pb2

_HEADER = "Traceback (most recent call last):"
_CHAINS = frozenset(
    {
        "The above exception was the direct cause of the following exception:",
        "During handling of the above exception, another exception occurred:",
    }
)
_FRAME = re.compile(r'^  File "(?P<file>.*)", line (?P<line>\d+)(?:, in (?P<function>.*))?$')
#: The markers Python 3.11+ prints under a frame's source line.
_CARETS = frozenset("^~ ")
#: Paths of installed libraries and the standard library: frames outside the sender's own code.
_LIBRARY = re.compile(r"[/\\](?:site|dist)-packages[/\\]|[/\\]lib[/\\]python\d+(?:\.\d+)?[/\\]|^<")
_INT32_MAX = 2**31 - 1


def parse(text: str) -> list[event_pb2.ExceptionInfo] | None:
    """The exceptions of a Python traceback, cause first; None unless `text` is one."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip() in _CHAINS:
            blocks.append([])
        else:
            blocks[-1].append(line)
    found = [_block([line for line in block if line.strip()]) for block in blocks]
    if not any(has_frames for _, has_frames in found):
        return None
    return [exception for exception, _ in found if exception is not None]


def _block(lines: list[str]) -> tuple[event_pb2.ExceptionInfo | None, bool]:
    """One exception of a chain, and whether it came with a traceback header."""
    if not lines:
        return None, False
    frames: list[event_pb2.StackFrame] = []
    headed = lines[0] == _HEADER
    rest = lines[1:] if headed else lines
    index = 0
    while headed and index < len(rest):
        line = rest[index]
        matched = _FRAME.match(line)
        if matched is not None:
            frames.append(_frame(matched))
        elif line.startswith("    ") and frames:
            source = line.strip()
            if not frames[-1].context_line and not set(source) <= _CARETS:
                frames[-1].context_line = source
        elif not line.startswith("  "):
            break  # the exception's own line
        # Anything else indented ("[Previous line repeated 996 more times]") is skipped.
        index += 1
    described = rest[index:]
    if not described:
        return (E.ExceptionInfo(frames=frames) if frames else None), headed
    exc_type, _, value = described[0].partition(": ")
    value = "\n".join([value, *described[1:]]).strip("\n")
    return E.ExceptionInfo(type=exc_type.strip(), value=value, frames=frames), headed


def _frame(matched: re.Match[str]) -> event_pb2.StackFrame:
    path = matched.group("file")
    line = int(matched.group("line"))
    return E.StackFrame(
        filename=path,
        abs_path=path if path.startswith("/") or re.match(r"^[A-Za-z]:\\", path) else "",
        function=matched.group("function") or "",
        lineno=line if line <= _INT32_MAX else 0,
        in_app=_LIBRARY.search(path) is None,
    )
