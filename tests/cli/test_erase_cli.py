"""`kognitiv-bridge erase`: members deleted from the emulator over real sockets, confirmation,
exit codes, the evidence report (no raw ids) and resumption after a real signal."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bridge import cli
from bridge.common.version import USER_AGENT
from bridge.deployment.runtime import current_runtime
from bridge.ops import erase as erasure
from bridge.ops import erasure_report
from delivery import MoEngageSender, RetryPolicy
from delivery.http import new_client
from moengage_emulator import Emulator
from tests.cli.test_replay_interruption import HeldRequest
from tests.conftest import APP_ID

pytestmark = pytest.mark.usefixtures("settings_env")
REPORT_KEY = "5f0c7e2b9a1d4e6f8c3b2a1908d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9"


@pytest.fixture(autouse=True)
def report_key(settings_env):
    """The operator's report key, as a secret setting (a Key Vault reference in Azure)."""
    settings_env.setenv(erasure_report.REPORT_KEY_SETTING, REPORT_KEY)


FINISHING = (
    "stopping: waiting for the deletes in flight to finish so their outcome is recorded "
    "(Ctrl-C again to abandon them)"
)


class Terminal(io.StringIO):
    """Standard input on a terminal, with the operator's answer typed in."""

    def isatty(self) -> bool:
        return True


def piped(text: str = "") -> io.TextIOWrapper:
    """Standard input from a pipe (not a terminal)."""
    return io.TextIOWrapper(io.BytesIO(text.encode()))


def erase(*argv: str, stdin: io.TextIOBase | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["erase", *argv], stdout=out, stderr=err, stdin=stdin or piped())
    return code, out.getvalue(), err.getvalue()


def seed(emulator: Emulator, *members: str) -> None:
    """Profiles at MoEngage, as earlier deliveries would have left them."""
    target = current_runtime().target
    elements = [
        {"type": "customer", "customer_id": member, "attributes": {"first_name": "Ana"}}
        for member in members
    ]
    response = httpx.post(
        f"{emulator.base_url}/v1/transition/{APP_ID}",
        json={"type": "transition", "elements": elements},
        headers=target.headers,
    )
    assert response.status_code == 200
    assert set(members) <= set(emulator.profiles)


def report_lines(path: Path) -> tuple[dict, list[dict]]:
    header, *lines = (json.loads(line) for line in path.read_text().splitlines())
    return header, lines


def deletes_sent(emulator: Emulator) -> Counter[str]:
    """Deletes MoEngage acted on, by member (an attempt failed with a 5xx is not counted)."""
    return Counter(
        json.loads(r.body)["identity_value"]
        for r in emulator.requests
        if r.path == "/v1/customer/delete" and r.status < 500
    )


def test_erase_deletes_each_member_and_reports_without_ids(tmp_path, moengage):
    seed(moengage, "M-100001", "M-100002")
    ids = tmp_path / "erase.txt"
    ids.write_text("# privacy requests, March\nM-100001\n\n  M-100002  \nM-100001\nM-404404\n")

    code, out, err = erase(str(ids), "--yes")

    assert code == 0
    assert json.loads(out) == {
        "ids": 3,
        "api": "delete_user",
        "done": 3,
        "delete_accepted": 2,
        "erasure_accepted": 0,
        "not_found": 1,
        "refused": 0,
        "resumed_at": 0,
        "moengage_requests": 3,
        "report": str(tmp_path / "erase.txt.erasure.jsonl"),
    }
    assert err == (
        f"about to erase 3 member(s) from MoEngage workspace {APP_ID} (data center 01): "
        "M-****01, M-****02, M-****04\n"
    )
    assert sorted(moengage.deletions) == [("customer_id", "M-100001"), ("customer_id", "M-100002")]
    moengage.elapse(24 * 3600)  # Delete User's buffer
    assert moengage.profiles == {}
    report = tmp_path / "erase.txt.erasure.jsonl"
    header, lines = report_lines(report)
    assert header["workspace"] == APP_ID
    assert header["member"] == "hmac-sha256(report key, member id), hex"
    assert set(header["outcomes"]) == {
        "delete_accepted",
        "erasure_accepted",
        "not_found",
        "refused",
    }
    assert REPORT_KEY not in report.read_text()

    def named(member: str) -> str:  # how the holder of the key and an id finds it in the report
        return hmac.new(REPORT_KEY.encode(), member.encode(), hashlib.sha256).hexdigest()

    answers = {  # deletes are in flight side by side: MoEngage's answers by member
        json.loads(r.body)["identity_value"]: r.response
        for r in moengage.requests
        if r.path == "/v1/customer/delete"
    }
    assert [(line["member"], line["outcome"], line["moengage_request_id"]) for line in lines] == [
        (named("M-100001"), "delete_accepted", answers["M-100001"]["request_id"]),
        (named("M-100002"), "delete_accepted", answers["M-100002"]["request_id"]),
        (named("M-404404"), "not_found", answers["M-404404"]["error"]["request_id"]),
    ]
    assert all(line["time"].endswith("Z") for line in lines)
    for member in ("M-100001", "M-100002", "M-404404", "100001"):
        assert member not in report.read_text()
        assert member not in out + err


