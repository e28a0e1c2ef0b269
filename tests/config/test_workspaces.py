"""MOENGAGE_WORKSPACES: the table's validation, the settings each workspace gets, the
fingerprint that notices a change, routing by workspace, each workspace's credentials, health
and log lines."""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest

from bridge.common.observations import HEALTH
from bridge.config.settings import ConfigurationError, settings_fingerprint
from bridge.config.workspaces import INHERIT_WARNING
from bridge.deployment.runtime import current_deployment, current_runtime, current_workspace
from tests.conftest import API_KEY, APP_ID, call_webhook, fixture_body, http_request
from tests.expected import REWARD_ELEMENT
from tests.workspaces import (
    EU_APP,
    EU_KEY,
    US_APP,
    US_KEY,
    basic,
    call_workspace_webhook,
    members,
    table,
    workspace_request,
)

pytestmark = pytest.mark.usefixtures("workspaces_env")

KNOWN = (
    "app_id, data_center, api_key_setting, api_base_url, mappings_file, timezone, date_order, "
    "number_format, auth_username_setting, auth_password_setting, "
    "auth_password_previous_setting, auth_token_setting, auth_token_previous_setting, inherit"
)


@pytest.fixture(autouse=True)
def fresh_health():
    HEALTH.clear()
    yield
    HEALTH.clear()


def problems_of(settings_env, workspaces: object) -> list[str]:
    """Every problem of the settings: the deployment's (its working workspaces still serve),
    or the error's when no workspace can work."""
    raw = workspaces if isinstance(workspaces, str) else json.dumps(workspaces)
    settings_env.setenv("MOENGAGE_WORKSPACES", raw)
    try:
        deployment = current_deployment()
    except ConfigurationError as error:
        return error.problems
    assert deployment.problems, "the settings were expected to hold a problem"
    return deployment.problems


def reward(member: str) -> dict:
    return {**fixture_body("rewards_issued"), "memberId": member}


# --- settings ----------------------------------------------------------------------------------


def test_each_workspace_gets_its_own_workspace_key_data_center_and_host(eu, us):
    deployment = current_deployment()

    assert deployment.names == ["default", "eu", "us"]
    described = {
        name: (
            runtime.target.app_id,
            runtime.target.api_key.get_secret_value(),
            runtime.target.data_center,
            runtime.target.origin,
        )
        for name, runtime in deployment.workspaces.items()
    }
    assert described == {
        "default": (APP_ID, API_KEY, "01", current_runtime().settings.moengage_api_base_url),
        "eu": (EU_APP, EU_KEY, "02", eu.base_url),
        "us": (US_APP, US_KEY, "01", us.base_url),
    }
    assert current_runtime() is deployment.workspace("default")
    assert len({id(runtime.gate) for runtime in deployment.workspaces.values()}) == 3


def test_a_workspace_without_a_base_url_goes_to_its_data_center(workspaces_env, eu, us):
    entries = table(eu, us)
    del entries["eu"]["api_base_url"]
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))

    assert current_workspace("eu").target.origin == "https://api-02.moengage.com"
    assert current_workspace("eu").target.url("event") == (
        f"https://api-02.moengage.com/v1/event/{EU_APP}"
    )


def test_conversions_are_the_global_ones_unless_the_workspace_sets_its_own(workspaces_env, eu, us):
    workspaces_env.setenv("KOGNITIV_TIMEZONE", "America/Chicago")
    entries = table(
        eu, us, eu={"timezone": "Europe/Berlin", "date_order": "dmy", "number_format": "1.234,56"}
    )
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))

    settings = {name: current_workspace(name).settings for name in ("eu", "us")}

    assert (
        settings["eu"].kognitiv_timezone,
        settings["eu"].kognitiv_date_order,
        settings["eu"].kognitiv_number_format,
    ) == ("Europe/Berlin", "DMY", "1.234,56")
    assert (
        settings["us"].kognitiv_timezone,
        settings["us"].kognitiv_date_order,
        settings["us"].kognitiv_number_format,
    ) == ("America/Chicago", "MDY", "1,234.56")


def test_a_workspace_mappings_file_replaces_the_rules(workspaces_env, eu, us, tmp_path):
    rule = [{"type": "customer", "customer_id": "{{memberId}}", "attributes": {"p": "{{p}}"}}]
    rules = tmp_path / "eu_rules.json"
    rules.write_text(json.dumps({"points_expired": rule}))
    workspaces_env.setenv("KOGNITIV_MAPPINGS", json.dumps({"global_only": rule}))
    entries = table(eu, us, eu={"mappings_file": str(rules)})
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))

    assert current_workspace("eu").mapper.event_names == ["points_expired"]
    assert "global_only" in current_workspace("us").mapper.event_names
    assert "global_only" in current_runtime().mapper.event_names


