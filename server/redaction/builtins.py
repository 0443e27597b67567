"""The built-in redaction rules: LogStitch's eight detectors, in its documented order, plus ipv6 and
sensitive field names.

Each value detector has a `pattern` (str, `re.ASCII`) that finds what is redacted in a value,
with lookarounds so a match does not start or end inside a longer token, and a prefilter part,
searched over a serialized event (see `engine.CompiledRedactor.might_match`):
- `raw_gate`: an alternative of one regex over the raw payload, starting at a rare byte (`_`,
  `-`, `A`, `J`, a blank) so the regex engine skips most bytes in C; lookbehinds check the rest
  of the literal, inside the secret itself;
- `run`: for digit detectors, the shortest run of `0`s a match makes in `FOLD`ed bytes (digits,
  spaces and `-` become `0`), and a raw regex searched only within such runs;
- `gates`: tests over the folded payload (ASCII folded to lower case too): a literal, then a
  regex with a literal prefix; sensitive keys are one regex over the folded bytes reversed.

Contract (tested): strings in protobuf bytes are contiguous UTF-8, so anything `pattern` matches
in a value also makes the prefilter match somewhere in the payload: it is a superset test. No
prefilter lookaround looks outside the secret, where the length bytes before a string (which may
be letters or digits) could defeat it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

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
# A card number stands on its own: not a digit run inside a UUID or a hex id, whose all-digit
# groups pass the Luhn check one time in ten.
_NOT_ID_BEFORE = r"(?<![A-Za-z0-9_])(?<![A-Za-z0-9]-)"
_NOT_ID_AFTER = r"(?![A-Za-z0-9_])(?!-[A-Za-z0-9])"


# Each ASCII digit's value, and its value doubled as the Luhn check adds it (digits summed).
_LUHN_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))
_NOT_DIGITS = re.compile("[^0-9]+")


def luhn_digits(digits: bytes) -> bool:
    """Whether ASCII `digits` (nothing else) pass the Luhn check: from the last digit, every
    second one doubled. Table look-ups over slices, which stay in C."""
    plain = sum(digits[::-1][::2].translate(_LUHN_PLAIN))
    return (plain + sum(digits[-2::-2].translate(_LUHN_DOUBLED))) % 10 == 0


def luhn(text: str) -> bool:
    """Whether the digits of `text` pass the Luhn check (card numbers)."""
    return luhn_digits(_NOT_DIGITS.sub("", text).encode())


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


#: A prefilter test: (raw payload, folded payload) -> whether a detector may match.
Gate = Callable[[bytes, bytes], bool]


def _gate(literal: str, confirm: str) -> Gate:
    """`literal` in the folded payload, then `confirm` (with a literal prefix: fast) over it."""
    needle, search = literal.encode(), re.compile(confirm.encode()).search
    return lambda raw, folded: needle in folded and search(folded) is not None


def _reversed_gate(confirm: str) -> Gate:
    """`confirm` over the folded payload reversed: for patterns that end in a rare byte, which
    then starts the search (the regex engine skips quickly to a pattern's possible first bytes)."""
    search = re.compile(confirm.encode()).search
    return lambda raw, folded: search(folded[::-1]) is not None


#: Folds a payload for the gates: A-Z to a-z; digits, space and `-` to `0`; 0x1a to 0x12 (the
#: two tags that may follow a sensitive key become one, so its regex starts with a literal).
FOLD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -\x1a", b"abcdefghijklmnopqrstuvwxyz" + b"0" * 12 + b"\x12"
)


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
    #: Gates over the folded payload (for the detectors that are off by default, and sensitive keys).
    gates: tuple[Gate, ...] = ()
    #: Regexes searched over the raw payload, each starting with a literal (fast), with
    #: lookbehinds for the rest of a prefix.
    raw_gates: tuple[str, ...] = ()
    #: For the digit detectors: the shortest run of folded `0`s a match makes, and a test of
    #: the raw bytes of each such run.
    run: tuple[int, Callable[[bytes], bool]] | None = None

    @property
    def rule_id(self) -> str:
        return BUILTIN_PREFIX + self.id

    def value_source(self) -> str:
        return f"{self.flags}{self.before}(?:{self.core}){self.after}"


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
    r"(?:[Bb]earer|BEARER)[ \t]+[A-Za-z0-9._~+/=-]{8,}"
    r"|(?:" + "|".join(API_KEY_PREFIXES) + r")[A-Za-z0-9_-]{16,}"
)
_AWS = r"(?:AKIA|ASIA)[0-9A-Z]{16}"
_SSN_BYTES = re.compile(_SSN.encode())
_DIGIT_CHAIN = re.compile(b"[0-9](?:[ -]?[0-9])*")


