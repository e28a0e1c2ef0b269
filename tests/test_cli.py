"""The operator command line, run in process (and once as `python -m bridge`)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge import cli
from bridge.queue_gateway import ServiceBusGateway
from bridge.queue_messages import IncomingMessage, dead_letter_copy
from tests.conftest import FIXTURES, fixture_body
from tests.fakes import VirtualClock
from tests.servicebus_model import ServiceBusModel

pytestmark = pytest.mark.usefixtures("settings_env")


def run(*argv: str, gateway=None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), gateway=gateway, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write_lines(path: Path, bodies: list) -> Path:
    path.write_text("".join((b if isinstance(b, str) else json.dumps(b)) + "\n" for b in bodies))
    return path


def reward(member: str) -> dict:
    return {"event": "rewards_issued", **fixture_body("rewards_issued"), "memberId": member}


@pytest.mark.parametrize(
    "argv",
    [[], ["validate"], ["preview"], ["replay"], ["deadletters"], ["deadletters", "list"],
     ["deadletters", "replay"]],
)  # fmt: skip
def test_every_command_has_help(argv):
    code, out, _ = run(*argv, "--help")
    assert code == 0
    assert "usage:" in out


def test_module_entry_point_runs():
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "validate" in done.stdout


def test_validate_passes_on_a_good_configuration():
    code, out, _ = run("validate")
    assert code == 0
    assert "rewards_issued" in out
    assert out.strip().endswith("OK")


def test_validate_reports_every_problem_at_once(settings_env):
    settings_env.setenv("MOENGAGE_DATA_CENTER", "dc-42")
    settings_env.setenv("KOGNITIV_TIMEZONE", "Mars/Olympus")
    code, out, _ = run("validate", "--json")
    report = json.loads(out)
    assert code == 1
    assert any("MOENGAGE_DATA_CENTER" in p for p in report["problems"])
    assert any("KOGNITIV_TIMEZONE" in p for p in report["problems"])


def test_validate_reports_rule_errors_and_typos(settings_env):
    rules = {
        "broken": {"elements": [{"type": "event", "customer_id": "{{memberId | nope}}",
                                 "actions": [{"action": "x"}]}]},
        "typo": [{"type": "customer", "customer_id": "{{memberId}}",
                  "attributes": {"email": "{{memberEmial}}"}}],
    }  # fmt: skip
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps(rules))
    code, out, _ = run("validate")
    assert code == 1
    assert "unknown filter 'nope'" in out
    assert 'did you mean "memberEmail"' in out


def test_preview_prints_the_requests(tmp_path):
    code, out, _ = run("preview", "rewards_issued", str(FIXTURES / "rewards_issued.json"))
    preview = json.loads(out)
    assert code == 0
    [request] = preview["requests"]
    assert request["path"] == "/v1/event/test-app"
    assert request["body"]["actions"][0]["attributes"]["reward_value"] == 10.0


def test_preview_reports_a_mapping_error(tmp_path):
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"rewardType": "Choice"}))
    code, out, _ = run("preview", "rewards_issued", str(body))
    assert code == 1
    assert json.loads(out)["error"]["code"] == "missing_field"


def test_preview_auto_chooses_the_event_like_the_webhook(monkeypatch):
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO((FIXTURES / "guide-rendered.json").read_bytes()))
    )
    code, out, _ = run("preview", "auto", "-")
    assert code == 0
    assert json.loads(out)["rule"] == "passthrough"


def test_replay_delivers_in_bulk_and_writes_failed_lines(tmp_path, moengage):
    good = [reward(str(10_000 + i)) for i in range(1200)]
    bad = ['{"event": "rewards_issued", "rewardType": "Choice"}', "not json"]
    source = write_lines(tmp_path / "bodies.jsonl", good[:600] + bad + good[600:])

    code, out, _ = run("replay", str(source), "--no-progress")
    summary = json.loads(out)

    assert code == 1
    assert summary["delivered"] == 1200
    assert summary["failed_by_reason"] == {"missing_field": 1, "invalid_json": 1}
    assert len(moengage.accepted) == 1200
    assert len(moengage.requests) <= 12
    failed = tmp_path / "bodies.jsonl.failed.jsonl"
    assert failed.read_text().splitlines() == bad
    assert not (tmp_path / "bodies.jsonl.checkpoint.json").exists()

    code, out, _ = run("replay", str(failed), "--no-progress")
    assert json.loads(out)["failed"] == 2


def test_replay_accepts_event_wrappers_and_dry_run_sends_nothing(tmp_path, moengage):
    wrapped = {"event": "member_enrolled", "body": fixture_body("member_enrolled")}
    source = write_lines(tmp_path / "b.jsonl", [wrapped, fixture_body("guide-rendered")])

    code, out, _ = run("replay", str(source), "--dry-run", "--no-progress")

    assert code == 0
    assert json.loads(out)["mapped"] == 2
    assert moengage.requests == []


def test_replay_resumes_from_its_checkpoint_without_duplicates(tmp_path, moengage, monkeypatch):
    from bridge.replay import Replayer

    source = write_lines(tmp_path / "b.jsonl", [reward(str(20_000 + i)) for i in range(1100)])
    original = Replayer._save_checkpoint

    def interrupt_after_first(self, offset, failed_size):
        original(self, offset, failed_size)
        raise KeyboardInterrupt

    monkeypatch.setattr(Replayer, "_save_checkpoint", interrupt_after_first)
    code, _, err = run("replay", str(source), "--no-progress")
    assert code == 130
    assert "checkpoint" in err
    assert len(moengage.accepted) == 500

    monkeypatch.setattr(Replayer, "_save_checkpoint", original)
    code, out, _ = run("replay", str(source), "--no-progress")

    assert code == 0
    assert json.loads(out)["resumed_at_line"] == 500
    members = [e["customer_id"] for e in moengage.accepted]
    assert sorted(members) == sorted(str(20_000 + i) for i in range(1100))


def test_replay_stops_when_moengage_refuses_the_key(tmp_path, moengage):
    moengage.inject(status=401, times=5)
    source = write_lines(tmp_path / "b.jsonl", [reward("M-1")])
    code, _, err = run("replay", str(source), "--no-progress")
    assert code == 3
    assert "MOENGAGE_API_KEY" in err


def test_replay_plain_progress_lines_when_not_a_terminal(tmp_path, moengage):
    source = write_lines(tmp_path / "b.jsonl", [reward("M-1")])
    code, _, err = run("replay", str(source))
    assert code == 0
    assert "replay: 1 lines, 1 delivered, 0 failed" in err


def dead_letters() -> tuple[ServiceBusModel, ServiceBusGateway]:
    """Three dead letters in the dead-letter queue of a Service Bus model."""
    model = ServiceBusModel(VirtualClock())
    for index, (reason, event) in enumerate(
        [("mapping_failed", "rewards_issued"), ("retries_exhausted", "member_enrolled"),
         ("retries_exhausted", "rewards_issued")]
    ):  # fmt: skip
        incoming = IncomingMessage(
            json.dumps(reward(str(index))).encode(), f"m{index}", {"event": event, "attempt": 7}
        )
        description = "MoEngage stayed unavailable; contact jordan.lee@example.com"
        letter = dead_letter_copy(incoming, reason, description, datetime.now(UTC))
        model.queue("q-deadletter").accept(letter.message_id, letter.body, letter.properties)
    return model, model.gateway("q", "q-deadletter")


def test_deadletters_list_filters_and_masks():
    _, gateway = dead_letters()
    code, out, _ = run("deadletters", "list", "--reason", "retries_exhausted", "--json",
                       gateway=gateway)  # fmt: skip
    letters = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [letter["id"] for letter in letters] == ["m1", "m2"]
    assert all("jordan.lee" not in letter["description"] for letter in letters)
    assert letters[0]["event"] == "member_enrolled"


def test_deadletters_replay_sends_chosen_messages_back():
    model, gateway = dead_letters()
    code, out, _ = run("deadletters", "replay", "--reason", "retries_exhausted",
                       "--event", "rewards_issued", gateway=gateway)  # fmt: skip
    assert code == 0
    assert "replayed 1 message(s)" in out
    [resent] = model.queue("q").all()
    assert resent.application_properties["attempt"] == 0
    assert "dead_letter_reason" not in resent.application_properties
    assert model.queue("q-deadletter").ids() == ["m0", "m1"]


def test_deadletters_replay_needs_a_selector():
    code, _, err = run("deadletters", "replay", gateway=dead_letters()[1])
    assert code == 2
    assert "--all" in err


def test_configuration_error_exits_2(settings_env):
    settings_env.delenv("MOENGAGE_API_KEY")
    code, _, err = run("preview", "rewards_issued", str(FIXTURES / "rewards_issued.json"))
    assert code == 2
    assert "MOENGAGE_API_KEY is required" in err


def test_settings_file_fills_in_but_the_environment_wins(tmp_path, settings_env):
    settings_env.delenv("MOENGAGE_APP_ID")
    settings_env.setenv("MOENGAGE_DATA_CENTER", "03")
    values = {"MOENGAGE_APP_ID": "from-file", "MOENGAGE_DATA_CENTER": "02"}
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))

    code, out, _ = run("--settings", str(path), "validate")

    assert code == 0
    assert "MoEngage DC 03, workspace from-file" in out


def test_replay_leaves_no_empty_failed_file(tmp_path, moengage):
    source = write_lines(tmp_path / "ok.jsonl", [reward("M-5")])
    code, _, _ = run("replay", str(source), "--no-progress")
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.jsonl"]
