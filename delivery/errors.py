"""Delivery outcomes that are not success. Messages carry MoEngage's status, error type and
request id (useful to MoEngage support), never credentials or member data."""

from __future__ import annotations

import re

CONFIGURATION_STATUSES = frozenset({401, 403, 409})
# 400 error types MoEngage documents for the account, not for a request's content (data.yaml,
# Merge Users and Delete Users: blacklisted, suspended, invalid or missing workspace id).
ACCOUNT_ERROR_TYPES = frozenset(
    {
        *("Blacklisted", "Account Suspended", "Account Temporarily Suspended"),
        *("Account Temporarily Suspended.", "InvalidParams", "ParamsRequired", "BlockedClient"),
    }
)
DELETE_NOT_FOUND_TYPE = "Not Found"  # Delete User's error type for a user MoEngage does not have
# ... and its message: "User doesn't exists with customer id …" (data.yaml, Delete Users, 400).
_DELETE_NOT_FOUND_MESSAGE = re.compile(r"\buser (doesn'?t|does not) exists?\b", re.IGNORECASE)
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
        element_level: bool = False,
    ) -> None:
        account = status == 400 and not attribute and not element_level
        kind: int | str = "account" if account else status
        hint = _HINTS.get(kind, "MoEngage refused the request")
        detail = f" ({error_type})" if error_type else ""
        reference = f"; MoEngage request id {request_id}" if request_id else ""
        super().__init__(f"{hint}: HTTP {status}{detail}{reference}", delivered=delivered)
        self.status = status
        self.error_type = error_type
        self.request_id = request_id
        self.attribute = attribute
        self.element_level = element_level

    @property
    def is_account_level(self) -> bool:
        """A 400 that names no attribute (a blacklisted account, bad parameters) is not one
        element's fault: every request would get it, so splitting requests cannot help. A
        Delete User 400 is about its one user unless its type is an account's."""
        return self.status == 400 and not self.attribute and not self.element_level

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


def is_delete_not_found(error_type: str | None, message: str | None) -> bool:
    """Delete User's 400 for a user MoEngage does not have, by its type or its message."""
    if error_type == DELETE_NOT_FOUND_TYPE:
        return True
    return isinstance(message, str) and bool(_DELETE_NOT_FOUND_MESSAGE.search(message))


def is_delete_users_problem(error_type: str | None) -> bool:
    """A Delete User 400 other than "not found" concerns that one user (its id, its state),
    never the workspace, unless MoEngage types it as an account's problem."""
    return error_type not in ACCOUNT_ERROR_TYPES
