"""The built-in redaction rules: LogStitch's eight detectors, in its documented order, plus ipv6 and
sensitive field names.

Each value detector has two regexes from one source: `pattern` (str, `re.ASCII`) finds what is
redacted in a value, with lookarounds so a match does not start or end inside a longer token;
`trigger` (bytes) is the same expression without the lookarounds, searched over a serialized
event. Strings in protobuf bytes are contiguous UTF-8, so every value `pattern` matches is also
matched by `trigger` somewhere in the bytes: the trigger is a superset test, never a false
negative (the length bytes before a string may be letters or digits, hence no lookarounds).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ingestd.v1 import redaction_pb2

REPLACE = redaction_pb2.REDACTION_BEHAVIOR_REPLACE
MASK = redaction_pb2.REDACTION_BEHAVIOR_MASK
HASH = redaction_pb2.REDACTION_BEHAVIOR_HASH
REMOVE = redaction_pb2.REDACTION_BEHAVIOR_REMOVE

#: The prefix of a built-in rule's id.
BUILTIN_PREFIX = "builtin_"

_NOT_DIGIT_BEFORE = r"(?<![0-9])"
_NOT_DIGIT_AFTER = r"(?![0-9])"
_NOT_WORD_BEFORE = r"(?<![A-Za-z0-9_])"


def luhn(text: str) -> bool:
    """Whether the digits of `text` pass the Luhn check (card numbers)."""
    digits = [ord(c) - 48 for c in text if "0" <= c <= "9"]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _valid_ipv4(text: str) -> bool:
    return all(int(part) <= 255 for part in text.split("."))


def mask_card(text: str) -> str:
    return "****-****-****-" + "".join(c for c in text if c.isdigit())[-4:]


def mask_ssn(text: str) -> str:
    return "***-**-" + text[-4:]


def mask_tail(text: str) -> str:
    """The generic mask: all but the last 4 characters become `*`; a value of 8 characters or
    fewer is masked entirely, since its last 4 would give away too much of it."""
    if len(text) <= 8:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


@dataclass(frozen=True)
class Builtin:
    """One built-in detector. `core` is the regex source without lookarounds; `before`/`after`
    are the lookarounds added for values. `sensitive_fields` has no regex: it matches keys."""

    id: str
    name: str
    enabled: bool
    core: str = ""
    before: str = ""
    after: str = ""
    flags: str = ""
    check: Callable[[str], bool] | None = None
    mask: Callable[[str], str] = mask_tail

    @property
    def rule_id(self) -> str:
        return BUILTIN_PREFIX + self.id

    def value_source(self) -> str:
        return f"{self.flags}{self.before}(?:{self.core}){self.after}"

    def trigger_source(self) -> bytes:
        return f"{self.flags}(?:{self.core})".encode()


#: Prefixes of API keys that are recognisable as such; generic hex (UUIDs, trace ids, SHAs) is not.
API_KEY_PREFIXES = (
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "pk_live_",
    "pk_test_",
    "pk_",
    "mk_",
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox[abposr]-",
    "AIza",
    "lgst_",
    "vt_",
)

_CARD = r"[0-9](?:[ -]?[0-9]){12,18}"
_SSN = r"[0-9]{3}-[0-9]{2}-[0-9]{4}"
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_PHONE = r"(?:\+?1[ .-]?)?(?:\([0-9]{3}\)|[0-9]{3})[ .-]?[0-9]{3}[ .-]?[0-9]{4}"
_IPV4 = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
# Full and compressed forms: at least two groups around a `::`, or eight groups.
_IPV6 = (
    r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?"
    r"|::(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}"
)
_JWT = r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
_TOKEN = (
    r"[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+[A-Za-z0-9._~+/=-]{8,}"
    r"|(?:" + "|".join(API_KEY_PREFIXES) + r")[A-Za-z0-9_-]{16,}"
)
_AWS = r"(?:AKIA|ASIA)[0-9A-Z]{16}"

#: The built-in rules in the order they are listed and applied.
BUILTINS: tuple[Builtin, ...] = (
    Builtin(
        "credit_card",
        "Credit Card Number",
        True,
        _CARD,
        _NOT_DIGIT_BEFORE,
        _NOT_DIGIT_AFTER,
        check=luhn,
        mask=mask_card,
    ),
    Builtin("ssn", "Social Security Number", True, _SSN, _NOT_DIGIT_BEFORE, _NOT_DIGIT_AFTER, mask=mask_ssn),
    Builtin("email", "Email Address", False, _EMAIL),
    Builtin("phone", "Phone Number", False, _PHONE, _NOT_DIGIT_BEFORE, _NOT_DIGIT_AFTER),
    Builtin("ipv4", "IPv4 Address", False, _IPV4, r"(?<![0-9.])", r"(?![0-9]|\.[0-9])", check=_valid_ipv4),
    Builtin("ipv6", "IPv6 Address", False, _IPV6, r"(?<![0-9A-Fa-f:])", r"(?![0-9A-Fa-f:])"),
    Builtin("jwt", "JWT Token", True, _JWT, _NOT_WORD_BEFORE),
    Builtin("bearer_token", "Bearer / API Token", True, _TOKEN, _NOT_WORD_BEFORE),
    Builtin("aws_key", "AWS Access Key", True, _AWS, r"(?<![A-Z0-9])", r"(?![A-Z0-9])"),
    Builtin("sensitive_fields", "Sensitive Field Names", True),
)

BY_ID = {b.id: b for b in BUILTINS}
SENSITIVE_FIELDS = "sensitive_fields"

#: Key names (lower case, `-` as `_`) whose values are redacted whole by `sensitive_fields`.
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
        "cookie",
        "set_cookie",
        "session",
        "private_key",
        "credit_card",
        "creditcard",
        "card_number",
        "cvv",
    }
)
# Keys ending in one of these after `_` are sensitive too: `db_password`, `access_token`.
_SENSITIVE_SUFFIXES = ("_password", "_passwd", "_secret", "_token", "_api_key", "_apikey", "_private_key")

#: A superset test of `sensitive_key` over serialized bytes: every sensitive key contains one.
SENSITIVE_TRIGGER = rb"(?i:passw|pwd|secret|token|api[_-]?key|authorization|cookie|session|private[_-]?key"
SENSITIVE_TRIGGER += rb"|credit[_-]?card|card[_-]?number|cvv)"


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ-", "abcdefghijklmnopqrstuvwxyz_")


def sensitive_key(key: str) -> bool:
    """Whether `key` (a Struct or map key) names a secret, case-insensitively."""
    # ASCII-only lowering, like the trigger's `(?i)` on bytes: `str.lower` would also fold
    # characters such as the Kelvin sign into ASCII, which the trigger could not see.
    name = key.translate(_ASCII_LOWER)
    return name in SENSITIVE_KEYS or name.endswith(_SENSITIVE_SUFFIXES)


def compile_value(builtin: Builtin) -> re.Pattern[str]:
    return re.compile(builtin.value_source(), re.ASCII)


# Checked at import: every built-in's value regex and trigger compile.
for _b in BUILTINS:
    if _b.core:
        compile_value(_b)
        re.compile(_b.trigger_source())