@pytest.mark.parametrize(
    ("change", "problems"),
    [
        (
            {"region": "eu-west"},
            [f"MOENGAGE_WORKSPACES.eu.region is not a known key (known: {KNOWN})"],
        ),
        (
            {"data_center": "07"},
            [
                "MOENGAGE_WORKSPACES.eu.data_center is not a MoEngage data center; valid values: "
                "01, 02, 03, 04, 05, 06, 101"
            ],
        ),
        (
            {"app_id": "eu app!"},
            [
                "MOENGAGE_WORKSPACES.eu.app_id must be the MoEngage workspace id (letters, "
                "digits, - and _)"
            ],
        ),
        (
            {"api_key_setting": "EU_KEY_TYPO"},
            ["MOENGAGE_WORKSPACES.eu.api_key_setting names EU_KEY_TYPO, which is not set"],
        ),
        (
            {"api_key_setting": "eu key"},
            [
                "MOENGAGE_WORKSPACES.eu.api_key_setting must be the name of an app setting "
                "(letters, digits and _)"
            ],
        ),
        (
            {"api_base_url": "https://api-02.moengage.com/v1"},
            ["MOENGAGE_WORKSPACES.eu.api_base_url must not contain a path: /v1/... is appended"],
        ),
        (
            {"timezone": "Mars/Olympus"},
            [
                "MOENGAGE_WORKSPACES.eu.timezone must be an IANA time zone such as UTC or "
                "America/Chicago"
            ],
        ),
        (
            {"date_order": "YMD"},
            ["MOENGAGE_WORKSPACES.eu.date_order must be 'MDY' or 'DMY'"],
        ),
        (
            {"number_format": "1 234,56"},
            [
                "MOENGAGE_WORKSPACES.eu.number_format must be 1,234.56 (decimal point, the "
                "default) or 1.234,56 (decimal comma)"
            ],
        ),
        (
            {"auth_username_setting": "EU_KOGNITIV_USER"},
            [
                "MOENGAGE_WORKSPACES.eu.auth_username_setting names EU_KOGNITIV_USER, which is "
                "not set",
                "MOENGAGE_WORKSPACES.eu.auth_username_setting and "
                "MOENGAGE_WORKSPACES.eu.auth_password_setting must be set together",
            ],
        ),
        (
            {"mappings_file": "/nowhere/eu.json"},
            ["MOENGAGE_WORKSPACES.eu.mappings_file '/nowhere/eu.json' is not a readable file"],
        ),
        (
            {"auth_token_previous_setting": "US_MOENGAGE_KEY"},
            [
                "MOENGAGE_WORKSPACES.eu.auth_token_previous_setting needs "
                "MOENGAGE_WORKSPACES.eu.auth_token_setting"
            ],
        ),
    ],
)
def test_a_bad_entry_is_a_configuration_error_naming_its_key(
    workspaces_env, eu, us, change, problems
):
    assert problems_of(workspaces_env, table(eu, us, eu=change)) == problems


def test_missing_keys_and_bad_names_are_each_reported(workspaces_env, eu, us):
    entries = table(eu, us)
    del entries["us"]["app_id"]
    del entries["us"]["api_key_setting"]
    entries["EU-West"] = entries["eu"]
    entries["x" * 33] = entries["eu"]
    entries["asia"] = "not an object"

    assert problems_of(workspaces_env, entries) == [
        "MOENGAGE_WORKSPACES.us.app_id is required",
        "MOENGAGE_WORKSPACES.us.api_key_setting is required",
        "MOENGAGE_WORKSPACES.EU-West is not a valid workspace name (1 to 32 characters: a-z, "
        "0-9 and -)",
        f"MOENGAGE_WORKSPACES.{'x' * 33} is not a valid workspace name (1 to 32 characters: "
        "a-z, 0-9 and -)",
        "MOENGAGE_WORKSPACES.asia must be a JSON object",
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{eu: 1}", "MOENGAGE_WORKSPACES is not valid JSON (Expecting property name enclosed "
         "in double quotes: line 1 column 2 (char 1))"),
        ('["eu"]', "MOENGAGE_WORKSPACES must be a JSON object keyed by workspace name"),
    ],
)  # fmt: skip
def test_a_table_that_is_not_an_object_is_one_problem(workspaces_env, raw, problem):
    assert problems_of(workspaces_env, raw) == [problem]


