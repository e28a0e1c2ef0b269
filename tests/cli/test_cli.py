"""The operator command line, run in process (and once as `python -m bridge`)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge import cli
from bridge.deployment.runtime import current_runtime
from bridge.durable.gateway import ServiceBusGateway
from bridge.durable.messages import IncomingMessage, dead_letter_copy
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

    code, out, _ = run("replay", str(failed), "--no-progress")
    assert json.loads(out)["failed"] == 2


def test_replay_accepts_event_wrappers_and_dry_run_sends_nothing(tmp_path, moengage):
    wrapped = {"event": "member_enrolled", "body": fixture_body("member_enrolled")}
    source = write_lines(tmp_path / "b.jsonl", [wrapped, fixture_body("guide-rendered")])

    code, out, _ = run("replay", str(source), "--dry-run", "--no-progress")

    assert code == 0
    assert json.loads(out)["mapped"] == 2
    assert moengage.requests == []


def test_replay_stops_when_moengage_refuses_the_key(tmp_path, moengage):
    moengage.inject(status=401, times=5)
    source = write_lines(tmp_path / "b.jsonl", [reward("M-1")])
    code, _, err = run("replay", str(source), "--no-progress")
    assert code == 3
    assert "MOENGAGE_API_KEY" in err


def test_replay_never_resends_what_moengage_accepted_before_refusing_the_key(tmp_path, moengage):
    wanted = [f"K-{i:03d}" for i in range(500)]  # one batch: two bulk requests in flight at once
    source = write_lines(tmp_path / "b.jsonl", [reward(member) for member in wanted])
    moengage.inject(status=401, times=1)  # whichever request arrives first is refused

    code, _, err = run("replay", str(source), "--no-progress")

    assert code == 3
    accepted = [e["customer_id"] for e in moengage.accepted]
    failed = tmp_path / "b.jsonl.failed.jsonl"
    refused = [json.loads(line)["memberId"] for line in failed.read_text().splitlines()]
    assert sorted(accepted + refused) == wanted
    assert accepted
    assert refused
    assert err.splitlines()[1] == (
        f"{len(refused)} lines refused with these credentials are in {failed} "
        "(reason credentials_refused): replay that file once the settings are fixed"
    )

    code, out, _ = run("replay", str(source), "--no-progress")  # resumes after that batch

    assert code == 1
    assert json.loads(out)["failed_by_reason"] == {"credentials_refused": len(refused)}
    assert run("replay", str(failed), "--no-progress")[0] == 0
    assert sorted(e["customer_id"] for e in moengage.accepted) == wanted  # each exactly once


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.jsonl", "ok.jsonl.checkpoint.json"]


def python_bridge(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    """`python -m bridge ...` in a child process, with this test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "bridge", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        **kwargs,
    )


def test_version_is_written_once_and_used_everywhere(tmp_path, moengage):
    import tomllib
    from importlib.metadata import version

    from bridge.common.version import VERSION
    from bridge.webhook.health import health_report

    code, out, err = run("--version")
    assert (code, out, err) == (0, f"kognitiv-bridge {VERSION}\n", "")
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    assert version("kognitiv-moengage-bridge") == VERSION  # the installed metadata reads it too
    assert health_report()[1]["version"] == VERSION
    source = write_lines(tmp_path / "one.jsonl", [reward("M-1")])
    assert run("replay", str(source), "--no-progress")[0] == 0
    [request] = moengage.requests
    assert request.headers["user-agent"] == f"kognitiv-moengage-bridge/{VERSION}"


def test_settings_option_is_accepted_after_the_command(tmp_path, settings_env):
    settings_env.delenv("MOENGAGE_APP_ID")
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"MOENGAGE_APP_ID": "from-file"}}))

    code, out, _ = run("validate", "--settings", str(path))

    assert code == 0
    assert "workspace from-file" in out


def test_settings_option_after_a_nested_command(tmp_path, settings_env):
    settings_env.delenv("MOENGAGE_APP_ID")
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"MOENGAGE_APP_ID": "from-file"}}))

    code, out, _ = run("deadletters", "list", "--settings", str(path), gateway=dead_letters()[1])

    assert code == 0
    assert "3 dead letter(s)" in out
    assert current_runtime().settings.moengage_app_id == "from-file"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read settings file {path}: No such file or directory"),
        ('{"Values": }', "settings file {path} is not valid JSON (line 1, column 12)"),
        ("[1, 2]", 'settings file {path} has no "Values" object (the local.settings.json format)'),
    ],
)
def test_an_unusable_settings_file_is_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "local.settings.json"
    if content is not None:
        path.write_text(content)

    code, out, err = run("validate", "--settings", str(path))

    assert (code, out) == (2, "")
    assert err == "error: " + message.format(path=path) + "\n"


