"""Figure 4: HTTP requests to MoEngage per 1,000 events, on the queue path and in `replay`.

Counted by the emulator (every /v1 request it received). The integration guide's direct webhook
makes one request per event: 1,000."""

from __future__ import annotations

import asyncio
import io
import tempfile
from pathlib import Path

from benchmarks.bodies import Body, BodyFactory, replay_line
from benchmarks.harness import Context, EmulatorProcess, Figure, use_settings
from benchmarks.queue_driver import batch_size, batches_of, drive
from bridge import cli

TARGET = 10


def replay_file(bodies: list[Body], directory: Path, name: str = "bodies.jsonl") -> Path:
    path = directory / name
    with path.open("wb") as handle:
        for body in bodies:
            handle.write(replay_line(body) + b"\n")
    return path


def run_replay(base_url: str, path: Path, *extra: str) -> tuple[int, str]:
    """`kognitiv-bridge replay FILE` in this process; (exit code, its JSON summary)."""
    use_settings(base_url)
    out = io.StringIO()
    arguments = ["replay", str(path), "--no-progress", "--restart", *extra]
    code = cli.main(arguments, stdout=out, stderr=io.StringIO())
    return code, out.getvalue()


def _v1_posts(requests: list[dict[str, object]]) -> int:
    return sum(1 for r in requests if str(r["path"]).startswith("/v1/"))


def run(context: Context) -> Figure:
    count = context.size(10_000, 300)
    size = context.size(batch_size(), 50)
    bodies = list(BodyFactory(seed=4).stream(count))
    with EmulatorProcess() as emulator:
        asyncio.run(drive(emulator.base_url, batches_of(bodies, size)))
        queue_requests = _v1_posts(emulator.requests())
        emulator.reset()
        with tempfile.TemporaryDirectory() as directory:
            code, summary = run_replay(emulator.base_url, replay_file(bodies, Path(directory)))
        if code != 0:
            raise RuntimeError(f"replay failed ({code}): {summary}")
        replay_requests = _v1_posts(emulator.requests())
    queue_rate = queue_requests / count * 1000
    replay_rate = replay_requests / count * 1000
    worst = max(queue_rate, replay_rate)
    return Figure(
        key="requests",
        title="MoEngage HTTP requests per 1,000 events (queue path; replay)",
        value=round(worst, 1),
        unit="req",
        target=f"≤ {TARGET}",
        met=worst <= TARGET,
        anchor="direct webhook 1,000",
        details={
            "events": count,
            "queue_batch_size": size,
            "queue_requests": queue_requests,
            "queue_per_1000": round(queue_rate, 1),
            "replay_requests": replay_requests,
            "replay_per_1000": round(replay_rate, 1),
        },
        note=f"queue {queue_rate:.1f}, replay {replay_rate:.1f} per 1,000 events",
    )
