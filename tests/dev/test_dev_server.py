"""The dev server's own rules (`dev_server/`), on this suite's Python: routes matched as the
Functions host matches them, and local settings applied as Core Tools applies them. The whole
server, with the real worker, is pinned in tests/dev/test_run_local.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dev_server import routes
from dev_server.http_host import local_settings

BINDINGS = {
    "kognitiv_webhook": [
        {
            "type": "httpTrigger",
            "name": "req",
            "route": "kognitiv/{event?}",
            "methods": ["POST", "PUT"],
            "authLevel": "FUNCTION",
        },
        {"type": "http", "name": "$return", "direction": "OUT"},
    ],
    "kognitiv_workspace_webhook": [
        {"type": "httpTrigger", "name": "req", "route": "kognitiv/{workspace}/{event}"}
    ],
    "live": [{"type": "httpTrigger", "name": "req", "route": "live", "methods": ["GET"]}],
    "health": [{"type": "httpTrigger", "name": "request", "methods": ["GET"]}],
    "kognitiv_service_bus": [{"type": "serviceBusTrigger", "name": "messages"}],
}


@pytest.fixture
def table() -> list[routes.Route]:
    return routes.http_routes(BINDINGS, "api")


def found(table: list[routes.Route], path: str) -> list[tuple[str, dict[str, str]]]:
    return [(route.function, values) for route, values in routes.match(table, path)]


def test_http_functions_only_with_their_prefix_methods_and_binding_names(table):
    assert {route.function: route.template for route in table} == {
        "kognitiv_webhook": "api/kognitiv/{event?}",
        "kognitiv_workspace_webhook": "api/kognitiv/{workspace}/{event}",
        "live": "api/live",
        "health": "api/health",  # no route: the function's name
    }
    by_name = {route.function: route for route in table}
    assert by_name["kognitiv_webhook"].methods == ("POST", "PUT")
    assert by_name["kognitiv_workspace_webhook"].allows("DELETE")  # no methods: any
    assert not by_name["live"].allows("POST")
    assert by_name["health"].binding == "request"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/kognitiv", [("kognitiv_webhook", {})]),
        ("/api/kognitiv/", [("kognitiv_webhook", {})]),
        ("/api/kognitiv/rewards_issued", [("kognitiv_webhook", {"event": "rewards_issued"})]),
        ("/API/Kognitiv/x", [("kognitiv_webhook", {"event": "x"})]),
        (
            "/api/kognitiv/eu/member%20created",
            [("kognitiv_workspace_webhook", {"workspace": "eu", "event": "member created"})],
        ),
        ("/api/kognitiv/eu/a/b", []),
        ("/kognitiv/x", []),
        ("/api/live", [("live", {})]),
        ("/api/livex", []),
    ],
)
def test_paths_match_as_the_host_matches_them(table, path, expected):
    assert found(table, path) == expected


def test_literal_segments_win_over_parameters():
    table = routes.http_routes(
        {
            "any": [{"type": "httpTrigger", "name": "req", "route": "items/{id}"}],
            "new": [{"type": "httpTrigger", "name": "req", "route": "items/new"}],
        },
        "api",
    )

    assert found(table, "/api/items/new") == [("new", {}), ("any", {"id": "new"})]


def test_an_empty_prefix_and_host_json(tmp_path: Path):
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"extensions": {"http": {"routePrefix": ""}}}))
    assert routes.route_prefix(host_json) == ""
    assert routes.route_prefix(tmp_path / "absent.json") == "api"
    table = routes.http_routes(BINDINGS, routes.route_prefix(host_json))
    assert found(table, "/live") == [("live", {})]


@pytest.mark.parametrize("template", ["a/{id:int}", "a/{*rest}", "{x?}/b"])
def test_templates_it_cannot_match_like_the_host_are_refused(template):
    with pytest.raises(routes.UnsupportedRoute, match=re.escape(template)):
        routes.compile_template(template)


def test_the_environment_wins_over_local_settings(tmp_path: Path, capsys):
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": {"A": "file", "B": 2, "C": "file"}}))

    applied = local_settings(settings, {"A": "environment"})

    assert applied == {"B": "2", "C": "file"}
    assert capsys.readouterr().err == (
        "Skipping 'A' from local settings as it's already defined in current environment "
        "variables.\n"
    )
