"""The ``sortyard`` command: route against a running server, serve as a real process, the demo."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sortyard.v1 import inventory_service_pb2, types_pb2

from server.cli import build_parser, main
from tests.server.helpers import TIMEOUT, stubs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "server" / "examples"
SORTYARD = Path(sys.executable).parent / "sortyard"  # the installed console script


def _write_order(tmp_path: Path, **changes: Any) -> Path:
    document = json.loads((EXAMPLES / "order.json").read_text())
    document.update(changes)
    path = tmp_path / "order.json"
    path.write_text(json.dumps(document))
    return path


def test_route_prints_a_readable_decision(
    sortyard_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sortyard route ORDER.json --explain`` prints the status, the shipping warehouse with its
    lines, and the candidate table."""
    code = main(
        ["route", str(_write_order(tmp_path)), "--server", sortyard_server.address, "--explain"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Order SF-100234" in out and ": ROUTED" in out
    assert "→ ORD-1" in out and "2 × MUG-11OZ-WHT (line 1)" in out
    assert re.search(r"^\s+1\s+ORD-1\s", out, re.MULTILINE), out
    assert "verdict" in out and "chosen" in out


def test_route_json_and_dry_run(
    sortyard_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json --dry-run`` prints the RouteResponse as JSON with an explanation, and reserves
    nothing on the server."""
    order_file = _write_order(tmp_path)
    code = main(
        ["route", str(order_file), "--server", sortyard_server.address, "--json", "--dry-run"]
    )
    response = json.loads(capsys.readouterr().out)
    assert code == 0
    assert response["status"] == "ROUTED" and response["explanation"]["lines"]
    assert "order_id" not in response  # nothing stored
    import grpc

    with grpc.insecure_channel(sortyard_server.address) as channel:
        detail = stubs(channel).inventory.GetAvailability(
            inventory_service_pb2.GetAvailabilityRequest(skus=["MUG-11OZ-WHT"]), timeout=TIMEOUT
        )
    assert all(w.reserved == 0 for w in detail.warehouses)


def test_route_reports_field_violations_and_fails(
    sortyard_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed order exits 1 and prints INVALID_ARGUMENT with each field path."""
    bad = _write_order(tmp_path, lines=[{"line_id": "1", "sku": "MUG-11OZ-WHT", "quantity": 0}])
    code = main(["route", str(bad), "--server", sortyard_server.address])
    err = capsys.readouterr().err
    assert code == 1
    assert "INVALID_ARGUMENT" in err and "order.lines[0].quantity" in err


def test_route_with_an_unreadable_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is not JSON exits 2 with the file, line and column, before any connection."""
    broken = tmp_path / "broken.json"
    broken.write_text('{"channel": "storefront",\n  "lines": [}')
    assert main(["route", str(broken), "--server", "127.0.0.1:1"]) == 2
    assert f"{broken}:2:" in capsys.readouterr().err


def test_optional_subcommands_mount_and_a_missing_one_breaks_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Subcommands of importable packages (rules) are mounted; an unimportable module is skipped
    and serve/route/demo still parse."""
    parser = build_parser()
    (subcommands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert {"serve", "route", "demo", "rules"} <= set(subcommands.choices)
    monkeypatch.setattr("server.cli.OPTIONAL_SUBCOMMANDS", ("no.such.module", "json"))
    parser = build_parser()
    assert parser.parse_args(["demo", "--orders", "5"]).orders == 5


def _read_until(process: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError("server exited before printing " + pattern + ":\n" + "".join(seen))


@pytest.mark.slow
def test_serve_loads_files_applies_rules_and_drains_on_sigterm(tmp_path: Path) -> None:
    """``sortyard serve`` as a real process: loads the network and stock files and a rules file,
    serves routes decided by those rules, writes JSON log lines without buyer PII, and exits 0
    after SIGTERM."""
    process = subprocess.Popen(
        [
            str(SORTYARD),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            f"sqlite:///{tmp_path / 'serve.db'}",
            "--network",
            str(EXAMPLES / "network.toml"),
            "--stock",
            str(EXAMPLES / "stock.csv"),
            "--rules",
            str(ROOT / "rules" / "examples" / "storefront-no-split.rules"),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        address = _read_until(process, r"serving on (\S+)").group(1)
        import grpc

        from tests.server.helpers import order, route_request

        with grpc.insecure_channel(address) as channel:
            s = stubs(channel)
            o = order("SF-PARCEL", [("LAMP-DESK-LED", 10)])
            o.ship_to.city = "Springfield"
            response = s.routing.Route(route_request(o), timeout=TIMEOUT)
        # No single site has 10 lamps and the rules forbid splitting a storefront order.
        assert response.status == types_pb2.HELD and response.hold_code == "SHIP_COMPLETE"
        assert not response.fulfillment_orders
        assert response.policy_version.startswith("v1-")
        process.send_signal(signal.SIGTERM)
        _out, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    logs = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    routes = [entry for entry in logs if entry.get("method") == "RoutingService/Route"]
    assert routes and routes[0]["postal_code"] == "60629"
    assert "Springfield" not in rest
    assert any(entry.get("msg") == "stopped" for entry in logs)


def test_serve_rejects_a_rules_file_that_does_not_compile(tmp_path: Path) -> None:
    """A broken rules file stops ``serve`` before it listens, with exit 2 and file:line:col."""
    bad = tmp_path / "bad.rules"
    bad.write_text('rule "x"\n  when order.chanel == "amazon"\n  max shipments 1\n')
    result = subprocess.run(
        [str(SORTYARD), "serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--rules", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"{bad}:2:" in result.stderr


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reports_invariants_ok() -> None:
    """``sortyard demo`` (the console script) routes its orders through a real server and prints
    the summary, per-warehouse table, the Amazon loop through the sandbox, two explained decisions
    and 'invariants: OK'."""
    result = subprocess.run([str(SORTYARD), "demo"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Routed 300 orders through RouteBatch" in out
    for label in ("routed in full", "partially routed", "backordered", "held", "split"):
        assert label in out
    assert "UNKNOWN_POSTAL_CODE" in out
    assert "Shipments by warehouse (mean distance" in out
    assert out.count("Why:") == 2
    assert "invariants: OK" in out
    assert "Traceback" not in result.stderr and "WARNING" not in result.stderr.upper()
    # The Amazon loop: orders pulled from the sandbox through the adapter, shipped, and every
    # package's tracking accepted by "Amazon".
    shipped = re.search(r"shipped by the warehouse: (\d+) packages; tracking on Amazon: (\d+)", out)
    assert shipped is not None, out
    assert int(shipped.group(1)) > 0 and shipped.group(1) == shipped.group(2)
    assert "what Amazon now shows:" in out
    assert "rejected by Amazon" not in out + result.stderr
