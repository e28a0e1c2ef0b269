"""Kognitiv body + compiled rules -> MoEngage elements. Pure: no I/O, no clock but the one given."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mapping.compiled import CompiledRule
from mapping.converters import ConversionContext, to_string
from mapping.errors import MappingError
from mapping.passthrough import event_name, is_moengage_shaped, passthrough_elements
from mapping.policy import ELEMENT_TYPES, PASSTHROUGH_ELEMENT_TYPES, check_element
from mapping.rules import Rule
from mapping.template import MISSING, RenderState

PASSTHROUGH = "passthrough"
MAX_EVENT_NAME_LENGTH = 200


@dataclass(frozen=True, init=False)
class MappingResult:
    """What a body became: its event name, the MoEngage elements and anything worth a warning."""

    event: str
    rule: str
    elements: list[dict]
    warnings: list[str] = field(default_factory=list)
    idempotency_key: str | None = None

    def __init__(
        self,
        event: str,
        rule: str,
        elements: list[dict],
        warnings: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        # One per webhook and per queue message: the fields go straight into the instance's
        # dict, not through the frozen dataclass's setattr call per field (half the cost).
        fields = self.__dict__
        fields["event"] = event
        fields["rule"] = rule
        fields["elements"] = elements
        fields["warnings"] = [] if warnings is None else warnings
        fields["idempotency_key"] = idempotency_key


class Passthrough(Protocol):
    """`mapping.passthrough_compiled.CompiledPassthrough`: checked elements and warnings, or None
    (map the body the interpreted way)."""

    def run(self, body: dict, now: float) -> tuple[list[dict], list[str]] | None: ...


class _FirstPassthrough:
    """The compiled passthrough before the first MoEngage-shaped body: loads and builds it once
    and hands it to the mapper (a deployment that never receives one never compiles it)."""

    def __init__(self, mapper: Mapper) -> None:
        self._mapper = mapper

    def run(self, body: dict, now: float) -> tuple[list[dict], list[str]] | None:
        from mapping.passthrough_compiled import CompiledPassthrough

        compiled = CompiledPassthrough(self._mapper.context)
        if self._mapper.passthrough is self:
            self._mapper.passthrough = compiled
        return compiled.run(body, now)


class Mapper:
    """Selects the rule for a body and renders it; shared by the HTTP and the queue paths."""

    def __init__(
        self,
        rules: Mapping[str, Rule],
        context: ConversionContext,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = dict(rules)
        self.context = context
        self._clock = clock
        self._folded = {name.casefold(): rule for name, rule in self.rules.items()}
        # MoEngage-shaped bodies in one walk (None: the interpreted path, as a rule's `compiled`)
        self.passthrough: Passthrough | None = _FirstPassthrough(self)

    @property
    def event_names(self) -> list[str]:
        return sorted(self.rules)

    def rule_for(self, event: str) -> Rule:
        rule = self.rules.get(event) or self._folded.get(event.strip().casefold())
        if rule is None:
            known = ", ".join(self.event_names) or "none"
            raise MappingError(
                "unknown_event",
                f'no mapping rule for event "{event[:MAX_EVENT_NAME_LENGTH]}"; known events: '
                f"{known} (add a rule in the mapping file or KOGNITIV_MAPPINGS)",
            )
        return rule

    def map(
        self, body: Mapping[str, object], event: str | None = None, *, identify: bool = True
    ) -> MappingResult:
        """Choose the event (the given name, else the body's "event" field, else MoEngage's own
        shape) and produce checked MoEngage elements, or raise MappingError. `identify`: render
        the rule's `"id"` too (`idempotency_key`; callers that never use it skip the cost)."""
        if event:
            rule = self.rules.get(event) or self.rule_for(event)  # the exact name: no call
        else:
            named = body.get("event")
            if named is None:
                return self._map_unnamed(body)
            if not isinstance(named, str) or not named.strip():
                raise MappingError("invalid_event", 'the body\'s "event" field must be a name')
            rule = self.rule_for(named)
        compiled = rule.compiled
        if compiled is not None and not identify and type(body) is dict:
            warnings: list[str] = []  # _map_compiled without an identity, inline
            elements, _ = compiled.run(body, warnings, self._clock(), None)
            return MappingResult(rule.name, rule.name, elements, warnings)
        return self._map_rule(rule, body, identify)

    def _map_unnamed(self, body: Mapping[str, object]) -> MappingResult:
        """A body that names no event: MoEngage's own shape, or a MappingError."""
        if is_moengage_shaped(body):
            if self.passthrough is not None and type(body) is dict:
                done = self.passthrough.run(body, self._clock())
                if done is not None:
                    elements, warnings = done
                    return MappingResult(event_name(body), PASSTHROUGH, elements, warnings)
            warnings = []
            elements = passthrough_elements(body, self.context, warnings)
            return self._finish(
                event_name(body), PASSTHROUGH, elements, warnings, None, PASSTHROUGH_ELEMENT_TYPES
            )
        raise MappingError(
            "missing_event",
            "cannot tell which event this is: call /api/kognitiv/<event>, add a top-level "
            f'"event" field, or send a MoEngage-shaped body; known events: '
            f"{', '.join(self.event_names)}",
        )

    def _map_rule(self, rule: Rule, body: Mapping[str, object], identify: bool) -> MappingResult:
        if rule.compiled is not None and type(body) is dict:
            return self._map_compiled(rule, rule.compiled, body, identify)
        state = RenderState(body=body, context=self.context, rule=rule.name)
        elements = rule.elements(state)
        key = None
        if identify and rule.idempotency_key is not None:
            value = rule.idempotency_key(state)
            key = None if value is MISSING else to_string(value, self.context)
        if elements is MISSING or not isinstance(elements, list):
            elements = []
        return self._finish(rule.name, rule.name, elements, state.warnings, key, ELEMENT_TYPES)

    def _map_compiled(
        self, rule: Rule, compiled: CompiledRule, body: dict, identify: bool
    ) -> MappingResult:
        """The same result as the interpreted path, from the rule's compiled function."""
        key = None
        if identify and rule.idempotency_key is not None:
            template = rule.idempotency_key

            def key() -> str | None:
                value = template(RenderState(body=body, context=self.context, rule=rule.name))
                return None if value is MISSING else to_string(value, self.context)

        warnings: list[str] = []
        elements, identity = compiled.run(body, warnings, self._clock(), key)
        return MappingResult(rule.name, rule.name, elements, warnings, identity)

    def _finish(
        self,
        event: str,
        rule: str,
        elements: list,
        warnings: list[str],
        key: str | None,
        kinds: tuple[str, ...],
    ) -> MappingResult:
        now = self._clock()
        checked = [
            check_element(element, i, now, warnings, kinds, self.context)
            for i, element in enumerate(elements)
        ]
        if not checked:
            raise MappingError("empty_mapping", f'rule "{rule}" produced nothing to send')
        return MappingResult(event, rule, checked, warnings, key)
