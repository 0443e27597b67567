"""Request bodies with their Content-Encoding undone, as Relay decodes them: `gzip`, `deflate`
(zlib), `br` and `identity`, with a cap on the inflated size (docs/vendors/sentry.md §4).

sentry-python sends `br` when `brotli` is importable and gzip otherwise; the Node SDK gzips bodies
over 32 KiB. Pure: the output is bounded while inflating, so a small bomb never grows past the cap.
"""

from __future__ import annotations

import zlib

import brotli

from server.dialects.sentry.answers import refused

#: Inflated output is produced this much at a time.
_STEP = 1024 * 1024


def decode(data: bytes, content_encoding: str, limit: int) -> bytes:
    """`data` with `content_encoding` undone, at most `limit` bytes once inflated.

    Raises:
        Answer: 413 past `limit`; 400 for corrupt or truncated data, or an encoding Relay does not
            know.
    """
    encoding = content_encoding.strip().lower() or "identity"
    if encoding == "identity":
        return data
    if encoding in ("gzip", "x-gzip"):
        return _zlib(data, 16 + zlib.MAX_WBITS, limit, encoding)
    if encoding == "deflate":
        return _zlib(data, zlib.MAX_WBITS, limit, encoding)
    if encoding == "br":
        return _brotli(data, limit)
    raise refused(400, "invalid request body", f"unsupported content encoding {encoding!r}")


def _zlib(data: bytes, wbits: int, limit: int, encoding: str) -> bytes:
    inflater = zlib.decompressobj(wbits=wbits)
    pieces: list[bytes] = []
    size = 0
    pending = data
    try:
        while True:
            piece = inflater.decompress(pending, min(_STEP, limit + 1 - size))
            pending = inflater.unconsumed_tail
            size += len(piece)
            pieces.append(piece)
            if size > limit or inflater.eof or not (pending or piece):
                break
    except zlib.error as exc:
        raise _corrupt(encoding, str(exc)) from None
    if size > limit:
        raise _too_large(limit)
    if not inflater.eof:
        raise _corrupt(encoding, "truncated stream")
    return b"".join(pieces)


def _brotli(data: bytes, limit: int) -> bytes:
    inflater = brotli.Decompressor()
    pieces: list[bytes] = []
    size = 0
    try:
        piece = inflater.process(data, output_buffer_limit=_STEP)
        while True:
            size += len(piece)
            pieces.append(piece)
            # An empty piece before the end: the stream stops short.
            if size > limit or inflater.is_finished() or not piece:
                break
            piece = inflater.process(b"", output_buffer_limit=_STEP)
    except brotli.error as exc:
        raise _corrupt("br", str(exc)) from None
    if size > limit:
        raise _too_large(limit)
    if not inflater.is_finished():
        raise _corrupt("br", "truncated stream")
    return b"".join(pieces)


def _corrupt(encoding: str, why: str) -> Exception:
    return refused(400, "invalid request body", f"invalid {encoding} data", why=f"{encoding}: {why}")


def _too_large(limit: int) -> Exception:
    return refused(413, "request body too large", why=f"inflates past {limit} bytes")