def test_a_default_entry_next_to_moengage_app_id_says_which_to_remove(workspaces_env, eu, us):
    entries = table(eu, us)
    entries["default"] = entries["eu"]

    assert problems_of(workspaces_env, entries) == [
        "MOENGAGE_WORKSPACES.default and MOENGAGE_APP_ID both define the workspace default: "
        'remove the "default" entry from MOENGAGE_WORKSPACES, or remove MOENGAGE_APP_ID (with '
        "MOENGAGE_API_KEY and MOENGAGE_DATA_CENTER)"
    ]


def test_a_default_entry_is_the_default_workspace_without_moengage_app_id(workspaces_env, eu, us):
    for name in ("MOENGAGE_APP_ID", "MOENGAGE_API_KEY", "MOENGAGE_DATA_CENTER"):
        workspaces_env.delenv(name)
    workspaces_env.delenv("MOENGAGE_API_BASE_URL")
    entries = table(eu, us)
    entries["default"] = entries.pop("eu")
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))

    assert current_deployment().names == ["default", "us"]
    assert current_runtime().target.app_id == EU_APP


def test_no_secret_value_is_ever_in_a_problem(workspaces_env, eu, us):
    workspaces_env.setenv("EU_KOGNITIV_TOKEN", "eu-kognitiv-token-secret")
    entries = table(
        eu, us, eu={"data_center": "99", "auth_token_setting": "EU_KOGNITIV_TOKEN", "x": 1}
    )
    entries["us"]["api_key_setting"] = "NOT_SET"

    text = "; ".join(problems_of(workspaces_env, entries))

    for secret in (EU_KEY, US_KEY, API_KEY, "eu-kognitiv-token-secret"):
        assert secret not in text
    assert "MOENGAGE_WORKSPACES.eu.data_center" in text
    assert "MOENGAGE_WORKSPACES.us.api_key_setting names NOT_SET" in text


def test_moengage_app_id_is_optional_with_a_table(workspaces_env):
    for name in ("MOENGAGE_APP_ID", "MOENGAGE_API_KEY", "MOENGAGE_DATA_CENTER"):
        workspaces_env.delenv(name)

    assert current_deployment().names == ["eu", "us"]

    workspaces_env.delenv("MOENGAGE_WORKSPACES")
    with pytest.raises(ConfigurationError) as caught:
        current_deployment()
    assert caught.value.problems == ["MOENGAGE_APP_ID is required (or MOENGAGE_WORKSPACES)"]


def test_an_empty_table_without_moengage_app_id_is_an_error(workspaces_env):
    workspaces_env.delenv("MOENGAGE_APP_ID")

    assert problems_of(workspaces_env, {}) == [
        "MOENGAGE_WORKSPACES names no workspace and MOENGAGE_APP_ID is not set"
    ]


def test_the_fingerprint_notices_the_table_and_every_setting_it_names(workspaces_env):
    first = settings_fingerprint()
    workspaces_env.setenv("UNRELATED_SETTING", "x")
    assert settings_fingerprint() == first

    workspaces_env.setenv("EU_MOENGAGE_KEY", "eu-key-rotated")
    rotated = settings_fingerprint()

    assert rotated != first
    assert current_workspace("eu").target.api_key.get_secret_value() == "eu-key-rotated"
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps({}))
    assert settings_fingerprint() != rotated
    assert current_deployment().names == ["default"]


def test_the_fingerprint_follows_a_newly_named_setting(workspaces_env, eu, us):
    entries = table(eu, us, eu={"auth_token_setting": "EU_KOGNITIV_TOKEN"})
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))
    workspaces_env.setenv("EU_KOGNITIV_TOKEN", "first")
    before = settings_fingerprint()

    workspaces_env.setenv("EU_KOGNITIV_TOKEN", "second")

    assert settings_fingerprint() != before
    assert current_workspace("eu").auth.tokens == (b"second",)


# --- routing -----------------------------------------------------------------------------------


