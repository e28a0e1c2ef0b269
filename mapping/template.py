"""Compile `{{placeholder}}` templates once, render them many times.

Placeholder syntax, as KLS admins already write it, plus a few filters:

    {{memberId}}                               a field of the body
    {{member.address.city}}                    a dotted path (list items by index: items.0.sku)
    {{issuedTimestamp or issuedDate}}          the first of several fields that converts
    {{rewardValue | number}}                   a type: datetime date number integer boolean string
    {{memberId | required}}                    missing -> the webhook is refused (422)
    {{channel | default: "web"}}               used when every field is missing
    {{emailAllowed | boolean | not}}           a boolean, negated (allowed -> unsubscribed)
    {{memberEmail | unset_if_empty}}           sent empty -> MoEngage clears the attribute
    {{emailAllowed | boolean | not | only: true}}  sent only when it is `true`, else left out

A placeholder that is the whole JSON value keeps its converted type; one inside a longer string is
rendered as text. A missing optional value drops the key. Body values are data: they are never
parsed as templates.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mapping.converters import (
    CONVERTERS,
    ConversionContext,
    ConversionError,
    Converter,
    NoValue,
    to_string,
)
from mapping.errors import MappingError, RuleError
from mapping.unrendered import UNRENDERED_WARNING, is_unrendered
from mapping.unset import UNSET, UNSET_FILTER, is_emptied


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()
_FAILED = object()  # a value was there but did not convert (already reported)

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_WHOLE = re.compile(r"\s*\{\{(.*?)\}\}\s*", re.DOTALL)
_PATH = re.compile(r"[\w$@-]+(?:\.[\w$@-]+)*", re.ASCII)
_OR = re.compile(r"\s+or\s+", re.ASCII)
_FILTER = re.compile(r"\s*(\w+)\s*(?:[:=]\s*(.*?))?\s*")


@dataclass
class RenderState:
    """What one render needs: the body, conversion settings, and where warnings go."""

    body: Mapping[str, object]
    context: ConversionContext
    rule: str
    warnings: list[str] = field(default_factory=list)


Node = Callable[[RenderState], object]


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One compiled `{{...}}` expression."""

    sources: tuple[str, ...]
    paths: tuple[tuple[str, ...], ...]
    converter_name: str | None
    converter: Converter | None
    required: bool
    default: object
    negate: bool = False
    unset_if_empty: bool = False  # a field sent empty renders UNSET (clear it in MoEngage)
    only: object = MISSING  # the one value sent; any other converted value is left out

    def resolve(self, state: RenderState, output: str) -> object:
        """The converted value, or MISSING; raises MappingError when a required value fails."""
        value = self._first_converted(state, output)
        if value is _FAILED:
            return MISSING  # reported; a default stands only for a value that is not there
        if value is not MISSING:
            if self.only is not MISSING and not _same(value, self.only):
                return MISSING  # a value, but not the one this output may carry
            return value
        if self.default is not MISSING:
            return self.default
        if self.unset_if_empty and self._emptied(state):
            return UNSET
        if self.required:
            raise MappingError(
                "missing_field",
                f"required field {' or '.join(self.sources)} is missing "
                f'(rule "{state.rule}", output "{output}")',
            )
        return MISSING

    def _emptied(self, state: RenderState) -> bool:
        """Whether a source is in the body but empty (null, blank, .NET's empty date), as
        opposed to absent: only a value Kognitiv sent empty clears the attribute."""
        for path in self.paths:
            value = _lookup(state.body, path, raw=True)
            if value is not MISSING and is_emptied(value, self.converter, state.context):
                return True
        return False

    def raw_of_first_converted(self, state: RenderState) -> object:
        """The body's value that `resolve` converts (the first source that is present and
        converts), as Kognitiv sent it; MISSING when none converts. Reports nothing."""
        for path in self.paths:
            value = _lookup(state.body, path)
            if value is MISSING or is_unrendered(value):
                continue
            if self.converter is None:
                return value
            try:
                self.converter(value, state.context, [])
            except (NoValue, ConversionError):
                continue
            return value
        return MISSING

    def _first_converted(self, state: RenderState, output: str) -> object:
        """The first source that is present and converts (`a or b`), or MISSING; a value that
        does not convert is reported only when no later source converts either."""
        failure: ConversionError | None = None
        for source, path in zip(self.sources, self.paths, strict=True):
            value = _lookup(state.body, path)
            if value is MISSING:
                continue
            if is_unrendered(value):
                state.warnings.append(
                    f'field {source} {UNRENDERED_WARNING} (rule "{state.rule}", output '
                    f'"{output}"); the value was left out'
                )
                continue
            if self.converter is None:
                return value
            notes: list[str] = []
            try:
                converted = self.converter(value, state.context, notes)
            except NoValue:
                continue
            except ConversionError as error:
                failure = failure or error
                continue
            for note in notes:
                state.warnings.append(
                    f'field {source} (rule "{state.rule}", output "{output}"): {note}'
                )
            return (not converted) if self.negate else converted
        if failure is not None:
            message = (
                f"field {' or '.join(self.sources)} is not a valid {self.converter_name} "
                f'(rule "{state.rule}", output "{output}"): {failure}'
            )
            if self.required:
                raise MappingError("invalid_field", message)
            state.warnings.append(message + "; the value was left out")
            return _FAILED
        return MISSING


