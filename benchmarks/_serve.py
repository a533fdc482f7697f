"""Servers under test in their own processes, so client and server never share a GIL.

``python -m benchmarks._serve echo`` or ``python -m benchmarks._serve sortyard DB_URL`` starts the
server on 127.0.0.1 port 0, prints ``PORT n`` and serves until its stdin closes.
:class:`ServerProcess` is the parent's side. Also: loading a scenario's network and stock into a
database, and a throwaway PostgreSQL database for the suite.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from types import TracebackType

import sqlalchemy as sa

from benchmarks._scenario import Scenario

__all__ = ["ServerProcess", "load_scenario", "scratch_postgres"]


class ServerProcess:
    """A server subprocess: ``kind`` is ``echo`` or ``sortyard`` (then ``db_url`` is required)."""

    def __init__(self, kind: str, db_url: str = "") -> None:
        args = [sys.executable, "-m", "benchmarks._serve", kind]
        if db_url:
            args.append(db_url)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"{kind} server did not start (said {line!r})")
        self.port = int(line.split()[1])
        self.address = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def load_scenario(db_url: str, scenario: Scenario, *, stock_multiplier: int = 1) -> None:
    """Put the scenario's warehouses and the stock of every SKU its orders name into ``db_url``."""
    from server.store import Store

    ids = [w.warehouse_id for w in scenario.warehouses]
    wanted = set(scenario.ordered_sku_index().tolist())
    levels = [
        (ids[w], scenario.skus[s], q * stock_multiplier)
        for s, w, q in zip(
            scenario.stock_sku.tolist(),
            scenario.stock_warehouse.tolist(),
            scenario.stock_quantity.tolist(),
            strict=True,
        )
        if s in wanted
    ]
    store = Store.open(db_url)
    try:
        store.put_warehouses(list(scenario.warehouses))
        for start in range(0, len(levels), 20_000):
            store.sync(levels[start : start + 20_000])
    finally:
        store.close()


@contextlib.contextmanager
def scratch_postgres(server_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server of ``server_url``, dropped afterwards, so the
    suite never writes into a database tests or people use."""
    url = sa.make_url(server_url)
    name = f"sortyard_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _main(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "echo":
        from benchmarks._echo import start_echo_server

        echo, port = start_echo_server()
        print(f"PORT {port}", flush=True)
        sys.stdin.read()
        echo.stop(1.0).wait()
        return
    from server import start_server

    running = start_server(argv[1], "127.0.0.1:0")
    print(f"PORT {running.port}", flush=True)
    sys.stdin.read()
    running.stop(grace=2.0)


if __name__ == "__main__":
    _main(sys.argv[1:])
