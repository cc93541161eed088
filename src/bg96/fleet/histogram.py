"""A latency histogram with logarithmic buckets (about 5% wide), mergeable and small.

Buckets are kept only where something fell, so a step that always takes 2 ms costs a few
entries, whatever the count; percentiles come back within a bucket's width.
"""

from __future__ import annotations

import math
from typing import Any

GROWTH = 1.05
_LOG = math.log(GROWTH)
FLOOR = 1e-6  # s: anything faster counts as 1 us


class Histogram:
    """Counts of durations (seconds) by bucket, with count, sum, min and max exact."""

    __slots__ = ("buckets", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = 0.0

    def add(self, seconds: float) -> None:
        index = math.ceil(math.log(max(seconds, FLOOR) / FLOOR) / _LOG)
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.total += seconds
        self.minimum = min(self.minimum, seconds)
        self.maximum = max(self.maximum, seconds)

    def merge(self, other: Histogram) -> None:
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, p: float) -> float:
        """The duration ``p`` percent of the samples did not exceed (a bucket's upper edge,
        clamped to the exact min and max)."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(self.count * p / 100))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                edge = FLOOR * GROWTH**index
                return min(max(edge, self.minimum), self.maximum)
        return self.maximum

    def to_json(self) -> dict[str, Any]:
        """Counts by bucket upper edge in ms, plus the exact figures."""
        return {
            "count": self.count,
            "mean_ms": round(self.mean * 1000, 3),
            "min_ms": round(self.minimum * 1000, 3) if self.count else None,
            "max_ms": round(self.maximum * 1000, 3),
            "p50_ms": round(self.percentile(50) * 1000, 3),
            "p90_ms": round(self.percentile(90) * 1000, 3),
            "p99_ms": round(self.percentile(99) * 1000, 3),
            "buckets_ms": {
                f"{FLOOR * GROWTH**i * 1000:.4g}": n for i, n in sorted(self.buckets.items())
            },
        }
