"""The app as Azure runs it: published from a `.funcignore`-built package with only
`requirements.txt` installed, loaded by the real Python worker library (`azure-functions-runtime`)
and driven with the host's own messages: init (import and index), metadata, load, invocations.

Calling the decorated functions directly (the other function tests) cannot see what the worker
refuses: a refused annotation fails the whole metadata response and the app runs no function."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from moengage_emulator import Emulator
from tests.conftest import API_KEY, APP_ID, fixture_body
from tests.expected import REWARD_ELEMENT
from tests.worker import harness
from tests.workspaces import EU_APP, EU_KEY, basic

FUNCTIONS = {
    "kognitiv_webhook",
    "kognitiv_workspace_webhook",
    "live",
    "health",
    "kognitiv_service_bus",
}


@pytest.fixture(scope="session")
def worker() -> tuple[Path, Path]:
    """The worker's interpreter and compiled host messages; a missing 3.13 fails in CI."""
    try:
        return harness.worker_environment()
    except harness.WorkerUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"the real-worker tests must run in CI: {error}")
        pytest.skip(f"real-worker tests need Python 3.13: {error}")


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's tracked files plus everything a developer's checkout accumulates
    (which `.funcignore` must keep out of the package)."""
    source = tmp_path_factory.mktemp("checkout")
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=harness.ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for relative in filter(None, tracked):
        if (harness.ROOT / relative).is_file():
            (source / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(harness.ROOT / relative, source / relative)
    for junk in LOCAL_JUNK:
        (source / junk).parent.mkdir(parents=True, exist_ok=True)
        (source / junk).write_text('{"memberEmail": "ana@example.com"}\n')
    return source


@pytest.fixture(scope="session")
def package(
    worker: tuple[Path, Path], checkout: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The deployment package, with packages built for the worker's Python."""
    return harness.build_package(checkout, tmp_path_factory.mktemp("wwwroot"), worker[0])


# What a working checkout holds besides the app: CLI output with member data, local settings,
# build output and caches. None of it may be published.
LOCAL_JUNK = (
    "local.settings.json",
    "members.jsonl",
    "members.jsonl.failed.jsonl",
    "members.jsonl.checkpoint.json",
    "members.jsonl.checkpoint.tmp",
    "export/dead-letters.jsonl",
    "replay-checkpoint-2026.json",
    "kognitiv_moengage_bridge.egg-info/PKG-INFO",
    "build/lib/bridge/cli.py",
    "dist/kognitiv_moengage_bridge-1.0.0-py3-none-any.whl",
    ".python_packages/lib/site-packages/stale.py",
    ".venv/lib/python3.11/site-packages/x.py",
    ".venv-3.12/pyvenv.cfg",
    ".tools/node_modules/azurite/package.json",
    "bridge/__pycache__/cli.cpython-311.pyc",
    ".pytest_cache/v/cache/lastfailed",
    ".azurite/__azurite_db_table__.json",
)


@pytest.fixture(scope="module")
def moengage() -> Iterator[Emulator]:
    with Emulator(app_id=APP_ID, api_key=API_KEY) as emulator:
        yield emulator


def settings(moengage: Emulator, **overrides: str) -> dict[str, str]:
    """`local.settings.example.json`'s values, pointed at this test's emulator."""
    values = harness.example_settings()
    values.update(
        MOENGAGE_APP_ID=APP_ID, MOENGAGE_API_KEY=API_KEY, MOENGAGE_API_BASE_URL=moengage.base_url
    )
    values.update(overrides)
    return values


def run(worker: tuple[Path, Path], package: Path, values: dict[str, str], invocations=None):
    python, rpc = worker
    return harness.run_scenario(python, rpc, package, values, invocations)


def http_call(function: str, method: str, path: str, body: str = "", **request) -> dict:
    url = f"http://localhost:7071{path}"
    spec = {"method": method, "url": url, "body": body, **request}
    return {"function": function, "inputs": {"req": {"http": spec}}}


# --- the package -------------------------------------------------------------------------------


def test_package_holds_the_app_and_nothing_else(package: Path):
    published = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*")
        if path.is_file() and ".python_packages" not in path.parts
    }
    top_level = {name.split("/")[0] for name in published}

    assert top_level == {
        "function_app.py",
        "host.json",
        "requirements.txt",
        "bridge",
        "mapping",
        "delivery",
    }
    assert "mapping/default_mappings.json" in published
    assert not set(LOCAL_JUNK) & published
    assert not [name for name in published if name.endswith((".jsonl", ".pyc", ".tmp"))]
    site = package / ".python_packages" / "lib" / "site-packages"
    assert not (site / "stale.py").exists()  # the local folder is not shipped; remote build is


