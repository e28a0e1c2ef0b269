"""Coverage-guided fuzz target: random mapping documents (what KOGNITIV_MAPPINGS or a mapping file
may hold) through `mapping.compile_rules_collecting`, then every rule that compiles through the
mapper with sample Kognitiv bodies. No sockets.

    python fuzz/fuzz_mapping_rules.py -max_total_time=600 /tmp/fuzz-rules fuzz/corpus/mapping_rules

A finding is:

- any exception but RuleError out of compile_rules_collecting (a bad rule must be reported as a
  configuration problem naming it, never crash the worker at start-up);
- a problem that is not a string;
- any exception but MappingError while mapping a sample body with a compiled rule;
- a mapped element that does not encode as strict JSON (no NaN or Infinity).

Inputs that are not JSON are skipped: the target is the rule compiler, not the JSON parser. Known,
reported problems are skipped (SECURITY.md, "Known issues"); set FUZZ_STRICT=1 to check them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the app's packages importable
    sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:  # the pytest replay and hypothesis runs need no atheris
    atheris = None


def _instrumentation() -> contextlib.AbstractContextManager:
    if atheris is not None and __name__ == "__main__":
        return atheris.instrument_imports(include=["mapping", "delivery"])
    return contextlib.nullcontext()


with _instrumentation():
    from delivery.payloads import plan_requests
    from mapping import ConversionContext, Mapper, MappingError, RuleError, compile_rules_collecting
    from moengage_emulator import contract

CONTEXT = ConversionContext(ZoneInfo("America/Chicago"), "MDY")
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC).timestamp()
STRICT = os.environ.get("FUZZ_STRICT") == "1"
CORPUS = Path(__file__).resolve().parent / "corpus" / "webhook"
SAMPLE_BODIES: list[dict] = [
    body
    for body in (json.loads(path.read_text()) for path in sorted(CORPUS.glob("*.json")))
    if isinstance(body, dict)
] + [
    {},
    {
        "memberId": "M-1001",
        "amount": "1,250.50",
        "flag": "True",
        "when": "3/20/2026 6:45:10 PM",
        "items": [{"sku": "A-1", "qty": "2"}],
        "nested": {"deep": {"value": None}},
        "text": "{{memberEmail}}",
    },
]


def _compiled(document: object) -> tuple[dict, list] | None:
    """compile_rules_collecting's answer; None for a RuleError or a known, reported problem."""
    try:
        return compile_rules_collecting(document, CONTEXT)  # type: ignore[arg-type]
    except RuleError:
        return None


def _mapped(mapper: Mapper, body: dict, name: str) -> list[dict] | None:
    try:
        return mapper.map(body, name).elements
    except MappingError:
        return None


def _non_finite(value: object) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_non_finite(item) for item in value)
    return False


def check_document(document: object) -> None:
    """Every invariant for one rule document."""
    compiled = _compiled(document)
    if compiled is None:
        return
    rules, problems = compiled
    assert all(isinstance(problem, str) for problem in problems), problems
    mapper = Mapper(rules, CONTEXT, clock=lambda: NOW)
    for name in rules:
        for body in SAMPLE_BODIES:
            elements = _mapped(mapper, body, name)
            if elements is None:
                continue
            assert not _non_finite(elements), elements
            for request in plan_requests([elements]):
                contract.parse_json(request.body)  # strict JSON, as MoEngage parses it


def TestOneInput(data: bytes) -> None:  # the name atheris and libFuzzer expect
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return
    check_document(document)


def main() -> None:
    if atheris is None:
        raise SystemExit("atheris is not installed: pip install atheris (Linux x86_64 wheels)")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
