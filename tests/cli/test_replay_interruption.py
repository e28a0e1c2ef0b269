"""`replay` never sends a line twice when stopped: a real `python -m bridge replay` process, a
real signal while a request is provably in flight (held at the emulator), then a resume."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from bridge import cli
from bridge.common.version import USER_AGENT
from bridge.deployment.runtime import current_runtime
from bridge.ops.replay import Replayer, ReplayOptions
from bridge.ops.run_files import Interrupted
from delivery import MoEngageSender
from delivery.http import new_client
from moengage_emulator import Emulator
from tests.conftest import fixture_body

pytestmark = pytest.mark.usefixtures("settings_env")

LINES = 1600  # batches of 500 lines; each batch is 2 bulk requests at the emulator
HELD = 3  # the first request of the second batch
FINISHING = (
    "stopping: waiting for the MoEngage requests in flight to finish so their outcome is "
    "recorded (Ctrl-C again to abandon them)"
)
ABANDONING = (
    "abandoning the requests in flight: their lines are recorded as unconfirmed in the failed "
    "file and are not sent again"
)


class HeldRequest:
    """Holds the emulator's `number`th accepted request after it was accepted and before it is
    answered: from the client's side that request is in flight until `release()`."""

    def __init__(self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, number: int) -> None:
        self.arrived, self._release, self.answered = (threading.Event() for _ in range(3))
        counter = itertools.count(1)  # next() is atomic: handler threads share it
        keep = emulator._keep

        def held_keep(verdict: object) -> object:
            if next(counter) != number:
                return keep(verdict)
            self.arrived.set()
            self._release.wait(timeout=60)
            kept = keep(verdict)
            self.answered.set()
            return kept

        monkeypatch.setattr(emulator, "_keep", held_keep)

    def release(self) -> None:
        self._release.set()
        assert self.answered.wait(timeout=60)


def members(count: int) -> list[str]:
    return [f"R-{index:05d}" for index in range(count)]


def write_source(path: Path) -> Path:
    body = fixture_body("rewards_issued")
    path.write_text(
        "".join(
            json.dumps({"event": "rewards_issued", **body, "memberId": member}) + "\n"
            for member in members(LINES)
        )
    )
    return path