def test_an_unreachable_service_bus_is_one_line_and_exit_2(settings_env):
    secret = "s3cret-SharedAccessKey-value"
    settings_env.setenv(
        "KOGNITIV_SERVICE_BUS",
        f"Endpoint=sb://127.0.0.1/;SharedAccessKeyName=operator;SharedAccessKey={secret}",
    )
    settings_env.setenv("KOGNITIV_SERVICE_BUS_QUEUE", "kognitiv-webhooks")

    done = python_bridge("deadletters", "list")  # nothing listens on 127.0.0.1:5671 (AMQP)

    assert (done.returncode, done.stdout) == (2, "")
    [line] = done.stderr.splitlines()
    assert line.startswith("error: cannot reach Service Bus 127.0.0.1: ServiceBusConnectionError: ")
    assert secret not in done.stderr


def test_commands_other_than_validate_do_not_print_the_webhook_credential_warning(settings_env):
    # no KOGNITIV_AUTH_* (settings_env clears them): the function logs a warning at start-up
    done = python_bridge("preview", "rewards_issued", str(FIXTURES / "rewards_issued.json"))
    assert (done.returncode, done.stderr) == (0, "")

    done = python_bridge("validate")
    assert done.returncode == 0
    assert "note: no Kognitiv credential configured" in done.stdout
    assert "No Kognitiv credential is configured" not in done.stderr


def test_validate_warns_loudly_when_the_base_url_overrides_the_data_center(moengage):
    code, out, err = run("validate")

    assert code == 0
    assert err == (
        f"WARNING: MOENGAGE_API_BASE_URL={moengage.base_url} overrides data center 01: "
        "everything is sent there, not to MoEngage (https://api-01.moengage.com); remove it "
        "outside the emulator and tests\n"
    )
    code, out, err = run("validate", "--json")
    assert json.loads(out)["warnings"] == [err.removeprefix("WARNING: ").rstrip("\n")]


def test_validate_without_an_override_has_no_warning(settings_env):
    settings_env.delenv("MOENGAGE_API_BASE_URL")
    code, _, err = run("validate")
    assert (code, err) == (0, "")
    assert json.loads(run("validate", "--json")[1])["warnings"] == []


def test_validate_hints_at_a_local_settings_file_it_was_not_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hint = (
        "hint: local.settings.json is in this directory but was not read; "
        "add --settings local.settings.json to check it"
    )
    assert hint not in run("validate")[2]

    Path("local.settings.json").write_text(json.dumps({"Values": {}}))

    assert hint + "\n" in run("validate")[2]
    assert hint not in run("validate", "--settings", "local.settings.json")[2]


def test_replay_reads_standard_input(tmp_path, moengage, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = [json.dumps(reward(f"S-{i}")) for i in range(3)] + ["not json"]
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(lines).encode() + b"\n"))
    )

    code, out, _ = run("replay", "-", "--no-progress")

    assert code == 1
    assert json.loads(out)["delivered"] == 3
    assert sorted(e["customer_id"] for e in moengage.accepted) == ["S-0", "S-1", "S-2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stdin.failed.jsonl"]  # no checkpoint
    assert Path("stdin.failed.jsonl").read_text() == "not json\n"


def test_replay_of_standard_input_cannot_take_a_checkpoint(tmp_path, moengage):
    code, out, err = run("replay", "-", "--checkpoint", str(tmp_path / "c.json"))
    assert (code, out) == (2, "")
    assert err == "error: standard input cannot be resumed: --checkpoint needs a file\n"
    assert moengage.requests == []


def test_replay_refuses_a_completed_file_without_restart(tmp_path, moengage):
    source = write_lines(tmp_path / "done.jsonl", [reward(f"D-{i}") for i in range(3)])
    assert run("replay", str(source), "--no-progress")[0] == 0

    code, out, err = run("replay", str(source), "--no-progress")

    assert (code, out) == (2, "")
    assert re.fullmatch(
        rf"error: {re.escape(str(source))} was already replayed to its end on "
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \(3 lines, 3 delivered, 0 failed\); nothing was sent\. "
        r"Use --restart to send it again\n",
        err,
    )
    assert len(moengage.accepted) == 3

    code, out, _ = run("replay", str(source), "--no-progress", "--restart")
    assert code == 0
    assert json.loads(out)["delivered"] == 3
    assert len(moengage.accepted) == 6


def test_replay_without_the_command_line_extras_says_how_to_install_them(
    tmp_path, moengage, monkeypatch
):
    monkeypatch.setitem(sys.modules, "aiolimiter", None)  # as if not installed
    source = write_lines(tmp_path / "b.jsonl", [reward("M-1")])

    code, out, err = run("replay", str(source))

    assert (code, out) == (2, "")
    assert err == (
        "error: replay needs aiolimiter (command-line extras, not deployed with the function "
        "app): pip install -r requirements-cli.txt (or pip install '.[cli]')\n"
    )
    assert moengage.requests == []


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_replay_progress_on_a_terminal_counts_lines(tmp_path, moengage):
    source = write_lines(tmp_path / "b.jsonl", [reward(f"P-{i}") for i in range(7)])
    terminal = Terminal()

    code = cli.main(["replay", str(source)], stdout=io.StringIO(), stderr=terminal)

    assert code == 0
    final = terminal.getvalue().split("\r")[-1]
    assert final.startswith("replay: 100%")
    assert " 7/7 " in final
    assert " lines/s, delivered=7, failed=0]" in final
