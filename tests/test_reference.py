"""The prefetch: batched lookups of any size, on both backends."""

from __future__ import annotations

import anyio
import pytest

from seedcompile.database import DatabaseSettings, create_engine, read_snapshot
from seedcompile.reference import ReferenceData, ReferenceRequest, prefetch
from tests.support import build_demo

KEYS = 50_000


@pytest.fixture(params=["sqlite", "postgresql"])
def large_demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('large') / 'demo.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    return build_demo(url, scale=250)  # 60,000 customers


def fetch(url: str, request: ReferenceRequest) -> ReferenceData:
    async def run() -> ReferenceData:
        engine = create_engine(DatabaseSettings(url=url))
        try:
            async with read_snapshot(engine) as conn:
                return await prefetch(conn, request)
        finally:
            await engine.dispose()

    return anyio.run(run)


def test_a_lookup_of_fifty_thousand_keys_is_one_query(large_demo: str) -> None:
    # More keys than asyncpg's 32,767 bound parameters, plus some unknown ones.
    codes = {f"C-{i:06d}" for i in range(1, KEYS + 1)} | {"C-X'; DROP TABLE x;--"}
    reference = fetch(large_demo, ReferenceRequest(customer_codes=codes))

    assert len(reference.customers) == KEYS
    assert reference.customers["C-049999"].region == "US-EAST"
    assert reference.customers["C-049998"].home_location == "WAW1"
    assert reference.customers["C-049997"].home_location is None
    assert reference.queries == 8


def test_region_selection_fetches_only_active_customers_of_the_region(
    large_demo: str,
) -> None:
    reference = fetch(large_demo, ReferenceRequest(customer_regions={"APAC"}))

    assert all(c.region == "APAC" and c.active for c in reference.customers.values())
    # 15,000 APAC customers, less those whose number is a multiple of 17.
    assert len(reference.customers) == 15_000 - len(
        [i for i in range(4, 60_001, 4) if i % 17 == 0]
    )
