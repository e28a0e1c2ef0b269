"""One structured log line per webhook and per queue message outcome.

The message is compact JSON (queryable in Application Insights with `parse_json(message)`); with
the worker's OpenTelemetry export on, each field is also a record attribute (`kb_<field>`) that
the export turns into a custom dimension (see `FIELD_ATTRIBUTES`). Callers pass
only ids, names, counts and codes: never secrets, never member contact data."""

from __future__ import annotations

import json
import logging
import os
import re

import msgspec

from bridge.common.log_record import RecordTemplates

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
        if "custom_dimensions" in record.__dict__:  # a structured line: printable (`_line`)
            return True
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


_ESCAPE_ONLY = [EscapeControlCharacters()]  # the logger's own filters
log.addFilter(_ESCAPE_ONLY[0])


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
_DIMENSIONS: dict[str, str] = {}  # field -> its `extra` name (kb_<field>), built once per field
_EXPORT_SETTINGS = ("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "PYTHON_ENABLE_OPENTELEMETRY")
_TRUE = frozenset({"1", "true", "t", "yes", "y"})  # what the worker reads as true


def _exported() -> bool:
    """Whether the worker exports records through OpenTelemetry (read once: the worker reads
    these settings when it starts, and a change of app settings restarts it)."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in _EXPORT_SETTINGS)


# Each field as a record attribute of its own (kb_<field>), what OpenTelemetry's log handler turns
# into a custom dimension. Only with the export on: without it no handler reads them.
FIELD_ATTRIBUTES = _exported()


def plain_value(value: object) -> bool:
    """Text, a number, a boolean or a list of them: what msgspec writes as `json.dumps` does."""
    return type(value) in _SCALARS or _plain_list(value)


def _plain_list(value: object) -> bool:
    """A list or tuple of plain values (see `_line`)."""
    kind = type(value)
    if kind is not list and kind is not tuple:
        return False
    scalars = _SCALARS
    for item in value:  # type: ignore[attr-defined]  # noqa: SIM110 - no generator per line
        if type(item) not in scalars:
            return False
    return True


def _line(data: dict[str, object], plain: bool) -> str:
    """`json.dumps(data, default=str, separators=(",", ":"))`, written by msgspec when that gives
    the same text (`plain`: text, numbers, booleans and lists of them, as checked by the caller;
    ASCII only), else by the standard library. Either way the line is ASCII with every control
    character escaped but DEL, which JSON allows raw: it is escaped too (the same JSON), so a
    structured line is printable as it stands and skips the control-character filter."""
    if plain:
        try:
            encoded = _ENCODE(data)
        except (TypeError, ValueError, OverflowError):  # not plain after all
            encoded = None
        if encoded is not None and encoded.isascii():
            line = encoded.decode("ascii")
            return line if "\x7f" not in line else line.replace("\x7f", "\\u007f")
    line = json.dumps(data, default=str, separators=(",", ":"))
    return line if "\x7f" not in line else line.replace("\x7f", "\\u007f")


def record(kind: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one structured line; None values are left out."""
    if log.isEnabledFor(level):
        write_line(kind, level, fields)


def enabled(level: int) -> bool:
    """Whether a line at `level` would be written (so a caller can skip building its fields)."""
    return log.isEnabledFor(level)


def write_line(kind: str, level: int, fields: dict[str, object]) -> None:
    """`record` for fields already in a dict, once `enabled(level)` said yes."""
    data: dict[str, object] = {"kind": kind}
    scalars = _SCALARS
    plain = True
    for key, value in fields.items():
        if value is not None:
            data[key] = value
            if type(value) not in scalars and plain:
                plain = _plain_list(value)
    write_fields(level, data, plain)


def write_fields(level: int, data: dict[str, object], plain: bool) -> None:
    """`write_line` for a caller that built the line's dict itself ("kind" first, no None
    value; `plain` only if `plain_value` holds for every value): one per webhook and queue
    message, without `write_line`'s walk over the fields."""
    extra: dict[str, object] = {"custom_dimensions": data}
    if FIELD_ATTRIBUTES:
        extra.update(_attributes(data))
    # What makeRecord does with `extra`, without checking each name against the record's own
    # attributes: these names (custom_dimensions, kb_*) are never one of them.
    record = _RECORDS.make(level, _line(data, plain), extra)
    if log.filters == _ESCAPE_ONLY and not log.disabled:
        # `log.handle` once its filter passed the record (a structured line is printable)
        log.callHandlers(record)
    else:
        log.handle(record)


def _attributes(data: dict[str, object]) -> dict[str, object]:
    """Each field as a record attribute of its own: kb_<field>."""
    names = _DIMENSIONS
    attributes: dict[str, object] = {}
    for key, value in data.items():
        name = names.get(key)
        if name is None:
            name = names.setdefault(key, f"kb_{key}")
        attributes[name] = value
    return attributes


# Every structured line names `record` as its function, as it did when `record` made them.
_RECORDS = RecordTemplates(log, __file__, record.__code__.co_firstlineno, "record")
