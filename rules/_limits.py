"""Hard limits on what a rules file may contain, so a hostile or runaway file is rejected quickly.

Every limit is checked before the work it protects: size before lexing, nesting before parsing,
pattern complexity and evaluation steps before compiling.
"""

from __future__ import annotations

__all__ = [
    "MAX_EVALUATION_STEPS",
    "MAX_GLOB_LENGTH",
    "MAX_GLOB_WILDCARDS",
    "MAX_LIST_ITEMS",
    "MAX_NESTING_DEPTH",
    "MAX_SOURCE_BYTES",
    "MAX_STATEMENTS",
    "MAX_STRING_LENGTH",
]

MAX_SOURCE_BYTES = 256 * 1024
MAX_STATEMENTS = 1_000
MAX_NESTING_DEPTH = 32  # parentheses, not, any line / all lines
MAX_STRING_LENGTH = 500
MAX_GLOB_LENGTH = 100
MAX_GLOB_WILDCARDS = 8
MAX_LIST_ITEMS = 5_000
# Each condition node is one vectorised numpy operation per batch; this bounds the work per batch.
MAX_EVALUATION_STEPS = 20_000
