"""Errors, structured logs (telemetry), health observations, the version, Azure identity."""
