"""App settings, read and validated once. A bad value is a ConfigurationError that names the
setting and what would be valid, never the secret it holds, and never a silent default."""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from delivery.datacenters import normalise_data_center
from mapping.converters import NUMBER_FORMATS, NumberFormat

NAMESPACE_SETTING = "KOGNITIV_SERVICE_BUS__fullyQualifiedNamespace"
CLIENT_ID_SETTING = "KOGNITIV_SERVICE_BUS__clientId"
_FIELD = re.compile(r"^(Value error|Assertion failed), ")


class ConfigurationError(ValueError):
    """The deployment's settings cannot work; `problems` lists each one, naming its setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check_app_id(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", value):
        raise ValueError("must be the MoEngage workspace id (letters, digits, - and _)")
    return value


def check_base_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must look like https://host[:port] (or http:// for the emulator)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must be scheme://host[:port] only, without credentials or query")
    if parts.path not in ("", "/"):
        raise ValueError("must not contain a path: /v1/... is appended")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return f"{parts.scheme}://{parts.netloc}"


def check_number_format(value: object) -> str:
    if isinstance(value, str) and value.strip() in NUMBER_FORMATS:
        return value.strip()
    raise ValueError("must be 1,234.56 (decimal point, the default) or 1.234,56 (decimal comma)")


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as UTC or America/Chicago") from None
    return value.strip()


class Settings(BaseSettings):
    """Every setting this app reads; field `x_y` is the app setting `X_Y`."""

    model_config = SettingsConfigDict(
        case_sensitive=False, env_ignore_empty=True, extra="ignore", frozen=True
    )

    moengage_app_id: str | None = Field(default=None, min_length=1, max_length=128)
    moengage_api_key: SecretStr | None = None
    moengage_data_center: str | None = None
    moengage_api_base_url: str | None = None
    moengage_direct_time_budget_seconds: float = Field(default=10.0, gt=0, le=120)
    kognitiv_mappings_file: Path | None = None
    kognitiv_mappings: str | None = None
    kognitiv_timezone: str = "UTC"
    kognitiv_date_order: Literal["MDY", "DMY"] = "MDY"
    kognitiv_number_format: NumberFormat = "1,234.56"
    kognitiv_auth_username: str | None = None
    kognitiv_auth_password: SecretStr | None = None
    kognitiv_auth_password_previous: SecretStr | None = None
    kognitiv_auth_token: SecretStr | None = None
    kognitiv_auth_token_previous: SecretStr | None = None
    kognitiv_service_bus: SecretStr | None = None
    kognitiv_service_bus_namespace: str | None = Field(
        default=None, validation_alias=NAMESPACE_SETTING.lower()
    )
    kognitiv_service_bus_client_id: str | None = Field(
        default=None, validation_alias=CLIENT_ID_SETTING.lower()
    )
    kognitiv_service_bus_queue: str | None = None
    kognitiv_service_bus_dead_letter_queue: str | None = None
    kognitiv_retry_horizon_hours: float = Field(default=24.0, gt=0, le=24 * 14)
    moengage_queue_time_budget_seconds: float = Field(default=25.0, gt=0, le=240)
    moengage_workspaces: str | None = None  # the table; parsed by bridge.config.workspaces

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The arguments and the environment (app settings) only: no .env file or secrets
        directory is configured, and reading those sources anyway costs every cold start a
        second walk over every field."""
        return init_settings, env_settings

    @field_validator("moengage_app_id")
    @classmethod
    def _app_id(cls, value: str | None) -> str | None:
        return None if value is None else check_app_id(value)

    @field_validator("moengage_data_center")
    @classmethod
    def _data_center(cls, value: str | None) -> str | None:
        return None if value is None else normalise_data_center(value)

    @field_validator("moengage_api_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @field_validator("kognitiv_date_order", mode="before")
    @classmethod
    def _date_order(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("kognitiv_number_format", mode="before")
    @classmethod
    def _number_format(cls, value: object) -> object:
        return check_number_format(value)

    @field_validator("kognitiv_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.moengage_app_id is None and self.moengage_workspaces is None:
            raise ValueError("MOENGAGE_APP_ID is required (or MOENGAGE_WORKSPACES)")
        if self.moengage_app_id is not None and self.moengage_api_key is None:
            raise ValueError("MOENGAGE_API_KEY is required")
        if (
            self.moengage_app_id is not None
            and self.moengage_data_center is None
            and self.moengage_api_base_url is None
        ):
            raise ValueError(
                "MOENGAGE_DATA_CENTER is required (01, 02, 03, 04, 05, 06 or 101; it is the "
                "number in your dashboard-XX.moengage.com address)"
            )
        if bool(self.kognitiv_auth_username) != bool(self.kognitiv_auth_password):
            raise ValueError(
                "KOGNITIV_AUTH_USERNAME and KOGNITIV_AUTH_PASSWORD must be set together"
            )
        if self.kognitiv_auth_password_previous and not self.kognitiv_auth_password:
            raise ValueError("KOGNITIV_AUTH_PASSWORD_PREVIOUS needs KOGNITIV_AUTH_PASSWORD")
        if self.kognitiv_auth_token_previous and not self.kognitiv_auth_token:
            raise ValueError("KOGNITIV_AUTH_TOKEN_PREVIOUS needs KOGNITIV_AUTH_TOKEN")
        if self.queue_mode and not self.kognitiv_service_bus_queue:
            raise ValueError(
                "KOGNITIV_SERVICE_BUS_QUEUE is required when KOGNITIV_SERVICE_BUS is configured"
            )
        return self

    @property
    def queue_mode(self) -> bool:
        """Queue mode when a Service Bus connection (either form) is configured."""
        return bool(self.kognitiv_service_bus or self.kognitiv_service_bus_namespace)

    @property
    def dead_letter_queue(self) -> str:
        return self.kognitiv_service_bus_dead_letter_queue or (
            f"{self.kognitiv_service_bus_queue}-deadletter"
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.kognitiv_timezone)

    @property
    def data_center(self) -> str:
        return self.moengage_data_center or "01"

    @property
    def kognitiv_auth_configured(self) -> bool:
        return bool(self.kognitiv_auth_password or self.kognitiv_auth_token)


SETTING_NAMES = tuple(
    NAMESPACE_SETTING
    if name == "kognitiv_service_bus_namespace"
    else CLIENT_ID_SETTING
    if name == "kognitiv_service_bus_client_id"
    else name.upper()
    for name in Settings.model_fields
)


def error_message(error: dict) -> str:
    """pydantic's message for one error, reworded for an admin, without the input value."""
    return _FIELD.sub("", str(error.get("msg", "invalid"))).replace("Input should be", "must be")


def parse_json_object(text: str, setting: str, keyed_by: str) -> dict[str, object]:
    """A setting (or file) holding a JSON object; ConfigurationError naming it otherwise."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ConfigurationError([f"{setting} is not valid JSON ({error})"]) from None
    except RecursionError:
        raise ConfigurationError([f"{setting} is nested too deeply"]) from None
    if not isinstance(document, dict):
        raise ConfigurationError([f"{setting} must be a JSON object keyed by {keyed_by}"])
    return document


def _describe(error: dict) -> str:
    location = [str(part) for part in error.get("loc", ()) if part != "__root__"]
    message = error_message(error)
    if not location:
        return message
    name = location[0].upper()
    if error.get("type") == "missing":
        return f"{name} is required"
    return f"{name} {message}" if not message.startswith(name) else message


def load_settings() -> Settings:
    """Read settings from the environment; raise ConfigurationError listing every problem.
    pydantic's messages are rebuilt without input values, so no secret can leak."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as error:
        problems = [_describe(item) for item in error.errors(include_input=False)]
        raise ConfigurationError(problems) from None


WORKSPACES_SETTING = "MOENGAGE_WORKSPACES"
_WORKSPACES_INDEX = SETTING_NAMES.index(WORKSPACES_SETTING)


@functools.lru_cache(maxsize=8)
def named_settings(raw: str | bytes) -> tuple[str, ...]:
    """The app settings a MOENGAGE_WORKSPACES table names (`*_setting` values), in order; ()
    when it cannot be read (its validation reports that). Cached by the raw text, so reading it
    on every request costs a dictionary lookup."""
    try:
        table = json.loads(raw)
    except (ValueError, RecursionError):
        return ()
    if not isinstance(table, dict):
        return ()
    return tuple(
        value
        for entry in table.values()
        if isinstance(entry, dict)
        for key, value in entry.items()
        if key.endswith("_setting") and isinstance(value, str) and value
    )


def settings_fingerprint() -> tuple[object, ...]:
    """Cheap identity of the current settings, so a change (tests, portal edits) is noticed:
    every setting this app reads, MOENGAGE_WORKSPACES and every setting its table names.

    Read on every request: on POSIX, `os.environ` keeps its values in a dict of bytes that can
    be read without encoding each name (about 20 times faster); elsewhere the mapping is used."""
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict) and _ENCODED_NAMES is not None:
        values = tuple(map(data.get, _ENCODED_NAMES))
        table = values[_WORKSPACES_INDEX]
        if not table:
            return values
        return values + tuple(map(data.get, _encoded_named_settings(table)))
    environ = os.environ
    values = tuple(environ.get(name) for name in SETTING_NAMES)
    table = values[_WORKSPACES_INDEX]
    if not table:
        return values
    return values + tuple(environ.get(name) for name in named_settings(table))


@functools.lru_cache(maxsize=8)
def _encoded_named_settings(raw: bytes) -> tuple[object, ...]:
    encode = os.environ.encodekey  # type: ignore[attr-defined]
    return tuple(encode(name) for name in named_settings(raw))


def _encoded_names() -> tuple[object, ...] | None:
    encode = getattr(os.environ, "encodekey", None)
    return tuple(encode(name) for name in SETTING_NAMES) if callable(encode) else None


_ENCODED_NAMES = _encoded_names()
