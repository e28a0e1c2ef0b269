"""The second lock after the function key: HTTP Basic or a bearer token that Kognitiv sends,
compared in constant time. A `_PREVIOUS` value is accepted too, so a credential can be rotated
without a moment where Kognitiv's deliveries are refused."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.config.settings import Settings


def _same(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)


@dataclass(frozen=True)
class KognitivAuth:
    """Accepted credentials; an empty checker accepts every request (function key only)."""

    basic: tuple[tuple[bytes, bytes], ...] = field(default=(), repr=False)  # secrets: no repr
    tokens: tuple[bytes, ...] = field(default=(), repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> KognitivAuth:
        basic: list[tuple[bytes, bytes]] = []
        if settings.kognitiv_auth_username and settings.kognitiv_auth_password:
            user = settings.kognitiv_auth_username.encode()
            for secret in (
                settings.kognitiv_auth_password,
                settings.kognitiv_auth_password_previous,
            ):
                if secret is not None:
                    basic.append((user, secret.get_secret_value().encode()))
        tokens = tuple(
            secret.get_secret_value().encode()
            for secret in (settings.kognitiv_auth_token, settings.kognitiv_auth_token_previous)
            if secret is not None
        )
        return cls(tuple(basic), tokens)

    @property
    def enabled(self) -> bool:
        return bool(self.basic or self.tokens)

    def allows(self, headers: Mapping[str, str]) -> bool:
        """True when no credential is configured or the Authorization header matches one."""
        if not (self.basic or self.tokens):  # `enabled`, without the property's call
            return True
        header = headers.get("authorization") or headers.get("Authorization") or ""
        scheme, _, value = header.strip().partition(" ")
        value = value.strip().encode("utf-8", "surrogateescape")
        scheme = scheme.lower()
        if scheme == "bearer" and self.tokens:
            matched = False
            for token in self.tokens:  # every one compared: the time says nothing of which
                matched |= _same(value, token)
            return matched
        if scheme == "basic" and self.basic:
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            user, sep, password = decoded.partition(b":")
            matches = [_same(user, u) & _same(password, p) for u, p in self.basic]
            return bool(sep) and any(matches)
        return False
