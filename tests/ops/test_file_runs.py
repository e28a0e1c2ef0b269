"""What `replay` and `erase` share as runs over a file, written once (bridge/ops/run_files.py): how
a run stops on request, the exceptions that end it early, and their options."""

from __future__ import annotations

import asyncio
import io

from bridge import cli
from bridge.ops.erase import Eraser
from bridge.ops.replay import Replayer
from bridge.ops.run_files import StoppableRun


async def test_a_first_stop_ends_the_wait_for_the_rate_limit_and_sends_nothing():
    run = StoppableRun()
    waiting = asyncio.ensure_future(run._paced(asyncio.sleep(3600)))
    await asyncio.sleep(0)
    assert run.stop() == "stopping"
    assert await waiting is False
    assert run.stop() == "already stopping"


async def test_a_first_stop_lets_the_request_in_flight_finish_and_a_second_abandons_it():
    run = StoppableRun()
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    finishing = asyncio.ensure_future(run._finished(answer))
    await asyncio.sleep(0)
    assert run.stop() == "finishing"
    answer.set_result("delivered")
    assert await finishing == "delivered"  # its outcome is recorded

    second = StoppableRun()
    pending: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    abandoned = asyncio.ensure_future(second._finished(pending))
    await asyncio.sleep(0)
    assert second.stop() == "finishing"
    assert second.stop() == "abandoning"
    assert await abandoned is None


async def test_cancelling_the_run_itself_is_not_mistaken_for_a_stop_request():
    run = StoppableRun()
    task = asyncio.ensure_future(run._paced(asyncio.sleep(3600)))
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("a cancelled run must stay cancelled")


def test_replay_and_erase_stop_the_same_way():
    assert issubclass(Replayer, StoppableRun)
    assert issubclass(Eraser, StoppableRun)
    assert "stop" not in vars(Replayer)
    assert "stop" not in vars(Eraser)


def test_replay_and_erase_take_the_same_run_options():
    def options(command: str) -> str:
        out = io.StringIO()
        assert cli.main([command, "--help"], stdout=out) == 0
        return out.getvalue()

    for command in ("replay", "erase"):
        text = options(command)
        for option in ("--rate N", "--checkpoint CHECKPOINT", "--restart", "--workspace NAME"):
            assert option in text, (command, option)
    assert "(FILE.checkpoint.json)" in options("replay")
    assert "(FILE.erase.checkpoint)" in options("erase")
