"""The secrets that sign viewer tokens. The repository takes a session and never commits."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SigningSecret


class SigningSecretRepository:
    """Signing secrets, newest first."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def newest_first(self) -> list[SigningSecret]:
        statement = select(SigningSecret).order_by(SigningSecret.created_us.desc(), SigningSecret.id.desc())
        return list((await self._session.execute(statement)).scalars())

    async def insert_if_absent(self, secret_id: str, secret: str, created_us: int) -> bool:
        """Inserts a secret unless its id exists; returns whether it did. Safe when several nodes
        try at once: one row wins and every node reads it back."""
        connection = await self._session.connection()
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(SigningSecret)
            .values(id=secret_id, secret=secret, created_us=created_us)
            .on_conflict_do_nothing(index_elements=[SigningSecret.id])
            .returning(SigningSecret.id)
        )
        return (await self._session.execute(statement)).first() is not None

    async def delete(self, secret_ids: list[str]) -> None:
        if secret_ids:
            await self._session.execute(delete(SigningSecret).where(SigningSecret.id.in_(secret_ids)))
