"""Tables. Times are integer microseconds since the Unix epoch (UTC), so both databases sort and
compare them the same way and the hot path never builds datetime objects.

Every table of project data leads its primary key with the project, so several ingestd nodes can
write one PostgreSQL without coordinating: ids are generated per node and only need to be unique
within a project. Account tables are not project data: `projects` is keyed by the project id
itself, and `api_keys` by its organization, since a master key belongs to no project.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_us: Mapped[int] = mapped_column(BigInteger)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_us: Mapped[int] = mapped_column(BigInteger)
    # Limits (`ingestd.v1.ProjectLimits`); 0 means unlimited.
    daily_event_limit: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    alert_rule_limit: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    webhooks_disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ApiKey(Base):
    """An API key. Only the SHA-256 digest of the secret is stored; the secret is shown once."""

    __tablename__ = "api_keys"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_us: Mapped[int] = mapped_column(BigInteger)
    last_used_us: Mapped[int | None] = mapped_column(BigInteger)
    revoked_us: Mapped[int | None] = mapped_column(BigInteger)
    # A client key's allowed browser origins, one per line (origins cannot hold a newline).
    allowed_origins: Mapped[str] = mapped_column(Text, default="", server_default="")
    vendor_organization: Mapped[str | None] = mapped_column(String(100))
    test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ProjectDailyUsage(Base):
    """Events accepted per project and UTC day, counted only while the project has a daily limit."""

    __tablename__ = "project_daily_usage"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    # Days since the Unix epoch (UTC).
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)


class OperynDefaultService(Base):
    """A service of Operyn's default organization in a project: one that a request without
    `x-organization-id` named (docs/vendors/operyn.md §5). The rows only grow; their number is
    what the default organization's service limit counts, so services sent with an organization
    never take its places."""

    __tablename__ = "operyn_default_services"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    service: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_us: Mapped[int] = mapped_column(BigInteger)


class RedactionRule(Base):
    """A project's custom redaction rule, or its changes to a built-in rule (id `builtin_<name>`);
    a built-in rule without a row has its defaults."""

    __tablename__ = "redaction_rules"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # `ingestd.v1.RedactionRuleType` and `RedactionBehavior` numbers.
    type: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(100), default="")
    pattern: Mapped[str] = mapped_column(Text, default="")
    # A field rule's dot paths, one per line.
    fields: Mapped[str] = mapped_column(Text, default="")
    behavior: Mapped[int] = mapped_column(SmallInteger)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_us: Mapped[int | None] = mapped_column(BigInteger)
    updated_us: Mapped[int | None] = mapped_column(BigInteger)


class SigningSecret(Base):
    """A secret that signs viewer tokens. The newest signs; every stored one verifies, until it is
    retired after the longest token lifetime has passed."""

    __tablename__ = "signing_secrets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_us: Mapped[int] = mapped_column(BigInteger)


class Stream(Base):
    """An anonymous stream, keyed by its UUIDv4 claim token."""

    __tablename__ = "streams"

    token: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_us: Mapped[int] = mapped_column(BigInteger)
    expires_us: Mapped[int] = mapped_column(BigInteger)
    claimed_us: Mapped[int | None] = mapped_column(BigInteger)
    claimed_project: Mapped[str | None] = mapped_column(String(63))
    event_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # The UTC day (days since the epoch) `day_count` counts, for the daily limit.
    day: Mapped[int] = mapped_column(Integer)
    day_count: Mapped[int] = mapped_column(Integer, default=0)


class Event(Base):
    """One canonical event: the serialized `ingestd.v1.Event` plus the columns that filters need.

    The id is a UUIDv7 string, so `(project_id, id)` is also the page order, newest first. There is
    deliberately no foreign key to `projects`: it would cost a lookup per inserted row, and the
    project is checked once per call instead.
    """

    __tablename__ = "events"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger)
    level: Mapped[int] = mapped_column(SmallInteger)
    occurred_us: Mapped[int] = mapped_column(BigInteger)
    received_us: Mapped[int] = mapped_column(BigInteger)
    service: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(200))
    release: Mapped[str] = mapped_column(String(200))
    trace_id: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)

    # Each index serves one ListEvents filter in page order (it ends in the id), except two: the
    # time range is a range scan, and a trace is small enough to sort. Level, environment, release
    # and text filter the rows those indexes, or the primary key, yield. Every index column costs
    # ingest throughput (a wider fingerprint index measured 15% slower on PostgreSQL), so none is
    # there for reads alone. Partial indexes skip the many
    # events that have no trace, fingerprint or idempotency key, which keeps ingest cheap.
    __table_args__ = (
        Index("ix_events_kind", "project_id", "kind", "id"),
        Index("ix_events_service", "project_id", "service", "id"),
        Index("ix_events_occurred", "project_id", "occurred_us"),
        Index(
            "ix_events_trace",
            "project_id",
            "trace_id",
            sqlite_where=trace_id.isnot(None),
            postgresql_where=trace_id.isnot(None),
        ),
        Index(
            "ix_events_fingerprint",
            "project_id",
            "fingerprint",
            "id",
            sqlite_where=fingerprint.isnot(None),
            postgresql_where=fingerprint.isnot(None),
        ),
        Index(
            "uq_events_idempotency",
            "project_id",
            "idempotency_key",
            unique=True,
            sqlite_where=idempotency_key.isnot(None),
            postgresql_where=idempotency_key.isnot(None),
        ),
    )


EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in Event.__table__.columns)


class StreamEvent(Base):
    """An event of an anonymous stream: an events row whose project is the stream's token, kept
    apart from every project's events until the stream is claimed."""

    __tablename__ = "stream_events"

    token: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger)
    level: Mapped[int] = mapped_column(SmallInteger)
    occurred_us: Mapped[int] = mapped_column(BigInteger)
    received_us: Mapped[int] = mapped_column(BigInteger)
    service: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(200))
    release: Mapped[str] = mapped_column(String(200))
    trace_id: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index(
            "uq_stream_events_idempotency",
            "token",
            "idempotency_key",
            unique=True,
            sqlite_where=idempotency_key.isnot(None),
            postgresql_where=idempotency_key.isnot(None),
        ),
    )


