"""The clean-body function of a compiled rule: the body most webhooks carry, in the fewest steps.

Most Kognitiv bodies need none of the checks' corrections: every field the rule reads is text
without an unrendered placeholder, short enough never to be trimmed, a plain number, a boolean
spelled as .NET spells it, a date in one of the plain shapes, a member id MoEngage accepts, and
no event time in the future. For such a body the rule's output is known from the values alone,
with no warning. This module generates, for a rule whose every element the compiler
specialises (`codegen._simple_element`), a function that:

- reads each source field of the body once (a field two outputs read is read and trimmed once,
  a date two outputs convert is converted once);
- tests each value with the one cheap test its use needs, and on anything else hands the whole
  body to the rule's full generated function (`codegen`), which produces the same output,
  warnings and errors as the interpreter. Nothing is appended to `warnings` and the event
  identity (`key`) is not asked for before that decision, so the full function starts afresh;
- builds each element as one dict display when every value is present.

A rule with any shape beyond that (defaults, literals, nested paths, `user_time`, a
`current_time` that is not `| datetime`, a standard `moe_` attribute of another type, ...) gets
no clean-body function: the full one serves every body. `tests/mapping/test_mapping_compiled.py`
holds both to the interpreter."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mapping import converters, policy
from mapping.template import MISSING, Placeholder, parse_placeholder

FULL = "return _full(body, warnings, now, key)"
_PRODUCED = {None: str, "string": str, "number": None, "boolean": bool, "datetime": str}


class _NotClean(Exception):
    """The rule has a shape the clean-body function does not cover."""


class _Clean:
    def __init__(self, context: converters.ConversionContext, constants: dict[str, Any]) -> None:
        self.context = context
        self.constants = constants
        self.lines: list[str] = []
        self.texts: dict[str, str] = {}  # source field -> variable: trimmed text, "" if absent
        self.values: dict[tuple, str] = {}  # (sources, converter, negate, only) -> variable
        self.counter = 0
        self.checked_ids: set[str] = set()  # customer ids checked already

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def variable(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def placeholder(self, template: object) -> Placeholder:
        from mapping.codegen import _whole_expression

        if not isinstance(template, str) or "{{" not in template:
            raise _NotClean
        expression = _whole_expression(template)
        if expression is None:
            raise _NotClean
        p = parse_placeholder(expression, self.context)
        plain = all(len(path) == 1 for path in p.paths) and p.default is MISSING
        if not plain or p.unset_if_empty or p.converter_name not in _PRODUCED:
            raise _NotClean
        wanted = {
            "number": converters.to_number,
            "boolean": converters.to_boolean,
            "datetime": converters.to_datetime,
        }.get(p.converter_name or "", p.converter)
        if p.converter is not wanted or (p.negate and p.converter_name != "boolean"):
            raise _NotClean
        boolean_only = p.converter_name == "boolean" and (p.only is True or p.only is False)
        if p.only is not MISSING and not boolean_only:  # `only: 1` is not `only: true`
            raise _NotClean
        return p

    def text(self, source: str) -> str:
        """The source field, trimmed ("" when absent, null or blank), read once per body."""
        if source in self.texts:
            return self.texts[source]
        s = self.variable("s")
        self.texts[source] = s
        self.line(1, f"{s} = g({source!r})")
        self.line(1, f"if {s}.__class__ is str:")
        self.line(2, f"{s} = {s}.strip()")
        self.line(2, f'if "{{{{" in {s}:')
        self.line(3, FULL)
        self.line(1, f"elif {s} is None:")
        self.line(2, f"{s} = ''")
        self.line(1, "else:")
        self.line(2, FULL)
        return s

    def value(self, p: Placeholder) -> tuple[str, str]:
        """The variable holding the placeholder's value, and the test that it is present."""
        v, present = self._value(p)
        if p.required and v not in self.checked_ids:  # missing: the full function raises
            self.line(1, f"if not {present}:" if present == v else f"if {v} is None:")
            self.line(2, FULL)
        return v, present

    def _value(self, p: Placeholder) -> tuple[str, str]:
        name = p.converter_name
        marker = (p.sources, name, p.negate, p.only)
        text_only = name is None or name == "string"
        if marker in self.values:
            v = self.values[marker]
            return v, v if text_only else f"{v} is not None"
        if name == "boolean" and (p.negate or p.only is not MISSING):
            v = self._derived_boolean(p)
        else:
            sources = [self.text(path[0]) for path in p.paths]
            if text_only:
                v = sources[0] if len(sources) == 1 else self.variable("v")
                if len(sources) > 1:
                    self.line(1, f"{v} = {' or '.join(sources)}")
            else:
                v = self.variable("v")
                self.line(1, f"{v} = None")
                for position, (source, s) in enumerate(zip(p.sources, sources, strict=True)):
                    self.line(1, f"{'if' if position == 0 else 'elif'} {s}:")
                    converted = self.values.get(((source,), name, False, MISSING))
                    if converted is not None:  # the same field converted the same way
                        self.line(2, f"{v} = {converted}")
                    else:
                        self._convert(name, s, v, 2)
        self.values[marker] = v
        return v, v if text_only else f"{v} is not None"

    def _derived_boolean(self, p: Placeholder) -> str:
        """`| boolean | not`, `| only: true`: from the plain boolean of the same fields."""
        base, _ = self._value(replace(p, negate=False, only=MISSING))
        v = self.variable("v")
        if p.only is MISSING:
            self.line(1, f"{v} = None if {base} is None else not {base}")
        else:
            wanted = bool(p.only) != p.negate  # the plain boolean that gives the one value
            self.line(1, f"{v} = {p.only!r} if {base} is {wanted!r} else None")
        return v

    def prepare(self, p: Placeholder) -> None:
        """A converted field of its own, worked out before any `a or b` that may reuse it."""
        if len(p.sources) == 1 and p.converter_name in ("number", "boolean", "datetime"):
            self._value(replace(p, negate=False, only=MISSING))

    def _convert(self, name: str | None, s: str, v: str, depth: int) -> None:
        line = self.line
        if name == "boolean":
            line(depth, f"{v} = {s}.lower()")
            line(depth, f"{v} = True if {v} in _TRUE else False if {v} in _FALSE else None")
            line(depth, f"if {v} is None:")
            line(depth + 1, FULL)
        elif name == "number":  # to_number's plain digits (15 at most: never beyond 2**53)
            point = "" if self.context.number_format == "1,234.56" else " and not n[1]"
            line(depth, f"n = {s}.partition('.')")
            line(depth, f"if len({s}) < 16 and (n[0] + n[2]).isdigit() and {s}.isascii(){point}:")
            line(depth + 1, f"{v} = float({s}) if n[1] else int({s})")
            line(depth, "else:")
            line(depth + 1, "try:")
            line(depth + 2, f"{v} = _to_number({s}, _ctx)")
            line(depth + 1, "except Exception:")
            line(depth + 2, FULL)
        else:  # datetime: the plain shapes without the cache, the rest through it
            line(depth, f"{v} = _plain_datetime({s}, _zone, _order)")
            line(depth, f"if {v} is None:")
            line(depth + 1, "try:")
            line(depth + 2, f"{v} = _datetime_text({s}, _zone, _order)")
            line(depth + 1, "except Exception:")
            line(depth + 2, FULL)
            line(depth + 1, f"if {v}[1]:")
            line(depth + 2, FULL)
            line(depth + 1, f"{v} = {v}[0]")


