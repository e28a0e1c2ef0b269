"""Everything built from the settings once per process: validated settings, compiled mappings,
the MoEngage target and its rate-limit gate, one `Runtime` per workspace (see
`bridge.config.workspaces`), held by the `Deployment`. Rebuilt only when the settings change (Azure
restarts the worker on a change; tests change the environment)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.common import telemetry
from bridge.common.observations import HEALTH, HealthLog
from bridge.common.version import USER_AGENT
from bridge.config.auth import KognitivAuth
from bridge.config.mapping_config import load_mapper
from bridge.config.settings import ConfigurationError, Settings, load_settings, settings_fingerprint
from bridge.config.workspaces import DEFAULT_WORKSPACE, NAME, workspace_table
from delivery import ClientProvider, MoEngageSender, MoEngageTarget, RateLimitGate, RetryPolicy
from delivery.sender import Sleep
from mapping import Mapper

if TYPE_CHECKING:  # the durable path loads on first use (queue mode only): cold start
    from bridge.durable.gateway import GatewayProvider, QueueGateway
    from bridge.durable.idempotency import DeliveredKeys, RecentlyDelivered
    from bridge.durable.member_ledger import MemberLedger

log = logging.getLogger("kognitiv_bridge")


@functools.cache
def _gateways() -> GatewayProvider:
    """The process's gateway provider, imported once on first use (queue mode only)."""
    from bridge.durable.gateway import GATEWAYS

    return GATEWAYS


@dataclass
class Runtime:
    """One workspace: its settings, rules, accepted credentials, MoEngage target and gate."""

    settings: Settings
    mapper: Mapper
    auth: KognitivAuth
    target: MoEngageTarget
    name: str = DEFAULT_WORKSPACE
    gate: RateLimitGate = field(default_factory=RateLimitGate)
    _delivered: RecentlyDelivered | None = None
    _gateway: QueueGateway | None = None
    _delivered_keys: DeliveredKeys | None = None
    _member_ledger: MemberLedger | None = None
    _member_ledger_built: bool = False

    @property
    def gateway(self) -> QueueGateway:
        """The process's Service Bus gateway (tests may assign a fake or install a model)."""
        return self._gateway if self._gateway is not None else _gateways().get()

    @gateway.setter
    def gateway(self, value: QueueGateway) -> None:
        self._gateway = value

    @property
    def delivered(self) -> RecentlyDelivered:
        """Keys this instance delivered lately (the queue path's first-level cache)."""
        if self._delivered is None:
            from bridge.durable.idempotency import RecentlyDelivered

            self._delivered = RecentlyDelivered()
        return self._delivered

    @property
    def delivered_keys(self) -> DeliveredKeys:
        """This instance's LRU, backed by the shared record in the function app's storage
        account when `AzureWebJobsStorage` is set (built on first use: queue mode only)."""
        if self._delivered_keys is None:
            from bridge.durable.delivery_record import TableDeliveryRecord
            from bridge.durable.idempotency import DeliveredKeys
            from bridge.durable.tables import StorageConfig

            storage = StorageConfig.from_environment()
            record = TableDeliveryRecord(storage) if storage is not None else None
            self._delivered_keys = DeliveredKeys(self.delivered, record)
        return self._delivered_keys

    @property
    def member_ledger(self) -> MemberLedger | None:
        """The order of each member's facts across batches (`bridge.durable.member_order`), in the
        function app's storage account; None without one."""
        if not self._member_ledger_built:
            from bridge.durable.member_ledger import MemberLedger
            from bridge.durable.tables import StorageConfig

            storage = StorageConfig.from_environment()
            self._member_ledger = MemberLedger(storage) if storage is not None else None
            self._member_ledger_built = True
        return self._member_ledger

    @property
    def health(self) -> HealthLog:
        """What this workspace last saw from MoEngage (kept across rebuilds of the runtime)."""
        return HEALTH.workspace(self.name)

    @classmethod
    def from_settings(cls, settings: Settings, name: str = DEFAULT_WORKSPACE) -> Runtime:
        if settings.moengage_app_id is None or settings.moengage_api_key is None:
            raise ConfigurationError(["MOENGAGE_APP_ID and MOENGAGE_API_KEY are required"])
        target = MoEngageTarget(
            app_id=settings.moengage_app_id,
            api_key=settings.moengage_api_key,
            data_center=settings.data_center,
            base_url=settings.moengage_api_base_url,
        )
        auth = KognitivAuth.from_settings(settings)
        return cls(settings, load_mapper(settings), auth, target, name)

    def sender(
        self, clients: ClientProvider, *, queue: bool = False, sleep: Sleep = asyncio.sleep
    ) -> MoEngageSender:
        """Direct mode answers within its budget; the queue path retries briefly in process and
        leaves long waits to scheduled messages."""
        settings = self.settings
        if queue:
            policy = RetryPolicy(attempts=3, budget=settings.moengage_queue_time_budget_seconds)
        else:
            policy = RetryPolicy(budget=settings.moengage_direct_time_budget_seconds)
        return MoEngageSender(
            self.target,
            clients.get(),
            policy,
            gate=self.gate,
            sleep=sleep,
            on_rate_limit=self.health.saw_rate_limit,
            on_request=self.log_request,
        )

    def log_request(self, fields: dict[str, object]) -> None:
        """One `moengage_request` line per HTTP request to MoEngage (docs/operations.md "Logs")."""
        status = fields.get("moengage_status")
        ok = isinstance(status, int) and status < 400
        level = logging.INFO if ok else logging.WARNING
        telemetry.record("moengage_request", level, workspace=self.name, **fields)


