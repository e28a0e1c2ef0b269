"""A rule's specialised function (see `mapping.codegen`), generated the first time the rule maps
a body: start-up (a cold start on a consumption plan) neither loads the generator nor compiles
rules that a deployment may never receive."""

from __future__ import annotations

import logging
from collections.abc import Callable

from mapping.converters import ConversionContext
from mapping.errors import MappingError

log = logging.getLogger("kognitiv_bridge")

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

            try:
                function, self._source = compile_rule_function(
                    self._rule, self._elements, self._context
                )
            except Exception:  # a shape the generator gets wrong must not cost a delivery
                log.exception('rule "%s": generating its function failed; interpreted', self._rule)
                function, self._source = self._interpreted(), ""
            self.run = function  # type: ignore[method-assign]
        return self.run

    def _interpreted(self) -> Run:
        """The interpreted path (render the template, then check every element)."""
        from mapping.policy import ELEMENT_TYPES, check_element
        from mapping.template import MISSING, RenderState, compile_template

        render = compile_template(self._elements, self._context, "elements", [])
        rule, context = self._rule, self._context

        def run(body: dict, warnings: list[str], now: float, key: object) -> tuple:
            rendered = render(RenderState(body, context, rule, warnings))
            identity = None if key is None else key()  # type: ignore[operator]
            if rendered is MISSING or not isinstance(rendered, list):
                rendered = []
            checked = [
                check_element(element, index, now, warnings, ELEMENT_TYPES, context)
                for index, element in enumerate(rendered)
            ]
            if not checked:
                raise MappingError("empty_mapping", f'rule "{rule}" produced nothing to send')
            return checked, identity

        return run
