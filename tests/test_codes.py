"""Prep codes: unique, contiguous per group, never at or below an existing one."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedcompile.codes import assign_codes, format_code
from seedcompile.errors import ReferenceDataError
from seedcompile.plan import PlannedPrep

DAY = dt.date(2026, 12, 10)


def prep(location: str, carrier: str, day: dt.date = DAY) -> PlannedPrep:
    return PlannedPrep(0, 0, location, carrier, day, [])


def test_format_code() -> None:
    assert format_code(("LON1", "DHL", DAY), 7) == "LON1-DHL-20261210-0007"


def test_codes_number_on_per_group_in_prep_order() -> None:
    preps = [prep("LON1", "DHL"), prep("LON1", "UPS"), prep("LON1", "DHL")]
    highest = {("LON1", "DHL", DAY): 3}
    anyio.run(lambda: assign_codes(preps, highest, limit=1))
    assert [p.code for p in preps] == [
        "LON1-DHL-20261210-0004",
        "LON1-UPS-20261210-0001",
        "LON1-DHL-20261210-0005",
    ]


def test_a_group_that_would_pass_9999_is_refused() -> None:
    preps = [prep("LON1", "DHL"), prep("LON1", "DHL")]
    with pytest.raises(ReferenceDataError) as caught:
        anyio.run(lambda: assign_codes(preps, {("LON1", "DHL", DAY): 9998}, limit=2))
    [problem] = caught.value.diagnostics
    assert problem.code == "codes.overflow"
    assert problem.message == (
        "2 new preps for LON1-DHL-20261210 would number past 9999 "
        "(codes up to 9998 exist)"
    )


layouts = st.lists(
    st.tuples(
        st.sampled_from(["LON1", "MAN1", "FRA1"]),
        st.sampled_from(["DHL", "UPS"]),
        st.integers(min_value=0, max_value=3),
    ),
    max_size=60,
)
existing = st.dictionaries(
    st.tuples(
        st.sampled_from(["LON1", "MAN1", "FRA1"]),
        st.sampled_from(["DHL", "UPS"]),
        st.integers(min_value=0, max_value=3),
    ),
    st.integers(min_value=0, max_value=500),
)


@settings(max_examples=200, deadline=None)
@given(layout=layouts, taken=existing, limit=st.integers(min_value=1, max_value=4))
def test_codes_are_unique_and_contiguous(
    layout: list[tuple[str, str, int]],
    taken: dict[tuple[str, str, int], int],
    limit: int,
) -> None:
    preps = [prep(loc, car, DAY + dt.timedelta(days=d)) for loc, car, d in layout]
    highest = {
        (loc, car, DAY + dt.timedelta(days=d)): n for (loc, car, d), n in taken.items()
    }
    anyio.run(lambda: assign_codes(preps, highest, limit=limit))

    codes = [p.code for p in preps]
    assert len(set(codes)) == len(codes)
    numbers: dict[tuple[str, str, dt.date], list[int]] = defaultdict(list)
    for p in preps:
        numbers[(p.location, p.carrier, p.date)].append(int(p.code[-4:]))
    for key, got in numbers.items():
        start = highest.get(key, 0)
        assert got == list(range(start + 1, start + 1 + len(got)))
