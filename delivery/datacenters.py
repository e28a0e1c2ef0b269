"""MoEngage data centers, as data. The DC is in the dashboard URL (dashboard-{DC}.moengage.com)
and never changes for a workspace."""

from __future__ import annotations

import re

DATA_CENTERS: dict[str, str] = {
    "01": "US",
    "02": "EU",
    "03": "India",
    "04": "US (second US data center)",
    "05": "Singapore",
    "06": "Indonesia",
    "101": "listed by MoEngage, region not stated",
}
HOST_TEMPLATE = "https://api-{dc}.moengage.com"
_SPELLING = re.compile(
    r"(?:https?://)?(?:dc|api|dashboard)?[-_ ]?0*(\d{1,3})(?:\.moengage\.com/?)?"
)


def valid_data_centers() -> str:
    return ", ".join(DATA_CENTERS)


def normalise_data_center(raw: str) -> str:
    """`1`, `01`, `DC-01`, `dc01`, `api-01` (and the like) -> `01`; anything else raises."""
    match = _SPELLING.fullmatch(raw.strip().lower())
    if match:
        number = int(match.group(1))
        code = f"{number:02d}"
        if code in DATA_CENTERS:
            return code
    raise ValueError(f"is not a MoEngage data center; valid values: {valid_data_centers()}")


def api_base_url(data_center: str) -> str:
    return HOST_TEMPLATE.format(dc=data_center)
