"""How long each stage of a compile took, and what it read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StageTiming:
    stage: str
    seconds: float
    queries: int = 0
    rows: int = 0
