"""Settings: one frozen object, built once at the edge from an injected environment."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite:///./ingestd.db"
_MAX_JSON_DEPTH = 30


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable. See the README's configuration table."""

    grpc_addr: str = "127.0.0.1:50051"
    http_addr: str = "127.0.0.1:3001"
    database_url: str = DEFAULT_DATABASE_URL
    bootstrap_master_key: str | None = field(default=None, repr=False)
    bootstrap_project_key: str | None = field(default=None, repr=False)
    log_level: str = "info"
    log_format: str = "auto"
    shutdown_grace_s: float = 10.0
    max_inflight_calls: int = 2000
    max_batch_events: int = 1000
    max_message_bytes: int = 16 * 1024 * 1024
    sqlite_synchronous: str = "FULL"
    migrate_on_start: bool = True
    # `ingestd serve` runs this many server processes on the same ports, under one supervisor.
    # `reuse_port` lets a process share its ports (SO_REUSEPORT); the supervisor sets it for its
    # workers, and a lone server leaves it off, so a second one on a taken port fails at once.
    workers: int = 1
    reuse_port: bool = False
    # Set by the supervisor when its workers share a SQLite file: the Unix socket of the one group
    # writer, which a process with `writer_host` serves (and nothing else), and the workers write
    # through.
    writer_socket: str = ""
    writer_host: bool = False
    # On SQLite, also with one worker, run the group writer in a process of its own (under the
    # supervisor), whose statements then never wait for the GIL of a process that serves requests:
    # more events a second for more memory (README, `ingestd serve --workers`). Off: one process.
    sqlite_writer_process: bool = False
    # HTTP gateway. With `grpc_upstream` set the process serves only HTTP, in front of the ingestd
    # at that address, and opens no database.
    grpc_upstream: str = ""
    http_max_body_bytes: int = 4 * 1024 * 1024
    http_max_decompressed_bytes: int = 16 * 1024 * 1024
    # Protobuf refuses to decode a message nested past 100 levels, and each JSON level inside a
    # Struct costs 3: 30 JSON levels keep every stored event readable.
    http_max_json_depth: int = 30
    http_body_timeout_s: float = 30.0
    http_keepalive_timeout_s: float = 75.0
    # Admission: request body bytes held at once (as sent and inflated) and open connections, per
    # process. Past either a request gets 503 with Retry-After (a connection: closed at once).
    http_max_bytes_in_flight: int = 64 * 1024 * 1024
    http_max_connections: int = 4096
    # Proxies whose X-Forwarded-For is believed (comma-separated CIDRs), such as an HTTP-only
    # ingestd (`grpc_upstream`) or a load balancer in front; everyone else is their TCP peer.
    trusted_proxies: str = ""
    # Browser origins the canonical HTTP API answers CORS requests from: comma-separated, exact
    # (`https://app.example.com`), or `*`. Vendor routes follow their vendors' own CORS rules.
    cors_origins: str = ""
    # Where senders reach this server, such as `https://ingest.example.com`: the base of the DSNs
    # shown for public keys (docs/vendors/sentry.md §2). Empty: `http://` and `http_addr`.
    public_url: str = ""
    # Vendor dialects. `default_environment` is what Logister stores when a client names none.
    default_environment: str = "production"
    logister_rate_limit_requests: int = 1200
    logister_rate_limit_period_s: int = 60
    logister_auth_failure_rate_limit: int = 120
    # Operyn's open mode: no key needed, everything lands in `operyn_open_project`. Off by default.
    operyn_open_mode: bool = False
    operyn_open_project: str = "default"
    operyn_default_organization_services: int = 5
    # Redaction rules and project limits are cached per node for this long: a change made through
    # another node reaches this one within it (the node that made it sees it at once).
    settings_cache_ttl_s: float = 5.0
    # Viewer tokens: comma-separated signing secrets, the first signs and all verify (so several
    # nodes share them, and a rotation keeps the old one for a day). Empty: ingestd keeps its own
    # in the database (`ingestd viewer-tokens rotate-secret` rotates it).
    viewer_token_secrets: str = field(default="", repr=False)
    # Anonymous streams: how long one lives unclaimed, and how many events it takes per UTC day.
    stream_ttl_s: int = 7 * 86_400
    stream_daily_event_limit: int = 100
    # Alerting. Webhook targets that resolve to private, loopback, link-local or otherwise
    # non-public addresses are refused unless they fall in one of these comma-separated CIDRs
    # (such as `127.0.0.0/8`, which the tests use).
    webhook_allowed_networks: str = ""
    webhook_timeout_s: float = 10.0
    # A delivery is attempted at most this often; retries wait base * 2^n seconds (capped at the
    # max), with equal jitter: half the delay fixed, half random.
    webhook_max_attempts: int = 8
    webhook_backoff_base_s: float = 10.0
    webhook_backoff_max_s: float = 3600.0
    # A webhook is disabled after this many failed attempts in a row.
    webhook_disable_after_failures: int = 20
    # How often each node looks for due webhook deliveries and overdue check-in monitors, in real
    # seconds; what is due is decided by the (injectable) clock.
    alert_poll_interval_s: float = 1.0
    # A check-in counts as missed this long after it was due.
    monitor_grace_s: int = 60

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Reads `INGESTD_*` variables from `environ`; `overrides` (from flags) win over them.

        Raises:
            ValueError: a variable has a value of the wrong type.
        """
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            raw = environ.get(f"INGESTD_{spec.name.upper()}")
            if raw is None or raw == "":
                continue
            values[spec.name] = _cast(spec.name, spec.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.log_format not in ("auto", "json", "console"):
            raise ValueError("log_format must be auto, json or console")
        if self.sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError("sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA")
        if self.bootstrap_master_key and self.bootstrap_master_key == self.bootstrap_project_key:
            raise ValueError("the bootstrap master and project keys must differ")
        limits = (
            self.workers,
            self.max_batch_events,
            self.max_inflight_calls,
            self.http_max_body_bytes,
            self.http_max_decompressed_bytes,
            self.http_max_json_depth,
            self.http_max_bytes_in_flight,
            self.http_max_connections,
            self.logister_rate_limit_requests,
            self.logister_rate_limit_period_s,
            self.logister_auth_failure_rate_limit,
            self.operyn_default_organization_services,
            self.stream_ttl_s,
            self.stream_daily_event_limit,
            self.webhook_max_attempts,
            self.webhook_disable_after_failures,
        )
        timings = (
            self.http_body_timeout_s,
            self.webhook_timeout_s,
            self.webhook_backoff_base_s,
            self.alert_poll_interval_s,
        )
        if min(limits) < 1 or min(timings) <= 0 or self.settings_cache_ttl_s < 0 or self.monitor_grace_s < 0:
            raise ValueError("limits must be positive")
        if self.webhook_backoff_max_s < self.webhook_backoff_base_s:
            raise ValueError("webhook_backoff_max_s must be at least webhook_backoff_base_s")
        for name, networks in (
            ("webhook_allowed_networks", self.webhook_allowed_networks),
            ("trusted_proxies", self.trusted_proxies),
        ):
            for network in filter(None, (n.strip() for n in networks.split(","))):
                try:
                    ipaddress.ip_network(network, strict=False)
                except ValueError:
                    raise ValueError(f"{name}: {network!r} is not a CIDR") from None
        if self.http_max_bytes_in_flight < self.http_max_body_bytes + self.http_max_decompressed_bytes:
            # Else a lone request at the limits would be refused for want of budget every time.
            raise ValueError(
                "http_max_bytes_in_flight must be at least http_max_body_bytes + http_max_decompressed_bytes"
            )
        if self.http_max_json_depth > _MAX_JSON_DEPTH:
            raise ValueError(f"http_max_json_depth may be at most {_MAX_JSON_DEPTH}")
        if self.public_url:
            _check_public_url(self.public_url)


def _check_public_url(url: str) -> None:
    # A DSN is built from it: `scheme://key@host[:port][/path]/number`, so it may hold nothing else.
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("public_url must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.query or parts.fragment:
        raise ValueError("public_url must have no user, query or fragment")


def _cast(name: str, kind: Any, raw: str) -> Any:
    text = str(kind)
    try:
        if text.startswith("bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if text.startswith("int"):
            return int(raw)
        if text.startswith("float"):
            return float(raw)
    except ValueError:
        raise ValueError(f"INGESTD_{name.upper()}={raw!r} is not a valid {text}") from None
    return raw
