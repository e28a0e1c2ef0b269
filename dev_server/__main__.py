"""`python -m dev_server`: serve the app's HTTP functions on localhost through the real Python
worker, for machines where Core Tools cannot run (`./scripts/run-local` falls back to it).
Builds the worker's environment when it is missing (once; see `worker_env`), then hands over to
`http_host` in the worker's interpreter."""

from __future__ import annotations

import argparse
import os
import sys

from dev_server import worker_env

HTTP_HOST = worker_env.HERE / "http_host.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev_server", description=__doc__)
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("RUN_LOCAL_PORT") or 7071),
        help="HTTP port (default: $RUN_LOCAL_PORT or 7071)",
    )
    parser.add_argument(
        "--settings",
        default=str(worker_env.ROOT / "local.settings.json"),
        help="the app settings file (default: %(default)s)",
    )
    parser.add_argument("--missing", default="", help="why Core Tools does not run (banner)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if not worker_env.worker_environment_built():
            print(
                "run-local: installing the Python worker (azure-functions-runtime) into "
                f"{worker_env.cache_dir()} (once)",
                file=sys.stderr,
                flush=True,
            )
        python, rpc = worker_env.worker_environment()
        if not (worker_env.requirements_target(python) / ".complete").exists():
            print(
                "run-local: installing requirements.txt for the worker into "
                f"{worker_env.cache_dir()} (once)",
                file=sys.stderr,
                flush=True,
            )
        site = worker_env.installed_requirements(python)
    except worker_env.WorkerUnavailable as error:
        print(
            f"run-local: the dev server needs Python 3.13 for the worker: {error}", file=sys.stderr
        )
        return 1
    except RuntimeError as error:  # an install failed: pip's own words
        print(f"run-local: the worker could not be installed: {error}", file=sys.stderr)
        return 1
    command = [
        str(python),
        "-I",
        str(HTTP_HOST),
        "--app-dir",
        str(worker_env.ROOT),
        "--rpc-dir",
        str(rpc),
        "--site-packages",
        str(site),
        "--settings",
        args.settings,
        "--port",
        str(args.port),
        "--missing",
        args.missing,
    ]
    sys.stdout.flush()
    os.execv(command[0], command)  # noqa: S606 - the worker's interpreter, our module
    return 1  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