def _card_in_run(chunk: bytes) -> bool:
    """Whether some 13 to 19 consecutive digits of a chain (digits with single spaces or dashes
    between) in `chunk` pass the Luhn check: every card the value regex would redact is such a
    window, so this is a superset test that spares the walk for ids that are merely long. Every
    window, not only those at the chain's groups: in the serialized event a length or tag byte
    can be a digit, and glue itself to a string's first or last group."""
    for chain in _DIGIT_CHAIN.finditer(chunk):
        digits = chain.group().translate(None, b" -")
        count = len(digits)
        if count > 40:
            return True  # long numbers: the walk is cheaper than every window
        if count < 15:  # at most three windows: cheaper checked one by one
            windows = ((start, end) for start in range(count - 12) for end in range(start + 13, count + 1))
            if any(luhn_digits(digits[start:end]) for start, end in windows):
                return True
            continue
        # The Luhn sum of digits[start:end] is sums[end] - sums[start]: running sums with every
        # digit at an odd distance from end - 1 doubled, so one list for each parity of `end`.
        even, odd = digits[0::2], digits[1::2]
        for_odd_end, for_even_end = bytearray(count), bytearray(count)
        for_odd_end[0::2], for_odd_end[1::2] = even.translate(_LUHN_PLAIN), odd.translate(_LUHN_DOUBLED)
        for_even_end[0::2], for_even_end[1::2] = even.translate(_LUHN_DOUBLED), odd.translate(_LUHN_PLAIN)
        sums_of = (list(accumulate(for_even_end, initial=0)), list(accumulate(for_odd_end, initial=0)))
        for end in range(13, count + 1):
            sums = sums_of[end % 2]
            last = sums[end]
            for start in range(max(0, end - 19), end - 12):
                if (last - sums[start]) % 10 == 0:
                    return True
    return False


_TOKEN_BODY = "[A-Za-z0-9_-]{16}"
# The API-key prefixes anchored at their `_` or `-`, `AIza`, and `bearer` (any case of its `B`,
# or all capitals). Each regex starts with a literal: the regex engine then finds candidates with
# a fast substring search; a leading character class would be tried at every byte.
_TOKEN_GATES = (
    "_(?:(?<=[spmr]k_)|(?<=gh[pousr]_)|(?<=github_)pat_|(?<=lgst_)|(?<=vt_))" + _TOKEN_BODY,
    "-(?:(?<=sk-)|(?<=glpat-)|(?<=xox[abposr]-))" + _TOKEN_BODY,
    "AIza" + _TOKEN_BODY,
    "earer[ \t]+[A-Za-z0-9._~+/=-]{8}",
    "EARER[ \t]+[A-Za-z0-9._~+/=-]{8}",
)
# Every prefix of API_KEY_PREFIXES is covered by `_TOKEN_GATES`.
_GATED_PREFIXES = frozenset(
    {
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
    }
    | {"ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox[abposr]-", "AIza", "lgst_", "vt_"}
)
assert set(API_KEY_PREFIXES) == _GATED_PREFIXES


