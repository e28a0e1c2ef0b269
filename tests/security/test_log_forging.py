"""Log lines cannot be forged through a body: every value from a body that reaches a log line
has its control characters escaped, whatever the formatting sink (a plain text handler here, as
a console or file sink would render it)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bridge.common import telemetry
from tests.conftest import APP_ID, bridge_log, call_webhook, http_request

pytestmark = pytest.mark.usefixtures("settings_env")
FORGED = "ERROR forged: MoEngage credentials rotated, call +1 555 0100"


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    """The bridge's log as a text sink renders it: one record, one line."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    with bridge_log(handler):
        yield sink


@pytest.mark.parametrize("breaker", ["\n", "\r\n", "\r", "\u2028", "\x85"])
async def test_a_newline_in_a_passthrough_action_name_cannot_forge_a_line(
    moengage, text_log, breaker
):
    body = {
        "type": "event",
        "customer_id": "M-100245",
        "actions": [
            {
                "action": f"reward{breaker}{FORGED}",
                "platform": "Windows",  # dropped with a warning naming the action
                "attributes": {f"tier{breaker}{FORGED}": "gold", "moe_x": 1},
            }
        ],
    }

    status, answer, _ = await call_webhook(http_request(body))  # MoEngage-shaped: passed through

    assert status == 200, answer
    lines = text_log.getvalue().splitlines()
    assert lines, "the delivery logged nothing"
    assert not [line for line in lines if line.startswith("ERROR forged")]
    assert all(line.split(" ", 1)[0] in ("DEBUG", "INFO", "WARNING", "ERROR") for line in lines)
    escaped = breaker.encode("unicode_escape").decode()
    assert f"{escaped}{FORGED}" in text_log.getvalue()  # the value is still there, escaped
    # MoEngage received the action name exactly as Kognitiv sent it
    assert moengage.accepted[0]["actions"][0]["action"] == f"reward{breaker}{FORGED}"
    assert moengage.requests[0].path == f"/v1/event/{APP_ID}"


def test_numbers_keep_their_format_and_plain_text_is_untouched(text_log):
    logging.getLogger("kognitiv_bridge").warning(
        "%d of %s: %s", 3, "batch\x1b[2J", ["a\nb"], extra={}
    )

    assert text_log.getvalue() == "WARNING 3 of batch\\x1b[2J: ['a\\nb']\n"
    assert telemetry.escape_controls("plain text, ünïcode") == "plain text, ünïcode"
