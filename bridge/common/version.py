"""The project's version: the only place it is written (pyproject.toml reads it from here, and
the health report, the User-Agent (handed to `delivery/`, which imports nothing from the app)
and `kognitiv-bridge --version` import it)."""

VERSION = "1.0.0"
USER_AGENT = f"kognitiv-moengage-bridge/{VERSION}"  # what MoEngage sees in every request
