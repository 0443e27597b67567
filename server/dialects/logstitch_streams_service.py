"""LogStitch's anonymous streams: /api/v1/streams/:token/events, /:token/info and /claim.

(Skeleton: filled in by its own work.)
"""

from __future__ import annotations

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from server.dialects.base import VendorContext, method
from server.dialects.logstitch_common import Refusal, refuse
from server.pipeline import Call, Endpoint

SERVICE = "ingestd.compat.logstitch.v1.LogStitchService"


class LogStitchStreamsServicer:
    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(method(SERVICE, "SendStreamEvents"), self.send_stream_events, handler_auth=True),
            Endpoint(method(SERVICE, "GetStreamInfo"), self.get_stream_info, handler_auth=True),
            Endpoint(method(SERVICE, "ClaimStream"), self.claim_stream, handler_auth=True),
        ]

    async def send_stream_events(
        self, call: Call, request: pb.SendStreamEventsRequest
    ) -> pb.SendStreamEventsResponse:
        return refuse(call, pb.SendStreamEventsResponse, Refusal(501, "not_implemented", "not yet"))

    async def get_stream_info(self, call: Call, request: pb.GetStreamInfoRequest) -> pb.GetStreamInfoResponse:
        return refuse(call, pb.GetStreamInfoResponse, Refusal(501, "not_implemented", "not yet"))

    async def claim_stream(self, call: Call, request: pb.ClaimStreamRequest) -> pb.ClaimStreamResponse:
        return refuse(call, pb.ClaimStreamResponse, Refusal(501, "not_implemented", "not yet"))
