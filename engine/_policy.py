"""The routing policy the engine consults, and what it hands back.

The engine computes everything geometric and temporal for a batch first (distances, ship and
delivery estimates for every order x warehouse pair), packs it into a :class:`RoutingContext`, and
asks the policy for :class:`Directives`: which warehouses each line may use, how to rank them, split
limits and holds. Directives are arrays over the whole batch, so a policy with many rules still
evaluates each rule once per batch (vectorised), never once per order in Python.

Two implementations exist: :class:`DefaultPolicy` here, and the compiled rules language
(``rules.compile_policy``), which produces the same :class:`Policy` interface from text.

Channel reserves (the contract between policy and allocator)
-----------------------------------------------------------
``Policy.channel_reserves`` returns, per reserving channel, the *gross* units held in each
(sku, warehouse) cell for that channel. The allocator turns them into what is left of each reserve
after the channel's own live reservations (``StockTable.reserved_by_channel``)::

    remaining[c] = max(0, gross[c] - reserved_by_channel[c])
    usable_by(ch) = max(0, on_hand - reserved - sum(remaining[c] for c != ch))

so a channel draws on its own reserve and the shared pool, other channels only on the shared pool,
and a reserve is consumed by the reserving channel's own orders first. Safety stock only lowers what
a channel is *shown* as available to sell; it never blocks routing.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from engine._model import Hold, Order

if TYPE_CHECKING:
    from engine._network import Network

__all__ = ["DefaultPolicy", "Directives", "Policy", "RoutingContext"]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RoutingContext:
    """Everything the engine knows about a batch before the policy speaks. Read-only for policies.

    Shapes: ``n`` orders, ``L`` lines in all (lines of order i are
    ``line_start[i]:line_start[i+1]``), ``W`` warehouses in ``network`` order.
    """

    orders: Sequence[Order]
    network: Network
    now: dt.datetime  # timezone-aware UTC
    distance_km: FloatArray  # [n, W] great-circle km; NaN where the order could not be located
    ship_by: npt.NDArray[np.datetime64]  # [n, W] first pickup that serves the order; NaT if none
    deliver_by: npt.NDArray[np.datetime64]  # [n, W] delivery estimate; NaT if none
    line_start: IntArray  # [n + 1] CSR offsets into the line arrays
    line_order: IntArray  # [L] order index of each line
    line_sku: Sequence[str]  # [L]
    line_quantity: IntArray  # [L]
    sku_tags: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class Directives:
    """A policy's decisions for one batch, as arrays the allocator consumes.

    ``line_excluded[l, w]`` is True where warehouse ``w`` may not ship line ``l`` (exclude rules, a
    required tag it lacks, ...). ``rank_key[i, w]`` orders the candidates of order ``i``: smaller is
    better; the default is the distance in km, a "prefer" rule subtracts a distance-equivalent
    bonus.

    The arrays may be read-only views: :class:`DefaultPolicy` hands back a broadcast ``False`` for
    "no excludes" and a read-only view of ``ctx.distance_km`` for "rank by distance", so nothing
    ``[L, W]`` or ``[n, W]`` is materialised. A policy that edits the arrays in place starts from
    :meth:`neutral`, which returns writable copies.
    """

    hold: list[Hold | None]  # [n]; a held order allocates nothing
    line_excluded: BoolArray  # [L, W]
    rank_key: FloatArray  # [n, W]
    max_shipments: IntArray  # [n]
    ship_complete: BoolArray  # [n]; True: hold rather than route part of the order
    allow_line_split: BoolArray  # [n]; False: each line ships whole from one warehouse
    # Explanations only (filled when asked): per order, (rule, effect in plain words).
    rule_effects: list[list[tuple[str, str]]] | None = None
    # Explanations only: why line ``l`` may not use warehouse ``w``, keyed ``(l, w)``, in plain
    # words such as "excluded by rule 'no-west-hazmat'". Cells without an entry read "excluded by
    # the policy".
    exclusion_reasons: dict[tuple[int, int], str] | None = None

    @classmethod
    def neutral(cls, ctx: RoutingContext, *, max_shipments: int = 3) -> Directives:
        """Directives that change nothing: no holds or excludes, rank by distance."""
        n, w = ctx.distance_km.shape
        return cls(
            hold=[None] * n,
            line_excluded=np.zeros((len(ctx.line_sku), w), dtype=np.bool_),
            rank_key=ctx.distance_km.copy(),
            max_shipments=np.full(n, max_shipments, dtype=np.int64),
            ship_complete=np.zeros(n, dtype=np.bool_),
            allow_line_split=np.ones(n, dtype=np.bool_),
        )


class Policy(abc.ABC):
    """What the engine asks of a routing policy. Implementations must be immutable once built, so
    a route that started on one version finishes on it while another is published."""

    version: str = "default"
    #: Weights of the batch optimiser's objective:
    #: cost = shipments * shipment_weight + km * distance_weight.
    shipment_weight: float = 100.0
    distance_weight: float = 0.1

    @abc.abstractmethod
    def directives(self, ctx: RoutingContext, *, explain: bool = False) -> Directives:
        """Decide holds, eligibility, ranking and split limits for a whole batch."""

    def channel_reserves(
        self,
        skus: Sequence[str],
        on_hand: IntArray,
        now: dt.datetime,
        sku_tags: Mapping[str, frozenset[str]],
    ) -> dict[str, IntArray]:
        """Gross units held per reserving channel, each ``[len(skus), W]`` (see module doc)."""
        return {}

    def safety_stock(
        self,
        channel: str,
        skus: Sequence[str],
        available: IntArray,
        sku_tags: Mapping[str, frozenset[str]],
    ) -> IntArray:
        """Units subtracted from what ``channel`` is shown as available to sell, per SKU."""
        return np.zeros(len(skus), dtype=np.int64)

    def channels(self) -> frozenset[str]:
        """Channels this policy names (reserves, safety stock, conditions)."""
        return frozenset()

    def neutral_max_shipments(self) -> int | None:
        """The per-order shipment limit when this policy's directives are neutral for every batch
        (no holds, no excludes, rank by distance, line splits allowed, not ship-complete), else
        None. The engine then skips :meth:`directives` and the ``[n, W]`` routing context it
        would need. Reserves and safety stock are still asked for."""
        return None


class DefaultPolicy(Policy):
    """Nearest warehouse that fills the whole order, else the fewest shipments (at most
    ``max_shipments``), line splits allowed, partial routing when stock is short."""

    def __init__(self, *, max_shipments: int = 3, version: str = "default") -> None:
        self.max_shipments = max_shipments
        self.version = version

    def directives(self, ctx: RoutingContext, *, explain: bool = False) -> Directives:
        n, width = ctx.distance_km.shape
        rank_key = ctx.distance_km.view()
        rank_key.flags.writeable = False
        return Directives(
            hold=[None] * n,
            line_excluded=np.broadcast_to(np.False_, (len(ctx.line_sku), width)),
            rank_key=rank_key,
            max_shipments=np.full(n, self.max_shipments, dtype=np.int64),
            ship_complete=np.zeros(n, dtype=np.bool_),
            allow_line_split=np.ones(n, dtype=np.bool_),
            rule_effects=[[] for _ in ctx.orders] if explain else None,
        )

    def neutral_max_shipments(self) -> int | None:
        # A subclass that overrides directives() decides for itself; ask it.
        if type(self).directives is not DefaultPolicy.directives:
            return None
        return self.max_shipments
