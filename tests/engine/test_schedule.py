"""Ship dates, delivery estimates and the eligibility they imply."""

from __future__ import annotations

import datetime as dt

from engine import (
    CarrierPickup,
    DefaultPolicy,
    Network,
    Router,
    RouteStatus,
    Schedule,
    ServiceLevel,
    transit_days,
)
from engine._schedule import GROUND_BAND_MILES, KM_PER_MILE
from tests.engine.helpers import NO_ZIPS, UTC, east, order, route, shipped, stock_of, warehouse

NY = "America/New_York"
LA = "America/Los_Angeles"


def ship_date(
    now: dt.datetime, level: ServiceLevel = ServiceLevel.STANDARD, **options: object
) -> dt.datetime | None:
    network = Network([warehouse("W0", east(1), **options)])
    return Schedule(network, now, [level]).ship_py[level][0]


def test_no_pickups_ship_weekdays_at_five_local() -> None:
    """Without pickups a warehouse ships at 17:00 local, today when before the cutoff."""
    thursday_10am_ny = dt.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert ship_date(thursday_10am_ny, time_zone=NY) == dt.datetime(2026, 12, 3, 22, 0, tzinfo=UTC)


def test_cutoff_is_in_the_warehouse_time_zone() -> None:
    """The same instant is before the cutoff in Los Angeles and after it in New York."""
    at_6pm_ny = dt.datetime(2026, 12, 3, 23, 0, tzinfo=UTC)  # 15:00 in Los Angeles
    assert ship_date(at_6pm_ny, time_zone=LA) == dt.datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    assert ship_date(at_6pm_ny, time_zone=NY) == dt.datetime(2026, 12, 4, 22, 0, tzinfo=UTC)


def test_cutoff_follows_daylight_saving_time() -> None:
    """17:00 New York is 22:00 UTC before the March 8, 2026 DST switch and 21:00 UTC after it."""
    friday = dt.datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    monday = dt.datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    assert ship_date(friday, time_zone=NY) == dt.datetime(2026, 3, 6, 22, 0, tzinfo=UTC)
    assert ship_date(monday, time_zone=NY) == dt.datetime(2026, 3, 9, 21, 0, tzinfo=UTC)


def test_exactly_at_cutoff_misses_it() -> None:
    """An order at the cutoff instant waits for the next pickup."""
    at_cutoff = dt.datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    assert ship_date(at_cutoff, time_zone=NY) == dt.datetime(2026, 12, 4, 22, 0, tzinfo=UTC)


def test_weekend_orders_ship_monday() -> None:
    """After Friday's cutoff, a Monday-Friday warehouse ships on Monday."""
    friday_evening = dt.datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
    assert ship_date(friday_evening, time_zone=NY) == dt.datetime(2026, 12, 7, 22, 0, tzinfo=UTC)


def test_weekend_pickup_serves_saturday() -> None:
    """A pickup configured for Saturdays ships on Saturday."""
    saturday = (CarrierPickup(dt.time(12, 0), weekdays=frozenset({6})),)
    friday_evening = dt.datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
    assert ship_date(friday_evening, time_zone=NY, pickups=saturday) == dt.datetime(
        2026, 12, 5, 17, 0, tzinfo=UTC
    )


def test_handling_days_are_business_days() -> None:
    """One handling day on a Thursday morning ships Friday; on Friday it ships Monday even
    before Friday's cutoff."""
    thursday = dt.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    friday = dt.datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert ship_date(thursday, time_zone=NY, handling_days=1) == dt.datetime(
        2026, 12, 4, 22, 0, tzinfo=UTC
    )
    assert ship_date(friday, time_zone=NY, handling_days=1) == dt.datetime(
        2026, 12, 7, 22, 0, tzinfo=UTC
    )


def test_pickups_per_service_level() -> None:
    """The first pickup serving the level counts; a level no pickup serves has no ship date."""
    pickups = (
        CarrierPickup(dt.time(11, 0), frozenset({ServiceLevel.NEXT_DAY})),
        CarrierPickup(dt.time(16, 0), frozenset({ServiceLevel.STANDARD})),
    )
    now = dt.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 10:00 New York
    assert ship_date(now, ServiceLevel.NEXT_DAY, time_zone=NY, pickups=pickups) == dt.datetime(
        2026, 12, 3, 16, 0, tzinfo=UTC
    )
    assert ship_date(now, ServiceLevel.STANDARD, time_zone=NY, pickups=pickups) == dt.datetime(
        2026, 12, 3, 21, 0, tzinfo=UTC
    )
    assert ship_date(now, ServiceLevel.SAME_DAY, time_zone=NY, pickups=pickups) is None


def test_ground_transit_bands_and_fixed_levels() -> None:
    """Ground transit grows by distance band; EXPEDITED is a day faster (at least 1); NEXT_DAY,
    SECOND_DAY and SAME_DAY are fixed."""
    miles = [100, 200, 500, 1000, 2500]
    km = [m * KM_PER_MILE for m in miles]
    assert [transit_days(ServiceLevel.STANDARD, d) for d in km] == [1, 2, 3, 4, 5]
    assert [transit_days(ServiceLevel.EXPEDITED, d) for d in km] == [1, 1, 2, 3, 4]
    assert {transit_days(ServiceLevel.NEXT_DAY, d) for d in km} == {1}
    assert {transit_days(ServiceLevel.SECOND_DAY, d) for d in km} == {2}
    assert {transit_days(ServiceLevel.SAME_DAY, d) for d in km} == {0}
    assert GROUND_BAND_MILES == (150.0, 300.0, 600.0, 1800.0)