class AlertRule(Base):
    """A project's custom alert rule, or its changes to a built-in rule (id = the built-in's name,
    only `enabled` and `cooldown_s` meaningful); a built-in rule without a row has its defaults."""

    __tablename__ = "alert_rules"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # `ingestd.v1.AlertRuleType` and `AlertSeverity` numbers.
    type: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(100), default="")
    # A serialized `ingestd.v1.AlertCondition`.
    condition: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    threshold: Mapped[int] = mapped_column(BigInteger, default=1)
    window_s: Mapped[int] = mapped_column(BigInteger, default=60)
    group_by: Mapped[str] = mapped_column(String(200), default="")
    severity: Mapped[int] = mapped_column(SmallInteger, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cooldown_s: Mapped[int] = mapped_column(BigInteger, default=3600)
    created_us: Mapped[int | None] = mapped_column(BigInteger)
    updated_us: Mapped[int | None] = mapped_column(BigInteger)


class AlertCounter(Base):
    """Matching events per rule, group and time bucket: the shared sliding-window count, so events
    seen by different nodes add up. Old buckets are purged."""

    __tablename__ = "alert_counters"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    bucket_us: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class AlertGroup(Base):
    """A rule's state for one group: when it last fired (its cooldown) and its open alert."""

    __tablename__ = "alert_groups"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_fired_us: Mapped[int] = mapped_column(BigInteger, default=0)
    open_alert_id: Mapped[str | None] = mapped_column(String(40))


class AlertDistinct(Base):
    """Distinct values seen per rule and group (a `distinct:` detector), with when each was last
    seen."""

    __tablename__ = "alert_distinct"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_seen_us: Mapped[int] = mapped_column(BigInteger)


class KnownFingerprint(Base):
    """Error fingerprints a project has seen, so the first of each (a new issue) can alert."""

    __tablename__ = "known_fingerprints"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen_us: Mapped[int] = mapped_column(BigInteger)


class Alert(Base):
    """An alert; ids (`al_` + a UUIDv7) sort by creation."""

    __tablename__ = "alerts"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(40))
    rule_name: Mapped[str] = mapped_column(String(100))
    # `ingestd.v1.AlertSeverity` and `AlertState` numbers.
    severity: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[int] = mapped_column(SmallInteger)
    group_key: Mapped[str] = mapped_column(String(200))
    event_count: Mapped[int] = mapped_column(BigInteger)
    summary: Mapped[str] = mapped_column(Text)
    # Up to ten event ids, one per line.
    event_ids: Mapped[str] = mapped_column(Text, default="")
    created_us: Mapped[int] = mapped_column(BigInteger)
    acknowledged_us: Mapped[int | None] = mapped_column(BigInteger)
    resolved_us: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_alerts_state", "project_id", "state", "id"),
        Index("ix_alerts_rule", "project_id", "rule_id", "id"),
    )


