"""The sequential stock pass: one compiled loop over a batch's orders (numba, ``cache=True``).

Everything vectorisable (distances, schedule, policy directives) is done before; this pass only
walks orders in sequence, because each order must see the stock earlier orders took. Data arrive as
CSR arrays (order ``i`` owns lines ``line_start[i]:line_start[i+1]``) over a compact stock table
holding only the SKU rows the batch touches.

Per order:

1. the best-ranked eligible warehouse that can fill the whole order (quantities of lines with the
   same SKU added up) -> one shipment;
2. else the fewest warehouses that cover every unit, exact for 2 and 3 by enumeration over the
   useful candidates in rank order with pruning on the rank-key sum (3-covers only among the
   ``triple_limit`` best-ranked useful candidates, bounding the work for large networks); among
   covers of that size the least sum of rank keys (ties: the first in rank order);
3. else (or for limits above 3) greedy: repeatedly the warehouse adding the most units, ties by
   rank, at most ``max_shipments`` of them; whatever is left is unfilled with a reason code.

Within a chosen set each line takes units from the set's warehouses in set order (rank order for
exact covers, pick order for greedy). Without line splitting a line takes its whole quantity from
the first warehouse of the set that holds it (first fit; exact unless an order repeats a SKU on
several lines).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CODE_INSUFFICIENT_STOCK",
    "CODE_MAX_SHIPMENTS",
    "CODE_NO_ELIGIBLE_WAREHOUSE",
    "HOW_GREEDY",
    "HOW_SPLIT",
    "HOW_WHOLE",
    "STATUS_BACKORDERED",
    "STATUS_PARTIAL",
    "STATUS_ROUTED",
    "STATUS_SHIP_COMPLETE_HOLD",
    "STATUS_SKIPPED",
    "allocate_batch",
]

STATUS_SKIPPED = -1
STATUS_ROUTED = 0
STATUS_PARTIAL = 1
STATUS_BACKORDERED = 2
STATUS_SHIP_COMPLETE_HOLD = 3

HOW_WHOLE = 1
HOW_SPLIT = 2
HOW_GREEDY = 3

CODE_INSUFFICIENT_STOCK = 1
CODE_NO_ELIGIBLE_WAREHOUSE = 2
CODE_MAX_SHIPMENTS = 3


def allocate_batch(*arrays: Any) -> Any:
    """Route a batch in sequence; mutates ``avail``, ``remaining``, ``total_remaining`` and
    ``capacity``. Arguments, in order: ``line_start, line_row, line_qty, order_channel, skip,
    rank_key, order_ok, line_excluded, check_excluded, max_shipments, ship_complete, allow_split,
    avail, remaining, total_remaining, capacity, triple_limit, max_set`` (``line_excluded`` is
    read only when ``check_excluded``, so "no excludes" needs no ``[L, W]`` array).

    Returns ``(status[n], how[n], ship_start[n+1], ship_wh[S], alloc_start[S+1], alloc_line[A],
    alloc_qty[A], unfilled_qty[L], unfilled_code[L])``.
    """
    # Deferred: numba costs ~0.3 s to import, and many users of engine types never route.
    from engine._allocate_jit import allocate_batch as compiled

    return compiled(*arrays)