def clean_function_source(
    elements: list[object], context: converters.ConversionContext, constants: dict[str, Any]
) -> list[str] | None:
    """Source lines of `run` (calling `_full` for anything uncommon), or None when the rule has
    a shape it does not cover. Adds the names it uses to `constants`."""
    from mapping.dates import plain_datetime_text

    c = _Clean(context, constants)
    c.line(0, "def run(body, warnings, now, key):")
    c.line(1, "g = body.get")
    try:
        for template in _placeholders(elements):
            c.prepare(c.placeholder(template))
        built = [_element(c, element, index) for index, element in enumerate(elements)]
    except _NotClean:
        return None
    c.line(1, "identity = None if key is None else key()")
    c.line(1, f"return [{', '.join(built)}], identity")
    constants.update(
        _to_number=converters.to_number,
        _plain_datetime=plain_datetime_text,
        _LIMIT=_LIMIT,
        _future_limit=_future_limit,
        _TRIM_ABOVE=policy._TRIM_ABOVE,
    )
    return c.lines


def _placeholders(template: object) -> list[str]:
    """Every text in the elements' templates that holds a placeholder, in order."""
    if isinstance(template, str):
        return [template] if "{{" in template else []
    if isinstance(template, dict):
        return [t for value in template.values() for t in _placeholders(value)]
    if isinstance(template, list):
        return [t for value in template for t in _placeholders(value)]
    return []


def _element(c: _Clean, element: object, index: int) -> str:
    """Code that checks the element's values, and the expression that builds it."""
    from mapping.codegen import _simple_element

    if not _simple_element(element):
        raise _NotClean
    assert isinstance(element, dict)
    customer = _customer_id(c, element["customer_id"])
    parts: dict[str, str] = {"type": repr(element["type"]), "customer_id": customer}
    if element["type"] == "event":
        actions = [_action(c, action) for action in element["actions"]]
        parts["actions"] = f"[{', '.join(actions)}]"
        return _display(element, parts)
    template = element.get("attributes")
    if "attributes" in element and not isinstance(template, dict):
        raise _NotClean
    if not template:  # none written, or {}: in its place if written, else added last
        parts["attributes"] = "{}"
        e = _display(element, parts)
        return e if "attributes" in element else e[:-1] + ", 'attributes': {}}"
    attributes = _attributes(c, template, user=True)
    e = c.variable("e")
    c.line(1, f"if {attributes}:")
    c.line(2, f"{e} = {_display(element, {**parts, 'attributes': attributes})}")
    c.line(1, "else:  # nothing to write: an empty object, added last (as policy.check_element)")
    c.line(2, f"{e} = {_display(element, parts)[:-1]}, 'attributes': {{}}}}")
    return e


