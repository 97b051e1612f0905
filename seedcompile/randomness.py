"""Seeded choices that depend on the spec's seed and the rule that draws them.

Each draw hashes the seed together with a path that names the rule (the
group's name, what is drawn, the order's index), so a draw never depends on
how many draws came before it: adding, removing or reordering one group leaves
every other group's draws as they were. The stream is BLAKE2b, fixed by this
module, not by the version of `random` or of any library.
"""

from __future__ import annotations

from hashlib import blake2b


class RuleRandom:
    """Draws for one rule of a spec: `draw(index, n)` is in `range(n)`."""

    __slots__ = ("_prefix",)

    def __init__(self, seed: int, *rule: str) -> None:
        self._prefix = "\x1f".join([str(seed), *rule]).encode() + b"\x1e"

    def draw(self, n: int, *where: int) -> int:
        """A number in `range(n)` for the place `where` inside the rule."""
        if n <= 1:
            return 0
        key = self._prefix + ",".join(map(str, where)).encode()
        value = int.from_bytes(blake2b(key, digest_size=8).digest(), "big")
        # 64 bits modulo n: a bias below n / 2**64, far under anything a
        # fixture could show.
        return value % n

    def between(self, low: int, high: int, *where: int) -> int:
        """A number from `low` to `high` inclusive."""
        return low + self.draw(high - low + 1, *where)
