"""A real server per backend for the optimiser's server tests: SQLite, and PostgreSQL when
``SORTYARD_TEST_PG_URL`` is set (skipped with a reason otherwise; see tests/db.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.db import BACKENDS, database_url


@pytest.fixture(params=BACKENDS)
def backend_server(
    request: pytest.FixtureRequest, start_sortyard: Any, tmp_path: Path
) -> Iterator[Any]:
    """A running server with the example network and stock, on each backend."""
    with database_url(request.param, tmp_path) as url:
        server = start_sortyard(url)
        yield server
        server.stop(grace=1.0)
