"""Geocoding: ZIP forms, explicit coordinates, and holds for addresses that cannot be located."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import Address, Geocoder, Network, RouteStatus, zip5_key
from tests.engine.helpers import NOW, east, stock_of, warehouse


@pytest.fixture(scope="module")
def geocoder() -> Geocoder:
    return Geocoder.default()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("60601", 60601),
        (" 60601 ", 60601),
        ("60601-1234", 60601),
        ("606011234", 60601),
        ("02134", 2134),
        ("2134", 2134),
        ("501", 501),
        ("21341234", 2134),
        ("2134-1234", 2134),
        ("6060", 6060),
        ("60601-12", -1),
        ("ABCDE", -1),
        ("", -1),
        ("12", -1),
        ("1234567", -1),
        ("６０６０１", -1),
    ],
)
def test_zip_forms(text: str, key: int) -> None:
    """ZIP, ZIP+4 with or without dash, and forms that lost leading zeros map to int(zip5);
    anything else to -1."""
    assert zip5_key(text) == key


def test_real_zips_resolve_from_the_zipcodes_table(geocoder: Geocoder) -> None:
    """Chicago's 60601 and Boston's 02134 (also written 2134) resolve to their own area."""
    chicago = geocoder.locate(Address("60601-1234"))
    assert chicago is not None and abs(chicago[0] - 41.88) < 0.2 and abs(chicago[1] + 87.62) < 0.2
    assert geocoder.locate(Address("02134")) == geocoder.locate(Address("2134")) is not None
    assert len(geocoder) > 40_000


def test_unknown_zip_and_foreign_address_are_not_located(geocoder: Geocoder) -> None:
    """An unknown ZIP and a non-US postal code without coordinates give None."""
    assert geocoder.locate(Address("00000")) is None
    assert geocoder.locate(Address("SW1A 1AA", country_code="GB")) is None


def test_explicit_coordinates_win(geocoder: Geocoder) -> None:
    """Given latitude/longitude are used as is, whatever the postal code or country."""
    assert geocoder.locate(Address("60601", latitude=10.5, longitude=20.25)) == (10.5, 20.25)
    assert geocoder.locate(Address("", country_code="GB", latitude=51.5, longitude=-0.12)) == (
        51.5,
        -0.12,
    )


def test_locate_many_matches_locate(geocoder: Geocoder) -> None:
    """The batch lookup agrees with the single lookup, NaN where not located."""
    batch = [
        Address("60601"),
        Address("99999"),
        Address("2134-0001"),
        Address("x", "DE"),
        Address("", latitude=1.0, longitude=2.0),
        Address("10001", country_code="us"),
    ]
    lat, lon = geocoder.locate_many(batch)
    for position, address in enumerate(batch):
        single = geocoder.locate(address)
        if single is None:
            assert math.isnan(lat[position]) and math.isnan(lon[position])
        else:
            assert (lat[position], lon[position]) == single
    assert np.isnan(lat).sum() == 2


def test_default_geocoder_is_a_singleton() -> None:
    """Geocoder.default() loads the table once per process."""
    assert Geocoder.default() is Geocoder.default()


def test_unlocatable_orders_are_held_with_the_right_code(geocoder: Geocoder) -> None:
    """Unknown ZIP -> HELD UNKNOWN_POSTAL_CODE; non-US without coordinates -> HELD
    UNSUPPORTED_COUNTRY; a real ZIP routes."""
    from engine import Order, OrderLine, Router

    network = Network([warehouse("W0", east(1))])
    stock = stock_of(network, {("W0", "A"): 9})

    def at(address: Address, order_id: str) -> Order:
        return Order("shop", order_id, (OrderLine("L0", "A", 1),), address)

    unknown, foreign, real = Router(network, geocoder=geocoder).route(
        [
            at(Address("99999"), "o1"),
            at(Address("75001", country_code="FR"), "o2"),
            at(Address("60601"), "o3"),
        ],
        stock,
        now=NOW,
    )
    assert unknown.status is RouteStatus.HELD and unknown.hold is not None
    assert unknown.hold.code == "UNKNOWN_POSTAL_CODE"
    assert foreign.hold is not None and foreign.hold.code == "UNSUPPORTED_COUNTRY"
    assert real.status is RouteStatus.ROUTED
    assert stock.reserved.sum() == 1
