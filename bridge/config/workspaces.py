"""`MOENGAGE_WORKSPACES`: one deployment serving several Kognitiv programs, each delivered to its
own MoEngage workspace (often on different data centers).

The table is a JSON object keyed by workspace name. An entry names its secrets by the app setting
that holds them (`api_key_setting`, `auth_*_setting`), so every key is its own Key Vault
reference and never sits in the table. The single-workspace settings (`MOENGAGE_APP_ID`, ...) are
the workspace `default`. Each workspace becomes a complete `Settings`: the global ones with its
own MoEngage workspace, data center, rules, conversions and Kognitiv credentials.

Sealed: an entry names its own Kognitiv credentials, or says `"inherit": true` to accept the
default program's (the global KOGNITIV_AUTH_*). An entry that says neither is a configuration
problem, so one program's token never opens another program's workspace by omission."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.config.settings import (
    WORKSPACES_SETTING,
    ConfigurationError,
    Settings,
    parse_json_object,
)

DEFAULT_WORKSPACE = "default"
NAME = re.compile(r"[a-z0-9-]{1,32}")


@dataclass
class WorkspaceTable:
    """Every workspace's settings by name, each entry checked on its own: `broken` holds the
    problems of each entry that cannot work (only that workspace is held), `problems` every
    problem in the table's order (entries without a usable name included)."""

    settings: dict[str, Settings] = field(default_factory=dict)
    broken: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def refuse(self, name: str | None, problems: list[str]) -> None:
        self.problems.extend(problems)
        if name is not None:
            self.broken.setdefault(name, []).extend(problems)


def workspace_table(base: Settings, environ: Mapping[str, str]) -> WorkspaceTable:
    """Every workspace's settings, each entry checked alone; ConfigurationError only when the
    table itself cannot be read or names no workspace at all. Problems name
    `MOENGAGE_WORKSPACES.<name>.<key>` (never a secret's value)."""
    table = WorkspaceTable()
    if base.moengage_app_id is not None:
        table.settings[DEFAULT_WORKSPACE] = base
    if base.moengage_workspaces is None:
        return table
    from bridge.config.workspace_entries import check_entry  # only a table has entries to check

    for name, entry in parse_json_object(
        base.moengage_workspaces, WORKSPACES_SETTING, "workspace name"
    ).items():
        where = f"{WORKSPACES_SETTING}.{name[:40]}"
        if not NAME.fullmatch(name):
            problem = f"{where} is not a valid workspace name (1 to 32 characters: a-z, 0-9 and -)"
            table.refuse(None, [problem])  # no route or message can name it: it holds nothing
            continue
        if name == DEFAULT_WORKSPACE and base.moengage_app_id is not None:
            del table.settings[DEFAULT_WORKSPACE]  # two definitions: neither is trusted
            table.refuse(
                name,
                [
                    f"{where} and MOENGAGE_APP_ID both define the workspace default: remove the "
                    f'"{DEFAULT_WORKSPACE}" entry from {WORKSPACES_SETTING}, or remove '
                    "MOENGAGE_APP_ID (with MOENGAGE_API_KEY and MOENGAGE_DATA_CENTER)"
                ],
            )
            continue
        if not isinstance(entry, dict):
            table.refuse(name, [f"{where} must be a JSON object"])
            continue
        settings, entry_problems = check_entry(base, where, entry, environ)
        if settings is None:
            table.refuse(name, entry_problems)
        else:
            table.settings[name] = settings
    if not table.settings and not table.problems:
        table.problems.append(
            f"{WORKSPACES_SETTING} names no workspace and MOENGAGE_APP_ID is not set"
        )
    return table


def workspace_settings(base: Settings, environ: Mapping[str, str]) -> dict[str, Settings]:
    """Every workspace's settings by name; ConfigurationError listing every problem of every
    entry (for `validate`, which reports them all)."""
    table = workspace_table(base, environ)
    if table.problems:
        raise ConfigurationError(table.problems)
    return table.settings


def inherits_credentials(settings: Settings, name: str) -> bool:
    """Whether workspace `name` accepts the default program's Kognitiv credentials (its entry
    says `"inherit": true`): worth a warning wherever the configuration is shown."""
    if name == DEFAULT_WORKSPACE or settings.moengage_workspaces is None:
        return False
    try:
        table = parse_json_object(settings.moengage_workspaces, WORKSPACES_SETTING, "name")
    except ConfigurationError:
        return False
    entry = table.get(name)
    return isinstance(entry, dict) and entry.get("inherit") is True


INHERIT_WARNING = (
    'accepts the default program\'s Kognitiv credentials ("inherit": true): whoever holds them '
    "can post into this workspace; give it its own (auth_*_setting)"
)
