"""Figure 1: mapping cost per body ÷ a plain `json.loads` + `json.dumps` of the same body.

"Mapping" is the code path every delivery takes: `bridge.webhook.handler.map_request` (read the
body, choose the rule, render, apply MoEngage's data rules) and `delivery.plan_requests` (the exact
request body bytes). Both sides run over the same bodies, alternating, best round of several."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from benchmarks.bodies import KINDS, Body, BodyFactory
from benchmarks.harness import Context, Figure, best_time, use_settings
from benchmarks.layout import module
from delivery import plan_requests

_runtime = module("bridge.deployment.runtime")
_handler = module("bridge.webhook.handler")
Runtime, current_runtime = _runtime.Runtime, _runtime.current_runtime
WebhookRequest, map_request = _handler.WebhookRequest, _handler.map_request

TARGET = 2.0


def _ours(runtime: Runtime, bodies: Sequence[Body]) -> None:
    for body in bodies:
        _, result = map_request(runtime, WebhookRequest(body.raw, route_event=body.event))
        for request in plan_requests([result.elements]):
            request.body  # noqa: B018 - the bytes that would be sent


def _json_round_trip(bodies: Sequence[Body]) -> None:
    for body in bodies:
        json.dumps(json.loads(body.raw))


_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})", re.ASCII)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _us_datetime(text: str) -> str:
    month, day, year, hour, minute, second = map(int, _US.fullmatch(text).groups())  # type: ignore[union-attr]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def hand_written_rewards_issued(raw: bytes) -> bytes:
    """An anchor, not a product: rewards_issued mapped by hand with no checks at all (one date
    parse, no rule engine, no data rules). No generic mapping can be cheaper than this."""
    body = json.loads(raw)
    issued = _us_datetime(body["issuedDate"])
    element = {
        "type": "event",
        "customer_id": body["memberId"],
        "actions": [
            {
                "action": "rewards_issued",
                "current_time": issued,
                "attributes": {
                    "issued_date": issued,
                    "issued_location_name": body["issuedLocationName"],
                    "reward_type": body["rewardType"],
                    "reward_name": body["rewardName"],
                    "reward_value": float(body["rewardValue"]),
                    "reward_point_cost": int(body["rewardPointCost"].replace(",", "")),
                },
            }
        ],
    }
    return _COMPACT(element).encode()


def _floor(bodies: Sequence[Body]) -> None:
    for body in bodies:
        hand_written_rewards_issued(body.raw)


def _round(runtime: Runtime, bodies: Sequence[Body], floor: bool) -> dict[str, float]:
    """Microseconds per body of each side over the same bodies."""
    sides: dict[str, Callable[[], object]] = {
        "ours": lambda: _ours(runtime, bodies),
        "json": lambda: _json_round_trip(bodies),
    }
    if floor:
        sides["floor"] = lambda: _floor(bodies)
    return {side: best_time(call, 1) / len(bodies) * 1e6 for side, call in sides.items()}


def _side_by_side(
    runtime: Runtime, draw: Callable[[], list[Body]], rounds: int, floor: bool = False
) -> dict[str, float]:
    """Best round of each side. Every round draws bodies never seen before, so no cache is
    served by an earlier round."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for side, micros in _round(runtime, draw(), floor).items():
            best[side] = min(best.get(side, micros), micros)
    return best


def run(context: Context) -> Figure:
    use_settings()
    runtime = current_runtime()
    factory = BodyFactory()
    rounds = context.size(7, 2)
    mix_size, kind_size = context.size(4000, 100), context.size(1500, 30)
    _ours(runtime, list(factory.stream(mix_size)))  # warm: first calls are not the steady state
    mix = _side_by_side(runtime, lambda: list(factory.stream(mix_size)), rounds)
    ours, json_ = mix["ours"], mix["json"]
    per_kind: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        timing = _side_by_side(
            runtime,
            lambda kind=kind: factory.of_kind(kind, kind_size),  # type: ignore[misc]
            rounds,
            floor=kind == "rewards_issued",
        )
        per_kind[kind] = {
            "ours_us": round(timing["ours"], 2),
            "json_us": round(timing["json"], 2),
            "ratio": round(timing["ours"] / timing["json"], 2),
        }
        if kind == "rewards_issued":
            floor_us, floor_ratio = timing["floor"], timing["floor"] / timing["json"]
    ratio = ours / json_
    return Figure(
        key="mapping",
        title="mapping cost per body ÷ json.loads+json.dumps",
        value=round(ratio, 2),
        unit="x",
        target=f"≤ {TARGET}",
        met=ratio <= TARGET,
        anchor=(
            f"json round trip {json_:.1f} µs; hand-written rewards_issued (no checks) "
            f"{floor_ratio:.1f}x"
        ),
        details={
            "ours_us_per_body": round(ours, 2),
            "json_us_per_body": round(json_, 2),
            "bodies_per_round": mix_size,
            "rounds": rounds,
            "per_kind": per_kind,
            "hand_written_rewards_issued_us": round(floor_us, 2),
            "hand_written_rewards_issued_ratio": round(floor_ratio, 2),
        },
        note=f"mix of {mix_size} bodies: ours {ours:.1f} µs, json {json_:.1f} µs per body",
    )
