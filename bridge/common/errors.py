"""An answer the bridge gives instead of a delivery: an HTTP status, a stable code and a message
that tells the admin what to fix (never a secret, never member data)."""

from __future__ import annotations

from mapping import MappingError

_MAPPING_STATUS = {
    "unknown_event": 404,
    "missing_event": 400,
    "invalid_event": 400,
}


class BridgeError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def from_mapping(cls, error: MappingError) -> BridgeError:
        """Unknown or missing event names are 404/400; everything else is a 422."""
        return cls(_MAPPING_STATUS.get(error.code, 422), error.code, error.message)

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message}}
