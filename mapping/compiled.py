"""A rule's specialised function (see `mapping.codegen`), generated the first time the rule maps
a body: start-up (a cold start on a consumption plan) neither loads the generator nor compiles
rules that a deployment may never receive."""

from __future__ import annotations

from collections.abc import Callable

from mapping.converters import ConversionContext

Run = Callable[..., tuple[list[dict], object]]


class CompiledRule:
    """`run(body, warnings, now, key)` -> (checked elements, key value): what the interpreted
    path returns for a dict body. `key` is called between rendering and checking (or None)."""

    def __init__(self, rule: str, elements: list[object], context: ConversionContext) -> None:
        self._rule, self._elements, self._context = rule, elements, context
        self._source: str | None = None

    def run(self, body: dict, warnings: list[str], now: float, key: object) -> tuple:
        """The first call generates the function and puts it in this method's place."""
        return self._generate()(body, warnings, now, key)

    @property
    def source(self) -> str:
        """The generated Python source (for tests and curious readers)."""
        self._generate()
        assert self._source is not None
        return self._source

    def _generate(self) -> Run:
        if self._source is None:
            from mapping.codegen import compile_rule_function

            function, self._source = compile_rule_function(
                self._rule, self._elements, self._context
            )
            self.run = function  # type: ignore[method-assign]
        return self.run