async def test_each_url_delivers_to_its_own_workspace(moengage, eu, us):
    eu_status, eu_body = await call_workspace_webhook(
        workspace_request("eu", "rewards_issued", reward("E-1"))
    )
    us_status, us_body = await call_workspace_webhook(
        workspace_request("us", "rewards_issued", reward("U-1"))
    )
    default_status, _, _ = await call_webhook(http_request(reward("D-1"), "rewards_issued"))

    assert (eu_status, eu_body["status"]) == (200, "delivered")
    assert (us_status, us_body["status"]) == (200, "delivered")
    assert default_status == 200
    assert (members(eu), members(us), members(moengage)) == (["E-1"], ["U-1"], ["D-1"])
    [eu_sent] = eu.requests
    [us_sent] = us.requests
    assert eu_sent.path == f"/v1/event/{EU_APP}"
    assert eu_sent.headers["authorization"] == basic(EU_APP, EU_KEY)
    assert us_sent.path == f"/v1/event/{US_APP}"
    assert us_sent.headers["authorization"] == basic(US_APP, US_KEY)
    assert eu.accepted == [{**REWARD_ELEMENT, "customer_id": "E-1"}]


async def test_an_unknown_workspace_is_404_naming_the_known_ones(moengage, eu, us):
    status, body = await call_workspace_webhook(
        workspace_request("asia", "rewards_issued", reward("A-1"))
    )

    assert status == 404
    assert body == {
        "error": {
            "code": "unknown_workspace",
            "message": 'unknown workspace "asia"; this deployment serves: default, eu, us',
        }
    }
    assert moengage.requests == eu.requests == us.requests == []


async def test_a_name_that_cannot_be_a_workspace_is_not_echoed(moengage):
    status, body = await call_workspace_webhook(
        workspace_request("Jordan.Lee@example.com", "rewards_issued", reward("A-1"))
    )

    assert status == 404
    assert body["error"] == {
        "code": "unknown_workspace",
        "message": "unknown workspace (not a workspace name); this deployment serves: "
        "default, eu, us",
    }


async def test_the_old_route_is_404_when_there_is_no_default_workspace(workspaces_env):
    for name in ("MOENGAGE_APP_ID", "MOENGAGE_API_KEY", "MOENGAGE_DATA_CENTER"):
        workspaces_env.delenv(name)

    status, body, _ = await call_webhook(http_request(reward("D-1"), "rewards_issued"))

    assert status == 404
    assert body == {
        "error": {
            "code": "unknown_workspace",
            "message": 'unknown workspace "default"; this deployment serves: eu, us',
        }
    }


async def test_a_broken_workspace_answers_503_alone(workspaces_env, eu, us):
    workspaces_env.delenv("US_MOENGAGE_KEY")

    broken = await call_workspace_webhook(workspace_request("us", "rewards_issued", reward("U-1")))
    working = await call_workspace_webhook(workspace_request("eu", "rewards_issued", reward("E-1")))

    assert broken == (
        503,
        {
            "error": {
                "code": "configuration_error",
                "message": "the function app is misconfigured: MOENGAGE_WORKSPACES.us."
                "api_key_setting names US_MOENGAGE_KEY, which is not set",
            }
        },
    )
    assert working[0] == 200
    assert (members(eu), us.requests) == (["E-1"], [])


# --- each workspace's Kognitiv credentials -----------------------------------------------------


async def test_a_workspace_accepts_only_its_own_credentials(workspaces_env, moengage, eu, us):
    workspaces_env.setenv("KOGNITIV_AUTH_TOKEN", "global-token")
    workspaces_env.setenv("EU_KOGNITIV_USER", "eu-program")
    workspaces_env.setenv("EU_KOGNITIV_PASSWORD", "eu-password")
    entries = table(
        eu,
        us,
        eu={
            "auth_username_setting": "EU_KOGNITIV_USER",
            "auth_password_setting": "EU_KOGNITIV_PASSWORD",
        },
    )
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))
    global_token = {"Authorization": "Bearer global-token"}
    eu_basic = {"Authorization": basic("eu-program", "eu-password")}

    async def status(workspace: str, headers: dict[str, str]) -> int:
        request = workspace_request(workspace, "rewards_issued", reward("M-1"), headers=headers)
        return (await call_workspace_webhook(request))[0]

    assert await status("eu", global_token) == 401
    assert await status("eu", {}) == 401
    assert await status("eu", eu_basic) == 200
    assert await status("us", eu_basic) == 401
    assert await status("us", global_token) == 200
    default = await call_webhook(http_request(reward("M-1"), "rewards_issued", headers=eu_basic))
    assert default[0] == 401
    assert (members(eu), members(us)) == (["M-1"], ["M-1"])
    assert current_workspace("eu").auth.tokens == ()
    assert current_workspace("us").auth.tokens == (b"global-token",)


