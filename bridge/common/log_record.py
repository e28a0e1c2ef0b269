"""Log records for the structured lines, made from a template instead of `LogRecord.__init__`.

`LogRecord.__init__` works out, for every line, what is the same for every line of one call
site in one process (the level's name, the file and module names, the process and its name):
about a tenth of a webhook's time in the dry-run handler. Here the standard library builds one
record per level, and each line copies it and sets what changes: the message, the time, the
thread and (3.12+) the asyncio task, as `LogRecord.__init__` computes them. A record factory set
with `logging.setLogRecordFactory` (OpenTelemetry's, say) is always honoured: lines then go
through `Logger.makeRecord`."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time


class RecordTemplates:
    """The records of one call site (`logger`, `pathname`, `lineno`, `func`), one per level."""

    def __init__(self, logger: logging.Logger, pathname: str, lineno: int, func: str) -> None:
        self._logger = logger
        self._site = (pathname, lineno)
        self._func = func
        self._templates: dict[int, dict[str, object]] = {}
        if hasattr(os, "register_at_fork"):  # a forked child: its own process fields
            os.register_at_fork(after_in_child=self._templates.clear)
        self._start = 0.0  # logging's start, in seconds (what relativeCreated counts from)

    def make(self, level: int, message: str, extra: dict[str, object]) -> logging.LogRecord:
        """A record of `message` at `level` with the attributes `extra`, as `logger.makeRecord`
        would make it (`extra` must not name any of the record's own attributes)."""
        if logging.getLogRecordFactory() is not logging.LogRecord:
            pathname, lineno = self._site
            record = self._logger.makeRecord(
                self._logger.name, level, pathname, lineno, message, (), None, self._func
            )
            record.__dict__.update(extra)
            return record
        template = self._templates.get(level) or self._template(level)
        now = time.time()
        fields = {
            **template,
            **extra,
            "msg": message,
            "created": now,
            "msecs": int((now - int(now)) * 1000) + 0.0,
            "relativeCreated": (now - self._start) * 1000,
        }
        if logging.logThreads:
            fields["thread"] = threading.get_ident()
            fields["threadName"] = threading.current_thread().name
        if "taskName" in template and logging.logAsyncioTasks:  # type: ignore[attr-defined]
            fields["taskName"] = _task_name()
        record = logging.LogRecord.__new__(logging.LogRecord)
        record.__dict__ = fields
        return record

    def _template(self, level: int) -> dict[str, object]:
        pathname, lineno = self._site
        record = logging.LogRecord(
            self._logger.name, level, pathname, lineno, "", (), None, self._func
        )
        self._start = record.created - record.relativeCreated / 1000
        template = dict(record.__dict__)
        self._templates[level] = template
        return template


def _task_name() -> str | None:
    """The running asyncio task's name, as `LogRecord.__init__` finds it (3.12+)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        return asyncio.current_task().get_name()  # type: ignore[union-attr]
    except Exception:  # no running loop or no task: what the standard library records
        return None
