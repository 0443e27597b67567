"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from storage.engine import sync_url
from storage.migrate import upgrade
from storage.models import Base


def test_migrations_match_the_models(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # a second run finds the schema current and changes nothing
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {"organizations", "projects", "api_keys", "events", "alembic_version"} <= tables


def test_event_indexes_serve_the_filters(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            indexes = {i["name"]: i for i in inspect(connection).get_indexes("events")}
            primary = inspect(connection).get_pk_constraint("events")["constrained_columns"]
    finally:
        engine.dispose()
    assert primary == ["project_id", "id"]
    assert {name: i["column_names"] for name, i in indexes.items()} == {
        "ix_events_kind": ["project_id", "kind", "id"],
        "ix_events_service": ["project_id", "service", "id"],
        "ix_events_occurred": ["project_id", "occurred_us"],
        "ix_events_trace": ["project_id", "trace_id"],
        "ix_events_fingerprint": ["project_id", "fingerprint", "id"],
        "uq_events_idempotency": ["project_id", "idempotency_key"],
    }
    assert indexes["uq_events_idempotency"]["unique"]
