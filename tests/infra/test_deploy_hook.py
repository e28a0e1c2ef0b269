"""azd's postdeploy hook (infra/hooks/): after `azd up` it prints what to paste into Kognitiv,
run here offline from given azd environment values, as azd runs it (`sh postdeploy.sh`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config.mapping_config import load_mapper
from bridge.config.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent.parent
HOOK = ROOT / "infra" / "hooks" / "postdeploy.sh"
BASE = "https://func-abc123.azurewebsites.net/api/kognitiv"
KEYS = "az functionapp function keys list -g rg-production -n func-abc123 --function-name"
DEFAULT_RULES = json.loads((ROOT / "mapping" / "default_mappings.json").read_text())
EXTRA_RULE = {"points_earned": DEFAULT_RULES["rewards_issued"]}
AZD_VALUES = {
    # outputs of main.bicep that azd stores, and values the operator set
    "KOGNITIV_WEBHOOK_URL": BASE,
    "AZURE_RESOURCE_GROUP": "rg-production",
    "AZURE_FUNCTION_APP_NAME": "func-abc123",
    "MOENGAGE_APP_ID": "ACME_MAIN",
    "KOGNITIV_MAPPINGS": json.dumps(EXTRA_RULE),
    "MOENGAGE_WORKSPACES": json.dumps(
        {
            "us": {
                "app_id": "ACME_US",
                "data_center": "01",
                "api_key_setting": "MOENGAGE_API_KEY_US",
                "mappings_file": "tests/fixtures/hook/us_mappings.json",
            },
            "eu": {"app_id": "ACME_EU", "data_center": "02", "api_key_setting": "K_EU"},
        }
    ),
    "KOGNITIV_AUTH_TOKEN": "secret-token-value",
}


def _run(values: dict[str, str], path: str) -> str:
    done = subprocess.run(
        ["/bin/sh", str(HOOK)],
        env={"PATH": path, **values},
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == ""
    return done.stdout


def test_hook_prints_every_url_the_key_commands_and_the_smoke_test() -> None:
    python_dir = str(Path(sys.executable).parent)
    out = _run(AZD_VALUES, f"{python_dir}:/usr/bin:/bin")
    shared = ["member_consent_changed", "member_enrolled", "member_updated", "points_earned"]
    shared = sorted([*shared, "rewards_issued", "rewards_redeemed"])
    expected = [
        "Kognitiv webhooks (KLS: Settings > Webhooks > Create Webhook, one per event):",
        "",
        "  workspace default (function key of kognitiv_webhook):",
        *(f"    {e:<22}  {BASE}/{e}" for e in shared),
        "",
        "  workspace eu (function key of kognitiv_workspace_webhook):",
        *(f"    {e:<22}  {BASE}/eu/{e}" for e in shared),
        "",
        "  workspace us (function key of kognitiv_workspace_webhook):",
        f"    member_enrolled  {BASE}/us/member_enrolled",
        "",
        "Send the function key as the x-functions-key header (or append ?code=<key>); fetch it,",
        "into your terminal only:",
        f"  {KEYS} kognitiv_webhook --query default -o tsv",
        f"  {KEYS} kognitiv_workspace_webhook --query default -o tsv",
        "Kognitiv must also send the Authorization header of KOGNITIV_AUTH_TOKEN (workspace "
        "default).",
        "",
        "Smoke test:",
        "  curl -s https://func-abc123.azurewebsites.net/api/live",
        f"  KEY=$({KEYS} kognitiv_webhook --query default -o tsv)",
        '  curl -s -X POST -H "x-functions-key: $KEY" -H "Authorization: Bearer $(azd env '
        f'get-value KOGNITIV_AUTH_TOKEN)" "{BASE}/member_enrolled?dry_run=true" '
        "-d @tests/fixtures/kognitiv/member_enrolled.json",
    ]
    assert out.splitlines() == expected
    # No URL with a placeholder left to fill in, and no secret printed.
    assert not [line for line in out.splitlines() if "https://" in line and "<" in line]
    assert "secret-token-value" not in out


def test_the_smoke_test_sends_the_credentials_the_workspace_accepts() -> None:
    """A smoke test without the Authorization header the app requires would answer 401: the
    command reads each credential from the azd environment, and the output holds none."""
    python_dir = str(Path(sys.executable).parent)
    sealed = {
        "us": {
            "app_id": "ACME_US",
            "data_center": "01",
            "api_key_setting": "K_US",
            "auth_username_setting": "KOGNITIV_US_USER",
            "auth_password_setting": "KOGNITIV_US_PASSWORD",
        },
        "eu": {
            "app_id": "ACME_EU",
            "data_center": "02",
            "api_key_setting": "K_EU",
            "inherit": True,
        },
    }
    values = {
        **{
            k: v for k, v in AZD_VALUES.items() if k not in ("MOENGAGE_APP_ID", "KOGNITIV_MAPPINGS")
        },
        "MOENGAGE_WORKSPACES": json.dumps(sealed),
        "KOGNITIV_AUTH_USERNAME": "kognitiv",
        "KOGNITIV_AUTH_PASSWORD": "secret-password-value",
    }
    del values["KOGNITIV_AUTH_TOKEN"]

    lines = _run(values, f"{python_dir}:/usr/bin:/bin").splitlines()

    assert [line for line in lines if line.startswith("Kognitiv must also send")] == [
        "Kognitiv must also send the Authorization header of KOGNITIV_AUTH_USERNAME and "
        "KOGNITIV_AUTH_PASSWORD (workspace eu).",
        "Kognitiv must also send the Authorization header of KOGNITIV_US_USER and "
        "KOGNITIV_US_PASSWORD (workspace us).",
    ]
    assert lines[-1] == (
        '  curl -s -X POST -H "x-functions-key: $KEY" -u "$(azd env get-value '
        'KOGNITIV_AUTH_USERNAME):$(azd env get-value KOGNITIV_AUTH_PASSWORD)" '
        f'"{BASE}/eu/member_enrolled?dry_run=true" -d @tests/fixtures/kognitiv/member_enrolled.json'
    )
    assert "secret-password-value" not in "\n".join(lines)


def test_without_kognitiv_credentials_the_smoke_test_sends_the_function_key_only() -> None:
    python_dir = str(Path(sys.executable).parent)
    values = {k: v for k, v in AZD_VALUES.items() if k != "KOGNITIV_AUTH_TOKEN"}
    values["MOENGAGE_WORKSPACES"] = "{}"

    lines = _run(values, f"{python_dir}:/usr/bin:/bin").splitlines()

    assert not [line for line in lines if "Authorization" in line]
    assert lines[-1].startswith('  curl -s -X POST -H "x-functions-key: $KEY" "https://')


def test_hook_lists_the_events_the_app_has_rules_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook reads the rule files itself (it runs without the app's packages); its list is
    the one the deployed app answers to."""
    for name in list(os.environ):
        if name.startswith(("MOENGAGE_", "KOGNITIV_")):
            monkeypatch.delenv(name)
    values = {**AZD_VALUES, "MOENGAGE_WORKSPACES": ""}
    for name in ("MOENGAGE_APP_ID", "KOGNITIV_MAPPINGS"):
        monkeypatch.setenv(name, values[name])
    monkeypatch.setenv("MOENGAGE_API_KEY", "key")
    monkeypatch.setenv("MOENGAGE_DATA_CENTER", "01")
    known = sorted(load_mapper(load_settings()).event_names)

    python_dir = str(Path(sys.executable).parent)
    out = _run(values, f"{python_dir}:/usr/bin:/bin")
    listed = [line.split()[0] for line in out.splitlines() if f"  {BASE}/" in line]
    assert listed == known
    assert "points_earned" in listed


