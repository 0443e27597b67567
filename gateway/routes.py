"""Routes derived from `google.api.http` annotations: the grammar and the matching, nothing else.

Template grammar (google/api/http.proto):

    Template = "/" Segments [ Verb ] [ "/" ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;

The trailing `"/"` is ingestd's one addition to that grammar: a vendor whose server ignores a
trailing slash (Rails) binds the slashed path too, as an additional binding, and it matches only
with the slash.

`compile_template("/v1/projects/{project}/events:write")` gives the regular expression
`^/v1/projects/(?P<v0>[^/]+)/events:write$` and the field paths `("project",)`, one per group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2  # type: ignore[attr-defined]
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

_VERBS = ("get", "put", "post", "delete", "patch")
_LITERAL = re.compile(r"^[A-Za-z0-9._~%!$&'()+,;=@-]+$")
_FIELD_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")


class RuleError(ValueError):
    """An RPC has no usable `google.api.http` rule."""


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP binding of one RPC."""

    http_method: str
    template: str
    pattern: re.Pattern[str]
    variables: tuple[str, ...]
    rpc: str
    body: str
    response_body: str

    def match(self, path: str) -> dict[str, str] | None:
        """The path variables by field path, or None when `path` is not this route's."""
        found = self.pattern.match(path)
        if found is None:
            return None
        return {field: found.group(f"v{i}") for i, field in enumerate(self.variables)}


def compile_template(template: str) -> tuple[str, tuple[str, ...]]:
    """Compiles a path template to a regular expression and its variables' field paths.

    Raises:
        RuleError: the template is not in the grammar above, or repeats a variable.
    """
    if not template.startswith("/"):
        raise RuleError(f"{template!r}: a template starts with '/'")
    path, verb = template[1:], ""
    trailing = "/" if path.endswith("/") and len(path) > 1 else ""
    path = path.removesuffix(trailing)
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    if colon > last_slash and "}" not in path[colon:]:
        path, verb = path[:colon], path[colon + 1 :]
        if not _LITERAL.match(verb):
            raise RuleError(f"{template!r}: bad verb {verb!r}")
    variables: list[str] = []
    regex = "".join("/" + part for part in _segments(path, variables, template))
    if len(set(variables)) != len(variables):
        raise RuleError(f"{template!r}: a variable appears twice")
    return f"^{regex}{re.escape(':' + verb) if verb else ''}{trailing}$", tuple(variables)


def _segments(path: str, variables: list[str], template: str) -> Iterable[str]:
    depth = 0
    start = 0
    parts: list[str] = []
    for i, char in enumerate(path):
        depth += (char == "{") - (char == "}")
        if char == "/" and depth == 0:
            parts.append(path[start:i])
            start = i + 1
    parts.append(path[start:])
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            field, _, inner = part[1:-1].partition("=")
            if not _FIELD_PATH.match(field):
                raise RuleError(f"{template!r}: bad field path {field!r}")
            group = f"v{len(variables)}"
            variables.append(field)
            body = "/".join(_plain(s, template) for s in inner.split("/")) if inner else "[^/]+"
            yield f"(?P<{group}>{body})"
        else:
            yield _plain(part, template)


def _plain(segment: str, template: str) -> str:
    if segment == "*":
        return "[^/]+"
    if segment == "**":
        return ".+"
    if not _LITERAL.match(segment):
        raise RuleError(f"{template!r}: bad segment {segment!r}")
    return re.escape(segment)


def _route(method: MethodDescriptor, rule: http_pb2.HttpRule) -> Route:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise RuleError(f"{method.full_name}: the http rule has no pattern")
    if kind == "custom":
        http_method, template = rule.custom.kind.upper(), rule.custom.path
    elif kind in _VERBS:
        http_method, template = kind.upper(), getattr(rule, kind)
    else:
        raise RuleError(f"{method.full_name}: unsupported pattern {kind!r}")
    regex, variables = compile_template(template)
    return Route(
        http_method=http_method,
        template=template,
        pattern=re.compile(regex),
        variables=variables,
        rpc=f"/{method.containing_service.full_name}/{method.name}",
        body=rule.body,
        response_body=rule.response_body,
    )


def routes(services: Iterable[ServiceDescriptor]) -> list[Route]:
    """Every binding of every RPC of `services`, `additional_bindings` included.

    Raises:
        RuleError: an RPC has no `google.api.http` rule, or a rule is malformed. An exposed RPC
            without a route is a startup error, never a silent gap.
    """
    found: list[Route] = []
    for service in services:
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(annotations_pb2.http):
                raise RuleError(f"{method.full_name} has no google.api.http annotation")
            rule = options.Extensions[annotations_pb2.http]
            found.append(_route(method, rule))
            found.extend(_route(method, extra) for extra in rule.additional_bindings)
    return found
