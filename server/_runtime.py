"""What every servicer shares: the store, the current policy, the clock, and cached engine objects.

The engine ``Network`` (arrays built from the warehouse rows) is rebuilt only when the store's
network version changes; a ``Router`` is cached per (network, policy object), so a published policy
or a PutWarehouses takes effect on the next RPC without rebuilding anything per call.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import engine
from server._observability import Metrics
from server.store import Store

__all__ = ["Clock", "PolicySource", "Runtime", "StaticPolicySource", "utc_now"]

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PolicySource(Protocol):
    """Where the routing policy comes from (the rules engineer's ``PolicyHolder`` fits)."""

    def current(self) -> engine.Policy: ...


class StaticPolicySource:
    """A fixed policy: the default when no rules are published."""

    def __init__(self, policy: engine.Policy | None = None) -> None:
        self._policy = policy or engine.DefaultPolicy()

    def current(self) -> engine.Policy:
        return self._policy


@dataclass
class Runtime:
    store: Store
    policies: PolicySource
    clock: Clock = utc_now
    metrics: Metrics = field(default_factory=Metrics)
    geocoder: engine.Geocoder | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _network: tuple[object, engine.Network] | None = field(default=None, repr=False)
    # (network, policy, router): identity-keyed; a handful at most (policies are swapped rarely).
    _routers: list[tuple[engine.Network, engine.Policy, engine.Router]] = field(
        default_factory=list, repr=False
    )

    def network(self) -> engine.Network:
        """The current network, rebuilt only when PutWarehouses changed it."""
        version = self.store.network_version()
        with self._lock:
            if self._network is not None and self._network[0] == version:
                return self._network[1]
        # Built outside the lock: two threads may both build after a change; the result is equal.
        network = engine.Network(self.store.list_warehouses(include_inactive=True))
        with self._lock:
            self._network = (version, network)
        return network

    def sku_tags(self, skus: Sequence[str]) -> dict[str, frozenset[str]]:
        """Catalog tags of ``skus`` (for rules such as "SKUs tagged hazmat"); {} when untagged."""
        if not skus:
            return {}
        return dict(self.store.sku_tags(list(dict.fromkeys(skus))))

    def router(self, network: engine.Network, policy: engine.Policy) -> engine.Router:
        with self._lock:
            for cached_network, cached_policy, router in self._routers:
                if cached_network is network and cached_policy is policy:
                    return router
        router = engine.Router(network, policy=policy, geocoder=self.geocoder)
        with self._lock:
            self._routers = [*self._routers[-3:], (network, policy, router)]
        return router
