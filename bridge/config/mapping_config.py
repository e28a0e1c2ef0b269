"""Load the mapping rules the deployment asks for: the shipped file (or KOGNITIV_MAPPINGS_FILE)
plus inline rules from KOGNITIV_MAPPINGS, which add to or replace the file's rules by event name
so a rule can change in the portal without a redeploy."""

from __future__ import annotations

from pathlib import Path

import mapping
from bridge.config.settings import ConfigurationError, Settings, parse_json_object
from mapping import ConversionContext, Mapper, RuleError, compile_rules_collecting, merge_documents

DEFAULT_MAPPINGS_PATH = Path(mapping.__file__).parent / mapping.DEFAULT_MAPPINGS_FILE


def load_documents(settings: Settings) -> dict[str, object]:
    """The merged rule document (file first, inline rules on top)."""
    path = settings.kognitiv_mappings_file or DEFAULT_MAPPINGS_PATH
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ConfigurationError(
            [f"KOGNITIV_MAPPINGS_FILE {str(path)!r} cannot be read ({error.strerror})"]
        ) from None
    documents = [parse_json_object(text, f"KOGNITIV_MAPPINGS_FILE {str(path)!r}", "event name")]
    if settings.kognitiv_mappings:
        documents.append(
            parse_json_object(settings.kognitiv_mappings, "KOGNITIV_MAPPINGS", "event name")
        )
    try:
        return merge_documents(*documents)
    except RuleError as error:
        raise ConfigurationError([str(error)]) from None


def conversion_context(settings: Settings) -> ConversionContext:
    return ConversionContext(
        settings.zone, settings.kognitiv_date_order, settings.kognitiv_number_format
    )


def build_mapper(settings: Settings) -> tuple[Mapper, list[str]]:
    """A mapper from every rule that compiles, and the problems of those that do not."""
    context = conversion_context(settings)
    rules, problems = compile_rules_collecting(load_documents(settings), context)
    return Mapper(rules, context), [f"mapping rule problem: {p}" for p in problems]


def load_mapper(settings: Settings) -> Mapper:
    mapper, problems = build_mapper(settings)
    if problems:
        raise ConfigurationError(problems)
    return mapper
