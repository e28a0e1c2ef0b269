"""`GET /api/health`: can this deployment work, and what did it last see from MoEngage?
Never a secret: settings are reported as valid or as the names of what is wrong."""

from __future__ import annotations

from bridge.observations import HEALTH
from bridge.runtime import Runtime, current_runtime
from bridge.settings import ConfigurationError
from bridge.version import VERSION


def _auth_mode(runtime: Runtime) -> str:
    pairs = (("basic", runtime.auth.basic), ("bearer", runtime.auth.tokens))
    modes = [name for name, configured in pairs if configured]
    return "+".join(modes) or "none"


def health_report() -> tuple[int, dict[str, object]]:
    """(HTTP status, body): 200 ok/degraded, 503 error when the configuration cannot work."""
    try:
        runtime = current_runtime()
    except ConfigurationError as error:
        return 503, {
            "status": "error",
            "version": VERSION,
            "settings": {"valid": False, "problems": error.problems},
        }
    settings = runtime.settings
    warnings: list[str] = []
    if not runtime.auth.enabled:
        warnings.append(
            "no Kognitiv credential configured (KOGNITIV_AUTH_*): only the function key protects "
            "the webhook"
        )
    if settings.moengage_api_base_url:
        warnings.append("MOENGAGE_API_BASE_URL overrides the data-center host (emulator/test use)")
    last = [p.describe() for p in (HEALTH.credentials, HEALTH.rate_limit) if p is not None]
    degraded = bool(warnings) or any(p.kind == "credentials" for p in HEALTH.recent())
    return 200, {
        "status": "degraded" if degraded else "ok",
        "version": VERSION,
        "mode": "queue" if settings.queue_mode else "direct",
        "data_center": settings.data_center,
        "moengage_host": runtime.target.origin,
        "workspace": settings.moengage_app_id,
        "settings": {"valid": True, "problems": []},
        "kognitiv_auth": _auth_mode(runtime),
        "mapping_rules": runtime.mapper.event_names,
        "timezone": settings.kognitiv_timezone,
        "warnings": warnings,
        "last_moengage_problems": last,
    }
