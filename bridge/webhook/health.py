"""`GET /api/health`: can this deployment work, and what did each workspace last see from
MoEngage? Never a secret: settings are reported as valid or as the names of what is wrong. A
workspace whose settings cannot work is `error` while the others work (the answer is then 200
`degraded`); 503 only when no workspace can work.

The default workspace's state also stays at the top level, where monitors of a single-workspace
deployment read it; `workspaces` holds every workspace's state by name."""

from __future__ import annotations

from bridge.common.observations import DEAD_LETTERS, HEALTH
from bridge.common.version import VERSION
from bridge.config.settings import ConfigurationError
from bridge.config.workspaces import DEFAULT_WORKSPACE, INHERIT_WARNING, inherits_credentials
from bridge.deployment.runtime import Runtime, current_deployment


def _auth_mode(runtime: Runtime) -> str:
    pairs = (("basic", runtime.auth.basic), ("bearer", runtime.auth.tokens))
    modes = [name for name, configured in pairs if configured]
    return "+".join(modes) or "none"


def workspace_state(runtime: Runtime) -> dict[str, object]:
    """One workspace: where it delivers, what it accepts, what MoEngage last said to it."""
    settings = runtime.settings
    health = runtime.health
    warnings: list[str] = []
    if not runtime.auth.enabled:
        warnings.append(
            "no Kognitiv credential configured (KOGNITIV_AUTH_*): only the function key protects "
            "the webhook"
        )
    if settings.moengage_api_base_url:
        warnings.append("MOENGAGE_API_BASE_URL overrides the data-center host (emulator/test use)")
    last = [p.describe() for p in (health.credentials, health.rate_limit) if p is not None]
    degraded = bool(warnings) or any(p.kind == "credentials" for p in health.recent())
    if inherits_credentials(settings, runtime.name):  # a choice the operator wrote down
        warnings.append(INHERIT_WARNING)
    return {
        "status": "degraded" if degraded else "ok",
        "app_id": settings.moengage_app_id,
        "data_center": settings.data_center,
        "moengage_host": runtime.target.origin,
        "kognitiv_auth": _auth_mode(runtime),
        "mapping_rules": runtime.mapper.event_names,
        "timezone": settings.kognitiv_timezone,
        "warnings": warnings,
        "last_moengage_problems": last,
    }


def health_report() -> tuple[int, dict[str, object]]:
    """(HTTP status, body): 200 ok/degraded, 503 error when the configuration cannot work."""
    try:
        deployment = current_deployment()
    except ConfigurationError as error:
        return 503, {
            "status": "error",
            "version": VERSION,
            "settings": {"valid": False, "problems": error.problems},
        }
    states = {
        name: workspace_state(deployment.workspaces[name])
        if name in deployment.workspaces
        else {"status": "error", "problems": deployment.broken[name], "warnings": []}
        for name in deployment.names
    }
    warnings = [
        warning if name == DEFAULT_WORKSPACE else f"workspace {name}: {warning}"
        for name, state in states.items()
        for warning in state["warnings"]  # type: ignore[attr-defined]
    ]
    unknown = {name: count.describe() for name, count in HEALTH.unknown_workspaces.items()}
    if unknown:
        warnings.append(
            "queue messages name workspaces MOENGAGE_WORKSPACES does not define: "
            + ", ".join(sorted(unknown))
            + " (held, then dead-lettered as unknown_workspace)"
        )
    degraded = (
        any(state["status"] != "ok" for state in states.values())
        or bool(deployment.problems)
        or bool(unknown)
    )
    any_runtime = next(iter(deployment.workspaces.values()))
    queue_mode = any_runtime.settings.queue_mode
    if queue_mode and DEAD_LETTERS.problem is not None:
        degraded = True
        warnings.append(
            f"the dead-letter queue {any_runtime.settings.dead_letter_queue} could not be "
            f"written ({DEAD_LETTERS.problem.kind}): letters are kept in the claim-check table"
        )
    body: dict[str, object] = {
        "status": "degraded" if degraded else "ok",
        "version": VERSION,
        "mode": "queue" if queue_mode else "direct",
        "settings": {"valid": not deployment.problems, "problems": deployment.problems},
        "warnings": warnings,
        "workspaces": states,
        "unknown_workspaces": unknown,
    }
    if queue_mode:
        body["dead_letter_queue"] = DEAD_LETTERS.describe()
    default = states.get(DEFAULT_WORKSPACE)
    if default is not None and DEFAULT_WORKSPACE in deployment.workspaces:
        body.update(
            data_center=default["data_center"],
            moengage_host=default["moengage_host"],
            workspace=default["app_id"],
            kognitiv_auth=default["kognitiv_auth"],
            mapping_rules=default["mapping_rules"],
            timezone=default["timezone"],
            last_moengage_problems=default["last_moengage_problems"],
        )
    return 200, body
