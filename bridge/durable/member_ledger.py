"""The member states of `bridge.durable.member_order` in Table Storage (`kognitivmembers`): one
row per member (a hash of workspace and customer id, never member data), leased by one batch
while it sends, holding the times of what was applied and claimed, never values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.durable.member_order import LEASE_SECONDS, Claim, MemberState, Order
from bridge.durable.tables import TableAccess, row_of

TABLE_NAME = "kognitivmembers"


def member_row(member: str) -> tuple[str, str]:
    return row_of(member)


class MemberLedger(TableAccess):
    """Member states in Table Storage, each leased by one batch while it sends."""

    TABLE = TABLE_NAME

    async def acquire(
        self, claims: dict[str, MemberState], owner: str, now: datetime
    ) -> dict[str, MemberState | None]:
        """Lease each member's row for `owner`, writing the times this batch may apply (its
        claim, `claims_of`) before it sends: the member's state when leased (a claim an earlier
        batch left unsettled taken as applied), None when another live batch holds it; a
        member whose row could not be read in time is left out."""

        def lease(member: str) -> MemberState | None:
            return self._lease(member, owner, now, claims[member])

        return await self._each(lease, list(claims))

    def _lease(
        self, member: str, owner: str, now: datetime, claim: MemberState | None = None
    ) -> MemberState | None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        table = self._table()
        partition, row = member_row(member)
        try:
            entity = table.get_entity(partition, row)
        except ResourceNotFoundError:
            entity = None
        if entity is not None:
            until = _aware(entity.get("LeaseUntil"))
            if entity.get("LeaseOwner") not in (None, owner) and until and until > now:
                return None
        state = _state_of(entity)
        state.settle_claim(now)
        claimed = MemberState(
            **{**vars(state), "claimed": {}, "claimed_erased": None, "claimed_keys": {}}
        )
        if claim is not None:
            claimed.claimed, claimed.claimed_erased = claim.claimed, claim.claimed_erased
            claimed.claimed_keys = claim.claimed_keys
            claimed.claimed_erased_key = claim.claimed_erased_key
        lease = {
            "PartitionKey": partition,
            "RowKey": row,
            **_columns(claimed),
            "LeaseOwner": owner,
            "LeaseUntil": now + timedelta(seconds=LEASE_SECONDS),
        }
        try:
            if entity is None:
                written = table.create_entity(lease)
            else:
                written = table.update_entity(
                    lease,
                    mode=UpdateMode.REPLACE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
        except HttpResponseError:  # 409 / 412: another batch leased it first
            return None
        state.etag = written.get("etag")
        return state

    async def release(self, states: dict[str, MemberState], owner: str) -> None:
        """Write the states and end the leases (only while still ours: ETag condition)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        def write(member: str) -> None:
            state = states[member]
            partition, row = member_row(member)
            entity = {"PartitionKey": partition, "RowKey": row, **_columns(state)}
            try:
                self._table().update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=state.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except HttpResponseError as error:
                if error.status_code != 412:  # 412: the lease expired and was taken over
                    raise

        answers = await self._each(write, list(states))
        if len(answers) < len(states):
            raise TimeoutError(f"{len(states) - len(answers)} member states were not written")


def _state_of(entity: Any) -> MemberState:
    """The state in a row's `State` column (JSON of orders as microsecond times and sequence
    numbers: exact, so a barrier compares equal to its own delete's order); an unreadable
    column is an empty state."""
    if entity is None:
        return MemberState()
    try:
        raw = json.loads(entity.get("State") or "{}")
        return MemberState(
            {str(name): _order(value) for name, value in raw.get("attributes", {}).items()},
            _order(raw.get("erased")),
            _order(raw.get("barrier")),
            _time(raw.get("barrier_set")),
            {str(name): _order(value) for name, value in raw.get("claimed", {}).items()},
            _order(raw.get("claimed_erased")),
            claimed_keys={str(n): str(k) for n, k in raw.get("claimed_keys", {}).items()},
            claimed_erased_key=raw.get("claimed_erased_key"),
            unsettled={
                str(name): [_claim(value) for value in values]
                for name, values in raw.get("unsettled", {}).items()
            },
            unsettled_erased=[_claim(value) for value in raw.get("unsettled_erased", [])],
            unsettled_since=_time(raw.get("unsettled_since")),
        )
    except (ValueError, TypeError, AttributeError, OverflowError):
        return MemberState()


def _time(micros: Any) -> Any:
    if micros is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))


def _order(value: Any) -> Any:
    """`[micros, sequence]`; a bare number (a row written before sequences) has sequence 0."""
    if value is None:
        return None
    if isinstance(value, list):
        micros, sequence = value
        return Order(_time(micros), int(sequence))
    return Order(_time(value))


def _claim(value: Any) -> Claim:
    """`[order, key]`."""
    order, key = value
    return Claim(_order(order), None if key is None else str(key))


def _order_value(order: Order | None) -> list[int] | None:
    if order is None:
        return None
    return [_micros(order.time) or 0, order.sequence]


def _micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _columns(state: MemberState) -> dict[str, object]:
    data = {
        "attributes": {name: _order_value(order) for name, order in state.attributes.items()},
        "erased": _order_value(state.erased),
        "barrier": _order_value(state.barrier),
        "barrier_set": _micros(state.barrier_set),
        "claimed": {name: _order_value(order) for name, order in state.claimed.items()},
        "claimed_erased": _order_value(state.claimed_erased),
        "claimed_keys": state.claimed_keys,
        "claimed_erased_key": state.claimed_erased_key,
        "unsettled": {
            name: [[_order_value(c.order), c.key] for c in claims]
            for name, claims in state.unsettled.items()
        },
        "unsettled_erased": [[_order_value(c.order), c.key] for c in state.unsettled_erased],
        "unsettled_since": _micros(state.unsettled_since),
    }
    return {"State": json.dumps(data)}


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
