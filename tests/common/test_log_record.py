"""The structured lines' records are made from a template: they must be the records
`Logger.makeRecord` makes, attribute for attribute, on every supported Python."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import warnings

import pytest

from bridge.common import telemetry
from bridge.common.log_record import RecordTemplates

TIMES = {"created", "msecs", "relativeCreated"}


def made_both_ways(level: int) -> tuple[logging.LogRecord, logging.LogRecord]:
    logger = logging.getLogger("tests.log_record")
    templates = RecordTemplates(logger, "/app/bridge/common/telemetry.py", 117, "record")
    fast = templates.make(level, "the line", {"kb_kind": "webhook"})
    slow = logger.makeRecord(
        logger.name, level, "/app/bridge/common/telemetry.py", 117, "the line", (), None, "record"
    )
    slow.__dict__.update({"kb_kind": "webhook"})
    return fast, slow


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_a_templated_record_is_the_record_make_record_makes(level: int) -> None:
    fast, slow = made_both_ways(level)

    assert type(fast) is logging.LogRecord
    assert list(fast.__dict__) == list(slow.__dict__)  # same attributes, in the same order
    assert {k: v for k, v in fast.__dict__.items() if k not in TIMES} == {
        k: v for k, v in slow.__dict__.items() if k not in TIMES
    }
    assert abs(fast.created - slow.created) < 1
    assert abs(fast.relativeCreated - slow.relativeCreated) < 1000
    assert fast.msecs == int((fast.created - int(fast.created)) * 1000)
    assert fast.getMessage() == "the line"
    assert logging.Formatter("%(asctime)s %(levelname)s %(module)s %(message)s").format(fast)


def test_each_record_has_its_own_time_thread_and_attributes() -> None:
    logger = logging.getLogger("tests.log_record")
    templates = RecordTemplates(logger, __file__, 1, "record")
    first = templates.make(logging.INFO, "one", {"kb_a": 1})
    second = templates.make(logging.INFO, "two", {"kb_b": 2})

    assert (first.getMessage(), second.getMessage()) == ("one", "two")
    assert first.__dict__ is not second.__dict__
    assert not hasattr(first, "kb_b")
    assert not hasattr(second, "kb_a")
    assert second.created >= first.created


async def test_a_record_made_in_a_task_names_the_task_as_the_standard_library_does() -> None:
    logger = logging.getLogger("tests.log_record")
    templates = RecordTemplates(logger, __file__, 1, "record")
    templates.make(logging.INFO, "outside any task", {})  # the template is made here

    async def in_task() -> tuple[logging.LogRecord, logging.LogRecord]:
        fast = templates.make(logging.INFO, "in a task", {})
        slow = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "in a task", (), None)
        return fast, slow

    fast, slow = await asyncio.create_task(in_task(), name="webhook-7")

    assert getattr(fast, "taskName", "absent") == getattr(slow, "taskName", "absent")
    if sys.version_info >= (3, 12):  # records name their task from 3.12 on
        assert fast.taskName == "webhook-7"  # type: ignore[attr-defined]


def test_a_record_factory_someone_set_is_honoured() -> None:
    made: list[str] = []
    standard = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = standard(*args, **kwargs)
        record.trace_id = "abc"  # what a tracing library adds
        made.append(record.getMessage())
        return record

    logging.setLogRecordFactory(factory)
    try:
        templates = RecordTemplates(logging.getLogger("tests.log_record"), __file__, 1, "f")
        record = templates.make(logging.INFO, "traced", {"kb_kind": "webhook"})
    finally:
        logging.setLogRecordFactory(standard)

    assert made == ["traced"]
    assert (record.trace_id, record.kb_kind) == ("abc", "webhook")  # type: ignore[attr-defined]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only: Windows has no fork")
def test_a_forked_child_gets_its_own_process_id() -> None:
    templates = RecordTemplates(logging.getLogger("tests.log_record"), __file__, 1, "f")
    assert templates.make(logging.INFO, "parent", {}).process == os.getpid()
    read, write = os.pipe()

    with warnings.catch_warnings():  # 3.12+ warns of forking a process with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # the child: report its record's process id and its own, then leave
        record = templates.make(logging.INFO, "child", {})
        os.write(write, f"{record.process} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    recorded, actual = os.read(read, 100).decode().split()
    os.close(read)

    assert recorded == actual == str(child)


def test_a_structured_line_with_del_is_escaped_and_keeps_its_data(lines) -> None:
    telemetry.record("webhook", logging.INFO, event="reward\x7fgold", members=["M-1\x7f"])

    [line] = lines
    assert "\x7f" not in line.getMessage()
    assert line.getMessage().isprintable()
    assert json.loads(line.getMessage()) == {
        "kind": "webhook",
        "event": "reward\x7fgold",
        "members": ["M-1\x7f"],
    }
    assert line.custom_dimensions == json.loads(line.getMessage())  # type: ignore[attr-defined]


def test_a_structured_line_is_written_as_json_dumps_writes_it(lines) -> None:
    fields = {"status_code": 200, "latency_ms": 0.5, "members": ["M-1"], "ok": True}
    telemetry.record("webhook", logging.INFO, **fields, retry_at=None)
    telemetry.record("queue_message", logging.WARNING, detail=("a", 1), text="ünï\u2028")

    plain, fallback = (line.getMessage() for line in lines)
    assert plain == json.dumps({"kind": "webhook", **fields}, separators=(",", ":"))
    assert fallback == json.dumps(
        {"kind": "queue_message", "detail": ["a", 1], "text": "ünï\u2028"}, separators=(",", ":")
    )
    assert lines[1].levelname == "WARNING"


@pytest.mark.parametrize(
    "setting", ["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "PYTHON_ENABLE_OPENTELEMETRY"]
)
def test_with_the_worker_exporting_every_field_is_an_attribute_of_its_own(
    lines, monkeypatch, setting
) -> None:
    monkeypatch.setenv(setting, " Yes")
    monkeypatch.setattr(telemetry, "FIELD_ATTRIBUTES", telemetry._exported())

    telemetry.record("webhook", logging.INFO, status_code=200, members=["M-1"], rule=None)

    [line] = lines
    fields = {k: v for k, v in vars(line).items() if k.startswith("kb_")}
    assert fields == {"kb_kind": "webhook", "kb_status_code": 200, "kb_members": ["M-1"]}
    assert line.custom_dimensions == json.loads(line.getMessage())  # type: ignore[attr-defined]


def test_without_the_export_no_handler_reads_field_attributes_so_none_are_made(
    lines, monkeypatch
) -> None:
    for setting in ("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "PYTHON_ENABLE_OPENTELEMETRY"):
        monkeypatch.setenv(setting, "false")
    monkeypatch.setattr(telemetry, "FIELD_ATTRIBUTES", telemetry._exported())

    telemetry.record("webhook", logging.INFO, status_code=200)

    [line] = lines
    assert not [name for name in vars(line) if name.startswith("kb_")]
    assert line.custom_dimensions == {"kind": "webhook", "status_code": 200}  # type: ignore[attr-defined]