# A sensitive key is followed in the payload by its value's tag: 0x12 (a map entry's or Struct
# field's value, an audit change's `before`) or 0x1a (an audit change's `after`); empty values
# are never redacted, so a key without a serialized value need not pass. Searched reversed (the
# tag, then the key's ending spelled backwards: password, passwd, pwd, secret, token, key (api_key,
# apikey, api-key, private_key), authorization, cookie, session, card, card_number, cvv).
_SENSITIVE_GATES = (
    _reversed_gate(
        r"\x12(?:d(?:rowssap|wssap|wp|rac)|terces|n(?:ekot|oitazirohtua|oisses)|yek|eikooc"
        r"|rebmun[_0]drac|vvc)"
    ),
)


#: The built-in rules in the order they are listed and applied.
BUILTINS: tuple[Builtin, ...] = (
    Builtin(
        "credit_card",
        "Credit Card Number",
        True,
        _CARD,
        _NOT_ID_BEFORE,
        _NOT_ID_AFTER,
        check=luhn,
        mask=mask_card,
        # 13 digits with separators are a run of 13 in the folded bytes; the raw check then
        # rules out runs of spaces and dashes.
        run=(13, _card_in_run),
    ),
    Builtin(
        "ssn",
        "Social Security Number",
        True,
        _SSN,
        _NOT_DIGIT_BEFORE,
        _NOT_DIGIT_AFTER,
        mask=mask_ssn,
        run=(11, lambda chunk: _SSN_BYTES.search(chunk) is not None),
    ),
    Builtin(
        "email", "Email Address", False, _EMAIL, gates=(_gate("@", r"@[a-z0]+(?:\.[a-z0]+)*\.[a-z]{2}"),)
    ),
    Builtin(
        "phone",
        "Phone Number",
        False,
        _PHONE,
        _NOT_DIGIT_BEFORE,
        _NOT_DIGIT_AFTER,
        gates=(_gate("0000", r"000\.?0000"),),
    ),
    Builtin(
        "ipv4",
        "IPv4 Address",
        False,
        _IPV4,
        r"(?<![0-9.])",
        r"(?![0-9]|\.[0-9])",
        check=_valid_ipv4,
        gates=(_gate("0.0", r"0{1,3}\.0{1,3}\.0{1,3}\.0"),),
    ),
    Builtin(
        "ipv6",
        "IPv6 Address",
        False,
        _IPV6,
        r"(?<![0-9A-Fa-f:])",
        r"(?![0-9A-Fa-f:])",
        gates=(_gate(":", _IPV6.replace("[0-9A-Fa-f]", "[0a-f]")),),
    ),
    Builtin(
        "jwt",
        "JWT Token",
        True,
        _JWT,
        _NOT_WORD_BEFORE,
        raw_gates=(r"J(?<=eyJ)[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.",),
    ),
    Builtin("bearer_token", "Bearer / API Token", True, _TOKEN, _NOT_WORD_BEFORE, raw_gates=_TOKEN_GATES),
    Builtin(
        "aws_key",
        "AWS Access Key",
        True,
        _AWS,
        r"(?<![A-Z0-9])",
        r"(?![A-Z0-9])",
        raw_gates=("A(?:KI|SI)A[0-9A-Z]{16}",),
    ),
    Builtin("sensitive_fields", "Sensitive Field Names", True, gates=_SENSITIVE_GATES),
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


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ-", "abcdefghijklmnopqrstuvwxyz_")


def sensitive_key(key: str) -> bool:
    """Whether `key` (a Struct or map key) names a secret, case-insensitively."""
    # ASCII-only lowering, like the trigger's `(?i)` on bytes: `str.lower` would also fold
    # characters such as the Kelvin sign into ASCII, which the trigger could not see.
    name = key.translate(_ASCII_LOWER)
    return name in SENSITIVE_KEYS or name.endswith(_SENSITIVE_SUFFIXES)


def compile_value(builtin: Builtin) -> re.Pattern[str]:
    return re.compile(builtin.value_source(), re.ASCII)
