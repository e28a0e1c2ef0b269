"""One structured log line per webhook and per queue message outcome.

The message is compact JSON (queryable in Application Insights with `parse_json(message)`), and
the same fields are passed as `extra` so they become custom dimensions when the worker's
OpenTelemetry export is on (`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`). Callers pass
only ids, names, counts and codes: never secrets, never member contact data."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable

import msgspec

log = logging.getLogger("kognitiv_bridge")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ()./-]{7,}\d")
# Characters that would start a new line (or rewrite one) in a log sink: C0/C1 controls, DEL,
# and Unicode's line and paragraph separators.
_LINE_BREAKERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`, `\\u2028`), so
    a value from a body can never start a log line of its own."""
    if text.isprintable():  # every line breaker is unprintable: nothing to escape (most lines)
        return text
    return _LINE_BREAKERS.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class EscapeControlCharacters(logging.Filter):
    """Every text that reaches a log line of the bridge (the message and its %-arguments) has
    its control characters escaped: values from a body (an action or attribute name, an event
    name, a message id) cannot forge a line. Numbers keep their type for %d."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = escape_controls(record.msg)
        if not record.args:  # a structured line (record) has none
            return True
        if isinstance(record.args, tuple):
            record.args = tuple(_escaped_argument(argument) for argument in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _escaped_argument(value) for key, value in record.args.items()}
        return True


def _escaped_argument(argument: object) -> object:
    if argument is None or isinstance(argument, int | float):
        return argument
    text = argument if isinstance(argument, str) else str(argument)
    if text.isprintable() or not _LINE_BREAKERS.search(text):
        return argument
    return escape_controls(text)


log.addFilter(EscapeControlCharacters())


def mask_pii(text: str) -> str:
    """Mask e-mail addresses and phone numbers in free text (descriptions from elsewhere)."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


def mask_member_id(member_id: str) -> str:
    """Member ids stay searchable, unless a program uses e-mail addresses or phone numbers as
    ids: those are masked like any contact data."""
    if "@" in member_id or member_id.lstrip().startswith("+"):
        return mask_pii(member_id) if "@" in member_id else "<phone>"
    return member_id


_ENCODE = msgspec.json.Encoder().encode
_SCALARS = frozenset({str, int, float, bool})
_SCALARS_AND_LISTS = _SCALARS | {list, tuple}
_DIMENSIONS: dict[str, str] = {}  # field -> its `extra` name (kb_<field>), built once per field


def _plain(values: Iterable[object]) -> bool:
    """Only values msgspec writes as `json.dumps(default=str)` does: text, numbers, booleans,
    and lists of them (a datetime, say, would be written differently). One pass, no sets: it
    runs for every webhook and every queue message."""
    scalars = _SCALARS
    for value in values:
        kind = type(value)
        if kind in scalars:
            continue
        if kind is not list and kind is not tuple:
            return False
        for item in value:  # type: ignore[attr-defined]
            if type(item) not in scalars:
                return False
    return True


def _line(data: dict[str, object]) -> str:
    """`json.dumps(data, default=str, separators=(",", ":"))`, written by msgspec when that gives
    the same text (plain values, ASCII only), else by the standard library."""
    if _plain(data.values()):
        encoded = _ENCODE(data)
        if encoded.isascii():
            return encoded.decode("ascii")
    return json.dumps(data, default=str, separators=(",", ":"))


def record(kind: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one structured line; None values are left out."""
    if not log.isEnabledFor(level):
        return
    data: dict[str, object] = {"kind": kind}
    extra: dict[str, object] = {"custom_dimensions": data, "kb_kind": kind}
    dimensions = _DIMENSIONS
    for key, value in fields.items():
        if value is None:
            continue
        data[key] = value
        name = dimensions.get(key)
        if name is None:
            name = dimensions.setdefault(key, f"kb_{key}")
        extra[name] = value
    # What log.log would do, without its walk up the stack to find this very line.
    record = log.makeRecord(
        log.name, level, __file__, _RECORD_LINE, _line(data), (), None, "record"
    )
    # What makeRecord does with `extra`, without checking each name against the record's own
    # attributes: these names (custom_dimensions, kb_*) are never one of them.
    record.__dict__.update(extra)
    log.handle(record)


_RECORD_LINE = record.__code__.co_firstlineno
