"""What to paste into Kognitiv after `azd up`: the webhook URL per event and workspace, how to
fetch each function key (never the key itself: the output may end up in CI logs), and the smoke
test. Run by azd's postdeploy hook (postdeploy.sh / postdeploy.ps1) with the azd environment's
values as environment variables; reads only those and the project's mapping files, changes
nothing. Standard library only: it runs on the operator's machine, not in the app."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_RULES = "mapping/default_mappings.json"
FIXTURES = "tests/fixtures/kognitiv"
DEFAULT_WORKSPACE = "default"
# The app's functions behind the two webhook routes (function_app.py); each has its own keys.
DEFAULT_FUNCTION = "kognitiv_webhook"
WORKSPACE_FUNCTION = "kognitiv_workspace_webhook"


def _json_object(text: str | None, name: str) -> dict[str, object]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise SystemExit(
            f"{name} is not valid JSON; fix it with `azd env set {name} ...`"
        ) from None
    if not isinstance(value, dict):
        raise SystemExit(f"{name} must be a JSON object")
    return value


def _event_names(rules: Mapping[str, object]) -> list[str]:
    """Rule names as the app reads them: keys starting with `$` or `_` are comments."""
    return [name for name in rules if not name.startswith(("$", "_"))]


def _rules_file(relative: str) -> dict[str, object]:
    path = PROJECT / relative
    try:
        return _json_object(path.read_text(), relative)
    except OSError:
        raise SystemExit(f"mapping file {relative} not found in {PROJECT}") from None


def events_by_workspace(environ: Mapping[str, str]) -> dict[str, list[str]]:
    """The events each workspace has rules for, `default` first, others by name."""
    inline = _json_object(environ.get("KOGNITIV_MAPPINGS"), "KOGNITIV_MAPPINGS")
    shared = {**_rules_file(environ.get("KOGNITIV_MAPPINGS_FILE") or DEFAULT_RULES), **inline}
    workspaces: dict[str, list[str]] = {}
    if environ.get("MOENGAGE_APP_ID"):
        workspaces[DEFAULT_WORKSPACE] = sorted(_event_names(shared))
    table = _json_object(environ.get("MOENGAGE_WORKSPACES"), "MOENGAGE_WORKSPACES")
    for name in sorted(table):
        entry = table[name] if isinstance(table[name], dict) else {}
        own = entry.get("mappings_file")  # type: ignore[union-attr]
        rules = _rules_file(own) if isinstance(own, str) else shared
        workspaces[name] = sorted(_event_names(rules))
    return workspaces


def _key_command(group: str, app: str, function: str) -> str:
    return (
        f"az functionapp function keys list -g {group} -n {app} "
        f"--function-name {function} --query default -o tsv"
    )


def _azd_value(name: str) -> str:
    """A shell expression reading an azd environment value: the secret reaches the command, never
    this output."""
    return f"$(azd env get-value {name})"


def _credentials(environ: Mapping[str, str], workspace: str) -> dict[str, str]:
    """The settings holding the Kognitiv credentials a workspace accepts (`token`, or `username`
    and `password`): the global KOGNITIV_AUTH_* for `default` and for an entry that says
    `"inherit": true`, else the entry's own `auth_*_setting` names. Empty when none."""
    own: object = None
    if workspace != DEFAULT_WORKSPACE:
        table = _json_object(environ.get("MOENGAGE_WORKSPACES"), "MOENGAGE_WORKSPACES")
        entry = table.get(workspace)
        own = None if not isinstance(entry, dict) or entry.get("inherit") is True else entry
    if isinstance(own, dict):
        names = {
            "token": own.get("auth_token_setting"),
            "username": own.get("auth_username_setting"),
            "password": own.get("auth_password_setting"),
        }
        return {kind: name for kind, name in names.items() if isinstance(name, str) and name}
    names = {
        "token": "KOGNITIV_AUTH_TOKEN",
        "username": "KOGNITIV_AUTH_USERNAME",
        "password": "KOGNITIV_AUTH_PASSWORD",
    }
    found = {kind: name for kind, name in names.items() if environ.get(name)}
    if "password" not in found:
        found.pop("username", None)
    return found


def _authorization(credentials: Mapping[str, str]) -> str:
    """curl's arguments sending the credentials, read from the azd environment."""
    if "token" in credentials:
        return f'-H "Authorization: Bearer {_azd_value(credentials["token"])}" '
    if "username" in credentials and "password" in credentials:
        user, password = _azd_value(credentials["username"]), _azd_value(credentials["password"])
        return f'-u "{user}:{password}" '
    return ""


def _route(base: str, workspace: str) -> tuple[str, str]:
    """The function serving a workspace's URLs, and their common prefix."""
    if workspace == DEFAULT_WORKSPACE:
        return DEFAULT_FUNCTION, base
    return WORKSPACE_FUNCTION, f"{base}/{workspace}"


def report(environ: Mapping[str, str]) -> str:
    base = environ.get("KOGNITIV_WEBHOOK_URL", "").rstrip("/")
    group = environ.get("AZURE_RESOURCE_GROUP", "")
    app = environ.get("AZURE_FUNCTION_APP_NAME", "")
    if not base or not group or not app:
        return (
            "No deployment found in this azd environment (KOGNITIV_WEBHOOK_URL, "
            "AZURE_RESOURCE_GROUP, AZURE_FUNCTION_APP_NAME): run `azd provision` first.\n"
        )
    workspaces = events_by_workspace(environ)
    lines = ["Kognitiv webhooks (KLS: Settings > Webhooks > Create Webhook, one per event):", ""]
    functions = []
    for workspace, events in workspaces.items():
        function, prefix = _route(base, workspace)
        lines.append(f"  workspace {workspace} (function key of {function}):")
        width = max((len(event) for event in events), default=0)
        lines += [f"    {event:<{width}}  {prefix}/{event}" for event in events]
        if not events:
            lines.append("    (no mapping rules)")
        lines.append("")
        if function not in functions:
            functions.append(function)
    lines += [
        "Send the function key as the x-functions-key header (or append ?code=<key>); fetch it,",
        "into your terminal only:",
        *(f"  {_key_command(group, app, function)}" for function in functions),
    ]
    for workspace in workspaces:
        credentials = _credentials(environ, workspace)
        if credentials:
            named = " and ".join(
                credentials[kind]
                for kind in ("token", "username", "password")
                if kind in credentials
            )
            lines.append(
                f"Kognitiv must also send the Authorization header of {named} "
                f"(workspace {workspace})."
            )
    # The smoke test posts a fixture body of the first workspace's first event that has one.
    workspace, events = next(iter(workspaces.items()), (DEFAULT_WORKSPACE, []))
    function, prefix = _route(base, workspace)
    lines += [
        "",
        "Smoke test:",
        f"  curl -s {base.removesuffix('/api/kognitiv')}/api/live",
        f"  KEY=$({_key_command(group, app, function)})",
    ]
    sample = next((e for e in events if (PROJECT / FIXTURES / f"{e}.json").is_file()), None)
    if sample:
        authorization = _authorization(_credentials(environ, workspace))
        lines.append(
            f'  curl -s -X POST -H "x-functions-key: $KEY" {authorization}'
            f'"{prefix}/{sample}?dry_run=true" -d @{FIXTURES}/{sample}.json'
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(report(os.environ))
