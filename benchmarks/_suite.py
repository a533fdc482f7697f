"""Runs the measurements in order, prints each as it finishes, and writes the reports."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from benchmarks._config import BenchConfig
from benchmarks._report import print_section, print_summary, write_reports
from benchmarks._results import SectionResult

__all__ = ["SECTIONS", "RunOutcome", "run_suite"]

# name -> (module, title): each measurement is its own module with `run(config) -> SectionResult`.
SECTIONS: dict[str, tuple[str, str]] = {
    "speed": ("benchmarks._speed", "1. Engine speed vs a naive router"),
    "grpc": ("benchmarks._grpc_path", "2. The gRPC path vs its ceiling"),
    "store": ("benchmarks._store_cost", "3. Store cost"),
    "quality": ("benchmarks._quality", "4. Decision quality vs the optimum"),
    "scaling": ("benchmarks._scaling", "5. Scaling"),
    "memory": ("benchmarks._memory", "6. Memory"),
    "optimiser": ("benchmarks._optimiser", "7. Batch optimiser at scale"),
}


class RunOutcome:
    def __init__(self, results: list[SectionResult], paths: dict[str, Path]) -> None:
        self.results = results
        self.paths = paths


def _run_section(name: str, config: BenchConfig) -> SectionResult:
    module_name, title = SECTIONS[name]
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        run: Callable[[BenchConfig], SectionResult] = module.run
        result = run(config)
    except Exception as error:
        result = SectionResult(name, title, "", error=f"{type(error).__name__}: {error}")
        result.data["traceback"] = traceback.format_exc()
    result.seconds = time.perf_counter() - started
    return result


def run_suite(config: BenchConfig, stream: TextIO = sys.stdout) -> RunOutcome:
    """Run the selected sections (all by default); a failing one is reported, not fatal."""
    unknown = [n for n in config.only if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; choose from {sorted(SECTIONS)}")
    names = [n for n in SECTIONS if not config.only or n in config.only]
    started = dt.datetime.now(dt.UTC)
    stream.write(
        f"Sortyard benchmarks ({'quick' if config.quick else 'full'}), "
        f"sections: {', '.join(names)}\n"
    )
    results = []
    for name in names:
        result = _run_section(name, config)
        print_section(result, stream)
        results.append(result)
    print_summary(results, stream)
    paths = write_reports(results, config, started)
    stream.write(f"\nwrote {paths['json']} and {paths['markdown']}\n")
    return RunOutcome(results, paths)
