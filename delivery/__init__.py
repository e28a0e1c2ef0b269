"""Delivery to MoEngage's Data API: hosts, auth, batching, retries and error classes."""

from delivery.datacenters import DATA_CENTERS, api_base_url, normalise_data_center
from delivery.errors import DeliveryError, MoEngageRejected, MoEngageUnavailable
from delivery.http import ClientProvider
from delivery.payloads import MAX_BULK_BYTES, PlannedRequest, plan_requests
from delivery.ratelimit import RateLimitGate
from delivery.sender import DeliveryReport, MoEngageSender, RetryPolicy
from delivery.target import MoEngageTarget

__all__ = [
    "DATA_CENTERS",
    "MAX_BULK_BYTES",
    "ClientProvider",
    "DeliveryError",
    "DeliveryReport",
    "MoEngageRejected",
    "MoEngageSender",
    "MoEngageTarget",
    "MoEngageUnavailable",
    "PlannedRequest",
    "RateLimitGate",
    "RetryPolicy",
    "api_base_url",
    "normalise_data_center",
    "plan_requests",
]
