"""Settings come from an injected environment; flags win over it."""

from __future__ import annotations

import pytest

from server.config import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.grpc_addr, settings.http_addr, settings.database_url) == (
        "127.0.0.1:50051",
        "127.0.0.1:3001",
        "sqlite:///./ingestd.db",
    )


def test_environment_then_flags() -> None:
    environ = {
        "INGESTD_GRPC_ADDR": "0.0.0.0:6000",
        "INGESTD_HTTP_ADDR": "0.0.0.0:8080",
        "INGESTD_DATABASE_URL": "postgresql+psycopg://db/ingestd",
        "INGESTD_MAX_BATCH_EVENTS": "50",
        "INGESTD_MIGRATE_ON_START": "false",
        "INGESTD_BOOTSTRAP_MASTER_KEY": "mk_x",
    }
    settings = Settings.from_env(environ, grpc_addr="127.0.0.1:7000", database_url=None)
    assert settings.grpc_addr == "127.0.0.1:7000"
    assert settings.http_addr == "0.0.0.0:8080"
    assert settings.database_url == "postgresql+psycopg://db/ingestd"
    assert settings.max_batch_events == 50 and settings.migrate_on_start is False
    assert settings.bootstrap_master_key == "mk_x"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INGESTD_MAX_BATCH_EVENTS", "many"),
        ("INGESTD_MIGRATE_ON_START", "maybe"),
        ("INGESTD_LOG_FORMAT", "xml"),
    ],
)
def test_bad_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name.removeprefix("INGESTD_").lower() + "|" + name):
        Settings.from_env({name: value})


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.grpc_addr = "x"  # type: ignore[misc]
