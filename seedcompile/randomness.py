"""Seeded choices that depend on the spec's seed and the rule that draws them.

Each draw hashes the seed together with a path that names the rule (the
group's name, the order's index), so a draw never depends on how many draws
came before it: adding, removing or reordering one group leaves every other
group's draws as they were. The stream is BLAKE2b, fixed by this module, not
by the version of `random` or of any library: one 64-byte digest gives eight
64-bit values, taken in order.
"""

from __future__ import annotations

import struct
from hashlib import blake2b

_EIGHT = struct.Struct(">8Q").unpack


class RuleRandom:
    """Draws for one rule of a spec, each fixed by the place it is drawn for."""

    __slots__ = ("_hashed", "_prefix")

    def __init__(self, seed: int, *rule: str) -> None:
        self._prefix = "\x1f".join([str(seed), *rule]).encode() + b"\x1e"
        # The hash with the prefix fed in: each place copies it and adds its
        # own few bytes (the same digest as hashing prefix and place at once).
        self._hashed = blake2b(self._prefix, digest_size=64)

    def block(self, index: int, block: int = 0) -> tuple[int, ...]:
        """Eight 64-bit values for one place (one order), block by block."""
        hashed = self._hashed.copy()
        hashed.update(b"%d#%d" % (index, block))
        return _EIGHT(hashed.digest())

    def firsts(self, count: int, n: int) -> list[int]:
        """The first value of places 0 to `count - 1`, each in `range(n)`."""
        block = self.block
        return [block(index)[0] % n for index in range(count)]

    def values(self, index: int, count: int) -> list[int]:
        """The first `count` values for one place."""
        values = list(self.block(index))
        block = 1
        while len(values) < count:
            values += self.block(index, block)
            block += 1
        return values

    def stream(self, *where: int) -> Draws:
        """A sequence of draws for a place named by several numbers."""
        key = self._prefix + ",".join(map(str, where)).encode()
        return Draws(key)


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
            digest = blake2b(self._key + b"#%d" % self._block, digest_size=64)
            self._block += 1
            self._values = list(reversed(_EIGHT(digest.digest())))
        # 64 bits modulo n: a bias below n / 2**64, far under anything a
        # fixture could show.
        return self._values.pop() % n

    def between(self, low: int, high: int) -> int:
        """The next number from `low` to `high` inclusive."""
        return low + self.draw(high - low + 1)
