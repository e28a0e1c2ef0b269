"""`validate`: load settings and mapping rules exactly as the function does and report every
problem at once, plus placeholders that look like typos of Kognitiv field names."""

from __future__ import annotations

import difflib
import hmac
import os
from dataclasses import dataclass, field

from bridge.config.auth import KognitivAuth
from bridge.config.mapping_config import build_mapper
from bridge.config.settings import ConfigurationError, Settings, load_settings
from bridge.config.workspaces import (
    DEFAULT_WORKSPACE,
    INHERIT_WARNING,
    inherits_credentials,
    workspace_settings,
)
from bridge.deployment.runtime import UnknownWorkspace
from delivery.datacenters import api_base_url
from mapping import Mapper
from mapping.known_fields import KNOWN_KOGNITIV_FIELDS


@dataclass
class ValidationReport:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # valid, but not what production wants
    notes: list[str] = field(default_factory=list)
    settings: Settings | None = None  # the default workspace's (else the first checked one's)
    rules: list[str] = field(default_factory=list)  # the same workspace's rules
    workspaces: dict[str, Settings] = field(default_factory=dict)  # every workspace checked
    workspace_rules: dict[str, list[str]] = field(default_factory=dict)

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


def validate(workspace: str | None = None) -> ValidationReport:
    """Check every workspace (or only `workspace`: UnknownWorkspace when the settings do not
    define it). Problems of a workspace other than `default` start with its name."""
    report = ValidationReport()
    try:
        base = load_settings()
        workspaces = workspace_settings(base, os.environ)
    except ConfigurationError as error:
        report.problems.extend(error.problems)
        return report
    if workspace is not None:
        if workspace not in workspaces:
            raise UnknownWorkspace(workspace, sorted(workspaces))
        workspaces = {workspace: workspaces[workspace]}
    for name in sorted(workspaces, key=lambda n: (n != DEFAULT_WORKSPACE, n)):
        _validate_workspace(report, name, workspaces[name])
    report.warnings.extend(shared_credentials(workspaces))
    first = next(iter(report.workspaces), None)
    if first is not None:
        report.settings = report.workspaces[first]
        report.rules = report.workspace_rules.get(first, [])
    return report


def _uses_global_credentials(settings: Settings, name: str) -> bool:
    return name == DEFAULT_WORKSPACE or inherits_credentials(settings, name)


def shared_credentials(workspaces: dict[str, Settings]) -> list[str]:
    """Workspaces that accept one and the same Kognitiv credential (a value two entries' own
    settings hold, or the default's named again): either program's sender can post into the
    other's workspace, as with `"inherit": true` (which is warned about on its own)."""
    warnings: list[str] = []
    names = sorted(workspaces, key=lambda n: (n != DEFAULT_WORKSPACE, n))
    accepted = {name: _secrets(KognitivAuth.from_settings(workspaces[name])) for name in names}
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            if _uses_global_credentials(workspaces[first], first) and _uses_global_credentials(
                workspaces[second], second
            ):
                continue  # the same settings on purpose: the inherit warning says so
            if any(hmac.compare_digest(a, b) for a in accepted[first] for b in accepted[second]):
                warnings.append(
                    f"workspaces {first} and {second} accept the same Kognitiv credential: "
                    "whoever holds it can post into both; give each program its own"
                )
    return warnings


def _secrets(auth: KognitivAuth) -> list[bytes]:
    """Every credential a workspace accepts, comparable across workspaces (never shown)."""
    return [b"bearer:" + token for token in auth.tokens] + [
        b"basic:" + user + b":" + password for user, password in auth.basic
    ]


def _base_url_setting(name: str) -> str:
    if name == DEFAULT_WORKSPACE:
        return "MOENGAGE_API_BASE_URL"
    return f"MOENGAGE_WORKSPACES.{name}.api_base_url"


def _validate_workspace(report: ValidationReport, name: str, settings: Settings) -> None:
    prefix = "" if name == DEFAULT_WORKSPACE else f"workspace {name}: "
    report.workspaces[name] = settings
    try:
        mapper, rule_problems = build_mapper(settings)
    except ConfigurationError as error:
        report.problems.extend(prefix + problem for problem in error.problems)
        return
    if settings.moengage_api_base_url:
        report.warnings.append(
            f"{prefix}{_base_url_setting(name)}={settings.moengage_api_base_url} overrides data "
            f"center {settings.data_center}: everything is sent there, not to MoEngage "
            f"({api_base_url(settings.data_center)}); remove it outside the emulator and tests"
        )
    report.problems.extend(prefix + problem for problem in rule_problems)
    report.workspace_rules[name] = mapper.event_names
    typos, notes = unresolvable_placeholders(mapper)
    report.problems.extend(prefix + problem for problem in typos)
    report.notes.extend(prefix + note for note in notes)
    if inherits_credentials(settings, name):
        report.warnings.append(f"{prefix}{INHERIT_WARNING}")
    if not settings.kognitiv_auth_configured:
        report.notes.append(
            f"{prefix}no Kognitiv credential configured: only the function key protects it"
        )
