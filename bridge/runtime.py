"""Everything built from the settings once per process: validated settings, compiled mappings,
the MoEngage target and its rate-limit gate. Rebuilt only when the settings change (Azure
restarts the worker on a change; tests change the environment)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from bridge.auth import KognitivAuth
from bridge.delivery_record import StorageConfig, TableDeliveryRecord
from bridge.idempotency import DeliveredKeys, RecentlyDelivered
from bridge.mapping_config import load_mapper
from bridge.observations import HEALTH
from bridge.queue_gateway import GATEWAYS, QueueGateway
from bridge.settings import ConfigurationError, Settings, load_settings, settings_fingerprint
from delivery import ClientProvider, MoEngageSender, MoEngageTarget, RateLimitGate, RetryPolicy
from delivery.sender import Sleep
from mapping import Mapper

log = logging.getLogger("kognitiv_bridge")


@dataclass
class Runtime:
    settings: Settings
    mapper: Mapper
    auth: KognitivAuth
    target: MoEngageTarget
    gate: RateLimitGate = field(default_factory=RateLimitGate)
    delivered: RecentlyDelivered = field(default_factory=RecentlyDelivered)
    _gateway: QueueGateway | None = None
    _delivered_keys: DeliveredKeys | None = None

    @property
    def gateway(self) -> QueueGateway:
        """The process's Service Bus gateway (tests may assign a fake or install a model)."""
        return self._gateway if self._gateway is not None else GATEWAYS.get()

    @gateway.setter
    def gateway(self, value: QueueGateway) -> None:
        self._gateway = value

    @property
    def delivered_keys(self) -> DeliveredKeys:
        """This instance's LRU, backed by the shared record in the function app's storage
        account when `AzureWebJobsStorage` is set (built on first use: queue mode only)."""
        if self._delivered_keys is None:
            storage = StorageConfig.from_environment()
            record = TableDeliveryRecord(storage) if storage is not None else None
            self._delivered_keys = DeliveredKeys(self.delivered, record)
        return self._delivered_keys

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        target = MoEngageTarget(
            app_id=settings.moengage_app_id,
            api_key=settings.moengage_api_key,
            data_center=settings.data_center,
            base_url=settings.moengage_api_base_url,
        )
        return cls(settings, load_mapper(settings), KognitivAuth.from_settings(settings), target)

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
            on_rate_limit=HEALTH.saw_rate_limit,
        )


CLIENTS = ClientProvider()
_cache: tuple[tuple[object, ...], Runtime | ConfigurationError] | None = None


def current_runtime() -> Runtime:
    """The runtime for the current settings; raises ConfigurationError (logged once)."""
    global _cache
    fingerprint = settings_fingerprint()
    if _cache is None or _cache[0] != fingerprint:
        try:
            built: Runtime | ConfigurationError = Runtime.from_settings(load_settings())
            if not built.auth.enabled:
                log.warning(
                    "No Kognitiv credential is configured (KOGNITIV_AUTH_USERNAME/PASSWORD or "
                    "KOGNITIV_AUTH_TOKEN): only the function key protects the webhook"
                )
        except ConfigurationError as error:
            log.error("Configuration error: %s", error)
            built = error
        _cache = (fingerprint, built)
    result = _cache[1]
    if isinstance(result, ConfigurationError):
        raise result
    return result


def warm_up() -> None:
    """Build the runtime at start-up, so rules are compiled once and a configuration error is
    logged when the worker starts (requests then answer 503 naming the setting)."""
    with contextlib.suppress(ConfigurationError):  # logged; the webhook and health report it
        current_runtime()