async def test_a_workspace_that_names_no_credentials_and_does_not_inherit_opens_to_nobody(
    workspaces_env, moengage, eu, us
):
    workspaces_env.setenv("KOGNITIV_AUTH_TOKEN", "global-token")
    workspaces_env.setenv("US_TOKEN", "us-token")
    entries = table(eu, us, us={"auth_token_setting": "US_TOKEN"})
    del entries["eu"]["inherit"]  # the table of an earlier release: silently inherited
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))
    headers = {"Authorization": "Bearer global-token"}

    status, answer = await call_workspace_webhook(
        workspace_request("eu", "rewards_issued", reward("M-1"), headers=headers)
    )

    assert status == 503
    assert answer["error"] == {
        "code": "configuration_error",
        "message": "the function app is misconfigured: MOENGAGE_WORKSPACES.eu names no Kognitiv "
        "credentials of its own: add auth_token_setting (or auth_username_setting and "
        'auth_password_setting), or "inherit": true to accept the default program\'s '
        "KOGNITIV_AUTH_* credentials",
    }
    assert eu.requests == []
    assert moengage.requests == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"inherit": False}, "MOENGAGE_WORKSPACES.eu names no Kognitiv credentials of its own"),
        ({"inherit": "yes"}, "MOENGAGE_WORKSPACES.eu.inherit must be a valid boolean"),
        (
            {"inherit": True, "auth_token_setting": "US_MOENGAGE_KEY"},
            "MOENGAGE_WORKSPACES.eu.inherit is true but the entry names its own Kognitiv "
            "credentials: keep one",
        ),
    ],
)
def test_inheriting_is_said_explicitly_and_only_alone(workspaces_env, eu, us, change, problem):
    [found] = problems_of(workspaces_env, table(eu, us, eu=change))
    assert found.startswith(problem)


async def test_an_inheriting_workspace_accepts_the_default_credentials_and_says_so(
    workspaces_env, eu, us
):
    workspaces_env.setenv("KOGNITIV_AUTH_TOKEN", "global-token")
    workspaces_env.setenv("EU_TOKEN", "eu-token")
    entries = table(eu, us, eu={"auth_token_setting": "EU_TOKEN"})  # us: "inherit": true
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))
    headers = {"Authorization": "Bearer global-token"}

    status, _ = await call_workspace_webhook(
        workspace_request("us", "rewards_issued", reward("M-1"), headers=headers)
    )
    _, health = get_health()

    assert status == 200
    assert health["workspaces"]["us"]["warnings"][-1] == INHERIT_WARNING
    assert INHERIT_WARNING not in health["workspaces"]["eu"]["warnings"]
    assert f"workspace us: {INHERIT_WARNING}" in health["warnings"]


async def test_a_workspace_token_can_be_rotated(workspaces_env, eu, us):
    workspaces_env.setenv("EU_TOKEN", "new-token")
    workspaces_env.setenv("EU_TOKEN_OLD", "old-token")
    entries = table(
        eu, us, eu={"auth_token_setting": "EU_TOKEN", "auth_token_previous_setting": "EU_TOKEN_OLD"}
    )
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))

    answers = []
    for token in ("new-token", "old-token", "other"):
        headers = {"Authorization": f"Bearer {token}"}
        request = workspace_request("eu", "rewards_issued", reward("E-1"), headers=headers)
        answers.append((await call_workspace_webhook(request))[0])

    assert answers == [200, 200, 401]


# --- health and logs ---------------------------------------------------------------------------


def get_health() -> tuple[int, dict]:
    import function_app

    handler = function_app.health.build().get_user_function()
    response = handler(func.HttpRequest("GET", "http://localhost/api/health", body=b""))
    return response.status_code, json.loads(response.get_body())