def test_package_carries_only_the_runtime_requirements(package: Path):
    site = package / ".python_packages" / "lib" / "site-packages"
    installed = {path.name.split("-")[0].lower() for path in site.glob("*.dist-info")}

    assert {"azure_functions", "httpx", "pydantic", "pydantic_settings", "tenacity"} <= installed
    assert not {"pytest", "hypothesis", "ruff", "atheris", "pyinstrument"} & installed
    assert not {"tqdm", "aiolimiter"} & installed  # command line only: requirements-cli.txt
    assert not {"kognitiv_moengage_bridge"} & installed  # no editable or built install of ours


def test_package_imports_in_an_isolated_interpreter(checkout: Path, tmp_path: Path):
    """On this suite's Python (CI runs 3.11, 3.12 and 3.13), with no site-packages and no
    editable install: only what was published."""
    base = Path(sys.executable).resolve()
    app = harness.build_package(checkout, tmp_path / "wwwroot", base)
    probe = (
        "import json, sys\n"
        "import function_app, bridge\n"
        "names = sorted(f.get_function_name() for f in function_app.app.get_functions())\n"
        "cli_only = sorted({'tqdm', 'aiolimiter'} & set(sys.modules))\n"
        "print(json.dumps({'functions': names, 'bridge': bridge.__file__, 'cli': cli_only}))\n"
    )
    site = app / ".python_packages" / "lib" / "site-packages"
    result = subprocess.run(
        [
            str(base),
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path[:0] = {[str(app), str(site)]!r}\n{probe}",
        ],
        cwd=app,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), **harness.example_settings()},
    )

    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["functions"] == sorted(FUNCTIONS)
    assert answer["bridge"].startswith(str(app))
    assert answer["cli"] == []


# --- indexing ----------------------------------------------------------------------------------


def test_real_worker_indexes_and_loads_every_function(worker, package, moengage):
    answer = run(worker, package, settings(moengage))

    assert answer["init"]["result"]["status"] == "Success", answer["init"]
    assert answer["metadata"]["result"]["status"] == "Success"
    functions = {item["name"]: item for item in answer["metadata"]["function_metadata_results"]}
    assert set(functions) == FUNCTIONS
    assert {
        name: load["result"]["status"] for name, load in answer["loads"].items()
    } == dict.fromkeys(FUNCTIONS, "Success")
    bindings = {
        name: [json.loads(raw) for raw in item["raw_bindings"]] for name, item in functions.items()
    }
    webhook, _ = bindings["kognitiv_webhook"]
    assert webhook["route"] == "kognitiv/{event?}"
    assert webhook["methods"] == ["POST", "PUT"]
    assert webhook["authLevel"] == "FUNCTION"
    workspace_webhook, _ = bindings["kognitiv_workspace_webhook"]
    assert workspace_webhook["route"] == "kognitiv/{workspace}/{event}"
    assert workspace_webhook["methods"] == ["POST", "PUT"]
    assert workspace_webhook["authLevel"] == "FUNCTION"
    assert bindings["live"][0]["authLevel"] == "ANONYMOUS"
    assert bindings["live"][0]["route"] == "live"
    assert bindings["health"][0]["authLevel"] == "FUNCTION"
    [queue] = bindings["kognitiv_service_bus"]
    assert queue == {
        "direction": "IN",
        "type": "serviceBusTrigger",
        "name": "messages",
        "connection": "KOGNITIV_SERVICE_BUS",
        "queueName": "%KOGNITIV_SERVICE_BUS_QUEUE%",
        "cardinality": "MANY",
    }


