"""Scenarios for the sandbox: the seller's listings and a generated stream of realistic US orders.

A scenario file is JSON. Every key is optional::

    {"seed": 7, "seller_id": "A1SANDBOXSELLER", "days": 1, "orders_per_day": 40,
     "fba_share": 0.1, "pending_share": 0.1, "cancelled_share": 0.05, "return_share": 0.1,
     "service_levels": {"STANDARD": 0.7, "EXPEDITED": 0.15, "SECOND_DAY": 0.08, "NEXT_DAY": 0.05,
                        "SAME_DAY": 0.02},
     "max_lines": 3, "max_quantity": 3,
     "listings": [{"seller_sku": "MUG-RED", "asin": "B0SANDBOX01", "quantity": 10, "fba_quantity":
     4}],
     "faults": {"throttle_rate": 0.2, "server_error_rate": 0.05}}

Destinations follow the US population: a state is drawn by its share of the population, then a
standard (non-PO-box) ZIP code of that state, from the ``zipcodes`` package's bundled data.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import zipcodes

__all__ = [
    "SERVICE_LEVELS",
    "OrderSpec",
    "Scenario",
    "ScenarioError",
    "generate_orders",
    "load_scenario",
]

SERVICE_LEVELS = (
    "STANDARD",
    "EXPEDITED",
    "PRIORITY",
    "SECOND_DAY",
    "NEXT_DAY",
    "SAME_DAY",
    "SCHEDULED",
    "FREE_ECONOMY",
)

# Share of the US population per state (2020 census, rounded): enough to make order destinations
# cluster where buyers are, without pretending to more precision than a sandbox needs.
_STATE_POPULATION_MILLIONS = {
    "CA": 39.5, "TX": 29.1, "FL": 21.5, "NY": 20.2, "PA": 13.0, "IL": 12.8, "OH": 11.8, "GA": 10.7,
    "NC": 10.4, "MI": 10.1, "NJ": 9.3, "VA": 8.6, "WA": 7.7, "AZ": 7.2, "MA": 7.0, "TN": 6.9,
    "IN": 6.8, "MD": 6.2, "MO": 6.2, "WI": 5.9, "CO": 5.8, "MN": 5.7, "SC": 5.1, "AL": 5.0,
    "LA": 4.7, "KY": 4.5, "OR": 4.2, "OK": 4.0, "CT": 3.6, "UT": 3.3, "IA": 3.2, "NV": 3.1,
    "AR": 3.0, "MS": 3.0, "KS": 2.9, "NM": 2.1, "NE": 2.0, "ID": 1.8, "WV": 1.8, "HI": 1.5,
    "NH": 1.4, "ME": 1.4, "RI": 1.1, "MT": 1.1, "DE": 1.0, "SD": 0.9, "ND": 0.8, "AK": 0.7,
    "DC": 0.7, "VT": 0.6, "WY": 0.6,
}  # fmt: skip

_DEFAULT_SERVICE_MIX = {
    "STANDARD": 0.7,
    "EXPEDITED": 0.15,
    "SECOND_DAY": 0.08,
    "NEXT_DAY": 0.05,
    "SAME_DAY": 0.02,
}
# Days from purchase to the latest ship and delivery date, per service level.
_PROMISE_DAYS = {
    "SAME_DAY": (0, 0),
    "NEXT_DAY": (0, 1),
    "SECOND_DAY": (1, 2),
    "PRIORITY": (1, 2),
    "EXPEDITED": (1, 3),
    "STANDARD": (2, 6),
    "FREE_ECONOMY": (3, 8),
    "SCHEDULED": (2, 7),
}


class ScenarioError(ValueError):
    """A scenario file that cannot be used, with the key at fault."""


@dataclass(frozen=True)
class ListingSpec:
    seller_sku: str
    asin: str
    quantity: int = 0
    fba_quantity: int = 0
    title: str = ""


@dataclass
class OrderSpec:
    """One order as the sandbox will hold it. ``status`` is an Orders 2026 fulfillment status."""

    order_id: str
    created: datetime
    status: str
    fulfilled_by: str  # MERCHANT | AMAZON
    service_level: str
    lines: list[tuple[str, int]]  # (seller SKU, quantity)
    postal_code: str
    state: str
    city: str
    country_code: str = "US"
    buyer_name: str = ""
    address_line1: str = ""
    is_prime: bool = False


@dataclass
class Scenario:
    seed: int = 1
    seller_id: str = "A1SANDBOXSELLER"
    marketplace_id: str = "ATVPDKIKX0DER"
    days: float = 1.0
    orders_per_day: int = 40
    fba_share: float = 0.1
    pending_share: float = 0.1
    cancelled_share: float = 0.05
    return_share: float = 0.1
    # A package shows up in the returns report this long after Amazon received its tracking.
    return_delay_hours: float = 72.0
    service_levels: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_SERVICE_MIX))
    max_lines: int = 3
    max_quantity: int = 3
    listings: list[ListingSpec] = field(default_factory=list)
    faults: dict[str, Any] = field(default_factory=dict)
    items_page_size: int = 30
    token_ttl_seconds: int = 3600
    feed_polls_until_done: int = 1
    credentials: dict[str, str] = field(default_factory=dict)  # expected LWA values; empty: any

    def default_listings(self) -> list[ListingSpec]:
        if self.listings:
            return self.listings
        return [
            ListingSpec(f"SKU-{i:03d}", f"B0SANDBX{i:03d}", quantity=0, fba_quantity=5)
            for i in range(1, 9)
        ]


def load_scenario(path: str | Path) -> Scenario:
    """Reads a scenario file; unknown keys are an error so that typos do not go unnoticed."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: the scenario must be a JSON object")
    return scenario_from_dict(raw, source=str(path))


