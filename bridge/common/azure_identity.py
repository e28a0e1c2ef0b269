"""The managed-identity credential for the Azure SDK clients (Service Bus, Table Storage).

The async credentials of azure-identity default to an aiohttp transport, and aiohttp is not a
dependency of this app (cold start): without an explicit transport the first token request
fails in Azure with "No module named 'aiohttp'". azure-core's requests-based async transport
uses `requests`, which azure-core already brings, and runs each call off the event loop."""

from __future__ import annotations

from typing import Any


def identity_credential(client_id: str | None, *, sync: bool = False) -> Any:
    """A user-assigned identity when `client_id` is given, else DefaultAzureCredential (system
    identity in Azure, developer sign-in locally). `sync`: the credential of a synchronous
    client (the delivered-keys record, which runs in its own executor)."""
    if sync:
        from azure.identity import DefaultAzureCredential as SyncDefault
        from azure.identity import ManagedIdentityCredential as SyncManaged

        if client_id:
            return SyncManaged(client_id=client_id)
        return SyncDefault()
    from azure.core.pipeline.transport import AsyncioRequestsTransport
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    transport = AsyncioRequestsTransport()
    if client_id:
        return ManagedIdentityCredential(client_id=client_id, transport=transport)
    return DefaultAzureCredential(transport=transport)
