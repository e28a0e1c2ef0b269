"""A batch's `queue_message` lines written while its last waves wait for MoEngage.

The bridge is CPU-bound except at the end of a batch, when the last wave waits for MoEngage's
answer: the lines of messages whose outcome is already final are written then, filling that
wait instead of following it. Final means delivered (a wave's keys are settled when its task
ends) or decided at admission (a duplicate; delivered before). Retries and dead letters are
written only after their copies are (`log_outcomes` once the batch is settled): if those writes
fail the batch is redelivered, and no line claims a retry or letter that was not written."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bridge.durable.messages import IncomingMessage
from bridge.queue.outcomes import MessageOutcome, Outcome, log_outcomes

FINAL_AT_ADMISSION = frozenset({Outcome.DUPLICATE, Outcome.DELIVERED})
# While waves are in flight, lines written between two turns of the event loop: a wave's
# request and its answer each take several turns, and the last wave's answer is the batch's
# end (8 measured better than the mapping loop's 16; see BENCHMARKS.md).
TURN_EVERY_LINES = 8


@dataclass
class BatchLines:
    """What one batch's lines need; `written` holds the positions whose line is out."""

    workspace: str
    messages: Sequence[IncomingMessage]
    outcomes: dict[int, MessageOutcome]  # by position, filled as outcomes are decided
    members: dict[int, list[str]]
    started: float  # `time.perf_counter()` when the batch's processing started
    clock: Callable[[], datetime]
    written: set[int]

    async def write(self, positions: list[int], in_flight: bool) -> None:
        """Write these lines; while waves are in flight, a turn of the event loop every
        TURN_EVERY_LINES lines lets them send their requests and read their answers."""
        step = TURN_EVERY_LINES if in_flight else len(positions) or 1
        for start in range(0, len(positions), step):
            log_outcomes(
                self.workspace, self.messages, self.outcomes, self.members, self.started,
                self.clock(), positions[start : start + step], self.written,
            )  # fmt: skip
            if in_flight:
                await asyncio.sleep(0)

    def delivered(self, positions: list[int]) -> list[int]:
        """Of a wave that ended, the positions delivered."""
        outcomes, delivered = self.outcomes, Outcome.DELIVERED
        return [p for p in positions if p in outcomes and outcomes[p].outcome is delivered]


async def log_as_waves_end(
    lines: BatchLines, final: list[int], waves: dict[asyncio.Task[None], list[int]]
) -> None:
    """Once the last wave has started: the lines decided at admission (`final`) and those of
    the waves that ended while the batch was mapped, then each wave's delivered lines as it
    ends. Called inside the batch's TaskGroup, so a wave that failed cancels this too."""
    in_flight = {task for task in waves if not task.done()}
    ended = [task for task in waves if task not in in_flight]
    await lines.write(final, bool(in_flight))
    while True:
        for task in ended:
            if not task.cancelled() and task.exception() is None:
                await lines.write(lines.delivered(waves[task]), bool(in_flight))
        if not in_flight:
            return
        done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        ended = [task for task in waves if task in done]  # in the order of the waves