def _display(template: dict, parts: dict[str, str]) -> str:
    """A dict display of `parts` in the template's key order."""
    return "{" + ", ".join(f"{key!r}: {parts[key]}" for key in template if key in parts) + "}"


def _customer_id(c: _Clean, template: object) -> str:
    p = c.placeholder(template)
    if p.converter_name not in (None, "string"):
        raise _NotClean
    v, _ = c.value(p)
    if v not in c.checked_ids:  # customer_id_of's checks: what it refuses, the full function
        c.checked_ids.add(v)
        c.line(1, f"if not 1 < len({v}) <= _MAX_STRING or {v}.lower() in _FORBIDDEN:")
        c.line(2, FULL)
    return v


def _action(c: _Clean, action: dict) -> str:
    """Code that checks an action's values, and the variable holding it."""
    parts: dict[str, str] = {}
    present: dict[str, str] = {}
    for key, template in action.items():
        if key == "action":
            parts[key] = repr(template)
        elif key == "attributes":
            parts[key] = _attributes(c, template, user=False) if template else "{}"
            if template:
                present[key] = parts[key]
        elif key == "current_time":
            p = c.placeholder(template)
            if p.converter_name != "datetime" or p.only is not MISSING:
                raise _NotClean
            v, _ = c.value(p)
            # MoEngage refuses future events: a future time goes to the full function (its
            # warning). _LIMIT holds a recent limit: a time at or before it is not in the future
            c.line(1, f"if {v} is not None:")
            c.line(2, "limit = _LIMIT[0]  # one (limit, clock) pair, read at once")
            c.line(2, f"if ({v} > limit[0] or now < limit[1]) and {v} > _future_limit(now):")
            c.line(3, FULL)
            parts[key] = v
            present[key] = f"{v} is not None"
        else:
            raise _NotClean  # user_time: normalised by the full function
    a = c.variable("a")
    if present:
        c.line(1, f"if {' and '.join(present.values())}:")
        c.line(2, f"{a} = {_display(action, parts)}")
        c.line(1, "else:")
        c.line(2, f"{a} = {{}}")
        for key in action:
            if key in present:
                c.line(2, f"if {present[key]}:")
                c.line(3, f"{a}[{key!r}] = {parts[key]}")
            else:
                c.line(2, f"{a}[{key!r}] = {parts[key]}")
    else:
        c.line(1, f"{a} = {_display(action, parts)}")
    return a


def _attributes(c: _Clean, template: object, user: bool) -> str:
    """Code for an attributes object; the variable holding the dict (empty: nothing present)."""
    if not isinstance(template, dict):
        raise _NotClean
    values: list[tuple[str, str, str]] = []
    for name, item in template.items():
        p = c.placeholder(item)
        standard = policy.STANDARD_MOE_USER_ATTRIBUTES.get(name) if user else None
        produced = _PRODUCED[p.converter_name]
        if standard not in (None, object) and produced is not standard:
            raise _NotClean  # the checks' type warning: the full function
        v, present = c.value(p)
        if produced is str and p.converter_name != "datetime":
            c.line(1, f"if len({v}) > _TRIM_ABOVE:")  # may need trimming: the full function
            c.line(2, FULL)
        values.append((name, v, present))
    attrs = c.variable("attrs")
    everything = " and ".join(present for _, _, present in values) or "True"
    c.line(1, f"if {everything}:")
    c.line(2, f"{attrs} = {{{', '.join(f'{name!r}: {v}' for name, v, _ in values)}}}")
    c.line(1, "else:")
    c.line(2, f"{attrs} = {{}}")
    for name, v, present in values:
        c.line(2, f"if {present}:")
        c.line(3, f"{attrs}[{name!r}] = {v}")
    return attrs


# The last future limit worked out and the clock it was worked out for, replaced as one tuple
# (another thread never sees one call's limit with another's clock).
_LIMIT: list[tuple[str, float]] = [("", float("inf"))]


def _future_limit(now: float) -> str:
    """`codegen._future_limit_of`, remembered in `_LIMIT`: a clock at or after `now` has a limit
    at or after this one, so a time that sorts at or before it needs no new limit."""
    from mapping.codegen import _future_limit_of

    limit = _future_limit_of(now)
    _LIMIT[0] = (limit, now)
    return limit
