"""Pure mapping from Kognitiv webhook bodies to MoEngage elements (no I/O, no Azure)."""

from mapping.converters import CONVERTERS, ConversionContext
from mapping.engine import PASSTHROUGH, Mapper, MappingResult
from mapping.errors import MappingError, RuleError
from mapping.rules import Rule, compile_rules, compile_rules_collecting, merge_documents

DEFAULT_MAPPINGS_FILE = "default_mappings.json"

__all__ = [
    "CONVERTERS",
    "DEFAULT_MAPPINGS_FILE",
    "PASSTHROUGH",
    "ConversionContext",
    "Mapper",
    "MappingError",
    "MappingResult",
    "Rule",
    "RuleError",
    "compile_rules",
    "compile_rules_collecting",
    "merge_documents",
]
