"""HTTP trigger routes as the Functions host matches them: the route prefix from `host.json`
(`extensions.http.routePrefix`, default `api`), then the function's route template (default: its
name), case-insensitive, a trailing slash ignored, `{name}` one segment, `{name?}` an optional
last segment; the most specific template wins (literal segments before parameters)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

DEFAULT_PREFIX = "api"
_PARAMETER = re.compile(r"^\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<optional>\?)?\}$")


class UnsupportedRoute(ValueError):
    """A template this stand-in cannot match as the host would (constraints, catch-alls)."""


@dataclass(frozen=True)
class Route:
    """One HTTP function's address: what it answers and under which input binding name."""

    function: str
    template: str
    methods: tuple[str, ...]
    auth_level: str
    binding: str
    pattern: re.Pattern[str]
    rank: tuple[int, ...]

    def allows(self, method: str) -> bool:
        return not self.methods or method.upper() in self.methods


def route_prefix(host_json: Path) -> str:
    """`extensions.http.routePrefix` of `host.json` ("" is allowed: no prefix)."""
    try:
        settings = json.loads(host_json.read_text())
    except (OSError, ValueError):
        return DEFAULT_PREFIX
    http = settings.get("extensions", {}).get("http", {})
    return str(http.get("routePrefix", DEFAULT_PREFIX)).strip("/")


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """A template's regular expression (over the path without its leading slash) and its rank:
    per segment 0 literal, 1 parameter, 2 optional parameter (lower sorts first)."""
    segments = [segment for segment in template.strip("/").split("/") if segment]
    parts: list[str] = []
    rank: list[int] = []
    for index, segment in enumerate(segments):
        separator = "/" if index else ""
        found = _PARAMETER.match(segment)
        if found and found["optional"]:
            if index != len(segments) - 1:
                raise UnsupportedRoute(f"{template}: only the last segment may be optional")
            parts.append(f"(?:{separator}(?P<{found['name']}>[^/]+))?")
            rank.append(2)
        elif found:
            parts.append(f"{separator}(?P<{found['name']}>[^/]+)")
            rank.append(1)
        elif "{" in segment or "}" in segment:
            raise UnsupportedRoute(f"{template}: segment {segment!r} is not supported locally")
        else:
            parts.append(separator + re.escape(segment))
            rank.append(0)
    return re.compile("".join(parts), re.IGNORECASE), tuple(rank)


def http_routes(bindings: dict[str, list[dict[str, Any]]], prefix: str) -> list[Route]:
    """The routes of the functions with an HTTP trigger, most specific first."""
    routes = []
    for function, items in bindings.items():
        for binding in items:
            if binding.get("type", "").lower() != "httptrigger":
                continue
            template = "/".join(filter(None, [prefix, binding.get("route") or function]))
            pattern, rank = compile_template(template)
            methods = tuple(method.upper() for method in binding.get("methods") or ())
            routes.append(
                Route(
                    function=function,
                    template=template,
                    methods=methods,
                    auth_level=str(binding.get("authLevel", "FUNCTION")).upper(),
                    binding=binding["name"],
                    pattern=pattern,
                    rank=rank,
                )
            )
    return sorted(routes, key=lambda route: route.rank)


def match(routes: list[Route], path: str) -> list[tuple[Route, dict[str, str]]]:
    """Every route whose template matches `path` (most specific first), with its route values
    (percent-decoded; an absent optional value is left out)."""
    trimmed = path.strip("/")
    found = []
    for route in routes:
        matched = route.pattern.fullmatch(trimmed)
        if matched:
            values = {k: unquote(v) for k, v in matched.groupdict().items() if v is not None}
            found.append((route, values))
    return found
