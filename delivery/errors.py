"""Delivery outcomes that are not success. Messages carry MoEngage's status, error type and
request id (useful to MoEngage support), never credentials or member data."""

from __future__ import annotations

CONFIGURATION_STATUSES = frozenset({401, 403, 409})
_HINTS: dict[int | str, str] = {
    400: "MoEngage refused the request as malformed",
    "account": "MoEngage refused the request as malformed or for the account, naming no "
    "element (e.g. a blocked account)",
    401: "MoEngage refused the credentials: check the workspace id, Data API key and data center "
    "(MOENGAGE_APP_ID, MOENGAGE_API_KEY, MOENGAGE_DATA_CENTER, or the workspace's "
    "MOENGAGE_WORKSPACES entry)",
    403: "MoEngage says the account is suspended or blocked",
    409: "MoEngage says the app key does not match the workspace: check the workspace id "
    "(MOENGAGE_APP_ID, or the workspace's MOENGAGE_WORKSPACES entry)",
    413: "MoEngage refused the payload as too large",
    415: "MoEngage refused the media type",
}


class DeliveryError(Exception):
    """Base class: something MoEngage did not accept."""

    def __init__(self, message: str, *, delivered: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.delivered = delivered


class MoEngageRejected(DeliveryError):
    """A permanent answer (400/401/403/409/413/415): retrying the same request cannot help."""

    def __init__(
        self,
        status: int,
        error_type: str | None = None,
        request_id: str | None = None,
        *,
        attribute: str | None = None,
        delivered: int = 0,
    ) -> None:
        kind: int | str = "account" if status == 400 and not attribute else status
        hint = _HINTS.get(kind, "MoEngage refused the request")
        detail = f" ({error_type})" if error_type else ""
        reference = f"; MoEngage request id {request_id}" if request_id else ""
        super().__init__(f"{hint}: HTTP {status}{detail}{reference}", delivered=delivered)
        self.status = status
        self.error_type = error_type
        self.request_id = request_id
        self.attribute = attribute

    @property
    def is_account_level(self) -> bool:
        """A 400 that names no attribute (a blacklisted account, bad parameters) is not one
        element's fault: every request would get it, so splitting requests cannot help."""
        return self.status == 400 and not self.attribute

    @property
    def is_configuration_error(self) -> bool:
        """401/403/409 and account-level 400s are the deployment's fault, not the message's."""
        return self.status in CONFIGURATION_STATUSES or self.is_account_level


class MoEngageUnavailable(DeliveryError):
    """A transient failure (429, 5xx, timeout, reset) that outlasted the retry budget."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, delivered: int = 0
    ) -> None:
        super().__init__(f"MoEngage is unavailable: {reason}", delivered=delivered)
        self.reason = reason
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        """A 429: MoEngage is up and its quota resets, so this never ends in a dead letter."""
        return self.reason.startswith("HTTP 429")
