"""`./scripts/run-local` runs the app on a fresh machine: it finds or installs Core Tools 4 into
the project (never globally), and where Core Tools cannot be had it serves the HTTP functions
through the real Python worker (`python -m dev_server`).

The decisions are pinned with the script copied into a project whose PATH holds only real
core utilities and recording stand-ins for python, npm, func and Azurite. The whole path is
pinned end to end: a clean clone, no `func` on PATH, the README's command, a webhook POST, and
the MoEngage emulator receiving the event."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from dev_server import worker_env
from tests.conftest import fixture_body
from tests.expected import REWARD_ELEMENT

ROOT = Path(__file__).resolve().parent.parent.parent
TOOLS = ("bash", "dirname", "cat", "cp", "cut", "grep", "mkdir", "sha256sum", "sleep", "tail")
TOOLS += ("timeout",)
NPM_CDN_FAILURE = """\
npm error code 1
npm error path /p/.tools/node_modules/azure-functions-core-tools
npm error command failed
npm error command sh -c node lib/install.js
npm error attempting to GET "https://cdn.functions.azure.com/public/4.0.296705/Azure.Functions.Cli.linux-x64.4.13.2.zip"
npm error Error: getaddrinfo ENOTFOUND cdn.functions.azure.com
npm error A complete log of this run can be found in: /root/.npm/_logs/debug-0.log"""
CDN_REASON = (
    "npm install --prefix .tools azure-functions-core-tools@4 failed: "
    "Error: getaddrinfo ENOTFOUND cdn.functions.azure.com"
)
PIP = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ".[cli]"]
NPM_CORE_TOOLS = ["install", "--prefix", ".tools", "--no-audit", "--no-fund"]
NPM_CORE_TOOLS += ["azure-functions-core-tools@4"]


# --- the decisions, with recording stand-ins --------------------------------------------------


def write_tool(path: Path, script: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


def recording(name: str, log: Path, then: str = "exit 0") -> str:
    """A stand-in that appends one line per call: its name, its arguments (one per `|`), and
    the settings the app would see. A host (`start`, `dev_server`) returns only once the
    emulator's call is recorded: the script stops the emulator when its host ends."""
    return (
        f'entry="{name}"; for a in "$@"; do entry="$entry|$a"; done\n'
        'printf "%s base_url=%s venv=%s\\n" "$entry" "${MOENGAGE_API_BASE_URL:-}" '
        f'"${{VIRTUAL_ENV:-}}" >> {log}\n'  # one write: the stand-ins run side by side
        'case "$*" in start*|*dev_server*) n=0; '
        f"while ! grep -q moengage_emulator {log} && [ $n -lt 100 ]; "
        "do sleep 0.1; n=$((n+1)); done;; "
        f"esac\n{then}"
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The script in a project with the files it reads, and a bin/ with only what it may use.
    `python3.11 -m venv .venv` makes a .venv whose python records every call."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "run-local", project / "scripts" / "run-local")
    for name in ("local.settings.example.json", "requirements.txt", "requirements-cli.txt"):
        shutil.copy2(ROOT / name, project)
    shutil.copy2(ROOT / "pyproject.toml", project)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    log = tmp_path / "calls.log"
    venv_python = tmp_path / "venv-python"
    write_tool(venv_python, recording("python", log))
    write_tool(
        bin_dir / "python3.11",
        recording(
            "python3.11",
            log,
            'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; '
            f'cp {venv_python} "$3/bin/python"; '
            'echo "export VIRTUAL_ENV=$PWD/$3" > "$3/bin/activate"; fi',
        ),
    )
    return project


def calls(project: Path) -> list[str]:
    log = project.parent / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def npm(project: Path, then: str) -> None:
    write_tool(project.parent / "bin" / "npm", recording("npm", project.parent / "calls.log", then))


# `func start --port N` as far as the script can see: it serves on N (until the first
# connection, the script's own check that it serves).
SERVES = (
    f'exec {sys.executable} -c "import socket, sys; s = socket.socket(); '
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
    's.bind((\'127.0.0.1\', int(sys.argv[1]))); s.listen(); s.accept()[0].close()" "$3"'
)


def func(path: Path, version: str, log: Path, name: str = "func", then: str = SERVES) -> None:
    answer = f'if [ "$1" = "--version" ]; then echo "{version}"; exit 0; fi\n'
    write_tool(path, answer + recording(name, log, then))


@dataclass(frozen=True)
class Ports:
    app: int
    emulator: int

    @property
    def base_url(self) -> str:
        """Where the script points the app when the emulator is not on 8081."""
        return f"http://127.0.0.1:{self.emulator}"


@pytest.fixture
def ports() -> Ports:
    return Ports(free_port(), free_port())


def run_local(project: Path, ports: Ports | None, **env: str) -> subprocess.CompletedProcess[str]:
    """The script with only bin/ on PATH; on `ports` unless None (its defaults)."""
    bin_dir = project.parent / "bin"
    if ports is not None:
        env = {
            "RUN_LOCAL_PORT": str(ports.app),
            "RUN_LOCAL_EMULATOR_PORT": str(ports.emulator),
            **env,
        }
    return subprocess.run(
        [str(bin_dir / "bash"), str(project / "scripts" / "run-local")],
        env={"PATH": str(bin_dir), "HOME": str(project.parent), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def line(name: str, *args: str, base_url: str = "", venv: str = "") -> str:
    return "|".join([name, *args]) + f" base_url={base_url} venv={venv}"


def setup_calls() -> list[str]:
    return [line("python3.11", "-m", "venv", ".venv"), line("python", *PIP)]


def dev_server(ports: Ports, missing: str, venv: str = "") -> str:
    return line(
        "python", "-m", "dev_server", "--port", str(ports.app), "--missing", missing,
        base_url=ports.base_url, venv=venv,
    )  # fmt: skip


def emulator(ports: Ports) -> str:
    return line(
        "python", "-m", "moengage_emulator", "--port", str(ports.emulator), base_url=ports.base_url
    )


def func_start(name: str, ports: Ports, project: Path) -> str:
    venv = str(project / ".venv")
    return line(name, "start", "--port", str(ports.app), base_url=ports.base_url, venv=venv)


def test_without_core_tools_and_its_download_it_serves_through_the_dev_server(project, ports):
    npm(project, f"cat <<'OUT'\n{NPM_CDN_FAILURE}\nOUT\nexit 1")

    done = run_local(project, ports)

    assert done.returncode == 0, done.stderr
    recorded = calls(project)
    assert recorded[:3] == [*setup_calls(), line("npm", *NPM_CORE_TOOLS)]
    assert sorted(recorded[3:]) == [dev_server(ports, CDN_REASON), emulator(ports)]
    assert done.stderr.splitlines() == [
        "run-local: creating .venv with python3.11",
        "run-local: installing the app's requirements into .venv",
        "run-local: installing Azure Functions Core Tools 4: "
        "npm install --prefix .tools azure-functions-core-tools@4",
    ]
    assert (project / ".tools" / "core-tools-unavailable").read_text() == CDN_REASON + "\n"
    assert (project / "local.settings.json").read_text() == (
        project / "local.settings.example.json"
    ).read_text()


def test_the_second_run_installs_nothing_and_a_requirement_change_reinstalls(project, ports):
    npm(project, f"cat <<'OUT'\n{NPM_CDN_FAILURE}\nOUT\nexit 1")
    run_local(project, ports)
    calls(project)

    again = run_local(project, ports)

    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
    missing = f"{CDN_REASON} (delete .tools/core-tools-unavailable to try again)"
    assert sorted(calls(project)) == [dev_server(ports, missing), emulator(ports)]

    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("orjson>=3\n")
    assert run_local(project, ports).returncode == 0
    assert line("python", *PIP) in calls(project)


def test_without_npm_it_says_so_and_serves_through_the_dev_server(project, ports):
    done = run_local(project, ports)

    assert done.returncode == 0, done.stderr
    reason = "func not found, and npm is not installed to install it"
    assert dev_server(ports, reason) in calls(project)
    assert not (project / ".tools").exists()


def test_a_core_tools_download_that_hangs_is_cut_short(project, ports):
    npm(project, "sleep 30")

    done = run_local(project, ports, RUN_LOCAL_INSTALL_TIMEOUT="1")

    assert done.returncode == 0, done.stderr
    reason = "npm install --prefix .tools azure-functions-core-tools@4 failed: timed out after 1s"
    assert dev_server(ports, reason) in calls(project)


def test_the_default_ports_are_7071_and_8081(project):
    taken = [port for port in (7071, 8081) if listening(port)]

    done = run_local(project, None)

    if taken:  # this machine runs something there already: the script says so and stops
        assert done.returncode == 1
        assert f"run-local: port {taken[0]} is in use" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        reason = "func not found, and npm is not installed to install it"
        assert sorted(calls(project)[2:]) == [
            line("python", "-m", "dev_server", "--port", "7071", "--missing", reason),
            line("python", "-m", "moengage_emulator", "--port", "8081"),
        ]  # and the settings' MOENGAGE_API_BASE_URL (the emulator on 8081) is left alone


def test_a_port_in_use_is_refused_before_anything_is_installed(project, ports):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = run_local(project, ports, RUN_LOCAL_EMULATOR_PORT=str(port))

    assert done.returncode == 1
    assert done.stderr == (
        f"run-local: port {port} is in use (RUN_LOCAL_PORT / RUN_LOCAL_EMULATOR_PORT pick others)\n"
    )
    assert calls(project) == []


def test_core_tools_4_on_path_runs_func_start_on_the_venv_with_azurite(project, ports):
    log = project.parent / "calls.log"
    func(project.parent / "bin" / "func", "4.0.6610", log)
    npm(project, "exit 1")
    write_tool(project / ".tools" / "node_modules" / ".bin" / "azurite", recording("azurite", log))
    storage_taken = listening(10000)

    done = run_local(project, ports)

    assert done.returncode == 0, done.stderr
    recorded = calls(project)
    assert recorded[:2] == setup_calls()
    expected = [func_start("func", ports, project), emulator(ports)]
    if not storage_taken:  # else an Azurite already listens, and is used
        expected.append(
            line(
                "azurite", "--silent", "--location", ".azurite", "--skipApiVersionCheck",
                "--disableTelemetry", base_url=ports.base_url,
            )
        )  # fmt: skip
    assert sorted(recorded[2:]) == sorted(expected)
    assert done.stderr.splitlines()[-1] == (
        f"run-local: host = Azure Functions Core Tools 4.0.6610 (func start) on "
        f"http://localhost:{ports.app}; MoEngage emulator on http://127.0.0.1:{ports.emulator}"
    )


def test_core_tools_other_than_4_get_version_4_installed_into_the_project(project, ports):
    log = project.parent / "calls.log"
    func(project.parent / "bin" / "func", "3.0.3904", log)
    local_func = project / ".tools" / "node_modules" / ".bin" / "func"
    installer = project.parent / "install-func"
    func(installer, "4.0.6610", log, name="func-in-tools")
    npm(project, f"mkdir -p {local_func.parent} && cp {installer} {local_func}")
    (project / "local.settings.example.json").write_text(
        json.dumps({"Values": {"AzureWebJobsStorage": ""}})
    )

    done = run_local(project, ports)

    assert done.returncode == 0, done.stderr
    recorded = calls(project)
    assert recorded[2] == line("npm", *NPM_CORE_TOOLS)  # into .tools/, never -g
    assert sorted(recorded[3:]) == [
        func_start("func-in-tools", ports, project),
        emulator(ports),
    ]  # and no Azurite: these settings use no development storage
    assert "Core Tools 4.0.6610 (func start)" in done.stderr


def test_core_tools_that_cannot_start_leave_the_app_to_the_dev_server(project, ports):
    log = project.parent / "calls.log"
    func(project.parent / "bin" / "func", "4.0.6610", log, then="echo 'no ICU' >&2; exit 134")
    (project / "local.settings.example.json").write_text(json.dumps({"Values": {}}))

    done = run_local(project, ports)

    assert done.returncode == 0, done.stderr
    reason = "func start (Core Tools 4.0.6610) ended with status 134 before serving (see above)"
    assert sorted(calls(project)[2:]) == [
        func_start("func", ports, project),
        dev_server(ports, reason, venv=str(project / ".venv")),
        emulator(ports),
    ]
    assert "no ICU" in done.stderr


# --- end to end: a clean clone, the README's command, a webhook, the emulator -----------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def path_without_func() -> str:
    entries = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(entry for entry in entries if not Path(entry, "func").exists())


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean clone of this checkout: tracked files only, nothing installed."""
    try:
        worker_env.worker_python()
    except worker_env.WorkerUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"the dev server must run in CI: {error}")
        pytest.skip(f"the dev server needs Python 3.13: {error}")
    target = tmp_path_factory.mktemp("clone") / "kognitiv-bridge"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    return target


class RunLocal:
    """`./scripts/run-local` in its own process group, with its output in files."""

    def __init__(self, clone: Path, app_port: int, emulator_port: int) -> None:
        self.err_path = clone.parent / "run-local.err"
        self.out = (clone.parent / "run-local.out").open("w+")
        self.err = self.err_path.open("w+")
        environment = {
            **os.environ,
            "PATH": path_without_func(),
            "RUN_LOCAL_PORT": str(app_port),
            "RUN_LOCAL_EMULATOR_PORT": str(emulator_port),
            # The worker's environment is keyed by what it is built from, like pip's cache:
            # shared with the real-worker tests so each clone does not rebuild it.
            "KOGNITIV_WORKER_CACHE": str(worker_env.cache_dir()),
        }
        for name in ("VIRTUAL_ENV", "MOENGAGE_API_BASE_URL", "PYTHONPATH"):
            environment.pop(name, None)
        self.process = subprocess.Popen(
            ["./scripts/run-local"],
            cwd=clone,
            env=environment,
            stdout=self.out,
            stderr=self.err,
            start_new_session=True,
        )

    def banner(self, timeout: float = 600) -> str:
        """The host's first line, once it serves (the first run of a machine installs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.out.seek(0)
            hosts = [text for text in self.out.read().splitlines() if text.startswith("run-local:")]
            if hosts:
                return hosts[0]
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        self.err.seek(0)
        pytest.fail(f"run-local did not start a host:\n{self.err.read()[-4000:]}")

    def stderr(self) -> str:
        return self.err_path.read_text()

    def stop(self) -> tuple[int, bool]:
        """SIGTERM to the script alone, which must stop what it started: (its exit status,
        whether anything of its process group outlived it). Whatever did is then killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=30)
            try:
                os.killpg(self.process.pid, 0)
                outlived = True
            except ProcessLookupError:
                outlived = False
            return status, outlived
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.out.close()
            self.err.close()


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - http://
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - http://
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def accepted(emulator_port: int) -> list[dict]:
    url = f"http://127.0.0.1:{emulator_port}/_emulator/accepted"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())["accepted"]


def test_a_clean_clone_serves_the_webhook_and_moengage_receives_the_event(clone):
    app_port, emulator_port = free_port(), free_port()
    reward = json.dumps(fixture_body("rewards_issued")).encode()
    first = RunLocal(clone, app_port, emulator_port)
    try:
        banner = first.banner()

        assert banner.startswith("run-local: host = Python worker dev server (azure-functions-")
        assert f"on http://localhost:{app_port} (no Core Tools: npm install --prefix .tools " in (
            banner
        )
        assert banner.endswith(
            "HTTP triggers only, any function key or none accepted; not run: "
            "kognitiv_service_bus (serviceBusTrigger: needs Core Tools and a namespace)"
        )
        webhook = f"http://localhost:{app_port}/api/kognitiv/rewards_issued"
        status, body = post(webhook, reward)
        assert (status, body["status"]) == (200, "delivered")
        assert accepted(emulator_port) == [REWARD_ELEMENT]
        status, _ = post(webhook + "?code=any-key-is-accepted-locally", reward)
        assert status == 200
        assert accepted(emulator_port) == [REWARD_ELEMENT, REWARD_ELEMENT]
        status, body = post(f"http://localhost:{app_port}/api/kognitiv", b"not json")
        assert (status, body["error"]["code"]) == (400, "invalid_json")
        status, body = post(f"http://localhost:{app_port}/api/kognitiv/asia/rewards_issued", reward)
        assert (status, body["error"]["code"]) == (404, "unknown_workspace")
        assert '"asia"' in body["error"]["message"]  # the route's values reached the function
        assert get(f"http://localhost:{app_port}/api/live") == (200, {"status": "alive"})
        status, body = get(f"http://localhost:{app_port}/api/kognitiv/rewards_issued")
        assert (status, body["error"]["code"]) == (404, "not_found")  # POST and PUT only
    finally:
        stopped = first.stop()
    assert stopped == (143, False)  # SIGTERM: the script stopped its host and emulator too
    assert not listening(app_port)
    assert not listening(emulator_port)
    assert not (clone / ".tools" / "node_modules" / ".bin" / "func").exists()

    second = RunLocal(clone, app_port, emulator_port)
    try:
        assert "(delete .tools/core-tools-unavailable to try again)" in second.banner()
        status, body = post(f"http://localhost:{app_port}/api/kognitiv/rewards_issued", reward)
        assert (status, body["status"]) == (200, "delivered")
        assert accepted(emulator_port) == [REWARD_ELEMENT]  # a new emulator
    finally:
        assert second.stop() == (143, False)
    set_up = [text for text in second.stderr().splitlines() if "run-local: " in text]
    assert set_up == []  # nothing created or installed again
