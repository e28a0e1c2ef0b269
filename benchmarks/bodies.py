"""Realistic Kognitiv webhook bodies, generated from a seed.

Each body is what a KLS webhook template renders (every value a quoted string, dates in the .NET
formats KLS uses), for the default rules' events plus the integration guide's MoEngage-shaped
body. Timestamps are spread over the last 90 days at second resolution, so a date conversion
cached from one body almost never serves another (no help from repetition across bodies)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

PASSTHROUGH = "guide_passthrough"
# Share of each kind in the generated stream (rewards dominate a loyalty program's traffic).
MIX: dict[str, float] = {
    "rewards_issued": 0.30,
    "rewards_redeemed": 0.20,
    "member_updated": 0.25,
    "member_enrolled": 0.10,
    PASSTHROUGH: 0.15,
}
KINDS = tuple(MIX)
SPREAD_SECONDS = 90 * 24 * 3600

_FIRST = ("Jordan", "Avery", "Sam", "Maria", "Chen", "Priya", "Lucas", "Emma", "Noah", "Zoë")
_LAST = ("Lee", "Garcia", "Smith", "Nguyen", "Müller", "Okafor", "Rossi", "Kowalski", "Brown")
_CITIES = (("Chicago", "US"), ("Toronto", "CA"), ("London", "GB"), ("Berlin", "DE"))
_LOCATIONS = ("Downtown Flagship", "Airport Kiosk", "Mall of the North", "Online Store")
_REWARDS = (
    ("Choice", "10% Off Voucher", "10.00", "1000"),
    ("Discount", "$5 Off Your Next Visit", "5.00", "500"),
    ("Product", "Free Coffee", "3.75", "350"),
    ("Experience", "VIP Lounge Pass", "49.99", "5,000"),
)


@dataclass(frozen=True, slots=True)
class Body:
    """One webhook delivery: the URL's event (None: the body names it) and the raw bytes."""

    kind: str
    event: str | None
    raw: bytes


class BodyFactory:
    """Seeded generator; `now` bounds every timestamp (MoEngage refuses future events)."""

    def __init__(self, seed: int = 20260314, now: float | None = None) -> None:
        self.random = random.Random(seed)
        self.now = time.time() - 3600 if now is None else now

    def _moment(self) -> datetime:
        return datetime.fromtimestamp(self.now - self.random.randrange(SPREAD_SECONDS), UTC)

    def _us(self, moment: datetime) -> str:  # 03/14/2026 09:30:00
        return moment.strftime("%m/%d/%Y %H:%M:%S")

    def _us_12h(self, moment: datetime) -> str:  # 3/20/2026 6:45:10 PM
        hour = moment.hour % 12 or 12
        meridiem = "PM" if moment.hour >= 12 else "AM"
        return (
            f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:"
            f"{moment.second:02d} {meridiem}"
        )

    def _member(self) -> str:
        return str(self.random.randrange(100_000, 999_999_999))

    def _profile(self) -> dict[str, str]:
        first, last = self.random.choice(_FIRST), self.random.choice(_LAST)
        city, country = self.random.choice(_CITIES)
        return {
            "memberId": self._member(),
            "memberEmail": f"{first.lower()}.{last.lower()}{self.random.randrange(99)}@example.com",
            "memberFirstName": first,
            "memberLastName": last,
            "memberMobile": f"+1312555{self.random.randrange(10_000):04d}",
            "memberAddressCity": city,
            "memberAddressCO": country,
            "memberPointsAvailable": str(self.random.randrange(0, 25_000)),
            "memberEmailContactAllowed": self.random.choice(("True", "False")),
            "memberSmsContactAllowed": self.random.choice(("True", "False")),
        }

    def rewards_issued(self) -> dict[str, str]:
        kind, name, value, cost = self.random.choice(_REWARDS)
        return {
            "memberId": self._member(),
            "issuedDate": self._us(self._moment()),
            "issuedLocationName": self.random.choice(_LOCATIONS),
            "rewardType": kind,
            "rewardName": name,
            "rewardValue": value,
            "rewardPointCost": cost,
        }

    def rewards_redeemed(self) -> dict[str, str]:
        kind, name, value, cost = self.random.choice(_REWARDS)
        return {
            "event": "rewards_redeemed",
            "memberId": self._member(),
            "redeemedDate": self._us_12h(self._moment()),
            "redeemedLocationName": self.random.choice(_LOCATIONS),
            "rewardType": kind,
            "rewardName": name,
            "rewardValue": value,
            "rewardPointCost": cost,
        }

    def member_enrolled(self) -> dict[str, str]:
        moment = self._moment()
        return {
            **self._profile(),
            "issuedTimestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "issuedDate": moment.strftime("%m/%d/%Y"),
        }

    def member_updated(self) -> dict[str, str]:
        return self._profile()

    def guide_passthrough(self) -> dict[str, object]:
        """The integration guide's template as KLS renders it (tests/fixtures guide-rendered)."""
        issued = self._us(self._moment())
        reward_type = self.random.choice(_REWARDS)[0]
        return {
            "type": "event",
            "customer_id": self._member(),
            "actions": [
                {
                    "action": "rewards_issued",
                    "attributes": {
                        "time": issued,
                        "issued_date": issued,
                        "issued_location_name": self.random.choice(_LOCATIONS),
                        "reward_type": reward_type,
                    },
                }
            ],
        }

    def make(self, kind: str) -> Body:
        body = getattr(self, kind)()
        # The URL names the event for the flat templates (except rewards_redeemed, which carries
        # "event" in its body, as in tests/fixtures); the MoEngage-shaped body names nothing.
        event = kind if kind in ("rewards_issued", "member_enrolled", "member_updated") else None
        return Body(kind, event, json.dumps(body, ensure_ascii=False).encode())

    def stream(self, count: int) -> Iterator[Body]:
        """`count` bodies drawn from MIX."""
        weights = [MIX[kind] for kind in KINDS]
        for kind in self.random.choices(KINDS, weights, k=count):
            yield self.make(kind)

    def of_kind(self, kind: str, count: int) -> list[Body]:
        return [self.make(kind) for _ in range(count)]


def replay_line(body: Body) -> bytes:
    """A `replay` input line: the body, or {"event", "body"} when the URL named the event."""
    if body.event is None:
        return body.raw
    return json.dumps(
        {"event": body.event, "body": json.loads(body.raw)}, ensure_ascii=False
    ).encode()
