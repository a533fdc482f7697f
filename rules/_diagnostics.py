"""Diagnostics (errors and warnings about a rules file) and how a rule author sees them.

Exception tree::

    ValueError
     └── RulesError            the file does not compile; ``.diagnostics`` lists every error
          └── RulesLimitError  the file breaks a size or complexity limit (hostile or runaway input)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from rules._ast import Span

__all__ = ["Diagnostic", "RulesError", "RulesLimitError", "Severity", "render"]


class Severity(enum.IntEnum):
    """Numbers match ``sortyard.v1.Severity``."""

    ERROR = 1
    WARNING = 2


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    code: str  # stable kebab-case code, e.g. "unknown-warehouse"
    message: str
    span: Span
    hint: str = ""

    def render(self, source: str, file_name: str) -> str:
        """``file:line:col: error: message``, the source line, a caret, the hint."""
        return render(self, source, file_name)


def render(diag: Diagnostic, source: str, file_name: str) -> str:
    label = "error" if diag.severity is Severity.ERROR else "warning"
    span = diag.span
    head = f"{file_name}:{span.line}:{span.column}: {label}: {diag.message}"
    lines = source.splitlines()
    if not 1 <= span.line <= len(lines):
        return head + (f"\n  hint: {diag.hint}" if diag.hint else "")
    text = lines[span.line - 1].expandtabs(1)
    if len(text) > 200:  # a minified or hostile line: show a window around the problem
        start = max(0, span.column - 80)
        text, column = text[start : start + 160], span.column - start
    else:
        column = span.column
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    else:
        width = 1
    width = max(1, min(width, len(text) - column + 2))
    gutter = str(span.line)
    pad = " " * len(gutter)
    out = [
        head,
        f" {gutter} | {text}",
        f" {pad} | {' ' * (column - 1)}{'^' * width}",
    ]
    if diag.hint:
        out.append(f"  hint: {diag.hint}")
    return "\n".join(out)


class RulesError(ValueError):
    """A rules file that does not compile. ``diagnostics`` holds every error (and the warnings)."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: str, file_name: str) -> None:
        self.diagnostics = tuple(diagnostics)
        self.source = source
        self.file_name = file_name
        errors = [d for d in self.diagnostics if d.severity is Severity.ERROR]
        super().__init__("\n".join(render(d, source, file_name) for d in errors))

    def rendered(self) -> str:
        return "\n".join(render(d, self.source, self.file_name) for d in self.diagnostics)


class RulesLimitError(RulesError):
    """The file is larger or more complex than the language allows."""