def test_on_a_terminal_erase_asks_first(tmp_path, moengage):
    ids = tmp_path / "erase.txt"
    ids.write_text("M-100001\nmember@example.com\n")

    code, _, err = erase(str(ids), stdin=Terminal("no\n"))

    assert code == 1
    assert err == (
        f"about to erase 2 member(s) from MoEngage workspace {APP_ID} (data center 01): "
        "M-****01, <email>\n"
        "MoEngage deletes their profiles after 24 hours. Type 'yes' to go on:\n"
        "not confirmed; nothing was erased\n"
    )
    assert moengage.requests == []

    code, out, _ = erase(str(ids), stdin=Terminal("yes\n"))

    assert (code, json.loads(out)["done"]) == (0, 2)
    assert deletes_sent(moengage) == Counter({"M-100001": 1, "member@example.com": 1})


@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        (["FILE"], piped()),  # a script: no terminal to ask on
        (["-"], Terminal("M-100001\n")),  # the ids take standard input: nothing to ask with
    ],
    ids=["no-terminal", "ids-on-stdin"],
)
def test_without_a_terminal_to_ask_on_erase_needs_yes(tmp_path, moengage, argv, stdin):
    ids = tmp_path / "erase.txt"
    ids.write_text("M-100001\n")

    code, out, err = erase(*[str(ids) if a == "FILE" else a for a in argv], stdin=stdin)

    assert (code, out) == (2, "")
    assert "add --yes. Nothing was erased" in err
    assert moengage.requests == []


def test_ids_from_standard_input_with_yes(tmp_path, moengage, monkeypatch):
    monkeypatch.chdir(tmp_path)

    code, out, _ = erase("-", "--yes", stdin=piped("M-100001\nM-100002\n"))

    assert (code, json.loads(out)["report"]) == (0, "stdin.erasure.jsonl")
    assert len(report_lines(tmp_path / "stdin.erasure.jsonl")[1]) == 2
    assert deletes_sent(moengage) == Counter({"M-100001": 1, "M-100002": 1})


def test_invalid_ids_are_reported_by_line_and_nothing_is_sent(tmp_path, moengage):
    ids = tmp_path / "erase.txt"
    ids.write_text("M-100001\nnull\n{{memberId}}\n" + "9" * 513 + "\n")

    code, out, err = erase(str(ids), "--yes")

    assert (code, out) == (1, "")
    assert err == (
        "PROBLEM: line 2: the member id 'null' is a value MoEngage forbids as a user id\n"
        "PROBLEM: line 3: the member id is an unrendered Kognitiv placeholder: check the "
        "webhook template's field name\n"
        "PROBLEM: line 4: the member id is too long\n"
        "3 invalid member id(s); nothing was erased\n"
    )
    assert moengage.requests == []


def test_refused_credentials_stop_with_exit_3_and_the_rerun_resumes(
    tmp_path, moengage, settings_env
):
    ids = tmp_path / "erase.txt"
    ids.write_text("".join(f"M-{100000 + i}\n" for i in range(20)))
    settings_env.setenv("MOENGAGE_API_KEY", "a-wrong-key-0123456789")

    code, out, err = erase(str(ids), "--yes")

    assert (code, out) == (3, "")
    assert "stopped: MoEngage refused the credentials" in err
    assert {r.status for r in moengage.requests} == {401}
    assert report_lines(tmp_path / "erase.txt.erasure.jsonl")[1] == []

    settings_env.setenv("MOENGAGE_API_KEY", "test-key-0123456789")
    moengage.reset()
    code, out, _ = erase(str(ids), "--yes")

    assert (code, json.loads(out)["done"]) == (0, 20)
    assert deletes_sent(moengage) == Counter(f"M-{100000 + i}" for i in range(20))


