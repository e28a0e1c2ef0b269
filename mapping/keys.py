"""A rule's `"id"`: the identity of one Kognitiv event, used to drop repeated deliveries of it.

A key must identify one event for certain, because a false duplicate is a lost event. So a key
exists only when every part of it is present, a placeholder in it has no default, and every
time in it (`| datetime`) was sent to the second: a date without a time of day, or a time
without seconds, would make two events of one day (or minute) look like one."""

from __future__ import annotations

import re

from mapping.converters import ConversionContext
from mapping.dates import is_dotnet_json_date, is_epoch_text
from mapping.errors import RuleError
from mapping.template import MISSING, Node, Placeholder, RenderState, compile_template

_SECONDS = re.compile(r"\d{1,2}:\d{2}:\d{2}")


def is_to_the_second(value: object) -> bool:
    """An epoch (a number, or digits as text that read as one), .NET's `/Date(ms)/`, or text
    carrying a time of day with seconds."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if not isinstance(value, str):
        return False
    return _SECONDS.search(value) is not None or is_dotnet_json_date(value) or is_epoch_text(value)


def compile_key(
    template: object, context: ConversionContext, placeholders: list[Placeholder]
) -> Node:
    """The key's render function: the rendered text, or MISSING when the delivery has no
    certain identity."""
    if not isinstance(template, str) or "{{" not in template:
        raise RuleError('"id" must be a template string such as "{{memberId}}|{{rewardName}}"')
    found: list[Placeholder] = []
    render = compile_template(template, context, "id", found)
    placeholders.extend(found)
    for placeholder in found:
        if placeholder.default is not MISSING:
            raise RuleError('"id" placeholders take no default: a missing part means no key')
        if (name := placeholder.converter_name) in ("date", "local_datetime"):
            raise RuleError(f'"id" needs times to the second: use | datetime, not | {name}')
        if placeholder.unset_if_empty:
            raise RuleError('"id" placeholders take no unset_if_empty: a missing part means no key')
    times = [placeholder for placeholder in found if placeholder.converter_name == "datetime"]

    def key(state: RenderState) -> object:
        quiet = RenderState(state.body, state.context, state.rule)  # the elements warn already
        for placeholder in times:  # the value the key will hold must be a time to the second
            if not is_to_the_second(placeholder.raw_of_first_converted(quiet)):
                return MISSING
        return render(quiet)

    return key
