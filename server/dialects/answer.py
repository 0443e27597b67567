"""The one answer type of every vendor (`Answer`)."""

from __future__ import annotations

from collections.abc import Mapping

#: The longest `Answer.detail` a log line carries.
MAX_DETAIL_CHARS = 200


class Answer(Exception):
    """A vendor's documented answer, reached before the end of a handler: a refusal (400, 401,
    413, 422, 429 …) or any other early reply, in the vendor's own status, body and headers.

    Translators and servicers raise it; `server.dialects.base.vendor_endpoints` turns it into the
    RPC's response. It is the one refusal type of every vendor, so that no servicer maps exceptions
    to bodies itself.
    """

    def __init__(
        self,
        status: int,
        body: object,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(status)
        self.status = status
        #: JSON-encoded unless bytes.
        self.body = body
        self.headers: Mapping[str, str] = headers or {}
        #: None: the endpoint's (`vendor_endpoints`).
        self.content_type = content_type
        #: What exactly was refused, for the server's log line only (the sender's own values may
        #: appear: it is cut to `MAX_DETAIL_CHARS`).
        self.detail = detail
