"""What a measurement hands back: figures (median, min, max over repetitions), targets marked met or
missed, a table for the terminal and free-form data for the JSON report."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Figure", "SectionResult", "Target", "figure"]

Verdict = Literal["met", "missed", "not measured"]


@dataclass(frozen=True)
class Figure:
    """A measured quantity over repeated runs."""

    median: float
    min: float
    max: float
    runs: int
    unit: str = ""

    def text(self, digits: int = 3) -> str:
        if self.runs <= 1:
            return f"{_fmt(self.median, digits)} {self.unit}".strip()
        return (
            f"{_fmt(self.median, digits)} {self.unit} "
            f"[{_fmt(self.min, digits)}–{_fmt(self.max, digits)}]"
        ).replace("  ", " ")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float, digits: int) -> str:
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1e5:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:,.1f}"
    return f"{value:.{digits}g}"


def figure(values: Sequence[float], unit: str = "") -> Figure:
    if not values:
        return Figure(float("nan"), float("nan"), float("nan"), 0, unit)
    return Figure(
        float(statistics.median(values)), float(min(values)), float(max(values)), len(values), unit
    )


@dataclass
class Target:
    """A promise from the issue: ``measured <op> threshold``."""

    name: str
    threshold: float
    op: Literal[">=", "<="]
    unit: str = ""
    measured: Figure | None = None
    note: str = ""

    @property
    def verdict(self) -> Verdict:
        if self.measured is None or self.measured.runs == 0:
            return "not measured"
        value = self.measured.median
        ok = value >= self.threshold if self.op == ">=" else value <= self.threshold
        return "met" if ok else "missed"

    @property
    def shortfall(self) -> str:
        """How far a missed target is from its threshold, in plain words."""
        if self.verdict != "missed" or self.measured is None:
            return ""
        value = self.measured.median
        if self.op == ">=":
            return f"reached {value / self.threshold:.0%} of the target"
        return f"{value / self.threshold:.2f}x the limit"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threshold": self.threshold,
            "op": self.op,
            "unit": self.unit,
            "measured": self.measured.to_json() if self.measured else None,
            "verdict": self.verdict,
            "shortfall": self.shortfall,
            "note": self.note,
        }


@dataclass
class SectionResult:
    name: str
    title: str
    reference: str  # what the figures are measured against
    rows: list[tuple[str, str]] = field(default_factory=list)  # (label, value) for the table
    targets: list[Target] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    def row(self, label: str, value: Figure | str) -> None:
        self.rows.append((label, value.text() if isinstance(value, Figure) else value))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "reference": self.reference,
            "rows": [{"label": label, "value": value} for label, value in self.rows],
            "targets": [t.to_json() for t in self.targets],
            "data": self.data,
            "notes": self.notes,
            "plots": self.plots,
            "error": self.error,
            "seconds": round(self.seconds, 2),
        }
