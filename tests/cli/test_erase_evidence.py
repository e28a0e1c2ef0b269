"""`erase` evidence and MoEngage's own semantics: the report cannot be searched without the
operator's key, outcomes say what MoEngage accepted (Delete User or GDPR erasure), a delete
refused for one member never stops the run, and deletes that settled beside a failure are
recorded so a resume does not send them again. Over real sockets against the emulator."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bridge.deployment.runtime import current_runtime
from bridge.ops import erasure_report
from moengage_emulator.server import DELETE_BUFFER
from tests.cli.test_erase_cli import deletes_sent, erase, report_lines, seed
from tests.conftest import APP_ID

pytestmark = pytest.mark.usefixtures("settings_env")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """Where the operator keeps the report key: apart from the report."""
    vault = tmp_path / "operator-only"
    vault.mkdir()
    return vault / "erasure.key"


def ids_file(tmp_path: Path, members: list[str]) -> Path:
    path = tmp_path / "erase.txt"
    path.write_text("".join(f"{member}\n" for member in members))
    return path


# --- 12. the report alone does not identify anyone ----------------------------------------------


def strings_in(value: object) -> list[str]:
    """Every text a report holds, at any depth: an attacker's candidate keys."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.items() for part in item for text in strings_in(part)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []


def test_a_report_cannot_be_brute_forced_with_a_candidate_list(tmp_path, moengage, key_file):
    candidates = [str(100000 + i) for i in range(2000)]  # short numeric ids: the worst case
    erased = candidates[::97]
    seed(moengage, *erased)

    code, _, err = erase(str(ids_file(tmp_path, erased)), "--yes", "--report-key", str(key_file))

    assert code == 0
    assert f"created the report key {key_file}" in err
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    report = tmp_path / "erase.txt.erasure.jsonl"
    header, lines = report_lines(report)
    named = {line["member"] for line in lines}
    assert len(named) == len(erased)
    # the attacker holds the report and every candidate id, and tries every text in the report
    # as the key, no key, and plain digests
    tried = [text.encode() for text in strings_in([header, *lines])] + [b""]
    found = set()
    for candidate in candidates:
        found.update(
            candidate
            for key in tried
            if hmac.new(key, candidate.encode(), hashlib.sha256).hexdigest() in named
        )
        for digest in (hashlib.sha256, hashlib.sha1, hashlib.md5):
            if digest(candidate.encode()).hexdigest() in named:
                found.add(candidate)
    assert found == set()
    key = key_file.read_bytes().strip()
    assert key.decode() not in report.read_text()
    # whoever holds the key (kept apart) finds every erased member, and only those
    holder = {
        candidate
        for candidate in candidates
        if hmac.new(key, candidate.encode(), hashlib.sha256).hexdigest() in named
    }
    assert holder == set(erased)


def test_the_checkpoint_of_a_one_member_list_cannot_be_brute_forced(tmp_path, moengage, key_file):
    """A privacy request often names one member: the checkpoint's list digest is then that
    member's digest, so it is keyed like the report's names."""
    candidates = [str(100000 + i) for i in range(2000)]
    erased = candidates[1234]
    seed(moengage, erased)

    code, _, _ = erase(str(ids_file(tmp_path, [erased])), "--yes", "--report-key", str(key_file))

    assert code == 0
    checkpoint = (tmp_path / "erase.txt.erase.checkpoint").read_text()
    saved = json.loads(checkpoint)
    assert saved["completed"] is True
    texts = set(strings_in(saved))
    tried = [text.encode() for text in texts] + [b""]
    found = set()
    for candidate in candidates:
        for line in (candidate, f"{candidate}\n"):
            for digest in (hashlib.sha256, hashlib.sha1, hashlib.md5):
                if digest(line.encode()).hexdigest() in texts:
                    found.add(candidate)
            for key in tried:
                if hmac.new(key, line.encode(), hashlib.sha256).hexdigest() in texts:
                    found.add(candidate)
    assert found == set()
    assert erased not in checkpoint
    # the same list with the same key is still recognised: running it again says it is done
    again, _, err = erase(str(tmp_path / "erase.txt"), "--yes", "--report-key", str(key_file))
    assert again != 0
    assert "already" in err