def start_replay(source: Path | str, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge", "replay", str(source), *(options or ["--no-progress"])],
        stdin=subprocess.PIPE if source == "-" else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def resume(source: Path) -> tuple[int, dict]:
    out = io.StringIO()
    code = cli.main(["replay", str(source), "--no-progress"], stdout=out, stderr=io.StringIO())
    return code, json.loads(out.getvalue())


def accepted_members(emulator: Emulator) -> Counter[str]:
    return Counter(element["customer_id"] for element in emulator.accepted)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_stop_finishes_the_request_in_flight_and_the_resume_sends_the_rest_once(
    tmp_path, moengage, monkeypatch, stop_signal
):
    source = write_source(tmp_path / "bodies.jsonl")
    held = HeldRequest(moengage, monkeypatch, HELD)
    process = start_replay(source)
    assert held.arrived.wait(timeout=60)

    process.send_signal(stop_signal)
    assert process.stderr.readline().rstrip("\n") == FINISHING
    held.release()
    out, err = process.communicate(timeout=60)

    assert process.returncode == 130
    assert out == ""
    assert err == (
        "interrupted: 1000 lines done (1000 delivered, 0 failed), checkpoint saved; run the same "
        "command again to resume at line 1001\n"
    )
    assert accepted_members(moengage) == Counter(members(1000))

    code, summary = resume(source)

    assert code == 0
    assert (summary["resumed_at_line"], summary["lines"], summary["delivered"]) == (
        1000,
        1600,
        1600,
    )
    assert accepted_members(moengage) == Counter(members(LINES))  # every member exactly once


def test_a_second_stop_abandons_the_request_in_flight_and_records_its_lines(
    tmp_path, moengage, monkeypatch
):
    source = write_source(tmp_path / "bodies.jsonl")
    held = HeldRequest(moengage, monkeypatch, HELD)
    process = start_replay(source)
    assert held.arrived.wait(timeout=60)

    process.send_signal(signal.SIGINT)
    assert process.stderr.readline().rstrip("\n") == FINISHING
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    held.release()  # MoEngage accepts the abandoned request after the client gave up on it

    assert process.returncode == 130
    assert out == ""
    failed = tmp_path / "bodies.jsonl.failed.jsonl"
    assert err == (
        f"{ABANDONING}\n"
        "interrupted: 1000 lines done (500 delivered, 500 failed), checkpoint saved; run the same "
        "command again to resume at line 1001\n"
        f"500 lines were abandoned in flight and may have reached MoEngage: they are in {failed} "
        "(reason unconfirmed); check before replaying that file\n"
    )
    unconfirmed = [json.loads(line)["memberId"] for line in failed.read_text().splitlines()]
    assert unconfirmed == members(1000)[500:]

    code, summary = resume(source)

    assert code == 1  # the unconfirmed lines stay reported as failed
    assert summary["failed_by_reason"] == {"unconfirmed": 500}
    assert summary["delivered"] == 1100
    assert [json.loads(line)["memberId"] for line in failed.read_text().splitlines()] == (
        unconfirmed
    )
    assert accepted_members(moengage) == Counter(members(LINES))  # every member exactly once


def test_a_stop_while_reading_standard_input_says_where_to_go_on(tmp_path, moengage, monkeypatch):
    source = write_source(tmp_path / "bodies.jsonl")
    held = HeldRequest(moengage, monkeypatch, HELD)
    process = start_replay("-")

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError):  # the replay stops reading when it stops
            process.stdin.write(source.read_text())
            process.stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    assert held.arrived.wait(timeout=60)
    process.send_signal(signal.SIGINT)
    assert process.stderr.readline().rstrip("\n") == FINISHING
    held.release()
    process.wait(timeout=60)

    assert process.returncode == 130
    assert process.stderr.read() == (
        "interrupted: the first 1000 lines of standard input are done (1000 delivered, "
        "0 failed); to go on: tail -n +1001 FILE | kognitiv-bridge replay -\n"
    )
    rest = "".join(source.read_text().splitlines(keepends=True)[1000:])  # tail -n +1001
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(rest.encode())))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert cli.main(["replay", "-", "--no-progress"], stdout=out, stderr=io.StringIO()) == 0
    assert json.loads(out.getvalue())["delivered"] == 600
    assert accepted_members(moengage) == Counter(members(LINES))  # every member exactly once


def test_a_stop_before_anything_was_sent_sends_nothing(tmp_path, moengage):
    source = write_source(tmp_path / "bodies.jsonl")
    process = start_replay(source, "--rate", "600")  # 50 elements per 5 s: the first batch waits
    first = process.stderr.readline()  # progress starts once the stop handlers are in place
    assert first.startswith("replay: 0 lines, 0 delivered, 0 failed")

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert (process.returncode, out) == (130, "")
    interrupted = (
        "interrupted: 0 lines done (0 delivered, 0 failed), checkpoint saved; run the same "
        "command again to resume at line 1\n"
    )
    # mapping the first batch (stopped at once) or waiting for the rate limit (wait cancelled)
    assert err in (
        interrupted,
        "stopping: nothing was in flight; saving the checkpoint\n" + interrupted,
    )
    assert moengage.requests == []

    code, summary = resume(source)

    assert (code, summary["resumed_at_line"], summary["delivered"]) == (0, 0, LINES)
    assert accepted_members(moengage) == Counter(members(LINES))


async def test_a_stop_while_waiting_for_the_rate_limit_cancels_the_wait(tmp_path, moengage):
    source = write_source(tmp_path / "bodies.jsonl")
    runtime = current_runtime()
    outcomes: list[str] = []

    class StoppedWhileWaiting(Replayer):
        async def _acquire(self, elements: float) -> None:
            # the stop arrives once this wait has begun (50 of the batch's 500 elements fit)
            asyncio.get_running_loop().call_soon(lambda: outcomes.append(self.stop()))
            await super()._acquire(elements)

    async with new_client(USER_AGENT) as client:
        sender = MoEngageSender(runtime.target, client, gate=runtime.gate)
        options = ReplayOptions(source, rate_per_minute=600)
        with pytest.raises(Interrupted) as stopped:
            await StoppedWhileWaiting(runtime, sender, options).run()

    assert outcomes == ["stopping"]
    assert (stopped.value.next_line, stopped.value.summary.lines) == (0, 0)
    assert moengage.requests == []
