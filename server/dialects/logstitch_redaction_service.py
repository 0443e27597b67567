"""LogStitch's redaction rules: /api/v1/redaction/rules and /api/v1/redaction/test.

(Skeleton: filled in by its own work.)
"""

from __future__ import annotations

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from server.dialects.base import VendorContext, method
from server.dialects.logstitch_common import Refusal, refuse
from server.pipeline import Call, Endpoint

SERVICE = "ingestd.compat.logstitch.v1.LogStitchService"


class LogStitchRedactionServicer:
    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(method(SERVICE, "ListRedactionRules"), self.list_redaction_rules, handler_auth=True),
            Endpoint(method(SERVICE, "CreateRedactionRule"), self.create_redaction_rule, handler_auth=True),
            Endpoint(method(SERVICE, "UpdateRedactionRule"), self.update_redaction_rule, handler_auth=True),
            Endpoint(method(SERVICE, "DeleteRedactionRule"), self.delete_redaction_rule, handler_auth=True),
            Endpoint(method(SERVICE, "TestRedaction"), self.test_redaction, handler_auth=True),
        ]

    async def list_redaction_rules(
        self, call: Call, request: pb.ListRedactionRulesRequest
    ) -> pb.ListRedactionRulesResponse:
        return refuse(call, pb.ListRedactionRulesResponse, Refusal(501, "not_implemented", "not yet"))

    async def create_redaction_rule(
        self, call: Call, request: pb.CreateRedactionRuleRequest
    ) -> pb.CreateRedactionRuleResponse:
        return refuse(call, pb.CreateRedactionRuleResponse, Refusal(501, "not_implemented", "not yet"))

    async def update_redaction_rule(
        self, call: Call, request: pb.UpdateRedactionRuleRequest
    ) -> pb.UpdateRedactionRuleResponse:
        return refuse(call, pb.UpdateRedactionRuleResponse, Refusal(501, "not_implemented", "not yet"))

    async def delete_redaction_rule(
        self, call: Call, request: pb.DeleteRedactionRuleRequest
    ) -> pb.DeleteRedactionRuleResponse:
        return refuse(call, pb.DeleteRedactionRuleResponse, Refusal(501, "not_implemented", "not yet"))

    async def test_redaction(self, call: Call, request: pb.TestRedactionRequest) -> pb.TestRedactionResponse:
        return refuse(call, pb.TestRedactionResponse, Refusal(501, "not_implemented", "not yet"))
