"""Nearest valid codes for unknown SKUs and customers, looked up on failure.

The prefetch reads only the rows a spec names, so when a name is wrong the
right one is not among them. Only then, and in the same snapshot, one query
per kind fetches the candidates, and the closest one becomes the hint.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from seedcompile import refschema as t
from seedcompile.errors import Diagnostic, SeedcompileError

_KINDS = {
    "reference.unknown-sku": (t.variant.c.sku, t.variant.c.active),
    "reference.unknown-customer": (t.customer.c.code, t.customer.c.active),
}


async def add_suggestions(
    conn: AsyncConnection, errors: Sequence[SeedcompileError]
) -> None:
    """Give unknown SKUs and customers in `errors` a `closest:` hint."""
    for code, (column, active) in _KINDS.items():
        wanted = {
            d.subject
            for error in errors
            for d in error.diagnostics
            if d.code == code and d.subject and d.hint is None
        }
        if not wanted:
            continue
        lengths = [len(word) for word in wanted]
        # Close names are about as long: that keeps the candidates few even
        # among hundreds of thousands of customers.
        query = sa.select(column).where(
            active,
            sa.func.length(column).between(min(lengths) - 2, max(lengths) + 2),
        )
        candidates = [row[0] for row in await conn.execute(query)]
        closest = {
            word: near for word in wanted if (near := _closest(word, candidates))
        }
        for error in errors:
            error.diagnostics = [
                _with_hint(d, code, closest) for d in error.diagnostics
            ]


def _closest(word: str, candidates: list[str]) -> str | None:
    """The most similar candidate; among equals, the first in code order."""
    near = difflib.get_close_matches(word, candidates, n=20, cutoff=0.6)
    if not near:
        return None
    score = {c: difflib.SequenceMatcher(None, word, c).ratio() for c in near}
    best = max(score.values())
    return min(c for c in near if score[c] == best)


def _with_hint(d: Diagnostic, code: str, closest: dict[str, str]) -> Diagnostic:
    if d.code != code or d.subject not in closest:
        return d
    return dataclasses.replace(d, hint=f"closest: `{closest[d.subject]}`")
