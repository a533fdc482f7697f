"""How big a run is: ``quick`` (a smoke test under two minutes) or full (about 15 minutes here)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RESULTS_DIR", "BenchConfig"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class BenchConfig:
    quick: bool = False
    seed: int = 7
    pg_url: str | None = field(default_factory=lambda: os.environ.get("SORTYARD_TEST_PG_URL"))
    out_dir: Path = RESULTS_DIR
    only: tuple[str, ...] = ()  # section names; empty: all

    @property
    def reps(self) -> int:
        """Repetitions behind every median (interleaved across compared configurations)."""
        return 3 if self.quick else 5

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full
