"""``server._convert`` converts Timestamps by hand on the routing path; these properties pin that it
agrees exactly with protobuf's own ``ToDatetime``/``FromDatetime`` over the whole valid range, and
fails the same way outside it."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf import timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from server._convert import datetime_from_proto, datetime_to_proto

MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799


@given(
    seconds=st.integers(MIN_SECONDS, MAX_SECONDS),
    nanos=st.integers(0, 999_999_999),
)
def test_timestamp_to_datetime_matches_the_library(seconds: int, nanos: int) -> None:
    """Every valid Timestamp becomes the same aware UTC datetime as ToDatetime(tzinfo=UTC)."""
    ts = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    ours = datetime_from_proto(ts)
    assert ours == ts.ToDatetime(tzinfo=dt.UTC)
    assert ours.utcoffset() == dt.timedelta(0)


@given(
    value=st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.just(dt.UTC),
    ),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
)
def test_datetime_to_timestamp_matches_the_library(value: dt.datetime, offset_minutes: int) -> None:
    """Any aware datetime, in any fixed offset, becomes the Timestamp FromDatetime would build, and
    a naive one is taken as UTC."""
    local = value.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(local)
    assert datetime_to_proto(local) == expected
    assert datetime_to_proto(value.replace(tzinfo=None)) == expected


def test_out_of_range_values_fail_like_the_library() -> None:
    """A Timestamp beyond year 9999 or with negative nanos raises ValueError, as ToDatetime does."""
    with pytest.raises(ValueError):
        datetime_from_proto(timestamp_pb2.Timestamp(seconds=MAX_SECONDS + 1))
    with pytest.raises(ValueError):
        datetime_from_proto(timestamp_pb2.Timestamp(seconds=0, nanos=-1))
