"""Where and as whom to deliver: a value passed to the sender, never a module global, so one
deployment can route different Kognitiv programs to different MoEngage workspaces."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from delivery.datacenters import api_base_url

ENDPOINT_KINDS = ("event", "customer", "device", "transition")
USER_OPERATIONS = ("delete", "merge")  # Delete User and Merge User


@dataclass(frozen=True)
class MoEngageTarget:
    """A MoEngage workspace: its data center, id and Data API key."""

    app_id: str
    api_key: SecretStr = field(repr=False)
    data_center: str = "01"
    base_url: str | None = None

    @property
    def origin(self) -> str:
        return (self.base_url or api_base_url(self.data_center)).rstrip("/")

    def path(self, kind: str) -> str:
        """`/v1/{kind}/{workspace}`: the workspace id is in the path for every track API;
        Delete User and Merge User take it as a query parameter:
        `/v1/customer/{delete|merge}?app_id={workspace}`."""
        if kind in USER_OPERATIONS:
            return f"/v1/customer/{kind}?app_id={quote(self.app_id, safe='')}"
        if kind == "erasure":  # GDPR / CCPA API (gdpr-ccpa.yaml): the workspace in the path
            return f"/v1/opengdpr_requests/{quote(self.app_id, safe='')}"
        if kind not in ENDPOINT_KINDS:
            raise ValueError(f"unknown MoEngage endpoint {kind!r}")
        return f"/v1/{kind}/{self.app_id}"

    def url(self, kind: str) -> str:
        return self.origin + self.path(kind)

    def parsed_url(self, kind: str) -> httpx.URL:
        """`url(kind)` as httpx's URL, parsed once per kind: given text, httpx parses it again
        for every request."""
        parsed = self._parsed_urls.get(kind)
        if parsed is None:
            parsed = self._parsed_urls[kind] = httpx.URL(self.url(kind))
        return parsed

    @cached_property
    def _parsed_urls(self) -> dict[str, httpx.URL]:
        return {}

    @cached_property
    def headers(self) -> dict[str, str]:
        token = f"{self.app_id}:{self.api_key.get_secret_value()}".encode()
        return {
            "Authorization": "Basic " + base64.b64encode(token).decode("ascii"),
            "MOE-APPKEY": self.app_id,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
