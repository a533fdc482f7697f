"""``sortyard replay``: how far a policy is from the best possible, on the store's own history.

Reads the recorded history (stock levels as Syncs reported them, routed orders in the order they
were routed; ``server/store/_history.py``), replays it through the default policy, policy A (and
B) greedily and through the optimiser with hindsight (policy A's rules and weights, in windows of
at most ``--window`` orders that a recorded sync also ends; ``engine/_replay.py``), and writes a
side-by-side report: ``replay.md``, ``replay.json`` and ``replay.png`` under ``--out``.

The Markdown and JSON hold no time of the run and are written with fixed ordering and rounding,
so the same database and arguments give the same bytes, provided every hindsight window is
solved to proven optimality within its budget (the report's ``hindsight_proven`` says so; a
window cut short by the budget may find another solution next time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import engine
from engine import CostWeights, ReplayMetrics

__all__ = ["ReplayReport", "add_subparser", "build_report", "render_markdown", "run_replay"]

#: Relative gap under which a hindsight window counts as proven optimal.
PROVEN_GAP = 1e-3
EXIT_USAGE = 2


@dataclass(frozen=True)
class ReplayReport:
    """Every run's numbers over one window, and the share of the hindsight gap each captures."""

    orders: int
    since: str | None
    window: int
    policies: dict[str, str]  # label -> rules file (or "built-in")
    runs: tuple[ReplayMetrics, ...]  # recorded, greedy, A, (B), hindsight
    gap_share: dict[str, float | None]  # label -> (greedy - run) / (greedy - hindsight)
    hindsight_gap: float
    hindsight_proven: bool
    weights: CostWeights

    def to_json(self) -> str:
        def metrics(m: ReplayMetrics) -> dict[str, Any]:
            return {
                "label": m.label,
                "orders": m.orders,
                "shipments": m.shipments,
                "distance_km": round(m.distance_km, 3),
                "units_ordered": m.units_ordered,
                "units_filled": m.units_filled,
                "fill_rate": round(m.fill_rate, 6),
                "late_orders": m.late_orders,
                "cost": round(m.cost, 3),
                "gap_share": _rounded(self.gap_share.get(m.label)),
            }

        body = {
            "orders": self.orders,
            "since": self.since,
            "window": self.window,
            "policies": self.policies,
            "hindsight": "optimiser with hindsight under policy A, windows of at most "
            f"{self.window} orders, split at recorded syncs",
            "hindsight_gap": round(self.hindsight_gap, 6),
            "hindsight_proven": self.hindsight_proven,
            "weights": {
                "shipment": self.weights.shipment_weight,
                "distance_km": self.weights.distance_weight,
                "unfilled_unit": self.weights.unfilled_penalty,
            },
            "runs": [metrics(m) for m in self.runs],
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def render_markdown(report: ReplayReport) -> str:
    """The report as a Markdown table (fixed formatting: byte-for-byte reproducible)."""
    since = report.since or "the start of the recorded history"
    lines = [
        "# Policy replay",
        "",
        f"{report.orders} orders routed since {since}, replayed in recorded order.",
        "",
        "| run | shipments | distance km | fill rate | late orders | cost | gap captured |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in report.runs:
        share = report.gap_share.get(m.label)
        captured = "n/a" if share is None else f"{100 * share:.1f} %"
        lines.append(
            f"| {m.label} | {m.shipments} | {m.distance_km:.1f} | {100 * m.fill_rate:.2f} % | "
            f"{m.late_orders} | {m.cost:.1f} | {captured} |"
        )
    w = report.weights
    lines += [
        "",
        f"Cost = {w.shipment_weight:g} per shipment + {w.distance_weight:g} per km + "
        f"{w.unfilled_penalty:g} per unit left unfilled (policy A's weights).",
        "Gap captured = (greedy - run) / (greedy - hindsight), greedy being the default policy.",
        f"Hindsight: the batch optimiser under policy A with every order of a window known in "
        f"advance, windows of at most {report.window} orders, split at recorded syncs; proven "
        f"gap {100 * report.hindsight_gap:.3f} %"
        + ("." if report.hindsight_proven else " (not proven optimal within the budget)."),
        "Shipments and cancellations of the real history are not replayed: replayed "
        "reservations stay live for the whole window.",
        "",
        "Policies: " + ", ".join(f"{k} = {v}" for k, v in report.policies.items()) + ".",
        "",
    ]
    return "\n".join(lines)


def build_report(
    history: Any,
    network: engine.Network,
    policies: Sequence[tuple[str, str, engine.Policy]],
    *,
    since: dt.datetime | None,
    window: int,
    time_budget_s: float,
    sku_tags: dict[str, frozenset[str]],
    on_progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay ``history`` (a :class:`server.store.RecordedHistory`) through the default policy,
    each ``(label, file, policy)`` greedily, and the first policy with hindsight."""
    orders = [e.order for e in history.events if isinstance(e, engine.RecordedOrder)]
    first_policy = policies[0][2]
    weights = CostWeights.of(first_policy)
    runs = [engine.measure("recorded", orders, history.recorded, weights)]
    greedy = engine.replay_greedy(
        network,
        history.initial,
        history.events,
        engine.DefaultPolicy(),
        sku_tags=sku_tags,
        on_progress=on_progress,
    )
    runs.append(engine.measure("greedy", orders, greedy, weights))
    for label, _, policy in policies:
        decided = engine.replay_greedy(
            network,
            history.initial,
            history.events,
            policy,
            sku_tags=sku_tags,
            on_progress=on_progress,
        )
        runs.append(engine.measure(label, orders, decided, weights))
    hindsight, optimised = engine.replay_hindsight(
        network,
        history.initial,
        history.events,
        first_policy,
        window=window,
        time_budget_s=time_budget_s,
        sku_tags=sku_tags,
        on_progress=on_progress,
    )
    runs.append(engine.measure("hindsight", orders, hindsight, weights))
    greedy_cost = runs[1].cost
    hindsight_cost = runs[-1].cost
    return ReplayReport(
        orders=len(orders),
        since=since.isoformat() if since is not None else None,
        window=window,
        policies={"greedy": "built-in default policy"} | {lb: f for lb, f, _ in policies},
        runs=tuple(runs),
        gap_share={m.label: engine.gap_share(greedy_cost, m.cost, hindsight_cost) for m in runs},
        hindsight_gap=optimised.gap,
        hindsight_proven=optimised.gap <= PROVEN_GAP and not optimised.fallback_components,
        weights=weights,
    )


def write_chart(report: ReplayReport, path: Path) -> None:
    """A PNG of shipments, distance and fill rate per run (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [m.label for m in report.runs]
    figure, axes = plt.subplots(1, 3, figsize=(12, 4))
    panels = (
        ("shipments", [m.shipments for m in report.runs]),
        ("distance (km)", [m.distance_km for m in report.runs]),
        ("fill rate (%)", [100 * m.fill_rate for m in report.runs]),
    )
    for ax, (title, values) in zip(axes, panels, strict=True):
        ax.bar(labels, values, color="#4c72b0")
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
    figure.suptitle(f"Policy replay over {report.orders} orders")
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)


def run_replay(
    db: str,
    rules: str,
    *,
    vs: str | None = None,
    since: dt.datetime | None = None,
    out: Path,
    window: int = engine.DEFAULT_REPLAY_WINDOW,
    time_budget_s: float = engine.DEFAULT_TIME_BUDGET_SECONDS,
    progress: TextIO | None = None,
) -> ReplayReport:
    """Replay the store at ``db`` and write ``replay.md``, ``replay.json`` and ``replay.png``
    under ``out``. Raises ValueError (a rules file that does not compile, already rendered as
    file:line:col) or OSError (a file that cannot be read)."""
    from tqdm import tqdm

    import rules as rules_language
    from server.store import Store, load_history

    store = Store.open(db)
    try:
        network = engine.Network(store.list_warehouses(include_inactive=True))
        policies = [("A", rules, _compile(rules_language, rules, network))]
        if vs is not None:
            policies.append(("B", vs, _compile(rules_language, vs, network)))
        history = load_history(store, since)
        skus = sorted(
            {
                ln.sku
                for e in history.events
                if isinstance(e, engine.RecordedOrder)
                for ln in e.order.lines
            }
        )
        sku_tags = dict(store.sku_tags(skus)) if skus else {}
    finally:
        store.close()
    total = len(history.order_ids) * (len(policies) + 2)
    with tqdm(
        total=total,
        desc="replay",
        unit="order",
        file=progress if progress is not None else sys.stderr,
        disable=total < 1000 and progress is None,
    ) as bar:

        def advance(orders_done: int) -> None:
            bar.update(orders_done)

        report = build_report(
            history,
            network,
            policies,
            since=since,
            window=window,
            time_budget_s=time_budget_s,
            sku_tags=sku_tags,
            on_progress=advance,
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "replay.md").write_text(render_markdown(report), encoding="utf-8")
    (out / "replay.json").write_text(report.to_json(), encoding="utf-8")
    write_chart(report, out / "replay.png")
    return report


def _compile(rules_language: Any, path: str, network: engine.Network) -> engine.Policy:
    source = Path(path).read_text(encoding="utf-8")
    policy: engine.Policy = rules_language.RuleSet.compile(source, path, network)
    return policy


def _parse_since(text: str) -> dt.datetime:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 instant (UTC when it names no zone)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-03-01 or an instant like 2026-03-01T12:00Z, got {text!r}"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def add_subparser(subparsers: Any) -> None:
    """Mount ``sortyard replay`` on the CLI."""
    p = subparsers.add_parser(
        "replay",
        help="replay the recorded history through policies and against the hindsight optimum",
        description=(
            "Replay the store's recorded orders and stock levels through rules A (and B) and the "
            "default policy greedily, and through the optimiser with hindsight; report shipments, "
            "distance, fill rate, late orders and the share of the hindsight gap each captures."
        ),
    )
    p.add_argument("--db", required=True, help="store URL, e.g. sqlite:///sortyard.db")
    p.add_argument("--since", type=_parse_since, help="replay orders routed from this date on")
    p.add_argument("--rules", required=True, metavar="A.rules", help="the policy to evaluate")
    p.add_argument("--vs", metavar="B.rules", help="a second policy to compare")
    p.add_argument("--out", default="replay-report", help="output folder (default %(default)s)")
    p.add_argument(
        "--window",
        type=int,
        default=engine.DEFAULT_REPLAY_WINDOW,
        help="orders per hindsight window (default %(default)s)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=engine.DEFAULT_TIME_BUDGET_SECONDS,
        help="solver seconds per hindsight window (default %(default)s)",
    )
    p.set_defaults(handler=_cmd_replay)


def _silence_solver_banner() -> None:
    """HiGHS prints a banner on file descriptor 1 the first time a solver is made in a process:
    make that first one with fd 1 on /dev/null, so stdout carries only the report."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()  # type: ignore[no-untyped-call]  # highspy leaves __init__ unannotated
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _cmd_replay(args: argparse.Namespace) -> int:
    if args.window < 1 or args.budget <= 0:
        print("sortyard replay: --window must be >= 1 and --budget > 0", file=sys.stderr)
        return EXIT_USAGE
    _silence_solver_banner()
    try:
        report = run_replay(
            args.db,
            args.rules,
            vs=args.vs,
            since=args.since,
            out=Path(args.out),
            window=args.window,
            time_budget_s=args.budget,
        )
    except (ValueError, OSError) as error:
        print(f"sortyard replay: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(render_markdown(report), end="")
    return 0
