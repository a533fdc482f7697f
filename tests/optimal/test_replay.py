"""``sortyard replay`` over a history recorded by a real server (SQLite, example network)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from sortyard.v1 import inventory_service_pb2, routing_service_pb2

from server import cli
from server._replay import run_replay
from server.policy_service import PolicyHolder
from tests.server.helpers import TIMEOUT, order, route_request, stubs

EXAMPLE_SKUS = ("MUG-11OZ-WHT", "TEE-CREW-BLK-M", "LAMP-DESK-LED", "KEYB-MECH-TKL")
ZIPS = ("10001", "60629", "30301", "75201", "85004", "90012", "98101", "02108", "33130", "80202")
CHANNELS = ("amazon", "storefront", "shopify")

POLICY_A = """\
default max shipments 2

rule "amazon avoids the west"
  when order.channel == "amazon"
  exclude warehouses tagged "west"
"""
POLICY_B = """\
rule "storefront orders ship in one parcel"
  when order.channel == "storefront"
  max shipments 1
"""


def seeded_batches(
    seed: int, batches: int, size: int
) -> list[routing_service_pb2.RouteBatchRequest]:
    rng = np.random.default_rng(seed)
    out = []
    for b in range(batches):
        requests = []
        for i in range(size):
            skus = rng.choice(len(EXAMPLE_SKUS), size=int(rng.integers(1, 4)), replace=False)
            lines = [(EXAMPLE_SKUS[k], int(rng.integers(1, 5))) for k in skus.tolist()]
            requests.append(
                route_request(
                    order(
                        f"RPL-{b}-{i}",
                        lines,
                        postal_code=str(rng.choice(ZIPS)),
                        channel=str(rng.choice(CHANNELS)),
                    )
                )
            )
        out.append(routing_service_pb2.RouteBatchRequest(requests=requests))
    return out


@pytest.fixture
def recorded(start_sortyard: Any, tmp_path: Path) -> tuple[str, Path, Path]:
    """A store whose history: the example stock synced, 2 batches routed under policy A, a sync
    that restocks the desk lamps, a third batch. Returns (db url, A.rules, B.rules)."""
    a_file, b_file = tmp_path / "A.rules", tmp_path / "B.rules"
    a_file.write_text(POLICY_A, encoding="utf-8")
    b_file.write_text(POLICY_B, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'recorded.db'}"
    holder = PolicyHolder()
    server = start_sortyard(url, policies=holder)
    holder.publish(POLICY_A, str(a_file), network=server.runtime.network())
    with grpc.insecure_channel(server.address) as channel:
        api = stubs(channel)
        batches = seeded_batches(11, 3, 30)
        api.routing.RouteBatch(batches[0], timeout=TIMEOUT)
        api.routing.RouteBatch(batches[1], timeout=TIMEOUT)
        api.inventory.Sync(
            inventory_service_pb2.SyncRequest(
                levels=[
                    inventory_service_pb2.StockLevel(
                        warehouse_id=w, sku="LAMP-DESK-LED", on_hand=20
                    )
                    for w in ("EWR-1", "ORD-1", "ONT-1")
                ]
            ),
            timeout=TIMEOUT,
        )
        api.routing.RouteBatch(batches[2], timeout=TIMEOUT)
    server.stop(grace=1.0)
    return url, a_file, b_file


def test_replay_is_byte_for_byte_deterministic_and_a_matches_the_record(
    recorded: tuple[str, Path, Path], tmp_path: Path
) -> None:
    """Two replays of the same store (the second through the ``sortyard replay`` command, whose
    stdout is exactly the Markdown report) write the same Markdown and JSON bytes; policy A,
    which routed the history, reproduces the recorded shipments, distance and fill exactly;
    hindsight costs no more than greedy; a chart is drawn."""
    url, a_file, b_file = recorded
    first = run_replay(url, str(a_file), vs=str(b_file), out=tmp_path / "one", time_budget_s=10.0)
    command = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "replay",
            "--db",
            url,
            "--rules",
            str(a_file),
            "--vs",
            str(b_file),
            "--out",
            str(tmp_path / "two"),
            "--budget",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert command.returncode == 0, command.stderr
    for name in ("replay.md", "replay.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert command.stdout == (tmp_path / "one" / "replay.md").read_text()
    assert (tmp_path / "two" / "replay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert first.hindsight_proven
    runs = {m.label: m for m in first.runs}
    assert list(runs) == ["recorded", "greedy", "A", "B", "hindsight"]
    assert first.orders == 90
    recorded_run, a = runs["recorded"], runs["A"]
    assert (a.shipments, a.units_filled, a.units_ordered) == (
        recorded_run.shipments,
        recorded_run.units_filled,
        recorded_run.units_ordered,
    )
    assert a.distance_km == pytest.approx(recorded_run.distance_km, abs=1e-6)
    assert runs["hindsight"].cost <= runs["greedy"].cost + 1e-6
    body = json.loads((tmp_path / "one" / "replay.json").read_text())
    assert [r["label"] for r in body["runs"]] == list(runs)
    assert body["policies"]["A"] == str(a_file)


def test_a_rules_error_is_reported_with_its_location(
    recorded: tuple[str, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rules file that does not compile: exit 2 and the file:line:col diagnostic on stderr."""
    url, _, _ = recorded
    bad = tmp_path / "bad.rules"
    bad.write_text('rule "x"\n  when order.chanel == "amazon"\n  max shipments 1\n')
    code = cli.main(["replay", "--db", url, "--rules", str(bad), "--out", str(tmp_path / "o")])
    assert code == 2
    assert f"{bad}:2:" in capsys.readouterr().err