def test_real_worker_refuses_a_pep585_annotation(worker, tmp_path, moengage):
    """The harness sees the failure that once kept every function of the app from loading."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "function_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n\n"
        "@app.service_bus_queue_trigger(arg_name='messages', queue_name='q', connection='C',\n"
        "                               cardinality=func.Cardinality.MANY)\n"
        "def handler(messages: list[func.ServiceBusMessage]) -> None:\n"
        "    pass\n"
    )
    site = app / ".python_packages" / "lib" / "site-packages"
    site.parent.mkdir(parents=True)
    site.symlink_to(harness.installed_requirements(worker[0]))

    answer = run(worker, app, settings(moengage))

    assert answer["init"]["result"]["status"] == "Failure"
    assert "invalid non-type annotation" in answer["init"]["result"]["exception"]["message"]
    assert "metadata" not in answer


# --- invocations, as the host encodes them -----------------------------------------------------


def test_http_functions_answer_through_the_worker(worker, package, moengage):
    reward = json.dumps(fixture_body("rewards_issued"))
    calls = [
        http_call("live", "GET", "/api/live"),
        http_call("health", "GET", "/api/health"),
        http_call(
            "kognitiv_webhook",
            "POST",
            "/api/kognitiv/rewards_issued",
            reward,
            params={"event": "rewards_issued"},
            query={"dry_run": "true"},
            headers={"content-type": "text/plain"},
        ),
        http_call("kognitiv_webhook", "POST", "/api/kognitiv", "not json"),
    ]

    live, health, dry_run, bad = run(worker, package, settings(moengage), calls)["invocations"]

    assert live["status"] == "Success"
    assert live["http"]["status_code"] == 200
    assert json.loads(live["http"]["body"]) == {"status": "alive"}
    assert health["http"]["status_code"] == 200
    assert json.loads(health["http"]["body"])["mode"] == "direct"
    assert dry_run["http"]["status_code"] == 200
    assert dry_run["http"]["headers"]["content-type"].startswith("application/json")
    assert "x-correlation-id" in dry_run["http"]["headers"]
    [request] = json.loads(dry_run["http"]["body"])["requests"]
    assert request["path"] == f"/v1/event/{APP_ID}"
    assert request["body"] == REWARD_ELEMENT
    assert bad["http"]["status_code"] == 400
    assert json.loads(bad["http"]["body"])["error"]["code"] == "invalid_json"


def test_webhook_delivers_through_the_worker(worker, package, moengage):
    moengage.reset()
    call = http_call(
        "kognitiv_webhook",
        "POST",
        "/api/kognitiv/rewards_issued",
        json.dumps(fixture_body("rewards_issued")),
        params={"event": "rewards_issued"},
    )

    [answer] = run(worker, package, settings(moengage), [call])["invocations"]

    assert answer["http"]["status_code"] == 200
    assert json.loads(answer["http"]["body"])["status"] == "delivered"
    assert moengage.accepted == [REWARD_ELEMENT]


def service_bus_batch(bodies: list[dict], encoding: str) -> dict:
    """A batch as the host hands it to a `cardinality=many` trigger: the bodies as one
    collection, the message properties as parallel JSON arrays in the trigger metadata."""
    texts = [json.dumps(body) for body in bodies]
    count = len(bodies)
    properties = [{"event": "rewards_issued", "attempt": 0} for _ in bodies]
    return {
        "function": "kognitiv_service_bus",
        "inputs": {"messages": {encoding: texts}},
        "trigger_metadata": {
            "MessageIdArray": {"json": [f"m-{encoding}-{i}" for i in range(count)]},
            "DeliveryCountArray": {"json": [1] * count},
            "SequenceNumberArray": {"json": list(range(1, count + 1))},
            "EnqueuedTimeUtcArray": {"json": ["2026-12-03T08:00:00.123"] * count},
            "ContentTypeArray": {"json": ["application/json"] * count},
            "UserPropertiesArray": {"json": properties},
            "ApplicationPropertiesArray": {"json": properties},
        },
    }


@pytest.mark.parametrize("encoding", ["collection_bytes", "collection_string"])
def test_service_bus_batch_is_delivered_through_the_worker(worker, package, moengage, encoding):
    moengage.reset()
    first = fixture_body("rewards_issued")
    second = {**first, "memberId": "100999", "rewardId": "R-2"}

    [answer] = run(
        worker, package, settings(moengage), [service_bus_batch([first, second], encoding)]
    )["invocations"]

    assert answer == {"status": "Success", "exception": None}
    assert sorted(element["customer_id"] for element in moengage.accepted) == ["100245", "100999"]
    assert moengage.accepted[0]["actions"] == REWARD_ELEMENT["actions"]
    assert moengage.violations == []


def test_a_workspace_webhook_delivers_through_the_worker(worker, package, moengage):
    """POST /api/kognitiv/{workspace}/{event}: the workspace's own MoEngage workspace and key;
    a workspace the settings do not name is 404."""
    moengage.reset()
    reward = json.dumps(fixture_body("rewards_issued"))
    with Emulator(app_id=EU_APP, api_key=EU_KEY) as eu:
        workspaces = {
            "eu": {
                "app_id": EU_APP,
                "data_center": "02",
                "api_key_setting": "EU_MOENGAGE_KEY",
                "api_base_url": eu.base_url,
                "inherit": True,
            }
        }
        values = settings(
            moengage, MOENGAGE_WORKSPACES=json.dumps(workspaces), EU_MOENGAGE_KEY=EU_KEY
        )
        calls = [
            http_call(
                "kognitiv_workspace_webhook",
                "POST",
                f"/api/kognitiv/{name}/rewards_issued",
                reward,
                params={"workspace": name, "event": "rewards_issued"},
            )
            for name in ("eu", "asia")
        ]

        delivered, unknown = run(worker, package, values, calls)["invocations"]

        assert delivered["http"]["status_code"] == 200
        assert json.loads(delivered["http"]["body"])["status"] == "delivered"
        assert eu.accepted == [REWARD_ELEMENT]
        [sent] = eu.requests
        assert sent.headers["authorization"] == basic(EU_APP, EU_KEY)
    assert moengage.accepted == []
    assert unknown["http"]["status_code"] == 404
    assert json.loads(unknown["http"]["body"])["error"] == {
        "code": "unknown_workspace",
        "message": 'unknown workspace "asia"; this deployment serves: default, eu',
    }