async def test_health_shows_each_workspace_and_its_own_moengage_problems(
    workspaces_env, moengage, eu, us
):
    workspaces_env.setenv("EU_MOENGAGE_KEY", "eu-key-wrong")
    workspaces_env.setenv("KOGNITIV_AUTH_TOKEN", "global-token")
    headers = {"Authorization": "Bearer global-token"}
    eu_status, _ = await call_workspace_webhook(
        workspace_request("eu", "rewards_issued", reward("E-1"), headers=headers)
    )
    us_status, _ = await call_workspace_webhook(
        workspace_request("us", "rewards_issued", reward("U-1"), headers=headers)
    )

    status, body = get_health()

    assert (eu_status, us_status, status) == (502, 200, 200)
    assert body["status"] == "degraded"
    assert sorted(body["workspaces"]) == ["default", "eu", "us"]
    eu_state, us_state = body["workspaces"]["eu"], body["workspaces"]["us"]
    assert {key: eu_state[key] for key in ("app_id", "data_center", "moengage_host")} == {
        "app_id": EU_APP,
        "data_center": "02",
        "moengage_host": eu.base_url,
    }
    assert (us_state["app_id"], us_state["data_center"]) == (US_APP, "01")
    assert eu_state["kognitiv_auth"] == us_state["kognitiv_auth"] == "bearer"
    assert eu_state["mapping_rules"] == us_state["mapping_rules"] == body["mapping_rules"]
    [problem] = eu_state["last_moengage_problems"]
    assert problem["kind"] == "credentials"
    assert "HTTP 401" in problem["detail"]
    assert eu_state["status"] == "degraded"
    assert us_state["last_moengage_problems"] == []
    assert body["last_moengage_problems"] == []  # the default workspace's, at the top level
    assert body["workspace"] == APP_ID
    text = json.dumps(body)
    for secret in ("eu-key-wrong", US_KEY, API_KEY, "global-token"):
        assert secret not in text


def test_health_without_a_default_workspace_lists_the_others(workspaces_env):
    for name in ("MOENGAGE_APP_ID", "MOENGAGE_API_KEY", "MOENGAGE_DATA_CENTER"):
        workspaces_env.delenv(name)

    status, body = get_health()

    assert status == 200
    assert sorted(body["workspaces"]) == ["eu", "us"]
    assert "workspace" not in body
    assert body["warnings"] == [
        "workspace eu: no Kognitiv credential configured (KOGNITIV_AUTH_*): only the function "
        "key protects the webhook",
        "workspace eu: MOENGAGE_API_BASE_URL overrides the data-center host (emulator/test use)",
        f"workspace eu: {INHERIT_WARNING}",
        "workspace us: no Kognitiv credential configured (KOGNITIV_AUTH_*): only the function "
        "key protects the webhook",
        "workspace us: MOENGAGE_API_BASE_URL overrides the data-center host (emulator/test use)",
        f"workspace us: {INHERIT_WARNING}",
    ]


def test_health_names_the_broken_workspace_and_serves_the_others(workspaces_env):
    workspaces_env.delenv("EU_MOENGAGE_KEY")

    status, body = get_health()

    problem = "MOENGAGE_WORKSPACES.eu.api_key_setting names EU_MOENGAGE_KEY, which is not set"
    assert (status, body["status"]) == (200, "degraded")
    assert body["settings"] == {"valid": False, "problems": [problem]}
    assert body["workspaces"]["eu"] == {"status": "error", "problems": [problem], "warnings": []}
    assert body["workspaces"]["us"]["app_id"] == US_APP


def test_health_is_503_when_no_workspace_can_work(workspaces_env):
    for name in ("MOENGAGE_APP_ID", "MOENGAGE_API_KEY", "MOENGAGE_DATA_CENTER"):
        workspaces_env.delenv(name)
    workspaces_env.delenv("EU_MOENGAGE_KEY")
    workspaces_env.delenv("US_MOENGAGE_KEY")

    status, body = get_health()

    assert (status, body["status"]) == (503, "error")
    assert body["settings"]["problems"] == [
        "MOENGAGE_WORKSPACES.eu.api_key_setting names EU_MOENGAGE_KEY, which is not set",
        "MOENGAGE_WORKSPACES.us.api_key_setting names US_MOENGAGE_KEY, which is not set",
    ]


async def test_webhook_log_lines_carry_the_workspace(caplog, moengage, eu):
    caplog.set_level(logging.INFO, logger="kognitiv_bridge")

    await call_workspace_webhook(workspace_request("eu", "rewards_issued", reward("E-1")))
    await call_webhook(http_request(reward("D-1"), "rewards_issued"))
    await call_workspace_webhook(workspace_request("nowhere", "rewards_issued", reward("N-1")))
    await call_workspace_webhook(
        workspace_request("jordan.lee@example.com", "rewards_issued", reward("N-2"))
    )

    lines = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.getMessage().startswith('{"kind":"webhook"')
    ]
    assert [(line["workspace"], line["status_code"], line.get("outcome")) for line in lines] == [
        ("eu", 200, "delivered"),
        ("default", 200, "delivered"),
        ("nowhere", 404, "refused"),
        ("(invalid)", 404, "refused"),  # not a workspace name: never logged as sent
    ]
    assert lines[0]["members"] == ["E-1"]
