"""LogStitch's API keys and viewer tokens: /api/v1/keys and /api/v1/viewer-tokens.

(Skeleton: filled in by its own work.)
"""

from __future__ import annotations

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from server.dialects.base import VendorContext, method
from server.dialects.logstitch_common import Refusal, refuse
from server.pipeline import Call, Endpoint

SERVICE = "ingestd.compat.logstitch.v1.LogStitchService"


class LogStitchKeysServicer:
    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(method(SERVICE, "CreateKey"), self.create_key, handler_auth=True),
            Endpoint(method(SERVICE, "ListKeys"), self.list_keys, handler_auth=True),
            Endpoint(method(SERVICE, "RevokeKey"), self.revoke_key, handler_auth=True),
            Endpoint(method(SERVICE, "CreateViewerToken"), self.create_viewer_token, handler_auth=True),
        ]

    async def create_key(self, call: Call, request: pb.CreateKeyRequest) -> pb.CreateKeyResponse:
        return refuse(call, pb.CreateKeyResponse, Refusal(501, "not_implemented", "not yet"))

    async def list_keys(self, call: Call, request: pb.ListKeysRequest) -> pb.ListKeysResponse:
        return refuse(call, pb.ListKeysResponse, Refusal(501, "not_implemented", "not yet"))

    async def revoke_key(self, call: Call, request: pb.RevokeKeyRequest) -> pb.RevokeKeyResponse:
        return refuse(call, pb.RevokeKeyResponse, Refusal(501, "not_implemented", "not yet"))

    async def create_viewer_token(
        self, call: Call, request: pb.CreateViewerTokenRequest
    ) -> pb.CreateViewerTokenResponse:
        return refuse(call, pb.CreateViewerTokenResponse, Refusal(501, "not_implemented", "not yet"))