def _lookup(body: Mapping[str, object], path: tuple[str, ...], raw: bool = False) -> object:
    """The value at `path`, text trimmed; MISSING when absent, null or blank (`raw`: the value
    as sent, MISSING only when absent)."""
    value: object
    if len(path) == 1 and type(body) is dict:  # most placeholders name a top-level field
        value = body.get(path[0], MISSING)
    else:
        value = body
        for segment in path:
            if isinstance(value, (dict, Mapping)):  # dict first: the fast check
                value = value.get(segment, MISSING)
            elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
                value = value[int(segment)]
            else:
                return MISSING
    if raw:
        return value
    if value is None:
        return MISSING
    if isinstance(value, str):
        value = value.strip()
        return value if value else MISSING
    return value


def parse_placeholder(expression: str, context: ConversionContext) -> Placeholder:
    """Parse the inside of `{{ ... }}`; raise RuleError with what is wrong and what is allowed."""
    source_text, *filters = expression.split("|")
    sources = tuple(part.strip() for part in _OR.split(source_text.strip()))
    for source in sources:
        if not _PATH.fullmatch(source):
            raise RuleError(
                f"placeholder {{{{{expression}}}}}: {source!r} is not a field name or dotted path"
            )
    converter_name: str | None = None
    required = False
    negate = False
    unset_if_empty = False
    default: object = MISSING
    only: object = MISSING
    for raw in filters:
        match = _FILTER.fullmatch(raw)
        if not match:
            raise RuleError(f"placeholder {{{{{expression}}}}}: cannot read filter {raw.strip()!r}")
        name, argument = match.group(1), match.group(2)
        if name in CONVERTERS:
            converter_name = name
        elif name == "required":
            required = True
        elif name == "optional":
            required = False
        elif name == "not":
            negate = True
        elif name == "default":
            default = _literal(argument, expression)
        elif name == UNSET_FILTER:
            unset_if_empty = True
        elif name == "only":
            only = _literal(argument, expression)
        else:
            others = ["not", "required", "optional", "default: <value>", "only: <value>"]
            known = ", ".join([*CONVERTERS, *others, UNSET_FILTER])
            raise RuleError(
                f"placeholder {{{{{expression}}}}}: unknown filter {name!r}; use {known}"
            )
    if negate and converter_name != "boolean":
        raise RuleError(
            f"placeholder {{{{{expression}}}}}: 'not' negates booleans: add '| boolean'"
        )
    if unset_if_empty and (required or default is not MISSING):
        raise RuleError(
            f"placeholder {{{{{expression}}}}}: {UNSET_FILTER} clears the attribute when the "
            "field is sent empty: it cannot be combined with required or default"
        )
    converter = CONVERTERS[converter_name] if converter_name else None
    if default is not MISSING and converter is not None:
        try:
            default = converter(default, context)
        except ConversionError as error:
            raise RuleError(f"placeholder {{{{{expression}}}}}: default {error}") from None
        except NoValue:
            raise RuleError(f"placeholder {{{{{expression}}}}}: default is an empty date") from None
    if only is not MISSING and required:
        raise RuleError(
            f"placeholder {{{{{expression}}}}}: 'only' leaves other values out, so it cannot be "
            "'required'"
        )
    return Placeholder(
        sources=sources,
        paths=tuple(tuple(source.split(".")) for source in sources),
        converter_name=converter_name,
        converter=converter,
        required=required,
        default=default,
        negate=negate,
        unset_if_empty=unset_if_empty,
        only=only,
    )


