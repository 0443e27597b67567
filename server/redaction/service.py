"""The redaction rules of each project, and their compiled redactors. (Skeleton: filled in by the
redaction work.)"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import admin_service_pb2 as pb
from server.access import Access
from server.clock import Clock
from server.config import Settings
from server.errors import Unimplemented
from server.ids import UuidV7
from server.ingest import Redactor
from server.pipeline import Call


class RedactionRules:
    """AdminService's redaction RPCs, and `Ingest`'s source of redactors."""

    def __init__(
        self,
        access: Access,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        ids: UuidV7,
        settings: Settings,
    ) -> None:
        self._access = access
        self._sessions = sessions
        self._clock = clock
        self._ids = ids
        self._settings = settings

    async def redactor(self, project: str | None) -> Redactor | None:
        return None

    async def list_redaction_rules_rpc(
        self, call: Call, request: pb.ListRedactionRulesRequest
    ) -> pb.ListRedactionRulesResponse:
        raise Unimplemented("not yet")

    async def create_redaction_rule_rpc(
        self, call: Call, request: pb.CreateRedactionRuleRequest
    ) -> pb.CreateRedactionRuleResponse:
        raise Unimplemented("not yet")

    async def update_redaction_rule_rpc(
        self, call: Call, request: pb.UpdateRedactionRuleRequest
    ) -> pb.UpdateRedactionRuleResponse:
        raise Unimplemented("not yet")

    async def delete_redaction_rule_rpc(
        self, call: Call, request: pb.DeleteRedactionRuleRequest
    ) -> pb.DeleteRedactionRuleResponse:
        raise Unimplemented("not yet")

    async def test_redaction_rpc(
        self, call: Call, request: pb.TestRedactionRequest
    ) -> pb.TestRedactionResponse:
        raise Unimplemented("not yet")