def scenario_from_dict(raw: dict[str, Any], source: str = "scenario") -> Scenario:
    known = set(Scenario.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ScenarioError(f"{source}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    values = dict(raw)
    listings = []
    for i, item in enumerate(values.pop("listings", [])):
        try:
            listings.append(ListingSpec(**item))
        except TypeError as exc:
            raise ScenarioError(f"{source}: listings[{i}]: {exc}") from exc
    scenario = Scenario(**values, listings=listings)
    for level in scenario.service_levels:
        if level not in SERVICE_LEVELS:
            raise ScenarioError(f"{source}: service_levels: unknown level {level!r}")
    return scenario


@lru_cache(maxsize=1)
def _zips_by_state() -> dict[str, list[tuple[str, str]]]:
    by_state: dict[str, list[tuple[str, str]]] = {}
    for entry in zipcodes.list_all():  # type: ignore[no-untyped-call]  # untyped package
        if entry["zip_code_type"] != "STANDARD" or not entry.get("active", True):
            continue
        by_state.setdefault(entry["state"], []).append((entry["zip_code"], entry["city"]))
    return by_state


def _order_id(rng: random.Random) -> str:
    return f"{rng.randint(111, 114)}-{rng.randint(0, 9999999):07d}-{rng.randint(0, 9999999):07d}"


def generate_orders(scenario: Scenario, now: datetime | None = None) -> list[OrderSpec]:
    """Orders spread over the scenario's last ``days`` up to ``now``, deterministic for a seed."""
    now = now or datetime.now(UTC)
    rng = random.Random(scenario.seed)
    listings = scenario.default_listings()
    zips = _zips_by_state()
    states = [s for s in _STATE_POPULATION_MILLIONS if s in zips]
    weights = [_STATE_POPULATION_MILLIONS[s] for s in states]
    levels = list(scenario.service_levels)
    level_weights = [scenario.service_levels[lv] for lv in levels]
    count = max(0, round(scenario.orders_per_day * scenario.days))
    span = timedelta(days=scenario.days)
    orders: list[OrderSpec] = []
    seen: set[str] = set()
    for n in range(count):
        order_id = _order_id(rng)
        while order_id in seen:
            order_id = _order_id(rng)
        seen.add(order_id)
        state = rng.choices(states, weights)[0]
        postal_code, city = rng.choice(zips[state])
        fulfilled_by = "AMAZON" if rng.random() < scenario.fba_share else "MERCHANT"
        roll = rng.random()
        if roll < scenario.pending_share:
            status = "PENDING"
        elif roll < scenario.pending_share + scenario.cancelled_share:
            status = "CANCELLED"
        else:
            status = "UNSHIPPED"
        n_lines = rng.randint(1, max(1, min(scenario.max_lines, len(listings))))
        chosen = rng.sample(listings, n_lines)
        orders.append(
            OrderSpec(
                order_id=order_id,
                created=now - span * ((count - n) / max(count, 1)),
                status=status,
                fulfilled_by=fulfilled_by,
                service_level=rng.choices(levels, level_weights)[0],
                lines=[(item.seller_sku, rng.randint(1, scenario.max_quantity)) for item in chosen],
                postal_code=postal_code,
                state=state,
                city=city,
                # Canary PII: unmistakable, so a log scan can prove none of it leaked.
                buyer_name=f"Canary Buyername{n:04d}",
                address_line1=f"{100 + n} Canaryprivate Lane",
                is_prime=rng.random() < 0.3,
            )
        )
    return orders


def promise_dates(created: datetime, service_level: str) -> tuple[datetime, datetime]:
    ship_days, deliver_days = _PROMISE_DAYS.get(service_level, (2, 6))
    end_of_day = created.replace(hour=23, minute=59, second=59, microsecond=0)
    return end_of_day + timedelta(days=ship_days), end_of_day + timedelta(days=deliver_days)
