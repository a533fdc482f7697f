"""Amazon's published default usage plans (rate in requests per second, burst) per SP-API operation.

Source: the operation descriptions in amzn/selling-partner-api-models (the "Usage Plan" tables). The
sandbox answers with these in ``x-amzn-RateLimit-Limit``; the adapter seeds its token buckets from
them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PUBLISHED_RATES", "UsagePlan"]


@dataclass(frozen=True)
class UsagePlan:
    rate: float  # requests per second (token refill)
    burst: int  # bucket size


PUBLISHED_RATES: dict[str, UsagePlan] = {
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder": UsagePlan(0.5, 30),  # Orders 2026-01-01
    "getOrders": UsagePlan(0.0167, 20),  # Orders v0
    "getOrderV0": UsagePlan(0.5, 30),
    "getOrderItems": UsagePlan(0.5, 30),
    "confirmShipment": UsagePlan(2.0, 10),
    "createFeedDocument": UsagePlan(0.5, 15),
    "createFeed": UsagePlan(0.0083, 15),
    "getFeed": UsagePlan(2.0, 15),
    "getFeedDocument": UsagePlan(0.0222, 10),
    "getFeeds": UsagePlan(0.0222, 10),
    "getListingsItem": UsagePlan(5.0, 10),
    "patchListingsItem": UsagePlan(5.0, 5),
    "getInventorySummaries": UsagePlan(2.0, 2),
    "createReport": UsagePlan(0.0167, 15),
    "getReport": UsagePlan(2.0, 15),
    "getReportDocument": UsagePlan(0.0167, 15),
}
