"""A rule compiled once, at load, into one specialised Python function.

The interpreted path (`template.compile_template` then `policy.check_element`) walks a tree of
closures for every value and then re-checks the whole element against MoEngage's data rules. Most
of that work depends only on the rule: the element's type, the attribute names, the types the
filters produce, whether a value can ever need trimming. This module does that work once and
generates the source of a function that keeps only what depends on the body:

- a placeholder whose source is a top-level field becomes a `body.get`, a strip and its converter
  (chosen at compile time); anything uncommon (an unrendered `{{...}}`, a value that does not
  convert, a conversion note, a dotted path, a missing required field) goes to the placeholder's
  own `resolve`, which produces the same value, warnings and errors as the interpreted path;
- an attribute whose filter yields a clean value (a number, a boolean, a date) is stored as is;
  text is trimmed or truncated only when it needs it, through the same `policy` functions;
- a `current_time` made by `| datetime` is already in MoEngage's shape, so only the future check
  remains, done by comparing text (the shape sorts like time).

Shapes the compiler does not specialise (delete and merge elements, `update_existing_only`,
`platform`, nested templates, ...) are rendered and checked by the interpreted functions, element
by element, so the output is the same whatever the rule. The element values are all rendered
before any element is checked, as in the interpreted path, so errors and warnings come in the
same order. `tests/mapping/test_mapping_compiled.py` compares both paths. `mapping.compiled`
generates a rule's function the first time the rule maps a body. Where `mapping.codegen_clean`
covers the rule, the function generated here is `_full`, and `run` is the clean-body function
that hands it every body it does not serve."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mapping import converters, policy
from mapping.codegen_clean import clean_function_source
from mapping.converters import ConversionContext
from mapping.template import (
    MISSING,
    Placeholder,
    RenderState,
    _same,
    compile_template,
    parse_placeholder,
)

_WHOLE_CLEAN = frozenset({"number", "boolean", "datetime", "date"})  # never need cleaning
_TYPE_OF = {"number": None, "boolean": bool, "datetime": str, "date": str}
_NO_NOTES = frozenset({"number", "integer", "boolean", "string"})  # converters that never note
_SIMPLE_ACTION_KEYS = frozenset({"action", "attributes", "current_time", "user_time"})
_SIMPLE_CUSTOMER_KEYS = frozenset({"type", "customer_id", "attributes"})
_SIMPLE_EVENT_KEYS = frozenset({"type", "customer_id", "actions"})
_ONCE = (None,)


class _Slow:
    __slots__ = ()


SLOW = _Slow()  # the fast path stepped aside: the placeholder's own resolve decides


def _future_limit(now: float, _cache: list = [0, ""]) -> str:  # noqa: B006 - a one-entry memo
    """`YYYY-MM-DDTHH:MM:SSZ` of the last whole second not in the future (with tolerance): a
    canonical time is in the future exactly when its text sorts after this one."""
    second = int(now + policy.FUTURE_TOLERANCE_SECONDS)
    if _cache[0] != second or not _cache[1]:
        t = datetime.fromtimestamp(second, UTC)
        _cache[1] = "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031
            t.year, t.month, t.day, t.hour, t.minute, t.second
        )  # fmt: skip
        _cache[0] = second
    return _cache[1]


def _future_limit_of(now: float) -> str:
    if now + policy.FUTURE_TOLERANCE_SECONDS >= 253402300799:  # past year 9999: nothing is future
        return "~"
    return _future_limit(now)


class _Writer:
    """Source lines with indentation, and the constants the source refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.counter = 0

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def constant(self, value: object, prefix: str = "c") -> str:
        self.counter += 1
        name = f"_{prefix}{self.counter}"
        self.constants[name] = value
        return name

    def variable(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


@dataclass
class _Value:
    """A rendered template value: the variable holding it (or a constant), and what is known
    about it at compile time."""

    expression: str
    converter: str | None = None  # the placeholder's filter type, for a whole placeholder
    constant: bool = False  # a literal: `expression` names the constant itself
    literal: object = None


class _Compiler:
    def __init__(self, rule: str, context: ConversionContext) -> None:
        self.rule = rule
        self.context = context
        self.w = _Writer()
        self.w.constants.update(
            MISSING=MISSING, SLOW=SLOW, _ONCE=_ONCE, _State=RenderState, _ctx=context,
            _rule=rule, _policy=policy, _future_limit_of=_future_limit_of,
            _needs_cleaning=policy._needs_cleaning, _clean_value=policy._clean_value,
            _DROP=policy._DROP, _customer_id_of=policy.customer_id_of,
            _check_element=policy.check_element, _ELEMENT_TYPES=policy.ELEMENT_TYPES,
            _moment=policy._moment, _epoch_seconds=policy._epoch_seconds,
            _datetime_text=converters._datetime_text, _zone=context.zone,
            _order=context.date_order, _TRUE=converters._TRUE, _FALSE=converters._FALSE,
            _MAX_TEXT=converters.MAX_NUMBER_TEXT, _MAX_EXACT=converters.MAX_EXACT_INTEGER,
            _FORBIDDEN=policy.FORBIDDEN_CUSTOMER_IDS, _MAX_STRING=policy.MAX_STRING_LENGTH,
        )  # fmt: skip

    # ---------- phase 1: render ----------

    def _ensure_state(self, depth: int) -> None:
        self.w.line(depth, "if state is None:")
        self.w.line(depth + 1, "state = _State(body, _ctx, _rule, warnings)")

    def render_generic(self, template: object, location: str, depth: int) -> _Value:
        node = compile_template(template, self.context, location, [])
        name = self.w.constant(node, "node")
        out = self.w.variable()
        self._ensure_state(depth)
        self.w.line(depth, f"{out} = {name}(state)")
        return _Value(out)

    def render_value(self, template: object, location: str, depth: int) -> _Value:
        """Code that renders one template value into a variable (MISSING when left out)."""
        if isinstance(template, str):
            if "{{" not in template:
                return _Value(self.w.constant(template), constant=True, literal=template)
            expression = _whole_expression(template)
            if expression is None:
                return self.render_generic(template, location, depth)
            placeholder = parse_placeholder(expression, self.context)
            return self.render_placeholder(placeholder, location.rsplit(".", 1)[-1], depth)
        if template is None:
            return _Value("MISSING", constant=True, literal=MISSING)
        if isinstance(template, bool | int | float):
            return _Value(self.w.constant(template), constant=True, literal=template)
        return self.render_generic(template, location, depth)

    def render_placeholder(self, placeholder: Placeholder, output: str, depth: int) -> _Value:
        w = self.w
        out = w.variable()
        p = w.constant(placeholder, "p")
        fast = all(len(path) == 1 for path in placeholder.paths)
        w.line(depth, f"{out} = MISSING")
        if fast and len(placeholder.paths) == 1:
            self._source(placeholder, placeholder.paths[0][0], out, depth, loop=False)
        elif fast:  # `a or b`: the first that is there
            w.line(depth, "for _ in _ONCE:")
            for (source,) in placeholder.paths:
                self._source(placeholder, source, out, depth + 1, loop=True)
        else:
            w.line(depth, f"{out} = SLOW")
        w.line(depth, f"if {out} is SLOW:")
        self._ensure_state(depth + 1)
        w.line(depth + 1, f"{out} = {p}.resolve(state, {output!r})")
        if placeholder.only is not MISSING:  # a value, but not the one this output may carry
            same = w.constant(_same, "f")
            w.line(depth, f"elif {out} is not MISSING and not {same}({out}, {p}.only):")
            w.line(depth + 1, f"{out} = MISSING")
        if placeholder.default is not MISSING or placeholder.required:
            w.line(depth, f"elif {out} is MISSING:")
            if placeholder.default is not MISSING:
                w.line(depth + 1, f"{out} = {p}.default")
            else:  # required: resolve raises the missing_field error
                self._ensure_state(depth + 1)
                w.line(depth + 1, f"{out} = {p}.resolve(state, {output!r})")
        return _Value(out, converter=placeholder.converter_name)

    def _source(
        self, placeholder: Placeholder, source: str, out: str, depth: int, loop: bool
    ) -> None:
        """One top-level field: absent, null or blank leaves `out` MISSING (the next source
        is tried); anything but text makes it SLOW."""
        w = self.w
        w.line(depth, f"r = body.get({source!r})")
        w.line(depth, "if r is not None:")
        w.line(depth + 1, "if r.__class__ is str:")
        w.line(depth + 2, "r = r.strip()")
        w.line(depth + 2, "if r:")
        w.line(depth + 3, 'if "{{" in r:')
        w.line(depth + 4, f"{out} = SLOW")
        w.line(depth + 3, "else:")
        self._convert(placeholder, out, depth + 4)
        if loop:
            w.line(depth + 3, "break")
        w.line(depth + 1, "else:  # a number, a boolean, an object: rare in Kognitiv's bodies")
        w.line(depth + 2, f"{out} = SLOW")
        if loop:
            w.line(depth + 2, "break")

    def _convert(self, placeholder: Placeholder, out: str, depth: int) -> None:
        """`out` = the converted text `r`, or SLOW when it does not convert or comes with a
        note."""
        w = self.w
        name = placeholder.converter_name
        if name is None or name == "string":
            w.line(depth, f"{out} = r")
            return
        w.line(depth, "try:")
        if name == "datetime":  # the cached reading to_datetime uses for text
            w.line(depth + 1, "t = _datetime_text(r, _zone, _order)")
            w.line(depth, "except Exception:")
            w.line(depth + 1, f"{out} = SLOW")
            w.line(depth, "else:")
            w.line(depth + 1, f"{out} = SLOW if t[1] else t[0]")
            return
        if name == "boolean" and placeholder.converter is converters.to_boolean:
            # to_boolean of trimmed text, without the call: anything else is SLOW
            true, false = ("False", "True") if placeholder.negate else ("True", "False")
            w.line(depth + 1, "t = r.lower()")
            w.line(depth, "except Exception:")
            w.line(depth + 1, f"{out} = SLOW")
            w.line(depth, "else:")
            w.line(depth + 1, f"{out} = {true} if t in _TRUE else {false} if t in _FALSE else SLOW")
            return
        converter = w.constant(placeholder.converter, "conv")
        if name == "number" and placeholder.converter is converters.to_number:
            # to_number's first test (plain digits) without the call; the rest goes to it
            plain = "len(r) <= _MAX_TEXT and r.isascii() and (n[0] + n[2]).isdigit()"
            if self.context.number_format != "1,234.56":
                plain += " and not n[1]"  # a point is a thousands separator there
            w.line(depth + 1, 'n = r.partition(".")')
            w.line(depth + 1, f"if {plain}:")
            w.line(depth + 2, f"{out} = float(r) if n[1] else int(r)")
            w.line(depth + 2, f"if {out}.__class__ is int and abs({out}) > _MAX_EXACT:")
            w.line(depth + 3, f"{out} = SLOW  # to_number refuses it")
            w.line(depth + 1, "else:")
            w.line(depth + 2, f"{out} = {converter}(r, _ctx)")
            w.line(depth, "except Exception:")
            w.line(depth + 1, f"{out} = SLOW")
            if placeholder.negate:
                w.line(depth, "else:")
                w.line(depth + 1, f"if {out} is not SLOW:")
                w.line(depth + 2, f"{out} = not {out}")
            return
        if name in _NO_NOTES:
            w.line(depth + 1, f"{out} = {converter}(r, _ctx)")
            w.line(depth, "except Exception:")
            w.line(depth + 1, f"{out} = SLOW")
        else:
            w.line(depth + 1, "n = []")
            w.line(depth + 1, f"{out} = {converter}(r, _ctx, n)")
            w.line(depth, "except Exception:")
            w.line(depth + 1, f"{out} = SLOW")
            w.line(depth, "else:")
            w.line(depth + 1, "if n:")
            w.line(depth + 2, f"{out} = SLOW")
        if placeholder.negate:
            w.line(depth, "else:")
            w.line(depth + 1, f"{out} = not {out}")

    # ---------- phase 2: check ----------

    def clean_attribute(
        self, value: _Value, name: str, where: str, user: bool, target: str, depth: int
    ) -> None:
        """Code for one attribute as `policy.clean_attributes` treats it: stored in the dict
        `target` unless left out."""
        w = self.w
        standard = policy.STANDARD_MOE_USER_ATTRIBUTES.get(name) if user else None
        if standard is object:  # any type (moe_mweb)
            standard = None
        if value.constant:
            literal = value.literal
            if literal is MISSING or literal is None:
                return
            expected_ok = standard is None or type(literal) is standard
            if expected_ok and not policy._needs_cleaning(literal):
                w.line(depth, f"{target}[{name!r}] = {value.expression}")
                return
        v = value.expression
        w.line(depth, f"if {v} is not MISSING and {v} is not None:")
        inner = depth + 1
        kind = value.converter
        produced = _TYPE_OF.get(kind) if kind in _WHOLE_CLEAN else None
        if standard is not None and not (produced is not None and produced is standard):
            problem = w.constant(policy._standard_type_problem, "f")
            w.line(inner, f"problem = {problem}({name!r}, {v})")
            w.line(inner, "if problem:")
            w.line(inner + 1, f'warnings.append({where!r} + ": " + problem + "; it was left out")')
            w.line(inner, "else:")
            inner += 1
        if kind in _WHOLE_CLEAN and not value.constant:
            w.line(inner, f"{target}[{name!r}] = {v}")
            return
        if kind == "string" and not value.constant:
            condition = f'len({v}) > 50 or "{{{{" in {v} or {v}.strip() != {v}'
            w.line(inner, f"if {v}.__class__ is str and not ({condition}):")
        else:
            w.line(inner, f"if not _needs_cleaning({v}):")
        w.line(inner + 1, f"{target}[{name!r}] = {v}")
        w.line(inner, "else:")
        w.line(inner + 1, f"x = _clean_value({v}, {where!r}, {name!r}, warnings)")
        w.line(inner + 1, "if x is not _DROP:")
        w.line(inner + 2, f"{target}[{name!r}] = x")


def _whole_expression(template: str) -> str | None:
    """The inside of a template that is exactly one placeholder (spaces around allowed)."""
    from mapping.template import _WHOLE

    whole = _WHOLE.fullmatch(template)
    if whole and "{{" not in whole.group(1):
        return whole.group(1)
    return None


def _simple_attributes(attributes: object, user: bool, limit: int | None) -> bool:
    if attributes is None:
        return True
    if not isinstance(attributes, dict):
        return False
    if limit is not None and len(attributes) > limit:
        return False
    return all(policy._name_problem(name, user) is None for name in attributes)


def _simple_action(action: object) -> bool:
    if not isinstance(action, dict) or not set(action) <= _SIMPLE_ACTION_KEYS:
        return False
    name = action.get("action")
    if not isinstance(name, str) or "{{" in name or not name.strip():
        return False
    if len(name) > policy.MAX_NAME_LENGTH:
        return False
    if "attributes" in action and not isinstance(action["attributes"], dict):
        return False
    return _simple_attributes(action.get("attributes"), False, policy.MAX_ATTRIBUTES_PER_EVENT)


def _simple_element(element: object) -> bool:
    if not isinstance(element, dict):
        return False
    kind = element.get("type")
    if kind == "event" and set(element) <= _SIMPLE_EVENT_KEYS:
        actions = element.get("actions")
        return isinstance(actions, list) and bool(actions) and all(map(_simple_action, actions))
    if kind == "customer" and set(element) <= _SIMPLE_CUSTOMER_KEYS:
        attributes = element.get("attributes")
        if attributes is not None and "unset_if_empty" in json.dumps(attributes):
            return False  # clearing attributes (unset_attributes) is left to the interpreter
        return attributes is None or (
            isinstance(attributes, dict) and _simple_attributes(attributes, True, None)
        )
    return False


@dataclass
class _Rendered:
    """Phase 1's result for one element: how phase 2 checks it."""

    index: int
    template: dict
    generic: str | None = None  # the variable holding an interpreted render
    values: dict[str, object] | None = None


def compile_rule_function(
    rule: str, elements: list[object], context: ConversionContext
) -> tuple[Callable[..., tuple[list[dict], object]], str]:
    """Generate and compile the rule's function (see the module docstring): the function and
    its source."""
    c = _Compiler(rule, context)
    w = c.w
    w.line(0, "def run(body, warnings, now, key):")
    w.line(1, "state = None")
    rendered: list[_Rendered] = []
    for index, element in enumerate(elements):
        location = f"elements[{index}]"
        if not _simple_element(element):
            value = c.render_generic(element, location, 1)
            rendered.append(_Rendered(index, element, generic=value.expression))  # type: ignore[arg-type]
            continue
        assert isinstance(element, dict)
        values: dict[str, object] = {}
        for field, template in element.items():
            if field == "type":
                continue
            spot = f"{location}.{field}"
            if field == "customer_id":
                values[field] = c.render_value(template, spot, 1)
            elif field == "attributes":
                values[field] = {
                    name: c.render_value(item, f"{spot}.{name}", 1)
                    for name, item in template.items()
                }
            elif field == "actions":
                actions = []
                for position, action in enumerate(template):
                    rendered_action: dict[str, object] = {}
                    for key, item in action.items():
                        where = f"{spot}[{position}].{key}"
                        if key == "action":
                            rendered_action[key] = item
                        elif key == "attributes":
                            rendered_action[key] = {
                                name: c.render_value(value, f"{where}.{name}", 1)
                                for name, value in item.items()
                            }
                        else:
                            rendered_action[key] = c.render_value(item, where, 1)
                    actions.append(rendered_action)
                values[field] = actions
        rendered.append(_Rendered(index, element, values=values))
    w.line(1, "identity = None if key is None else key()")
    w.line(1, "checked = []")
    for item in rendered:
        if item.generic is not None:
            arguments = f"{item.generic}, {item.index}, now, warnings, _ELEMENT_TYPES, _ctx"
            w.line(1, f"checked.append(_check_element({arguments}))")
        elif item.template["type"] == "event":
            _check_event(c, item)
        else:
            _check_customer(c, item)
    w.line(1, "return checked, identity")
    clean = clean_function_source(elements, context, w.constants)
    if clean is not None:  # `run` serves clean bodies and hands the rest to `_full`
        w.lines[0] = "def _full(body, warnings, now, key):"
        w.lines += ["", "", *clean]
    source = "\n".join(w.lines) + "\n"
    namespace: dict[str, Any] = dict(w.constants)
    exec(compile(source, f"<rule {rule}>", "exec"), namespace)  # noqa: S102 - our own source
    return namespace["run"], source


def _customer_id_code(c: _Compiler, value: _Value, index: int) -> str:
    out = c.w.variable("cid")
    if value.constant:
        literal = None if value.literal is MISSING else value.literal
        c.w.line(1, f"{out} = _customer_id_of({c.w.constant(literal)}, {index})")
    else:  # customer_id_of's checks of trimmed text, without the calls; the rest goes to it
        v = value.expression
        clean = (
            f'{v}.__class__ is str and 1 < len({v}) <= _MAX_STRING and "{{{{" not in {v} '
            f"and {v}.lower() not in _FORBIDDEN and {v}.strip() == {v}"
        )
        c.w.line(1, f"if {clean}:")
        c.w.line(2, f"{out} = {v}")
        c.w.line(1, "else:")
        c.w.line(2, f"{out} = _customer_id_of(None if {v} is MISSING else {v}, {index})")
    return out


def _check_event(c: _Compiler, item: _Rendered) -> None:
    w = c.w
    values = item.values or {}
    index = item.index
    customer = _customer_id_code(c, values["customer_id"], index)  # type: ignore[arg-type]
    names = []
    for position, action in enumerate(values["actions"]):  # type: ignore[arg-type]
        where = f"element {index}.actions[{position}]"
        a = w.variable("a")
        names.append(a)
        parts: dict[str, str] = {}
        if "attributes" in action:  # checked in policy._check_action's order
            parts["attributes"] = w.variable("attrs")
            w.line(1, f"{parts['attributes']} = MISSING")
            spot = f"{where}.attributes"
            _attributes(c, action["attributes"], spot, False, parts["attributes"], 1)
        for key in ("current_time", "user_time"):
            if key in action:
                parts[key] = w.variable("t")
                _time(c, action[key], f"{where}.{key}", key, parts[key], 1)
        if "current_time" in parts:
            _future(c, parts["current_time"], action["current_time"], f"{where}.current_time")
        w.line(1, f"{a} = {{}}")
        for key in action:  # the template's key order
            if key == "action":
                w.line(1, f"{a}['action'] = {action['action']!r}")
            elif key in parts:
                w.line(1, f"if {parts[key]} is not MISSING:")
                w.line(2, f"{a}[{key!r}] = {parts[key]}")
    fields = []
    for field in item.template:
        if field == "type":
            fields.append("'type': 'event'")
        elif field == "customer_id":
            fields.append(f"'customer_id': {customer}")
        else:
            fields.append(f"'actions': [{', '.join(names)}]")
    w.line(1, f"checked.append({{{', '.join(fields)}}})")


def _attributes(
    c: _Compiler, values: dict, where: str, user: bool, target: str, depth: int
) -> None:
    """Attributes rendered to a dict and cleaned into the variable `target` (left as it is when
    every value was MISSING: the interpreter leaves the key out)."""
    w = c.w
    cleaned = w.variable("attrs")
    present = [v.expression for v in values.values() if not (v.constant and v.literal is MISSING)]
    constant_present = any(v.constant and v.literal is not MISSING for v in values.values())
    if not values or constant_present:
        condition = "True"
    elif not present:
        condition = "False"
    else:
        condition = " or ".join(f"{v} is not MISSING" for v in present)
    w.line(depth, f"if {condition}:")
    w.line(depth + 1, f"{cleaned} = {{}}")
    for name, value in values.items():
        c.clean_attribute(value, name, where, user, cleaned, depth + 1)
    w.line(depth + 1, f"{target} = {cleaned}")


def _time(c: _Compiler, value: _Value, where: str, key: str, target: str, depth: int) -> None:
    """current_time / user_time normalised as `policy._check_action` does, into the variable
    `target` (MISSING: left out)."""
    w = c.w
    v = value.expression
    w.line(depth, f"{target} = MISSING")
    w.line(depth, f"if {v} is not MISSING and {v} is not None:")
    if key == "current_time" and value.converter == "datetime" and not value.constant:
        # `| datetime` yields MoEngage's shape (defaults too): nothing to normalise
        w.line(depth + 1, f"{target} = {v}")
        return
    local = key == "user_time"
    w.line(depth + 1, f"x = _moment({v}, {where!r}, warnings, _ctx, {local})")
    w.line(depth + 1, "if x is not None:")
    w.line(depth + 2, f"{target} = x")


def _future(c: _Compiler, variable: str, value: _Value, where: str) -> None:
    """MoEngage refuses future events: such a current_time is left out, with a warning."""
    w = c.w
    message = (
        f"{where} is in the future (check KOGNITIV_TIMEZONE); "
        "MoEngage rejects future events, so the time of receipt is used"
    )
    w.line(1, f"if {variable} is not MISSING:")
    if value.converter == "datetime" and not value.constant:  # canonical text sorts like time
        w.line(2, f"if {variable} > _future_limit_of(now):")
    else:
        tolerance = policy.FUTURE_TOLERANCE_SECONDS
        w.line(2, f"if (_epoch_seconds({variable}) or 0) > now + {tolerance}:")
    w.line(3, f"warnings.append({message!r})")
    w.line(3, f"{variable} = MISSING")


def _check_customer(c: _Compiler, item: _Rendered) -> None:
    w = c.w
    values = item.values or {}
    index = item.index
    customer = _customer_id_code(c, values["customer_id"], index)  # type: ignore[arg-type]
    attributes = w.variable("attrs")
    w.line(1, f"{attributes} = MISSING")
    if "attributes" in values:
        where = f"element {index}.attributes"
        _attributes(c, values["attributes"], where, True, attributes, 1)  # type: ignore[arg-type]
    e = w.variable("e")
    w.line(1, f"{e} = {{}}")
    for field in item.template:
        if field == "type":
            w.line(1, f"{e}['type'] = 'customer'")
        elif field == "customer_id":
            w.line(1, f"{e}['customer_id'] = {customer}")
        else:  # rendered: in its place; else added last, empty (policy.check_element)
            w.line(1, f"if {attributes} is not MISSING:")
            w.line(2, f"{e}['attributes'] = {attributes}")
    w.line(1, f"if {attributes} is MISSING:")
    w.line(2, f"{e}['attributes'] = {{}}")
    w.line(1, f"checked.append({e})")
