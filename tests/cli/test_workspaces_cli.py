"""The command line with several workspaces: `validate` checks every one (or `--workspace`),
`preview`, `replay` and `deadletters` work on the one `--workspace` names; an unknown name is one
line and exit 2."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bridge import cli
from bridge.config.workspaces import INHERIT_WARNING
from bridge.durable.messages import WORKSPACE, IncomingMessage, dead_letter_copy
from tests.conftest import API_KEY, APP_ID, FIXTURES, fixture_body
from tests.fakes import VirtualClock
from tests.servicebus_model import ServiceBusModel
from tests.workspaces import EU_APP, EU_KEY, US_APP, basic, members, table

pytestmark = pytest.mark.usefixtures("workspaces_env")
UNKNOWN = 'error: unknown workspace "asia"; this deployment serves: default, eu, us\n'


def run(*argv: str, gateway=None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), gateway=gateway, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_validate_checks_every_workspace(eu, us):
    code, out, _ = run("validate")

    lines = out.splitlines()
    assert code == 0
    assert [line for line in lines if line.startswith("settings")] == [
        f"settings: MoEngage DC 01, workspace {APP_ID}, direct mode, zone UTC",
        f"settings (workspace eu): MoEngage DC 02, workspace {EU_APP}, direct mode, zone UTC",
        f"settings (workspace us): MoEngage DC 01, workspace {US_APP}, direct mode, zone UTC",
    ]
    assert [line.split(":")[0] for line in lines if line.startswith("mapping rules")] == [
        "mapping rules",
        "mapping rules (eu)",
        "mapping rules (us)",
    ]
    assert lines[-1] == "OK"


def test_validate_warns_about_a_workspace_that_inherits_credentials(workspaces_env, eu, us):
    workspaces_env.setenv("EU_TOKEN", "eu-token")
    entries = table(eu, us, eu={"auth_token_setting": "EU_TOKEN"})  # us: "inherit": true
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))

    code, out, err = run("validate", "--json")

    assert code == 0
    inheriting = [w for w in json.loads(out)["warnings"] if "inherit" in w]
    assert inheriting == [f"workspace us: {INHERIT_WARNING}"]
    assert f"WARNING: workspace us: {INHERIT_WARNING}" in err


def test_validate_warns_about_workspaces_that_share_a_credential(workspaces_env, eu, us):
    workspaces_env.setenv("KOGNITIV_AUTH_TOKEN", "default-token")
    workspaces_env.setenv("EU_TOKEN", "shared-token")
    workspaces_env.setenv("US_TOKEN", "shared-token")
    workspaces_env.setenv("ASIA_TOKEN", "default-token")
    asia = {**table(eu, us)["us"], "app_id": "ASIA_APP", "auth_token_setting": "ASIA_TOKEN"}
    asia.pop("inherit")
    entries = {
        **table(
            eu, us, eu={"auth_token_setting": "EU_TOKEN"}, us={"auth_token_setting": "US_TOKEN"}
        ),
        "asia": asia,
    }
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))

    code, out, err = run("validate", "--json")

    assert code == 0
    shared = [w for w in json.loads(out)["warnings"] if "same Kognitiv credential" in w]
    assert shared == [
        "workspaces default and asia accept the same Kognitiv credential: whoever holds it can "
        "post into both; give each program its own",
        "workspaces eu and us accept the same Kognitiv credential: whoever holds it can post "
        "into both; give each program its own",
    ]
    assert "shared-token" not in out + err
    assert "default-token" not in out + err


def test_validate_is_quiet_about_credentials_each_workspace_holds_alone(workspaces_env, eu, us):
    workspaces_env.setenv("KOGNITIV_AUTH_TOKEN", "default-token")
    workspaces_env.setenv("EU_TOKEN", "eu-token")
    workspaces_env.setenv("US_TOKEN", "us-token")
    entries = table(
        eu, us, eu={"auth_token_setting": "EU_TOKEN"}, us={"auth_token_setting": "US_TOKEN"}
    )
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))

    code, out, _ = run("validate", "--json")

    assert code == 0
    assert [w for w in json.loads(out)["warnings"] if "credential" in w] == []


def test_validate_names_the_workspace_of_a_problem(workspaces_env, eu, us, tmp_path):
    rules = tmp_path / "eu.json"
    rules.write_text(json.dumps({"broken": [{"type": "event", "customer_id": "{{memberId}}"}]}))
    entries = table(eu, us, eu={"mappings_file": str(rules)})
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))

    code, out, _ = run("validate", "--json")
    report = json.loads(out)

    assert code == 1
    assert report["problems"]
    assert all(problem.startswith("workspace eu: ") for problem in report["problems"])
    assert sorted(report["workspaces"]) == ["default", "eu", "us"]
    assert report["workspaces"]["us"]["data_center"] == "01"
    assert report["workspaces"]["eu"] == {"app_id": EU_APP, "data_center": "02", "rules": []}


def test_validate_one_workspace(eu, us):
    code, out, _ = run("validate", "--workspace", "us", "--json")
    report = json.loads(out)

    assert code == 0
    assert list(report["workspaces"]) == ["us"]
    assert report["rules"] == report["workspaces"]["us"]["rules"]


def test_validate_reports_a_table_problem(workspaces_env):
    workspaces_env.delenv("US_MOENGAGE_KEY")

    code, out, _ = run("validate")

    assert code == 1
    assert (
        "PROBLEM: MOENGAGE_WORKSPACES.us.api_key_setting names US_MOENGAGE_KEY, which is not set"
        in out.splitlines()
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--workspace", "asia"],
        ["preview", "--workspace", "asia", "rewards_issued", str(FIXTURES / "rewards_issued.json")],
        ["replay", "--workspace", "asia", str(FIXTURES / "rewards_issued.json")],
        ["deadletters", "list", "--workspace", "asia"],
        ["deadletters", "replay", "--workspace", "asia", "--all"],
    ],
)
def test_an_unknown_workspace_is_one_line_and_exit_2(argv):
    code, out, err = run(*argv, gateway=dead_letters()[1])

    assert (code, out, err) == (2, "", UNKNOWN)


def test_preview_shows_the_workspace_requests(eu):
    code, out, _ = run(
        "preview", "--workspace", "eu", "rewards_issued", str(FIXTURES / "rewards_issued.json")
    )

    assert code == 0
    [request] = json.loads(out)["requests"]
    assert request["path"] == f"/v1/event/{EU_APP}"
    assert eu.requests == []


def test_replay_delivers_to_the_workspace(tmp_path: Path, moengage, eu, us):
    path = tmp_path / "eu.jsonl"
    body = {"event": "rewards_issued", **fixture_body("rewards_issued"), "memberId": "E-9"}
    path.write_text(json.dumps(body) + "\n")

    code, _, _ = run("replay", "--workspace", "eu", "--no-progress", str(path))

    assert code == 0
    assert members(eu) == ["E-9"]
    assert eu.requests[0].headers["authorization"] == basic(EU_APP, EU_KEY)
    assert moengage.requests == us.requests == []


def test_one_file_replayed_to_two_workspaces_is_two_runs(tmp_path: Path, moengage, eu, us):
    """A finished replay to `default` neither blocks nor resumes the same file's replay to
    `eu`: each run has its own checkpoint."""
    path = tmp_path / "members.jsonl"
    body = {"event": "rewards_issued", **fixture_body("rewards_issued")}
    path.write_text("".join(json.dumps({**body, "memberId": f"M-{i}"}) + "\n" for i in range(3)))

    first, _, _ = run("replay", "--no-progress", str(path))
    second, _, _ = run("replay", "--workspace", "eu", "--no-progress", str(path))
    again, _, err = run("replay", "--workspace", "eu", "--no-progress", str(path))

    assert (first, second, again) == (0, 0, 2)
    assert "already replayed" in err
    assert members(moengage) == members(eu) == ["M-0", "M-1", "M-2"]
    assert (tmp_path / "members.jsonl.checkpoint.json").exists()
    assert (
        json.loads((tmp_path / "members.jsonl.eu.checkpoint.json").read_text())["file"]["workspace"]
        == "eu"
    )


def test_one_file_erased_in_two_workspaces_is_two_runs(
    tmp_path: Path, moengage, eu, us, workspaces_env
):
    workspaces_env.setenv("KOGNITIV_ERASURE_REPORT_KEY", "0123456789abcdef" * 4)
    for emulator, app, key in ((moengage, APP_ID, API_KEY), (eu, EU_APP, EU_KEY)):
        profile = {"type": "customer", "customer_id": "M-1", "attributes": {"first_name": "Ana"}}
        seeded = httpx.post(
            f"{emulator.base_url}/v1/customer/{app}",
            json=profile,
            headers={"Authorization": basic(app, key)},
        )
        assert seeded.status_code == 200
    path = tmp_path / "erase.txt"
    path.write_text("M-1\n")

    first, _, _ = run("erase", "--yes", str(path))
    second, _, _ = run("erase", "--yes", "--workspace", "eu", str(path))

    assert (first, second) == (0, 0)
    assert moengage.deletions == eu.deletions == [("customer_id", "M-1")]
    assert us.deletions == []
    assert (tmp_path / "erase.txt.erasure.jsonl").exists()
    header = json.loads((tmp_path / "erase.txt.eu.erasure.jsonl").read_text().splitlines()[0])
    assert header["workspace"] == EU_APP


def dead_letters() -> tuple[ServiceBusModel, object]:
    """Dead letters of three workspaces (the first without the property: `default`)."""
    model = ServiceBusModel(VirtualClock())
    for index, workspace in enumerate([None, "eu", "us", "eu"]):
        properties = {"event": "rewards_issued"}
        if workspace:
            properties[WORKSPACE] = workspace
        body = json.dumps({**fixture_body("rewards_issued"), "memberId": str(index)}).encode()
        incoming = IncomingMessage(body, f"m{index}", properties)
        letter = dead_letter_copy(incoming, "moengage_rejected", "refused", datetime.now(UTC))
        model.queue("q-deadletter").accept(letter.message_id, letter.body, letter.properties)
    return model, model.gateway("q", "q-deadletter")


def test_deadletters_list_shows_and_filters_by_workspace():
    _, gateway = dead_letters()

    code, out, _ = run("deadletters", "list", "--json", gateway=gateway)
    every = [(letter["id"], letter["workspace"]) for letter in map(json.loads, out.splitlines())]
    code_eu, out_eu, _ = run("deadletters", "list", "--workspace", "eu", "--json", gateway=gateway)
    _, table_view, _ = run("deadletters", "list", "--workspace", "us", gateway=gateway)

    assert code == code_eu == 0
    assert every == [("m0", "default"), ("m1", "eu"), ("m2", "us"), ("m3", "eu")]
    assert [json.loads(line)["id"] for line in out_eu.splitlines()] == ["m1", "m3"]
    assert table_view.splitlines()[0].split()[:3] == ["ID", "WORKSPACE", "REASON"]
    assert table_view.splitlines()[1].split()[:2] == ["m2", "us"]
    assert table_view.splitlines()[-1] == "1 dead letter(s)"


def test_deadletters_replay_sends_back_only_that_workspace_with_its_property():
    model, gateway = dead_letters()

    code, out, _ = run("deadletters", "replay", "--workspace", "eu", gateway=gateway)

    assert code == 0
    assert out.splitlines()[-1] == "replayed 2 message(s)"
    assert sorted(s.application_properties[WORKSPACE] for s in model.queue("q").all()) == [
        "eu",
        "eu",
    ]
    assert sorted(model.queue("q-deadletter").ids()) == ["m0", "m2"]


def test_deadletters_work_while_one_workspace_is_broken(workspaces_env, monkeypatch, eu, us):
    model, _ = dead_letters()
    entries = table(eu, us)
    entries["default"] = entries["eu"]  # defined twice: the default workspace is held
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))
    workspaces_env.setenv(
        "KOGNITIV_SERVICE_BUS", "Endpoint=sb://model/;SharedAccessKeyName=a;SharedAccessKey=b"
    )
    workspaces_env.setenv("KOGNITIV_SERVICE_BUS_QUEUE", "q")

    def model_gateway(config):
        return model.gateway(config.queue, config.dead_letter_queue)

    monkeypatch.setattr("bridge.cli.deadletters.ServiceBusGateway", model_gateway)

    code, out, err = run("deadletters", "replay", "--workspace", "default")

    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "replayed 1 message(s)"
    assert [s.message_id.split("#")[0] for s in model.queue("q").all()] == ["m0"]