class Webhook(Base):
    """A webhook. The signing secret is kept as is: signing needs it (unlike API keys, which are
    only ever compared)."""

    __tablename__ = "webhooks"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(100), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    min_severity: Mapped[int] = mapped_column(SmallInteger, default=0)
    secret: Mapped[str] = mapped_column(String(100))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str] = mapped_column(String(200), default="")
    created_us: Mapped[int] = mapped_column(BigInteger)
    updated_us: Mapped[int] = mapped_column(BigInteger)
    # The vendor API it was registered through, whose shape its deliveries take (such as
    # `logstitch`); "" for ingestd's own.
    dialect: Mapped[str] = mapped_column(String(20), default="", server_default="")


class WebhookDelivery(Base):
    """The outbox: one alert's delivery to one webhook, written in the alert's transaction. A node
    leases a due delivery (`lease_until_us`) before it sends, so two nodes never send it at once."""

    __tablename__ = "webhook_deliveries"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(40))
    alert_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # `ingestd.v1.DeliveryState` number.
    state: Mapped[int] = mapped_column(SmallInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_us: Mapped[int] = mapped_column(BigInteger)
    lease_until_us: Mapped[int] = mapped_column(BigInteger, default=0)
    created_us: Mapped[int] = mapped_column(BigInteger)
    delivered_us: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_webhook_deliveries_webhook", "project_id", "webhook_id", "id"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_us"),
    )


class WebhookAttempt(Base):
    """One attempt of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_us: Mapped[int] = mapped_column(BigInteger)
    status_code: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(200), default="")
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)


class Monitor(Base):
    """A check-in monitor, one per project and slug."""

    __tablename__ = "monitors"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), primary_key=True)
    environment: Mapped[str] = mapped_column(String(200), default="")
    interval_s: Mapped[int] = mapped_column(BigInteger)
    # `ingestd.v1.MonitorStatus` and `CheckInStatus` numbers.
    status: Mapped[int] = mapped_column(SmallInteger)
    last_status: Mapped[int] = mapped_column(SmallInteger)
    last_check_in_us: Mapped[int] = mapped_column(BigInteger)
    next_due_us: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_monitors_due", "status", "next_due_us"),)


class OpenTimingStart(Base):
    """A timing start that no end has closed yet, waiting for the end that a later request sends
    (SimpleLogs: docs/vendors/simplelogs.md §5). An end claims the oldest open start of its
    correlation key, else of its touchpoint, by deleting it. Rows expire: an end never closes an
    expired one, and a periodic purge deletes them."""

    __tablename__ = "open_timing_starts"

    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    # A UUIDv7, so the oldest start of a key or touchpoint sorts first.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    correlation_key: Mapped[str | None] = mapped_column(String(200))
    touchpoint: Mapped[str | None] = mapped_column(String(200))
    # When the measured operation started, as the sender said.
    started_us: Mapped[int] = mapped_column(BigInteger)
    # When ingestd received the start: what its expiry counts from.
    opened_us: Mapped[int] = mapped_column(BigInteger)
    # What the end needs to make the measurement: the start as its dialect encoded it.
    payload: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index(
            "ix_open_timing_starts_key",
            "project_id",
            "correlation_key",
            "id",
            sqlite_where=correlation_key.isnot(None),
            postgresql_where=correlation_key.isnot(None),
        ),
        Index(
            "ix_open_timing_starts_touchpoint",
            "project_id",
            "touchpoint",
            "id",
            sqlite_where=touchpoint.isnot(None),
            postgresql_where=touchpoint.isnot(None),
        ),
        Index("ix_open_timing_starts_opened", "opened_us"),
    )