class UnknownWorkspace(LookupError):
    """A workspace name this deployment does not serve; the message names the ones it does."""

    def __init__(self, name: str, known: list[str]) -> None:
        shown = f'"{name}"' if NAME.fullmatch(name) else "(not a workspace name)"
        served = ", ".join(known) or "none"
        super().__init__(f"unknown workspace {shown}; this deployment serves: {served}")
        self.name = name
        self.known = known


@dataclass
class Deployment:
    """Every workspace's runtime by name; `default` is the single-workspace settings. Each
    workspace is built on its own: one whose settings cannot work is in `broken` (its problems),
    answers 503 and holds its queue messages, while the others deliver."""

    workspaces: dict[str, Runtime]
    broken: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # every problem, in the settings' order
    horizon_hours: float = 24.0  # KOGNITIV_RETRY_HORIZON_HOURS (shared by every workspace)

    @property
    def names(self) -> list[str]:
        """The workspaces this deployment serves (the broken ones too: they are known)."""
        return sorted({*self.workspaces, *self.broken})

    def workspace(self, name: str) -> Runtime:
        """The workspace's runtime; ConfigurationError naming its problems when it is broken,
        UnknownWorkspace when the settings do not define it."""
        runtime = self.workspaces.get(name)
        if runtime is not None:
            return runtime
        if name in self.broken:
            raise ConfigurationError(self.broken[name])
        raise UnknownWorkspace(name, self.names)

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str]) -> Deployment:
        """Every workspace, each built alone; ConfigurationError (listing every problem) only
        when none can work or the settings shared by all cannot be read."""
        table = workspace_table(settings, environ)
        deployment = cls(
            {},
            dict(table.broken),
            list(table.problems),
            settings.kognitiv_retry_horizon_hours,
        )
        for name, workspace in table.settings.items():
            try:
                deployment.workspaces[name] = Runtime.from_settings(workspace, name)
            except ConfigurationError as error:
                prefix = "" if name == DEFAULT_WORKSPACE else f"workspace {name}: "
                problems = [prefix + problem for problem in error.problems]
                deployment.broken[name] = problems
                deployment.problems.extend(problems)
        if not deployment.workspaces:
            raise ConfigurationError(deployment.problems)
        return deployment


CLIENTS = ClientProvider(USER_AGENT)
_cache: tuple[tuple[object, ...], Deployment | ConfigurationError] | None = None


def current_deployment() -> Deployment:
    """The deployment for the current settings; raises ConfigurationError (logged once)."""
    global _cache
    fingerprint = settings_fingerprint()
    if _cache is None or _cache[0] != fingerprint:
        try:
            built: Deployment | ConfigurationError = Deployment.from_settings(
                load_settings(), os.environ
            )
            if built.problems:
                log.error(
                    "Configuration error, only the workspaces named are held: %s",
                    "; ".join(built.problems),
                )
            unprotected = [n for n, r in built.workspaces.items() if not r.auth.enabled]
            if unprotected:
                log.warning(
                    "No Kognitiv credential is configured (KOGNITIV_AUTH_USERNAME/PASSWORD or "
                    "KOGNITIV_AUTH_TOKEN) for workspace %s: only the function key protects the "
                    "webhook",
                    ", ".join(sorted(unprotected)),
                )
        except ConfigurationError as error:
            log.error("Configuration error: %s", error)
            built = error
        _cache = (fingerprint, built)
    result = _cache[1]
    if isinstance(result, ConfigurationError):
        raise result
    return result


def current_workspace(name: str) -> Runtime:
    """One workspace's runtime; ConfigurationError, or UnknownWorkspace naming the known ones."""
    deployment = current_deployment()
    runtime = deployment.workspaces.get(name)  # `workspace`'s first step, inline: per webhook
    return runtime if runtime is not None else deployment.workspace(name)


def current_runtime() -> Runtime:
    """The default workspace's runtime (the single-workspace settings)."""
    return current_workspace(DEFAULT_WORKSPACE)


def warm_up() -> None:
    """Build every runtime at start-up, so rules are compiled once and a configuration error is
    logged when the worker starts (requests then answer 503 naming the setting)."""
    with contextlib.suppress(ConfigurationError):  # logged; the webhook and health report it
        current_deployment()
