"""`validate`: load settings and mapping rules exactly as the function does and report every
problem at once, plus placeholders that look like typos of Kognitiv field names."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from bridge.mapping_config import build_mapper
from bridge.settings import ConfigurationError, Settings, load_settings
from delivery.datacenters import api_base_url
from mapping import Mapper
from mapping.known_fields import KNOWN_KOGNITIV_FIELDS


@dataclass
class ValidationReport:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # valid, but not what production wants
    notes: list[str] = field(default_factory=list)
    settings: Settings | None = None
    rules: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def unresolvable_placeholders(mapper: Mapper) -> tuple[list[str], list[str]]:
    """(problems, notes): a field close to a known Kognitiv name is almost surely a typo; any
    other unknown field is only noted (admins may add their own fields to a template)."""
    problems: list[str] = []
    notes: list[str] = []
    for name, rule in sorted(mapper.rules.items()):
        for placeholder in rule.placeholders:
            for source in placeholder.sources:
                root = source.split(".", 1)[0]
                if root in KNOWN_KOGNITIV_FIELDS:
                    continue
                close = difflib.get_close_matches(root, KNOWN_KOGNITIV_FIELDS, n=1, cutoff=0.85)
                if close:
                    problems.append(
                        f'rule "{name}": placeholder field "{root}" is never sent by Kognitiv; '
                        f'did you mean "{close[0]}"?'
                    )
                else:
                    notes.append(f'rule "{name}": field "{root}" is not a known Kognitiv field')
    return problems, sorted(set(notes))


def validate() -> ValidationReport:
    report = ValidationReport()
    try:
        report.settings = load_settings()
    except ConfigurationError as error:
        report.problems.extend(error.problems)
        return report
    try:
        mapper, rule_problems = build_mapper(report.settings)
    except ConfigurationError as error:
        report.problems.extend(error.problems)
        return report
    settings = report.settings
    if settings.moengage_api_base_url:
        report.warnings.append(
            f"MOENGAGE_API_BASE_URL={settings.moengage_api_base_url} overrides data center "
            f"{settings.data_center}: everything is sent there, not to MoEngage "
            f"({api_base_url(settings.data_center)}); remove it outside the emulator and tests"
        )
    report.problems.extend(rule_problems)
    report.rules = mapper.event_names
    typos, notes = unresolvable_placeholders(mapper)
    report.problems.extend(typos)
    report.notes.extend(notes)
    if not (report.settings.kognitiv_auth_configured):
        report.notes.append("no Kognitiv credential configured: only the function key protects it")
    return report
