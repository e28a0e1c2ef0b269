"""Errors raised while compiling rules (a configuration problem) or mapping a body (an input
problem). Messages name fields and rules, never the member data inside them."""

from __future__ import annotations


class RuleError(ValueError):
    """A mapping rule is invalid: the deployment's configuration must be fixed."""


class MappingError(ValueError):
    """A webhook body cannot be mapped: the sender must fix what it sends (answered 422)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
