"""The product's modules by what they do, wherever this tree keeps them: `--compare REF` runs
this benchmark code on REF too, and releases before `bridge/` was split into folders kept the
same code in flat modules (`bridge.runtime`, not `bridge.deployment.runtime`)."""

from __future__ import annotations

import importlib
from types import ModuleType

# Today's module -> where a release with a flat `bridge/` kept the same names.
EARLIER = {
    "bridge.deployment.runtime": "bridge.runtime",
    "bridge.durable.messages": "bridge.queue_messages",
    "bridge.webhook.handler": "bridge.webhook",
    "bridge.ops.replay": "bridge.replay",
}


def module(name: str) -> ModuleType:
    """`name`, or its earlier place when this tree does not have `name` itself (an error
    inside the module is raised as it is)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if name not in EARLIER or not (name == missing or name.startswith(missing + ".")):
            raise
        return importlib.import_module(EARLIER[name])
