"""The project's version: the only place it is written (pyproject.toml reads it from here, and
the health report, the User-Agent and `kognitiv-bridge --version` import it)."""

VERSION = "1.0.0"
