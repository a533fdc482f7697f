"""The command line: `sandbox amazon` runs standalone from a scenario file; bad scenario files and
bad catalog CSVs are refused with a clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[2]


def test_sandbox_runs_standalone_from_a_scenario(tmp_path: Path) -> None:
    """`sandbox amazon --port 0 --scenario FILE` serves the scenario's orders and listings on
    loopback and prints its URL; its record endpoint shows what "Amazon" holds."""
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "seed": 5,
                "orders_per_day": 12,
                "listings": [{"seller_sku": "MUG-RED", "asin": "B0MUGRED01", "quantity": 7}],
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.amazon", "sandbox", "amazon", "--port", "0",
         "--scenario", str(scenario)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = json.loads(process.stdout.readline())
        record = httpx.get(banner["record"], timeout=10).json()
        assert banner["orders"] == 12 == len(record["orders"])
        assert record["quantities"] == {"MUG-RED": 7}
        token = httpx.post(
            f"{banner['url']}/auth/o2/token",
            data={"grant_type": "refresh_token", "client_id": "a", "client_secret": "b",
                  "refresh_token": "c"},
            timeout=10,
        ).json()  # fmt: skip
        assert token["token_type"] == "bearer" and token["expires_in"] == 3600
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()  # type: ignore[union-attr]  # PIPE was requested


def test_bad_scenario_is_refused_with_the_key(tmp_path: Path) -> None:
    """A scenario with a misspelt key exits with status 2 and names the key."""
    scenario = tmp_path / "typo.json"
    scenario.write_text(json.dumps({"orders_per_dya": 3}))
    result = subprocess.run(
        [sys.executable, "-m", "adapters.amazon", "sandbox", "amazon", "--scenario", str(scenario)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "orders_per_dya" in result.stderr


def test_adapter_without_credentials_says_which_are_missing(tmp_path: Path) -> None:
    """`adapter amazon` with no credentials exits 2 naming the environment variables, never a
    value."""
    env = {"PATH": "/usr/bin:/bin", "LWA_APP_ID": "app-canary-value"}
    result = subprocess.run(
        [sys.executable, "-m", "adapters.amazon", "adapter", "amazon", "--once",
         "--seller-id", "A1", "--state", str(tmp_path / "s.json")],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "SP_API_REFRESH_TOKEN" in result.stderr and "LWA_CLIENT_SECRET" in result.stderr
    assert "app-canary-value" not in result.stderr
