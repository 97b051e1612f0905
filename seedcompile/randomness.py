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
    """Draws for one rule of a spec, each fixed by the place it is drawn for."""

    __slots__ = ("_prefix",)

    def __init__(self, seed: int, *rule: str) -> None:
        self._prefix = "\x1f".join([str(seed), *rule]).encode() + b"\x1e"

    def draw(self, n: int, *where: int) -> int:
        """A number in `range(n)` for the place `where` inside the rule."""
        if n <= 1:
            return 0
        return self.stream(*where).draw(n)

    def between(self, low: int, high: int, *where: int) -> int:
        """A number from `low` to `high` inclusive."""
        return low + self.draw(high - low + 1, *where)

    def stream(self, *where: int) -> Draws:
        """A sequence of draws for one place (one order, say)."""
        return Draws(self._prefix + ",".join(map(str, where)).encode())


class Draws:
    """Consecutive draws for one place: one hash gives eight of them."""

    __slots__ = ("_block", "_key", "_values")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._block = 0
        self._values: list[int] = []

    def draw(self, n: int) -> int:
        """The next number in `range(n)`."""
        if not self._values:
            digest = blake2b(
                self._key + b"#" + str(self._block).encode(), digest_size=64
            ).digest()
            self._block += 1
            self._values = [
                int.from_bytes(digest[i : i + 8], "big") for i in range(56, -8, -8)
            ]
        # 64 bits modulo n: a bias below n / 2**64, far under anything a
        # fixture could show.
        return self._values.pop() % n

    def between(self, low: int, high: int) -> int:
        """The next number from `low` to `high` inclusive."""
        return low + self.draw(high - low + 1)
