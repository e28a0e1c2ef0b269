"""One structured log line per webhook and per queue message outcome.

The message is compact JSON (queryable in Application Insights with `parse_json(message)`), and
the same fields are passed as `extra` so they become custom dimensions when the worker's
OpenTelemetry export is on (`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`). Callers pass
only ids, names, counts and codes: never secrets, never member contact data."""

from __future__ import annotations

import json
import logging
import re

log = logging.getLogger("kognitiv_bridge")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ()./-]{7,}\d")


def mask_pii(text: str) -> str:
    """Mask e-mail addresses and phone numbers in free text (descriptions from elsewhere)."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


def mask_member_id(member_id: str) -> str:
    """Member ids stay searchable, unless a program uses e-mail addresses or phone numbers as
    ids: those are masked like any contact data."""
    if "@" in member_id or member_id.lstrip().startswith("+"):
        return mask_pii(member_id) if "@" in member_id else "<phone>"
    return member_id


def record(kind: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one structured line; None values are left out."""
    if not log.isEnabledFor(level):
        return
    data = {"kind": kind, **{k: v for k, v in fields.items() if v is not None}}
    log.log(
        level,
        json.dumps(data, default=str, separators=(",", ":")),
        extra={"custom_dimensions": data, **{f"kb_{k}": v for k, v in data.items()}},
    )
