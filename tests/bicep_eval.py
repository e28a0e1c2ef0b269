"""Evaluates the expressions of a parsed Bicep template (pycep-parser's JSON) for given parameter
values, so a test can see the exact app settings a deployment writes without the Bicep compiler.

Only the forms main.bicep's settings use are known (references, interpolation, object literals,
`? :`, `==`, `!`, union, empty, string, module outputs given by the test); anything else raises,
so a new form fails the test instead of being guessed."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_INTERPOLATION = re.compile(r"\$\{([^}]+)\}")


class Unsupported(ValueError):
    """An expression form this evaluator does not reproduce."""


class Template:
    """One template's parameters and variables, with the values of one deployment."""

    def __init__(
        self, parsed: Mapping[str, Any], parameters: Mapping[str, Any], outputs: Mapping[str, Any]
    ) -> None:
        self._variables = parsed["variables"]
        self._values: dict[str, Any] = {}
        for name, declaration in parsed["parameters"].items():
            if name in parameters:
                self._values[name] = parameters[name]
            elif declaration["default"] is not None:
                self._values[name] = declaration["default"]
        unknown = set(parameters) - set(parsed["parameters"])
        if unknown:
            raise KeyError(f"not parameters of the template: {sorted(unknown)}")
        self._outputs = dict(outputs)

    def variable(self, name: str) -> Any:
        return self.evaluate(self._variables[name]["value"])

    def evaluate(self, expression: Any) -> Any:
        if isinstance(expression, bool | int | float) or expression is None:
            return expression
        if isinstance(expression, str):
            return self._name_or_text(expression)
        if isinstance(expression, list):
            return [self.evaluate(item) for item in expression]
        if "operator" in expression:
            return self._operator(expression["operator"])
        if "function" in expression:
            return self._function(expression["function"])
        return {key.strip("'"): self.evaluate(value) for key, value in expression.items()}

    def _name_or_text(self, text: str) -> Any:
        if text in self._values:
            return self._values[text]
        if text in self._variables:
            return self.variable(text)
        return _INTERPOLATION.sub(lambda match: str(self._reference(match.group(1))), text)

    def _reference(self, path: str) -> Any:
        if path in self._outputs:
            return self._outputs[path]
        if path in self._values or path in self._variables:
            return self._name_or_text(path)
        raise Unsupported(f"no value for {path!r}")

    def _operator(self, operator: Mapping[str, Any]) -> Any:
        kind, operands = operator["type"], operator["operands"]
        if kind == "conditional":
            chosen = "true_value" if self.evaluate(operands["condition"]) else "false_value"
            return self.evaluate(operands[chosen])
        if kind == "equals":
            return self.evaluate(operands["operand_1"]) == self.evaluate(operands["operand_2"])
        if kind == "not":
            return not self.evaluate(operands["bool_value"])
        if kind == "property_accessor":
            return self._reference(_dotted(operator))
        raise Unsupported(f"operator {kind}")

    def _function(self, function: Mapping[str, Any]) -> Any:
        kind, arguments = function["type"], function["parameters"]
        if kind == "union":
            merged: dict[str, Any] = {}
            for value in (self.evaluate(argument) for argument in arguments.values()):
                merged.update(value)
            return merged
        if kind == "empty":
            return not self.evaluate(arguments["item_to_test"])
        if kind == "string":
            value = self.evaluate(arguments["value_to_convert"])
            return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        raise Unsupported(f"function {kind}")


def _dotted(operator: Mapping[str, Any]) -> str:
    """`a.b.c` from pycep's nested property accessors (the `!` and `.?` marks are dropped)."""
    operands = operator["operands"]
    tail = operands["operand_2"]
    rest = _dotted(tail["operator"]) if isinstance(tail, dict) else tail
    return f"{operands['operand_1']}.{rest}"
