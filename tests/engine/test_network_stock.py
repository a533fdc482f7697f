"""Network and StockTable construction, lookups and invariants."""

from __future__ import annotations

import numpy as np
import pytest

from engine import (
    InvalidStockError,
    Network,
    StockTable,
    UnknownSkuError,
    UnknownWarehouseError,
    distance_matrix_km,
    great_circle_km,
)
from tests.engine.helpers import east, warehouse


def small() -> Network:
    return Network([warehouse("A", east(1), tags=frozenset({"cold"})), warehouse("B", east(2))])


def test_network_arrays_and_lookup() -> None:
    """Ids, coordinates, unit vectors and tags line up by index; unknown ids raise a KeyError."""
    network = small()
    assert network.warehouse_ids == ("A", "B")
    assert network.index_of("B") == 1
    assert network.lat.dtype == np.float64 and network.lon[1] == east(2)[1]
    assert np.allclose(np.linalg.norm(network.unit, axis=1), 1.0)
    assert network.has_tag("cold").tolist() == [True, False]
    with pytest.raises(UnknownWarehouseError) as caught:
        network.index_of("Z")
    assert isinstance(caught.value, KeyError)


def test_network_is_immutable_and_rejects_bad_input() -> None:
    """Attributes and arrays cannot be changed; duplicate ids and unknown zones are refused."""
    network = small()
    with pytest.raises(AttributeError):
        network.warehouses = ()
    with pytest.raises(ValueError, match="read-only"):
        network.lat[0] = 0.0
    with pytest.raises(ValueError, match="duplicate"):
        Network([warehouse("A", east(1)), warehouse("A", east(2))])
    with pytest.raises(ValueError, match="time zone"):
        Network([warehouse("A", east(1), time_zone="Mars/Olympus")])


def test_stock_table_lookups_and_from_levels() -> None:
    """from_levels fills on_hand by (warehouse, sku); row_of and available() work."""
    network = small()
    stock = StockTable.from_levels(network, [("A", "S1", 4), ("B", "S2", 2), ("B", "S1", 1)])
    assert stock.skus == ("S1", "S2")
    assert stock.on_hand.tolist() == [[4, 1], [0, 2]]
    assert stock.available().tolist() == [[4, 1], [0, 2]]
    assert stock.row_of("S2") == 1
    with pytest.raises(UnknownSkuError):
        stock.row_of("nope")
    with pytest.raises(UnknownWarehouseError):
        StockTable.from_levels(network, [("Z", "S1", 1)])


def test_stock_table_invariants() -> None:
    """Wrong shapes, negative counts and channel reservations exceeding reserved are refused;
    reserved above on_hand is allowed (a sync can drop on_hand)."""
    network = small()
    zeros = np.zeros((1, 2), dtype=np.int64)
    with pytest.raises(InvalidStockError, match="shape"):
        StockTable(network, ["S"], np.zeros((1, 3), dtype=np.int64), zeros)
    with pytest.raises(InvalidStockError, match="reserved must not be negative"):
        StockTable(network, ["S"], zeros, np.array([[-1, 0]]))
    with pytest.raises(InvalidStockError, match="more than reserved"):
        StockTable(network, ["S"], zeros + 5, zeros + 1, {"amazon": zeros + 2})
    with pytest.raises(InvalidStockError, match="duplicate"):
        StockTable.empty(network, ["S", "S"])
    oversold = StockTable(network, ["S"], zeros + 1, zeros + 3)
    assert oversold.available().tolist() == [[-2, -2]]


def test_stock_table_keeps_the_callers_int64_arrays() -> None:
    """Contiguous int64 arrays are used as is, so in-place updates reach the caller."""
    network = small()
    on_hand = np.ones((1, 2), dtype=np.int64)
    stock = StockTable(network, ["S"], on_hand, np.zeros((1, 2), dtype=np.int64))
    assert stock.on_hand is on_hand


def test_batch_distances_match_haversine() -> None:
    """The matrix form agrees with the haversine formula; New York-Chicago is about 1,145 km."""
    rng = np.random.default_rng(7)
    lat, lon = rng.uniform(25, 49, 200), rng.uniform(-124, -67, 200)
    network = small()
    matrix = distance_matrix_km(lat, lon, network.unit)
    expected = great_circle_km(
        lat[:, None], lon[:, None], network.lat[None, :], network.lon[None, :]
    )
    assert matrix.shape == (200, 2)
    assert np.allclose(matrix, expected, atol=1e-6)
    assert abs(float(great_circle_km(40.7128, -74.0060, 41.8781, -87.6298)) - 1145) < 3