def _same(value: object, wanted: object) -> bool:
    """Equal and of the same JSON type (`true` is not `1`)."""
    return type(value) is type(wanted) and value == wanted


def _literal(argument: str | None, expression: str) -> object:
    if argument is None or not argument.strip():
        raise RuleError(f"placeholder {{{{{expression}}}}}: default needs a value, e.g. default: 0")
    try:
        value = json.loads(argument)
    except ValueError:
        return argument.strip()
    if _non_finite(value):
        raise RuleError(f"placeholder {{{{{expression}}}}}: NaN and Infinity cannot be sent")
    return value


def _non_finite(value: object) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_non_finite(item) for item in value)
    return False


def compile_template(
    template: object, context: ConversionContext, location: str, placeholders: list[Placeholder]
) -> Node:
    """Turn a JSON template into a render function; every placeholder found is appended to
    `placeholders` (so callers can list the fields a rule reads)."""
    if isinstance(template, str):
        return _compile_string(template, context, location, placeholders)
    if isinstance(template, dict):
        children = [
            (key, compile_template(value, context, f"{location}.{key}", placeholders))
            for key, value in template.items()
        ]
        return _dict_node(children)
    if isinstance(template, list):
        items = [
            compile_template(value, context, f"{location}[{index}]", placeholders)
            for index, value in enumerate(template)
        ]
        return _list_node(items)
    if template is None:
        return lambda _state: MISSING
    return lambda _state: template


def _output_name(location: str) -> str:
    return location.rsplit(".", 1)[-1]


def _compile_string(
    template: str, context: ConversionContext, location: str, placeholders: list[Placeholder]
) -> Node:
    if "{{" not in template:
        return lambda _state: template
    output = _output_name(location)
    whole = _WHOLE.fullmatch(template)
    if whole and "{{" not in whole.group(1):
        placeholder = parse_placeholder(whole.group(1), context)
        placeholders.append(placeholder)
        return lambda state: placeholder.resolve(state, output)
    pieces: list[str | Placeholder] = []
    cursor = 0
    for match in _PLACEHOLDER.finditer(template):
        pieces.append(template[cursor : match.start()])
        placeholder = parse_placeholder(match.group(1), context)
        placeholders.append(placeholder)
        pieces.append(placeholder)
        cursor = match.end()
    pieces.append(template[cursor:])
    if "{{" in "".join(piece for piece in pieces if isinstance(piece, str)):
        raise RuleError(f"{location}: unbalanced '{{{{' in template")

    def render(state: RenderState) -> object:
        parts: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                parts.append(piece)
                continue
            value = piece.resolve(state, output)
            if value is MISSING:
                return MISSING
            try:
                parts.append(to_string(value, state.context))
            except ConversionError:  # NaN or Infinity has no text: as if the value were missing
                return MISSING
        return "".join(parts)

    return render


def _dict_node(children: list[tuple[str, Node]]) -> Node:
    def render(state: RenderState) -> object:
        result = {}
        for key, child in children:
            value = child(state)
            if value is not MISSING:
                result[key] = value
        return result if result or not children else MISSING

    return render


def _list_node(items: list[Node]) -> Node:
    def render(state: RenderState) -> object:
        result = [value for value in (item(state) for item in items) if value is not MISSING]
        return result if result or not items else MISSING

    return render
