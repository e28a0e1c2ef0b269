"""Consent stays honest: Kognitiv's default rules never re-subscribe a member implicitly. The
scenario runs against the emulator's profiles over real sockets: a member unsubscribes through a
MoEngage e-mail link (Kognitiv never learns of it), then Kognitiv sends a points update."""

from __future__ import annotations

import httpx
import pytest

from bridge.deployment.runtime import current_runtime
from tests.conftest import APP_ID, call_webhook, fixture_body, http_request

pytestmark = pytest.mark.usefixtures("settings_env")
MEMBER = "100246"


def unsubscribe_in_moengage(moengage) -> None:
    """What MoEngage's own unsubscribe link does to the profile."""
    element = {"type": "customer", "customer_id": MEMBER, "attributes": {"moe_unsubscribe": True}}
    response = httpx.post(
        f"{moengage.base_url}/v1/customer/{APP_ID}",
        json=element,
        headers=current_runtime().target.headers,
    )
    assert response.status_code == 200


async def deliver(event: str, **fields: object) -> None:
    body = {**fixture_body("member_enrolled"), "memberId": MEMBER, **fields}
    status, answer, _ = await call_webhook(http_request(body, event))
    assert status == 200, answer


async def test_a_points_update_does_not_re_subscribe_a_member_who_unsubscribed_in_moengage(
    moengage,
):
    await deliver("member_enrolled", memberEmailContactAllowed="True")
    assert "moe_unsubscribe" not in moengage.profiles[MEMBER]  # subscribed by MoEngage's default
    unsubscribe_in_moengage(moengage)

    await deliver("member_updated", memberEmailContactAllowed="True", memberPointsAvailable="750")

    profile = moengage.profiles[MEMBER]
    assert profile["points_balance"] == 750
    assert profile["moe_unsubscribe"] is True  # still unsubscribed
    assert profile["email_contact_allowed"] is True  # Kognitiv's own fact, kept for segments
    sent = [r.body for r in moengage.requests if r.path == f"/v1/customer/{APP_ID}"]
    assert b"moe_unsubscribe" not in sent[-1]


async def test_kognitiv_saying_not_allowed_always_unsubscribes(moengage):
    await deliver("member_enrolled", memberEmailContactAllowed="True")

    await deliver("member_updated", memberEmailContactAllowed="False")

    assert moengage.profiles[MEMBER]["moe_unsubscribe"] is True


async def test_only_a_consent_change_re_subscribes(moengage):
    await deliver("member_enrolled", memberEmailContactAllowed="False")
    assert moengage.profiles[MEMBER]["moe_unsubscribe"] is True
    await deliver("member_updated", memberEmailContactAllowed="True")
    assert moengage.profiles[MEMBER]["moe_unsubscribe"] is True

    await deliver("member_consent_changed", memberEmailContactAllowed="True")

    assert moengage.profiles[MEMBER]["moe_unsubscribe"] is False
    assert moengage.profiles[MEMBER]["email_contact_allowed"] is True