def test_delivery_estimates_in_routing() -> None:
    """NEXT_DAY shipped Thursday arrives Friday 20:00 local; SAME_DAY the same evening; a Friday
    NEXT_DAY shipment arrives Monday."""
    network = Network([warehouse("W0", east(1), time_zone=NY)])
    stock = stock_of(network, {("W0", "A"): 9})
    next_day, same_day = route(
        network,
        stock,
        [
            order(("A", 1), level=ServiceLevel.NEXT_DAY),
            order(("A", 1), order_id="o2", level=ServiceLevel.SAME_DAY),
        ],
    )
    assert next_day.shipments[0].deliver_by == dt.datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    assert same_day.shipments[0].ship_by == dt.datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    assert same_day.shipments[0].deliver_by == dt.datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    [friday] = route(
        network,
        stock,
        [order(("A", 1), level=ServiceLevel.NEXT_DAY)],
        now=dt.datetime(2026, 12, 4, 15, 0, tzinfo=UTC),
    )
    assert friday.shipments[0].deliver_by == dt.datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


def test_warehouse_without_a_serving_pickup_is_ineligible() -> None:
    """A NEXT_DAY order skips the nearest warehouse whose pickups serve only STANDARD, and the
    explanation says so."""
    standard_only = (CarrierPickup(dt.time(17, 0), frozenset({ServiceLevel.STANDARD})),)
    network = Network([warehouse("W0", east(1), pickups=standard_only), warehouse("W1", east(5))])
    stock = stock_of(network, {("W0", "A"): 9, ("W1", "A"): 9})
    [decision] = route(network, stock, [order(("A", 1), level=ServiceLevel.NEXT_DAY)], explain=True)
    assert set(shipped(decision)) == {"W1"}
    assert decision.explanation is not None
    assert (
        decision.explanation.lines[0].candidates[0].reason == "excluded: no pickup serves NEXT_DAY"
    )


def test_latest_ship_date_excludes_late_warehouses() -> None:
    """A warehouse whose ship date is after latest_ship_date is not eligible."""
    network = Network([warehouse("W0", east(1), handling_days=2), warehouse("W1", east(5))])
    stock = stock_of(network, {("W0", "A"): 9, ("W1", "A"): 9})
    deadline = dt.datetime(2026, 12, 4, 5, 0, tzinfo=UTC)
    [decision] = route(network, stock, [order(("A", 1), latest_ship_date=deadline)])
    assert set(shipped(decision)) == {"W1"}


def test_latest_delivery_date_excludes_slow_warehouses() -> None:
    """A far warehouse that cannot deliver by latest_delivery_date is skipped even when it has the
    stock (INSUFFICIENT_STOCK once the near one runs out); when no warehouse can meet the date,
    the units are NO_ELIGIBLE_WAREHOUSE."""
    network = Network([warehouse("W0", east(40)), warehouse("W1", east(2))])
    stock = stock_of(network, {("W0", "A"): 9, ("W1", "A"): 1})
    deadline = dt.datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # next-day ground only
    first, second = route(
        network,
        stock,
        [
            order(("A", 1), latest_delivery_date=deadline),
            order(("A", 1), order_id="o2", latest_delivery_date=deadline),
        ],
    )
    assert set(shipped(first)) == {"W1"}
    assert second.status is RouteStatus.BACKORDERED
    assert second.unfilled[0].code == "INSUFFICIENT_STOCK"
    too_soon = dt.datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    [hopeless] = route(network, stock, [order(("A", 1), latest_delivery_date=too_soon)])
    assert hopeless.unfilled[0].code == "NO_ELIGIBLE_WAREHOUSE"


def test_one_router_shares_schedules_within_a_minute_but_not_across_the_cutoff() -> None:
    """A live router reuses a schedule for every call within one clock minute (they give the
    same ship dates, since cutoffs are whole minutes), yet a call at the cutoff instant still
    misses that day's pickup after calls made seconds before it."""
    network = Network([warehouse("W0", east(1), time_zone=NY)])
    router = Router(network, DefaultPolicy(), NO_ZIPS)

    def ship_by(now: dt.datetime) -> dt.datetime:
        stock = stock_of(network, {("W0", "A"): 10})
        (decision,) = router.route([order(("A", 1))], stock, now=now)
        return decision.shipments[0].ship_by

    today, tomorrow = (
        dt.datetime(2026, 12, 3, 22, 0, tzinfo=UTC),
        dt.datetime(2026, 12, 4, 22, 0, tzinfo=UTC),
    )
    assert ship_by(dt.datetime(2026, 12, 3, 21, 59, 0, tzinfo=UTC)) == today
    assert ship_by(dt.datetime(2026, 12, 3, 21, 59, 59, 999000, tzinfo=UTC)) == today
    assert ship_by(dt.datetime(2026, 12, 3, 22, 0, 0, tzinfo=UTC)) == tomorrow
    assert ship_by(dt.datetime(2026, 12, 3, 22, 0, 30, tzinfo=UTC)) == tomorrow
    assert len(router._schedules) == 2  # one per minute, not one per call