def test_erase_refuses_to_run_without_a_report_key(tmp_path, moengage):
    code, out, err = erase(str(ids_file(tmp_path, ["M-100001"])), "--yes")

    assert (code, out) == (2, "")
    assert err == (
        "error: erase needs a report key kept apart from the report: --report-key FILE (created "
        "when missing) or the setting KOGNITIV_ERASURE_REPORT_KEY; nothing was erased\n"
    )
    assert moengage.requests == []


def test_a_report_written_with_another_key_is_never_appended_to(
    tmp_path, moengage, key_file, settings_env
):
    path = ids_file(tmp_path, ["M-100001"])
    seed(moengage, "M-100001")
    assert erase(str(path), "--yes", "--report-key", str(key_file))[0] == 0
    before = (tmp_path / "erase.txt.erasure.jsonl").read_text()
    settings_env.setenv(erasure_report.REPORT_KEY_SETTING, "f" * 64)

    code, _, err = erase(str(path), "--yes", "--restart")

    assert code == 2
    assert "was written with another report key" in err
    assert (tmp_path / "erase.txt.erasure.jsonl").read_text() == before


def test_a_short_report_key_is_refused(tmp_path, moengage, settings_env):
    settings_env.setenv(erasure_report.REPORT_KEY_SETTING, "secret")

    code, _, err = erase(str(ids_file(tmp_path, ["M-100001"])), "--yes")

    assert code == 2
    assert "is too short: use at least 32 random characters" in err
    assert moengage.requests == []


# --- 11. outcomes name what MoEngage accepted; the GDPR erasure API --------------------------


def test_delete_user_is_reported_as_accepted_not_as_erased(tmp_path, moengage, key_file):
    seed(moengage, "M-100001")

    code, out, _ = erase(
        str(ids_file(tmp_path, ["M-100001"])), "--yes", "--report-key", str(key_file)
    )

    assert (code, json.loads(out)["delete_accepted"], json.loads(out)["api"]) == (
        0,
        1,
        "delete_user",
    )
    header, [line] = report_lines(tmp_path / "erase.txt.erasure.jsonl")
    assert line["outcome"] == "delete_accepted"
    assert "24-hour buffer" in header["outcomes"]["delete_accepted"]
    assert "events are not deleted" in header["outcomes"]["delete_accepted"]
    assert "M-100001" in moengage.profiles  # what "accepted" means: still there, in its buffer
    moengage.elapse(DELETE_BUFFER)
    assert "M-100001" not in moengage.profiles


def test_gdpr_erasure_sends_moengage_s_opengdpr_request(tmp_path, moengage, key_file):
    seed(moengage, "M-100001", "M-100002")

    code, out, err = erase(
        str(ids_file(tmp_path, ["M-100001", "M-100002"])),
        "--yes",
        "--gdpr",
        "--report-key",
        str(key_file),
    )

    assert code == 0
    assert json.loads(out) == {
        "ids": 2,
        "api": "gdpr_erasure",
        "done": 2,
        "delete_accepted": 0,
        "erasure_accepted": 2,
        "not_found": 0,
        "refused": 0,
        "resumed_at": 0,
        "moengage_requests": 2,
        "report": str(tmp_path / "erase.txt.erasure.jsonl"),
    }
    calls = [r for r in moengage.requests if r.path == f"/v1/opengdpr_requests/{APP_ID}"]
    assert len(calls) == 2
    bodies = sorted((json.loads(call.body) for call in calls), key=lambda b: str(b["identities"]))
    for body, member in zip(bodies, ["M-100001", "M-100002"], strict=True):
        assert body["request_type"] == "erasure"
        assert body["identities"] == [{"identity_type": "ID", "identity_value": member}]
        assert body["api_version"] == "1.0"
        assert body["submitted_time"].endswith("Z")
    assert sorted(moengage.erasures) == ["M-100001", "M-100002"]
    assert moengage.profiles == {}
    assert [r for r in moengage.requests if r.path == "/v1/customer/delete"] == []
    _, lines = report_lines(tmp_path / "erase.txt.erasure.jsonl")
    assert [line["outcome"] for line in lines] == ["erasure_accepted"] * 2
    answers = {call.response["request_id"] for call in calls}
    assert {line["moengage_request_id"] for line in lines} == answers
    assert "erases their personal data" not in err  # --yes: nothing asked


