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
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr, StrictBool, ValidationError, field_validator

from bridge.config.settings import (
    WORKSPACES_SETTING,
    ConfigurationError,
    Settings,
    check_app_id,
    check_base_url,
    check_number_format,
    check_timezone,
    error_message,
    parse_json_object,
)
from delivery.datacenters import normalise_data_center
from mapping.converters import NumberFormat

DEFAULT_WORKSPACE = "default"
NAME = re.compile(r"[a-z0-9-]{1,32}")
SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Credential settings of a workspace -> the Settings field each one fills.
CREDENTIAL_FIELDS = {
    "auth_username_setting": "kognitiv_auth_username",
    "auth_password_setting": "kognitiv_auth_password",
    "auth_password_previous_setting": "kognitiv_auth_password_previous",
    "auth_token_setting": "kognitiv_auth_token",
    "auth_token_previous_setting": "kognitiv_auth_token_previous",
}


class WorkspaceEntry(BaseModel):
    """One entry of the table, checked with the same rules as the single-workspace settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    app_id: str
    data_center: str
    api_key_setting: str
    api_base_url: str | None = None
    mappings_file: Path | None = None
    timezone: str | None = None
    date_order: Literal["MDY", "DMY"] | None = None
    number_format: NumberFormat | None = None
    auth_username_setting: str | None = None
    auth_password_setting: str | None = None
    auth_password_previous_setting: str | None = None
    auth_token_setting: str | None = None
    auth_token_previous_setting: str | None = None
    inherit: StrictBool | None = None

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str) -> str:
        return check_app_id(value)

    @field_validator("data_center")
    @classmethod
    def _data_center(cls, value: str) -> str:
        return normalise_data_center(value)

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("date_order", mode="before")
    @classmethod
    def _date_order(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("number_format", mode="before")
    @classmethod
    def _number_format(cls, value: object) -> object:
        return None if value is None else check_number_format(value)

    @field_validator(
        "api_key_setting",
        "auth_username_setting",
        "auth_password_setting",
        "auth_password_previous_setting",
        "auth_token_setting",
        "auth_token_previous_setting",
    )
    @classmethod
    def _setting_name(cls, value: str | None) -> str | None:
        if value is not None and not SETTING_NAME.fullmatch(value):
            raise ValueError("must be the name of an app setting (letters, digits and _)")
        return value


KNOWN_KEYS = tuple(WorkspaceEntry.model_fields)


def _describe(where: str, error: dict) -> str:
    key = ".".join(str(part) for part in error.get("loc", ()))
    name = f"{where}.{key}" if key else where
    kind = error.get("type")
    if kind == "missing":
        return f"{name} is required"
    if kind == "extra_forbidden":
        return f"{name} is not a known key (known: {', '.join(KNOWN_KEYS)})"
    message = error_message(error)
    return f"{name} {message}"


def _secret(
    where: str, key: str, setting: str | None, environ: Mapping[str, str], problems: list[str]
) -> str | None:
    """The value of the app setting an entry names (never echoed: it is a secret)."""
    if setting is None:
        return None
    value = environ.get(setting)
    if not value:
        problems.append(f"{where}.{key} names {setting}, which is not set")
        return None
    return value


def _entry_settings(
    base: Settings, where: str, entry: WorkspaceEntry, environ: Mapping[str, str]
) -> tuple[Settings | None, list[str]]:
    problems: list[str] = []
    api_key = _secret(where, "api_key_setting", entry.api_key_setting, environ, problems)
    credentials = {
        field: _secret(where, key, getattr(entry, key), environ, problems)
        for key, field in CREDENTIAL_FIELDS.items()
    }
    if entry.mappings_file is not None and not entry.mappings_file.is_file():
        problems.append(
            f"{where}.mappings_file {str(entry.mappings_file)!r} is not a readable file"
        )
    named = {key for key in CREDENTIAL_FIELDS if getattr(entry, key) is not None}
    if named and entry.inherit:
        problems.append(
            f"{where}.inherit is true but the entry names its own Kognitiv credentials: keep one"
        )
    elif not named and not entry.inherit:
        problems.append(
            f"{where} names no Kognitiv credentials of its own: add auth_token_setting (or "
            'auth_username_setting and auth_password_setting), or "inherit": true to accept the '
            "default program's KOGNITIV_AUTH_* credentials"
        )
    if ("auth_username_setting" in named) != ("auth_password_setting" in named):
        problems.append(
            f"{where}.auth_username_setting and {where}.auth_password_setting must be set together"
        )
    for previous, current in (
        ("auth_password_previous_setting", "auth_password_setting"),
        ("auth_token_previous_setting", "auth_token_setting"),
    ):
        if previous in named and current not in named:
            problems.append(f"{where}.{previous} needs {where}.{current}")
    if problems:
        return None, problems
    update: dict[str, object] = {
        "moengage_app_id": entry.app_id,
        "moengage_api_key": SecretStr(api_key or ""),
        "moengage_data_center": entry.data_center,
        "moengage_api_base_url": entry.api_base_url,
    }
    if entry.mappings_file is not None:
        # Its own rules file: the global inline rules (KOGNITIV_MAPPINGS) belong to the default.
        update.update(kognitiv_mappings_file=entry.mappings_file, kognitiv_mappings=None)
    if entry.timezone is not None:
        update["kognitiv_timezone"] = entry.timezone
    if entry.date_order is not None:
        update["kognitiv_date_order"] = entry.date_order
    if entry.number_format is not None:
        update["kognitiv_number_format"] = entry.number_format
    if named:  # its own credentials replace the global ones: they are the only ones it accepts
        for field in CREDENTIAL_FIELDS.values():
            value = credentials[field]
            if field == "kognitiv_auth_username" or value is None:
                update[field] = value
            else:
                update[field] = SecretStr(value)
    return base.model_copy(update=update), []


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
        try:
            checked = WorkspaceEntry.model_validate(entry)
        except ValidationError as error:
            table.refuse(
                name, [_describe(where, item) for item in error.errors(include_input=False)]
            )
            continue
        settings, entry_problems = _entry_settings(base, where, checked, environ)
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
