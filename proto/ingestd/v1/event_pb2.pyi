import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KIND_UNSPECIFIED: _ClassVar[Kind]
    KIND_ERROR: _ClassVar[Kind]
    KIND_TRANSACTION: _ClassVar[Kind]
    KIND_SPAN: _ClassVar[Kind]
    KIND_METRIC: _ClassVar[Kind]
    KIND_LOG: _ClassVar[Kind]
    KIND_CHECK_IN: _ClassVar[Kind]
    KIND_DEPLOYMENT: _ClassVar[Kind]
    KIND_AI_GENERATION: _ClassVar[Kind]
    KIND_TIMING: _ClassVar[Kind]
    KIND_AUDIT: _ClassVar[Kind]

class Level(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEVEL_UNSPECIFIED: _ClassVar[Level]
    LEVEL_TRACE: _ClassVar[Level]
    LEVEL_DEBUG: _ClassVar[Level]
    LEVEL_INFO: _ClassVar[Level]
    LEVEL_WARNING: _ClassVar[Level]
    LEVEL_ERROR: _ClassVar[Level]
    LEVEL_FATAL: _ClassVar[Level]

class CheckInStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_IN_STATUS_UNSPECIFIED: _ClassVar[CheckInStatus]
    CHECK_IN_STATUS_OK: _ClassVar[CheckInStatus]
    CHECK_IN_STATUS_ERROR: _ClassVar[CheckInStatus]
    CHECK_IN_STATUS_IN_PROGRESS: _ClassVar[CheckInStatus]
    CHECK_IN_STATUS_MISSED: _ClassVar[CheckInStatus]
KIND_UNSPECIFIED: Kind
KIND_ERROR: Kind
KIND_TRANSACTION: Kind
KIND_SPAN: Kind
KIND_METRIC: Kind
KIND_LOG: Kind
KIND_CHECK_IN: Kind
KIND_DEPLOYMENT: Kind
KIND_AI_GENERATION: Kind
KIND_TIMING: Kind
KIND_AUDIT: Kind
LEVEL_UNSPECIFIED: Level
LEVEL_TRACE: Level
LEVEL_DEBUG: Level
LEVEL_INFO: Level
LEVEL_WARNING: Level
LEVEL_ERROR: Level
LEVEL_FATAL: Level
CHECK_IN_STATUS_UNSPECIFIED: CheckInStatus
CHECK_IN_STATUS_OK: CheckInStatus
CHECK_IN_STATUS_ERROR: CheckInStatus
CHECK_IN_STATUS_IN_PROGRESS: CheckInStatus
CHECK_IN_STATUS_MISSED: CheckInStatus

class Event(_message.Message):
    __slots__ = ("id", "project", "kind", "occurred_at", "received_at", "level", "message", "service", "environment", "release", "trace_id", "span_id", "request_id", "session_id", "user", "fingerprint", "tags", "context", "idempotency_key", "dialect", "origin", "error", "transaction", "span", "metric", "log", "check_in", "deployment", "ai_generation", "timing", "audit")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    DIALECT_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    SPAN_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    AI_GENERATION_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    AUDIT_FIELD_NUMBER: _ClassVar[int]
    id: str
    project: str
    kind: Kind
    occurred_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    level: Level
    message: str
    service: str
    environment: str
    release: str
    trace_id: str
    span_id: str
    request_id: str
    session_id: str
    user: User
    fingerprint: str
    tags: _containers.ScalarMap[str, str]
    context: _struct_pb2.Struct
    idempotency_key: str
    dialect: str
    origin: str
    error: ErrorBody
    transaction: TransactionBody
    span: SpanBody
    metric: MetricBody
    log: LogBody
    check_in: CheckInBody
    deployment: DeploymentBody
    ai_generation: AiGenerationBody
    timing: TimingBody
    audit: AuditBody
    def __init__(self, id: _Optional[str] = ..., project: _Optional[str] = ..., kind: _Optional[_Union[Kind, str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., level: _Optional[_Union[Level, str]] = ..., message: _Optional[str] = ..., service: _Optional[str] = ..., environment: _Optional[str] = ..., release: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., request_id: _Optional[str] = ..., session_id: _Optional[str] = ..., user: _Optional[_Union[User, _Mapping]] = ..., fingerprint: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., dialect: _Optional[str] = ..., origin: _Optional[str] = ..., error: _Optional[_Union[ErrorBody, _Mapping]] = ..., transaction: _Optional[_Union[TransactionBody, _Mapping]] = ..., span: _Optional[_Union[SpanBody, _Mapping]] = ..., metric: _Optional[_Union[MetricBody, _Mapping]] = ..., log: _Optional[_Union[LogBody, _Mapping]] = ..., check_in: _Optional[_Union[CheckInBody, _Mapping]] = ..., deployment: _Optional[_Union[DeploymentBody, _Mapping]] = ..., ai_generation: _Optional[_Union[AiGenerationBody, _Mapping]] = ..., timing: _Optional[_Union[TimingBody, _Mapping]] = ..., audit: _Optional[_Union[AuditBody, _Mapping]] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("id", "email", "username", "ip_address", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    id: str
    email: str
    username: str
    ip_address: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., email: _Optional[str] = ..., username: _Optional[str] = ..., ip_address: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ErrorBody(_message.Message):
    __slots__ = ("exception", "causes", "breadcrumbs")
    EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    CAUSES_FIELD_NUMBER: _ClassVar[int]
    BREADCRUMBS_FIELD_NUMBER: _ClassVar[int]
    exception: ExceptionInfo
    causes: _containers.RepeatedCompositeFieldContainer[ExceptionInfo]
    breadcrumbs: _containers.RepeatedCompositeFieldContainer[Breadcrumb]
    def __init__(self, exception: _Optional[_Union[ExceptionInfo, _Mapping]] = ..., causes: _Optional[_Iterable[_Union[ExceptionInfo, _Mapping]]] = ..., breadcrumbs: _Optional[_Iterable[_Union[Breadcrumb, _Mapping]]] = ...) -> None: ...

class ExceptionInfo(_message.Message):
    __slots__ = ("type", "value", "module", "qualified_type", "frames", "mechanism")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_TYPE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    MECHANISM_FIELD_NUMBER: _ClassVar[int]
    type: str
    value: str
    module: str
    qualified_type: str
    frames: _containers.RepeatedCompositeFieldContainer[StackFrame]
    mechanism: Mechanism
    def __init__(self, type: _Optional[str] = ..., value: _Optional[str] = ..., module: _Optional[str] = ..., qualified_type: _Optional[str] = ..., frames: _Optional[_Iterable[_Union[StackFrame, _Mapping]]] = ..., mechanism: _Optional[_Union[Mechanism, _Mapping]] = ...) -> None: ...

class Mechanism(_message.Message):
    __slots__ = ("type", "handled")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HANDLED_FIELD_NUMBER: _ClassVar[int]
    type: str
    handled: bool
    def __init__(self, type: _Optional[str] = ..., handled: _Optional[bool] = ...) -> None: ...

class StackFrame(_message.Message):
    __slots__ = ("filename", "abs_path", "function", "module", "lineno", "colno", "in_app", "context_line", "pre_context", "post_context", "vars")
    class VarsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    ABS_PATH_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    LINENO_FIELD_NUMBER: _ClassVar[int]
    COLNO_FIELD_NUMBER: _ClassVar[int]
    IN_APP_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LINE_FIELD_NUMBER: _ClassVar[int]
    PRE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    POST_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    filename: str
    abs_path: str
    function: str
    module: str
    lineno: int
    colno: int
    in_app: bool
    context_line: str
    pre_context: _containers.RepeatedScalarFieldContainer[str]
    post_context: _containers.RepeatedScalarFieldContainer[str]
    vars: _containers.ScalarMap[str, str]
    def __init__(self, filename: _Optional[str] = ..., abs_path: _Optional[str] = ..., function: _Optional[str] = ..., module: _Optional[str] = ..., lineno: _Optional[int] = ..., colno: _Optional[int] = ..., in_app: _Optional[bool] = ..., context_line: _Optional[str] = ..., pre_context: _Optional[_Iterable[str]] = ..., post_context: _Optional[_Iterable[str]] = ..., vars: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Breadcrumb(_message.Message):
    __slots__ = ("timestamp", "type", "category", "message", "level", "data")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    type: str
    category: str
    message: str
    level: str
    data: _struct_pb2.Struct
    def __init__(self, timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[str] = ..., category: _Optional[str] = ..., message: _Optional[str] = ..., level: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TransactionBody(_message.Message):
    __slots__ = ("name", "duration_ms", "status", "op", "spans")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    name: str
    duration_ms: float
    status: str
    op: str
    spans: _containers.RepeatedCompositeFieldContainer[SpanBody]
    def __init__(self, name: _Optional[str] = ..., duration_ms: _Optional[float] = ..., status: _Optional[str] = ..., op: _Optional[str] = ..., spans: _Optional[_Iterable[_Union[SpanBody, _Mapping]]] = ...) -> None: ...

class SpanBody(_message.Message):
    __slots__ = ("trace_id", "span_id", "parent_span_id", "op", "kind", "name", "description", "status", "start_time", "end_time", "duration_ms")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    span_id: str
    parent_span_id: str
    op: str
    kind: str
    name: str
    description: str
    status: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    duration_ms: float
    def __init__(self, trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., parent_span_id: _Optional[str] = ..., op: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., status: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[float] = ...) -> None: ...

class MetricBody(_message.Message):
    __slots__ = ("name", "value", "unit", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    unit: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., unit: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class LogBody(_message.Message):
    __slots__ = ("level_text", "logger", "touchpoint", "metadata")
    LEVEL_TEXT_FIELD_NUMBER: _ClassVar[int]
    LOGGER_FIELD_NUMBER: _ClassVar[int]
    TOUCHPOINT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    level_text: str
    logger: str
    touchpoint: str
    metadata: _struct_pb2.Struct
    def __init__(self, level_text: _Optional[str] = ..., logger: _Optional[str] = ..., touchpoint: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CheckInBody(_message.Message):
    __slots__ = ("slug", "status", "expected_interval_seconds", "duration_ms")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    slug: str
    status: CheckInStatus
    expected_interval_seconds: int
    duration_ms: float
    def __init__(self, slug: _Optional[str] = ..., status: _Optional[_Union[CheckInStatus, str]] = ..., expected_interval_seconds: _Optional[int] = ..., duration_ms: _Optional[float] = ...) -> None: ...

class DeploymentBody(_message.Message):
    __slots__ = ("repository", "commit_sha", "branch", "release_tag", "pull_request_number", "urls", "metadata")
    class UrlsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    COMMIT_SHA_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    RELEASE_TAG_FIELD_NUMBER: _ClassVar[int]
    PULL_REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    repository: str
    commit_sha: str
    branch: str
    release_tag: str
    pull_request_number: int
    urls: _containers.ScalarMap[str, str]
    metadata: _struct_pb2.Struct
    def __init__(self, repository: _Optional[str] = ..., commit_sha: _Optional[str] = ..., branch: _Optional[str] = ..., release_tag: _Optional[str] = ..., pull_request_number: _Optional[int] = ..., urls: _Optional[_Mapping[str, str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AiGenerationBody(_message.Message):
    __slots__ = ("provider", "model", "input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "cache_write_tokens", "input_cost_usd", "output_cost_usd", "total_cost_usd", "latency_ms", "time_to_first_token_ms", "status", "metadata")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    INPUT_COST_USD_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_COST_USD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    input_cost_usd: float
    output_cost_usd: float
    total_cost_usd: float
    latency_ms: float
    time_to_first_token_ms: float
    status: str
    metadata: _struct_pb2.Struct
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cached_input_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., input_cost_usd: _Optional[float] = ..., output_cost_usd: _Optional[float] = ..., total_cost_usd: _Optional[float] = ..., latency_ms: _Optional[float] = ..., time_to_first_token_ms: _Optional[float] = ..., status: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TimingBody(_message.Message):
    __slots__ = ("touchpoint", "correlation_key", "start_time", "end_time", "duration_ms", "standalone", "metadata")
    TOUCHPOINT_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_KEY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    STANDALONE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    touchpoint: str
    correlation_key: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    duration_ms: float
    standalone: bool
    metadata: _struct_pb2.Struct
    def __init__(self, touchpoint: _Optional[str] = ..., correlation_key: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[float] = ..., standalone: _Optional[bool] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AuditBody(_message.Message):
    __slots__ = ("action", "category", "actor", "target", "changes", "tenant_id", "context", "metadata")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    action: str
    category: str
    actor: AuditActor
    target: AuditTarget
    changes: _containers.RepeatedCompositeFieldContainer[AuditChange]
    tenant_id: str
    context: AuditContext
    metadata: _struct_pb2.Struct
    def __init__(self, action: _Optional[str] = ..., category: _Optional[str] = ..., actor: _Optional[_Union[AuditActor, _Mapping]] = ..., target: _Optional[_Union[AuditTarget, _Mapping]] = ..., changes: _Optional[_Iterable[_Union[AuditChange, _Mapping]]] = ..., tenant_id: _Optional[str] = ..., context: _Optional[_Union[AuditContext, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AuditActor(_message.Message):
    __slots__ = ("id", "type", "name", "email")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    name: str
    email: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class AuditTarget(_message.Message):
    __slots__ = ("id", "type", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    name: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class AuditChange(_message.Message):
    __slots__ = ("field", "before", "after")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    field: str
    before: _struct_pb2.Value
    after: _struct_pb2.Value
    def __init__(self, field: _Optional[str] = ..., before: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., after: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class AuditContext(_message.Message):
    __slots__ = ("ip_address", "user_agent", "location", "session_id")
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ip_address: str
    user_agent: str
    location: str
    session_id: str
    def __init__(self, ip_address: _Optional[str] = ..., user_agent: _Optional[str] = ..., location: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...