def test_an_update_after_a_gdpr_erasure_does_not_re_create_the_user_for_a_day(
    tmp_path, moengage, key_file
):
    seed(moengage, "M-100001")
    path = ids_file(tmp_path, ["M-100001"])
    assert erase(str(path), "--yes", "--gdpr", "--report-key", str(key_file))[0] == 0

    update = {"type": "customer", "customer_id": "M-100001", "attributes": {"first_name": "Bo"}}
    response = httpx.post(
        f"{moengage.base_url}/v1/customer/{APP_ID}",
        json=update,
        headers=current_runtime().target.headers,
    )

    assert response.status_code == 200  # accepted, but the erased user is not created again
    assert "M-100001" not in moengage.profiles
    moengage.elapse(24 * 3600)
    httpx.post(
        f"{moengage.base_url}/v1/customer/{APP_ID}",
        json=update,
        headers=current_runtime().target.headers,
    )
    assert moengage.profiles["M-100001"] == {"first_name": "Bo"}


# --- 14. a delete refused for one member is that member's problem ------------------------------


@pytest.mark.parametrize(
    "refusal",
    [
        {"status": "fail", "error": {"message": "identity_value is invalid",
                                     "type": "InvalidAttributeError", "request_id": "AbCdEfGh"}},
        {"status": "fail", "title": "Bad Request", "description": "Invalid identity"},
        {"status": "fail", "error": {"message": "User is being merged", "request_id": "AbCdEfGh"}},
    ],
)  # fmt: skip
def test_a_delete_refused_for_one_member_never_stops_the_run(tmp_path, moengage, key_file, refusal):
    members = [f"M-{100000 + i}" for i in range(6)]
    seed(moengage, *members)
    moengage.inject(status=400, body=refusal, path_prefix="/v1/customer/delete")

    code, out, err = erase(str(ids_file(tmp_path, members)), "--yes", "--report-key", str(key_file))

    summary = json.loads(out)
    assert (code, summary["refused"], summary["delete_accepted"]) == (1, 1, 5)
    assert "credentials" not in err
    assert sum(deletes_sent(moengage).values()) == 6


def test_user_doesnt_exists_counts_as_not_found_whatever_its_type(tmp_path, moengage, key_file):
    message = "User doesn't exists with customer id M-100001"
    body = {"status": "fail", "error": {"message": message, "type": "NotFound", "request_id": "x"}}
    moengage.inject(status=400, body=body, path_prefix="/v1/customer/delete")

    code, out, _ = erase(
        str(ids_file(tmp_path, ["M-100001"])), "--yes", "--report-key", str(key_file)
    )

    assert (code, json.loads(out)["not_found"]) == (0, 1)


# --- 17. deletes that settled beside a failure are recorded -------------------------------------


def test_deletes_settled_beside_a_failure_are_recorded_and_not_sent_again(
    tmp_path, moengage, key_file, settings_env
):
    members = [f"M-{100000 + i}" for i in range(8)]
    seed(moengage, *members)
    path = ids_file(tmp_path, members)
    # the 3rd delete to arrive is refused for the credentials: its siblings in flight settle
    moengage.inject(latency=0.2, times=2, path_prefix="/v1/customer/delete")
    moengage.inject(status=401, path_prefix="/v1/customer/delete")

    code, _, err = erase(str(path), "--yes", "--report-key", str(key_file))

    assert code == 3
    assert "stopped: MoEngage refused the credentials" in err
    accepted = [m for m, n in deletes_sent(moengage).items() if n and m in dict(moengage.deleting)]
    assert len(accepted) >= 2  # the two slow siblings settled after the refusal
    _, lines = report_lines(tmp_path / "erase.txt.erasure.jsonl")
    assert [line["outcome"] for line in lines] == ["delete_accepted"] * len(accepted)
    checkpoint = json.loads((tmp_path / "erase.txt.erase.checkpoint").read_text())
    assert checkpoint["next_id"] + len(checkpoint["settled_ahead"]) == len(accepted)

    code, out, _ = erase(str(path), "--yes", "--report-key", str(key_file))

    summary = json.loads(out)
    assert (code, summary["delete_accepted"], summary["not_found"]) == (0, 8, 0)
    accepted_requests = Counter(
        json.loads(r.body)["identity_value"]
        for r in moengage.requests
        if r.path == "/v1/customer/delete" and r.status == 200
    )
    assert accepted_requests == Counter(members)  # each member accepted exactly once
    _, lines = report_lines(tmp_path / "erase.txt.erasure.jsonl")
    assert Counter(line["outcome"] for line in lines) == Counter({"delete_accepted": 8})
    assert not os.path.exists(tmp_path / "erase.txt.failed.jsonl")
