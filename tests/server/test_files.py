"""Quick-start file loaders: network TOML, stock CSV, order JSON; errors say where and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from sortyard.v1 import types_pb2

from server._convert import warehouse_from_proto
from server._files import ConfigFileError, load_network, load_route_request, load_stock

EXAMPLES = Path(__file__).resolve().parents[2] / "server" / "examples"


def test_example_network_loads_six_active_sites_in_four_time_zones() -> None:
    """The shipped network is valid: six active US sites, four IANA zones, pickups parsed."""
    warehouses = load_network(EXAMPLES / "network.toml")
    assert len(warehouses) == 6 and all(w.active for w in warehouses)
    assert len({w.time_zone for w in warehouses}) == 4
    ewr = warehouse_from_proto(warehouses[0])
    assert ewr.warehouse_id == "EWR-1" and len(ewr.pickups) == 2
    assert ewr.pickups[1].weekdays == frozenset(range(1, 7))
    assert types_pb2.NEXT_DAY in warehouses[0].pickups[0].service_levels


def test_example_stock_and_order_load() -> None:
    """The shipped stock CSV and order JSON load into the API's messages."""
    levels = load_stock(EXAMPLES / "stock.csv")
    assert len({lv.sku for lv in levels}) >= 30 and all(lv.on_hand >= 0 for lv in levels)
    request = load_route_request(EXAMPLES / "order.json")
    assert request.order.service_level == types_pb2.SECOND_DAY
    assert [line.sku for line in request.order.lines] == ["MUG-11OZ-WHT", "TEE-CREW-BLK-M"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[warehouses]]\nwarehouse_id = 'A'\n", "warehouses[0].latitude: required"),
        (
            "[[warehouses]]\nwarehouse_id='A'\nlatitude=1\nlongitude=2\ntime_zone='Nowhere/City'\n",
            "warehouses[0].time_zone: unknown IANA time zone",
        ),
        (
            "[[warehouses]]\nwarehouse_id='A'\nlatitude=1\nlongitude=2\ntime_zone='UTC'\n"
            "[[warehouses.pickups]]\ncutoff='17:00'\nservice_levels=['WARP']\n",
            "warehouses[0].pickups[0].service_levels[0]: unknown service level 'WARP'",
        ),
        ("warehouses = 3\n", "expected one or more [[warehouses]] tables"),
        ("[[warehouses]\n", "network.toml:"),
    ],
    ids=["missing latitude", "bad zone", "bad level", "not tables", "not TOML"],
)
def test_bad_network_file_names_the_file_and_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Network file errors carry the path and the field, as the API's violations do."""
    path = tmp_path / "network.toml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        load_network(path)
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("warehouse,sku,count\nA,B,1\n", ":1: header must name warehouse_id,sku,on_hand"),
        ("warehouse_id,sku,on_hand\nA,B,lots\n", ":2: on_hand must be a whole number"),
        ("warehouse_id,sku,on_hand\nA,B,1\nA,C,-4\n", ":3: on_hand must be ≥ 0"),
    ],
    ids=["header", "not a number", "negative"],
)
def test_bad_stock_file_names_the_line(tmp_path: Path, text: str, expected: str) -> None:
    """Stock file errors carry the file and line number."""
    path = tmp_path / "stock.csv"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        load_stock(path)
    assert f"{path}{expected}" in str(caught.value)


def test_order_json_with_an_unknown_field_is_rejected(tmp_path: Path) -> None:
    """A misspelt field in an order file is an error, not silently ignored."""
    path = tmp_path / "order.json"
    path.write_text('{"channel": "storefront", "chanel_order_id": "X"}')
    with pytest.raises(ConfigFileError, match="chanel_order_id"):
        load_route_request(path)