def test_hook_without_a_deployment_says_so() -> None:
    python_dir = str(Path(sys.executable).parent)
    out = _run({"MOENGAGE_APP_ID": "ACME_MAIN"}, f"{python_dir}:/usr/bin:/bin")
    assert out == (
        "No deployment found in this azd environment (KOGNITIV_WEBHOOK_URL, "
        "AZURE_RESOURCE_GROUP, AZURE_FUNCTION_APP_NAME): run `azd provision` first.\n"
    )


def test_hook_without_python_still_prints_the_base_url_and_the_key_command() -> None:
    out = _run(AZD_VALUES, "/nonexistent")
    assert out.splitlines() == [
        f"Kognitiv webhook: {BASE}/<event> (workspaces: {BASE}/<workspace>/<event>)",
        f"Function key: {KEYS} kognitiv_webhook --query default -o tsv",
        "Install Python 3 to list the URL of every event and workspace "
        "(infra/hooks/webhook_urls.py).",
    ]


def test_a_bad_json_value_names_the_setting() -> None:
    python_dir = str(Path(sys.executable).parent)
    done = subprocess.run(
        ["/bin/sh", str(HOOK)],
        env={"PATH": f"{python_dir}:/usr/bin:/bin", **AZD_VALUES, "KOGNITIV_MAPPINGS": "{oops"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "KOGNITIV_MAPPINGS is not valid JSON; fix it with `azd env set KOGNITIV_MAPPINGS ...`"
    )


def test_powershell_hook_runs_the_same_report() -> None:
    """Windows runs postdeploy.ps1 (no PowerShell here to run it): same helper, same fallback."""
    script = (ROOT / "infra" / "hooks" / "postdeploy.ps1").read_text()
    assert "& $python infra/hooks/webhook_urls.py" in script
    assert "--function-name kognitiv_webhook --query default -o tsv" in script
