"""The compiler's shortcuts give what the plain numpy / regex forms give: text columns built with a
precomputed width, and glob answers read from the per-pattern cache in one pass."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

from rules._compile import Frame, _Glob, _text_column, glob_regex


@pytest.mark.parametrize(
    "values",
    [
        ["amazon", "shopify", "storefront"],
        ["", "", ""],
        [],
        ["CA", "", "NY"],
        ["10001", "a\x00", "\x00b", "b\x00\x00"],  # numpy drops trailing NULs, keeps leading ones
        ["ü", "日本", "\U0001f600x"],  # lengths in code points, as numpy counts them
        ["a", None, 5],  # not all text: numpy's own conversion
    ],
)
def test_text_column_is_numpys_own_conversion(values: list[Any]) -> None:
    """For text of any lengths (none, empty, NUL-padded, beyond the BMP) and for values that are
    not text, the column has numpy's dtype and values for ``np.array(values, dtype=np.str_)``."""
    expected = np.array(values, dtype=np.str_)
    got = _text_column(values)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


class _Skus:
    """Stands in for a Frame: only :meth:`Frame.skus` is read by ``_Glob.over_skus``."""

    def __init__(self, line_skus: list[str]) -> None:
        self.unique = list(dict.fromkeys(line_skus))
        self.codes = np.array([self.unique.index(s) for s in line_skus], dtype=np.int64)

    def skus(self) -> tuple[list[str], np.ndarray[Any, np.dtype[np.int64]]]:
        return self.unique, self.codes


def test_glob_over_skus_matches_the_regex_whether_answers_are_cached_or_not() -> None:
    """Per line, ``over_skus`` is the pattern's full match of the line's SKU: on a cold cache, on
    a warm one, and on a mix of cached SKUs and new ones."""
    glob = _Glob("SKU-00?1*")
    regex = glob_regex("SKU-00?1*")
    first = ["SKU-0011", "SKU-0021x", "SKU-0101", "SKU-0011", "TEE-0011"]
    later = ["SKU-0011", "SKU-0091", "SKU-00911", "SKU-0101", "SKU-0091"]
    for lines in (first, first, later):
        got = glob.over_skus(cast(Frame, _Skus(lines)))
        expected = [regex.fullmatch(s) is not None for s in lines]
        assert got.tolist() == expected
