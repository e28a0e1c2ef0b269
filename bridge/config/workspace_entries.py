"""One entry of `MOENGAGE_WORKSPACES` checked and turned into that workspace's `Settings` (see
`bridge.config.workspaces`). Its own module: the pydantic model is built only by a deployment
that has a workspace table, never by the single-workspace cold start."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr, StrictBool, ValidationError, field_validator

from bridge.config.settings import (
    Settings,
    check_app_id,
    check_base_url,
    check_number_format,
    check_timezone,
    error_message,
)
from delivery.datacenters import normalise_data_center
from mapping.converters import NumberFormat

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


def check_entry(
    base: Settings, where: str, entry: dict, environ: Mapping[str, str]
) -> tuple[Settings | None, list[str]]:
    """The workspace's settings, or None and every problem of its entry (named `where.<key>`)."""
    try:
        checked = WorkspaceEntry.model_validate(entry)
    except ValidationError as error:
        return None, [_describe(where, item) for item in error.errors(include_input=False)]
    return _entry_settings(base, where, checked, environ)