def test_a_list_erased_to_its_end_is_run_again_only_with_restart(tmp_path, moengage):
    seed(moengage, "M-100001")
    ids = tmp_path / "erase.txt"
    ids.write_text("M-100001\n")
    assert erase(str(ids), "--yes")[0] == 0

    code, out, err = erase(str(ids), "--yes")

    assert (code, out) == (2, "")
    assert "was already erased to its end" in err
    assert "Use --restart to erase it again" in err

    moengage.elapse(24 * 3600)  # past Delete User's buffer: the profile is gone
    code, out, _ = erase(str(ids), "--yes", "--restart")

    assert (code, json.loads(out)["not_found"]) == (0, 1)  # gone already: done
    _, lines = report_lines(tmp_path / "erase.txt.erasure.jsonl")
    assert [line["outcome"] for line in lines] == ["delete_accepted", "not_found"]
    assert len({line["member"] for line in lines}) == 1  # the same key names it alike


def test_a_delete_moengage_refuses_is_reported_and_exits_1(tmp_path, moengage):
    ids = tmp_path / "erase.txt"
    ids.write_text("M-100001\nM-100002\n")
    refusal = {
        "status": "fail",
        "error": {
            "attribute": "identity_value",
            "message": "invalid",
            "type": "InvalidAttributeError",
            "request_id": "AbCdEfGh",
        },
    }
    moengage.inject(status=400, body=refusal, path_prefix="/v1/customer/delete")

    code, out, _ = erase(str(ids), "--yes")

    assert (code, json.loads(out)["refused"], json.loads(out)["done"]) == (1, 1, 1)
    _, lines = report_lines(tmp_path / "erase.txt.erasure.jsonl")
    refused = [line for line in lines if line["outcome"] == "refused"]
    assert refused[0]["moengage_request_id"] == "AbCdEfGh"
    assert "HTTP 400 (InvalidAttributeError)" in refused[0]["detail"]


def test_a_stop_lets_the_deletes_in_flight_finish_and_the_resume_sends_none_twice(
    tmp_path, moengage, monkeypatch
):
    members = [f"M-{100000 + i}" for i in range(40)]  # batches of 16: the stop comes in the 2nd
    ids = tmp_path / "erase.txt"
    ids.write_text("\n".join(members) + "\n")
    held = HeldRequest(moengage, monkeypatch, 20)
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "erase", str(ids), "--yes"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert held.arrived.wait(timeout=60)

    process.send_signal(signal.SIGINT)
    assert process.stderr.readline().startswith("about to erase 40 member(s)")
    assert process.stderr.readline().rstrip("\n") == FINISHING
    held.release()
    out, err = process.communicate(timeout=60)

    assert (process.returncode, out) == (130, "")
    report = tmp_path / "erase.txt.erasure.jsonl"
    assert err == (
        f"interrupted: 32 of 40 ids settled and in {report}; run the same command again to resume\n"
    )
    assert deletes_sent(moengage) == Counter(members[:32])

    code, out, _ = erase(str(ids), "--yes")

    assert (code, json.loads(out)["resumed_at"], json.loads(out)["done"]) == (0, 32, 40)
    assert deletes_sent(moengage) == Counter(members)  # each member exactly once
    assert len(report_lines(report)[1]) == 40


async def test_moengage_staying_unavailable_stops_the_run_and_the_resume_finishes_it(
    tmp_path, moengage
):
    members = [f"M-{100000 + i}" for i in range(20)]
    ids = tmp_path / "erase.txt"
    ids.write_text("\n".join(members) + "\n")
    runtime = current_runtime()
    options = erasure.EraseOptions(ids)

    async def no_wait(seconds: float) -> None:
        return None

    class OutageFromTheSecondBatch(erasure.Eraser):
        async def _settle(self, indices, ids, report):
            if self.next_id == erasure.BATCH_IDS:  # 4 deletes left, 2 attempts each
                moengage.inject(status=503, times=8, path_prefix="/v1/customer/delete")
            return await super()._settle(indices, ids, report)

    async def run(kind: type[erasure.Eraser] = erasure.Eraser) -> erasure.Eraser:
        async with new_client(USER_AGENT) as client:
            policy = RetryPolicy(attempts=2, budget=5)
            sender = MoEngageSender(runtime.target, client, policy, sleep=no_wait)
            report = erasure_report.ErasureReport(options.report, APP_ID, "01", REPORT_KEY.encode())
            eraser = kind(sender, report, options)
            await eraser.run(members)
            return eraser

    with pytest.raises(erasure.StillUnavailable):
        await run(OutageFromTheSecondBatch)

    assert len(report_lines(options.report)[1]) == erasure.BATCH_IDS
    assert deletes_sent(moengage) == Counter(members[: erasure.BATCH_IDS])

    eraser = await run()

    assert (eraser.summary.resumed_at, eraser.summary.done) == (erasure.BATCH_IDS, 20)
    assert deletes_sent(moengage) == Counter(members)  # each member acted on exactly once
    assert len(report_lines(options.report)[1]) == len(members)
