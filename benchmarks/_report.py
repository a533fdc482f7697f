"""Writes a run's results: a table on the terminal, JSON and Markdown in benchmarks/results/."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from benchmarks._config import BenchConfig
from benchmarks._results import SectionResult

__all__ = ["machine_info", "print_section", "print_summary", "write_reports"]

MARK = {"met": "MET", "missed": "MISSED", "not measured": "NOT MEASURED"}


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for package in ("numpy", "numba", "scipy", "grpcio", "protobuf", "sqlalchemy", "psycopg"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    from google.protobuf.internal import api_implementation

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "protobuf_backend": api_implementation.Type(),
        "packages": versions,
    }


def print_section(result: SectionResult, stream: TextIO = sys.stdout) -> None:
    stream.write(f"\n== {result.title} ({result.seconds:.1f}s)\n   reference: {result.reference}\n")
    if result.error:
        stream.write(f"   ERROR: {result.error}\n")
    width = max((len(label) for label, _ in result.rows), default=10)
    for label, value in result.rows:
        stream.write(f"   {label:<{width}}  {value}\n")
    for target in result.targets:
        measured = target.measured.text() if target.measured else "—"
        extra = f" ({target.shortfall})" if target.shortfall else ""
        stream.write(
            f"   [{MARK[target.verdict]:^12}] {target.name}: {measured} "
            f"(target {target.op} {target.threshold:g} {target.unit}){extra}\n"
        )
    for note in result.notes:
        stream.write(f"   note: {note}\n")
    stream.flush()


def print_summary(results: Sequence[SectionResult], stream: TextIO = sys.stdout) -> None:
    targets = [(r.name, t) for r in results for t in r.targets]
    stream.write("\n== Targets\n")
    width = max((len(t.name) for _, t in targets), default=10)
    for section, target in targets:
        measured = target.measured.text() if target.measured else "—"
        stream.write(
            f"   [{MARK[target.verdict]:^12}] {section:<8} {target.name:<{width}}  {measured}  "
            f"(target {target.op} {target.threshold:g} {target.unit})\n"
        )
    stream.flush()


def _markdown(results: Sequence[SectionResult], info: dict[str, Any], config: BenchConfig) -> str:
    out = [
        "# Sortyard benchmark results",
        "",
        f"Command: `sortyard bench{' --quick' if config.quick else ''}`, "
        f"{info['started']} UTC, seed {config.seed}.",
        f"Machine: {info['machine']['cpu']}, {info['machine']['cores']} cores, "
        f"Python {info['machine']['python']}, "
        f"protobuf backend {info['machine']['protobuf_backend']}.",
        "Figures are medians of repeated runs with [min–max]; compared configurations are "
        "interleaved run by run on the same machine.",
        "",
        "## Targets",
        "",
        "| section | target | measured | threshold | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for t in r.targets:
            measured = t.measured.text() if t.measured else "—"
            verdict = MARK[t.verdict] + (f" ({t.shortfall})" if t.shortfall else "")
            out.append(
                f"| {r.name} | {t.name} | {measured} | "
                f"{t.op} {t.threshold:g} {t.unit} | {verdict} |"
            )
    for r in results:
        out += ["", f"## {r.title}", "", f"Reference: {r.reference}", ""]
        if r.error:
            out += [f"**Error:** {r.error}", ""]
        if r.rows:
            out += ["| measure | value |", "|---|---|"]
            out += [f"| {label} | {value} |" for label, value in r.rows]
        for note in r.notes:
            out += ["", f"- {note}"]
        for plot in r.plots:
            out += ["", f"![{Path(plot).stem}]({Path(plot).name})"]
    return "\n".join(out) + "\n"


def write_reports(
    results: Sequence[SectionResult], config: BenchConfig, started: dt.datetime
) -> dict[str, Path]:
    """Write ``bench-<stamp>.json``/``.md`` and ``latest.json``/``.md``; returns their paths."""
    config.out_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "started": started.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": config.quick,
        "seed": config.seed,
        "machine": machine_info(),
    }
    document = {**info, "sections": {r.name: r.to_json() for r in results}}
    stamp = started.strftime("%Y%m%dT%H%M%S") + ("-quick" if config.quick else "")
    paths = {
        "json": config.out_dir / f"bench-{stamp}.json",
        "markdown": config.out_dir / f"bench-{stamp}.md",
    }
    text = json.dumps(document, indent=2, default=str)
    markdown = _markdown(results, info, config)
    paths["json"].write_text(text, encoding="utf-8")
    paths["markdown"].write_text(markdown, encoding="utf-8")
    (config.out_dir / "latest.json").write_text(text, encoding="utf-8")
    (config.out_dir / "latest.md").write_text(markdown, encoding="utf-8")
    return paths
