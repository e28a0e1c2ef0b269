"""What each packager ships from a folder with a `.funcignore`, by its own matching rules.

Three tools read the file and they do not agree on gitignore syntax:

- git's rules (`pathspec.GitIgnoreSpec`, walked as git walks: an excluded directory is not
  entered, so nothing under it can be re-included);
- Azure Functions Core Tools (`func azure functionapp publish`): `GitIgnoreParser`, a port of the
  `gitignore-parser` npm package. Each line becomes a regular expression anchored at the start of
  the path and not at its end; a file is left out when some plain line matches it and no `!`
  line does (a `!` line always wins). Every file is checked on its own path; `.git` and `.vscode`
  are never entered, and `.funcignore`, `.gitignore` and `local.settings.json` never ship;
- azd (>= 1.18.0): `github.com/denormal/go-gitignore` at the version azd pins. The last line
  matching a path decides; a directory left out is not entered. Since azd 1.23.13 a `!` line
  includes; before, any matching line, `!` or not, left the path out. `.azure`, the ignore file
  and `local.settings.json` never ship.

The Core Tools and azd matchers are ports of the code, reduced to the line forms `.funcignore`
uses (`check_supported` refuses any other form, so a new kind of line needs a new port first).
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pathspec

SUPPORTED_LINE = re.compile(r"^!?/?[A-Za-z0-9_.*\[\]-]+(/[A-Za-z0-9_.*\[\]-]+)*/?$")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def check_supported(text: str) -> None:
    """Raise unless every line is of a form the ports below reproduce faithfully."""
    for line in _lines(text):
        if not SUPPORTED_LINE.match(line) or "?" in line or "\\" in line:
            raise ValueError(f".funcignore line not covered by the matcher ports: {line!r}")


def _walk(root: Path, skip_dir: object, skip_file: object) -> list[str]:
    """Relative POSIX paths of the files under root, not entering directories skip_dir refuses."""
    found = []
    for current, directories, files in os.walk(root):
        base = Path(current).relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        directories[:] = sorted(d for d in directories if not skip_dir(prefix + d))  # type: ignore[operator]
        found += [prefix + f for f in sorted(files) if not skip_file(prefix + f)]  # type: ignore[operator]
    return sorted(found)


# ------------------------------------------------------------------------------------------ git


def git_packaged(root: Path) -> list[str]:
    """The files git's rules keep (what `git status` would show if .funcignore were .gitignore)."""
    spec = pathspec.GitIgnoreSpec.from_lines((root / ".funcignore").read_text().splitlines())
    return _walk(root, lambda d: spec.match_file(f"{d}/"), spec.match_file)


# ----------------------------------------------------------------------------------- Core Tools

_ESCAPED = re.compile(r"[\-\[\]\/\{\}\(\)\+\?\.\\\^\$\|]")


def _core_tools_regex(patterns: list[str]) -> re.Pattern[str] | None:
    parts = [
        _ESCAPED.sub(lambda m: "\\" + m.group(0), p).replace("**", "(.+)").replace("*", r"([^\/]+)")
        for p in sorted(patterns)
    ]
    return re.compile("^((" + ")|(".join(parts) + "))") if parts else None


def core_tools_packaged(root: Path) -> list[str]:
    """The files `func azure functionapp publish` zips (GitIgnoreParser.Accepts per file)."""
    positive, negative = [], []
    for line in _lines((root / ".funcignore").read_text()):
        negated = line.startswith("!")
        line = line[1:] if negated else line
        line = line[1:] if line.startswith("/") else line
        (negative if negated else positive).append(line)
    denies, accepts = _core_tools_regex(positive), _core_tools_regex(negative)

    def left_out(path: str) -> bool:
        if Path(path).name in {".funcignore", ".gitignore", "local.settings.json"}:
            return True
        accepted = (accepts is not None and accepts.match(path)) or not (
            denies is not None and denies.match(path)
        )
        return not accepted

    return _walk(root, lambda d: Path(d).name in {".git", ".vscode"}, left_out)


# ------------------------------------------------------------------------------------------ azd


@dataclass(frozen=True)
class _AzdPattern:
    """One line as denormal/go-gitignore compiles it: a name, path or `**` pattern."""

    negated: bool
    anchored: bool
    directory: bool
    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, line: str) -> _AzdPattern:
        negated = line.startswith("!")
        line = line[1:] if negated else line
        anchored = line.startswith("/")
        line = line[1:] if anchored else line
        directory = line.endswith("/")
        line = line[:-1] if directory else line
        return cls(negated, anchored, directory, tuple(line.split("/")))

    def matches(self, path: str, is_dir: bool) -> bool:
        if self.directory and not is_dir:
            return False
        if "**" in self.tokens:
            tokens = list(self.tokens) if self.anchored else ["**", *self.tokens]
            return _any_match(path.split("/"), tokens)
        if len(self.tokens) > 1:  # a path pattern: fnmatch with FNM_PATHNAME on the whole path
            parts = path.split("/")
            return len(parts) == len(self.tokens) and all(
                fnmatch.fnmatchcase(part, token)
                for part, token in zip(parts, self.tokens, strict=True)
            )
        # a name pattern: fnmatch without FNM_PATHNAME (`*` crosses `/`) on the whole path when
        # anchored, else on the last component
        subject = path if self.anchored else path.rsplit("/", 1)[-1]
        return fnmatch.fnmatchcase(subject, self.tokens[0])


def _any_match(parts: list[str], tokens: list[str]) -> bool:
    if not tokens:
        return not parts
    if tokens[0] == "**":
        return _any_match(parts, tokens[1:]) or (bool(parts) and _any_match(parts[1:], tokens))
    return (
        bool(parts)
        and fnmatch.fnmatchcase(parts[0], tokens[0])
        and _any_match(parts[1:], tokens[1:])
    )


def azd_packaged(root: Path, negation_includes: bool = True) -> list[str]:
    """The files `azd deploy` zips; negation_includes=False is azd 1.18.0 to 1.23.12."""
    patterns = [_AzdPattern.parse(line) for line in _lines((root / ".funcignore").read_text())]

    def left_out(path: str, is_dir: bool) -> bool:
        name = Path(path).name
        if (is_dir and name == ".azure") or (
            not is_dir and name in {".funcignore", "local.settings.json"}
        ):
            return True
        last = next((p for p in reversed(patterns) if p.matches(path, is_dir)), None)
        if last is None:
            return False
        return not last.negated if negation_includes else True

    return _walk(root, lambda d: left_out(d, True), lambda f: left_out(f, False))
