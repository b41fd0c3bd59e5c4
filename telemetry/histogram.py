"""Latency histograms with fixed buckets: what rollups keep instead of every latency.

Bucket i holds the latencies v with γ^(i-1) < v ≤ γ^i, where γ = (1 + α) / (1 - α) and
α = RELATIVE_ERROR (1 %); latencies of 0 (or less) have a bucket of their own. The buckets
are the same everywhere, so histograms add up by adding counts, in any order, on any store.

A percentile is the nearest rank's bucket (exactly the bucket holding the value the exact
nearest-rank definition of telemetry.usage picks), reported as the point of that bucket
within α of every value in it: 2γ^i / (γ + 1), clamped to the smallest and largest latency
of the group. So a percentile from a histogram is within 1 % of the exact one; it is exact
when it is the smallest or the largest value (e.g. p95 of up to 19 values, p50 of 1 or 2),
or when all the group's latencies are equal. (The scheme is DDSketch's: Masson, Rim and Lee,
2019.)
"""

import math
from collections.abc import Mapping

RELATIVE_ERROR = 0.01
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
ZERO = -(2**31)  # the bucket of latencies <= 0

Histogram = dict[int, int]  # bucket index -> how many latencies fell in it


def bucket(value: float) -> int:
    """The bucket a latency falls in."""
    if value <= 0:
        return ZERO
    return math.ceil(math.log(value) / _LOG_GAMMA)


def representative(index: int) -> float:
    """The value within RELATIVE_ERROR of every latency in bucket `index`."""
    if index == ZERO:
        return 0.0
    return 2 * GAMMA**index / (GAMMA + 1)


def merge(into: Histogram, other: Mapping[int, int]) -> Histogram:
    """Add `other`'s counts to `into` (in place); buckets left at 0 are dropped."""
    for index, count in other.items():
        total = into.get(index, 0) + count
        if total:
            into[index] = total
        else:
            into.pop(index, None)
    return into


def percentile(
    histogram: Mapping[int, int], fraction: float, low: float | None, high: float | None
) -> float | None:
    """The nearest-rank `fraction` percentile, within RELATIVE_ERROR (None: no latencies).

    `low` and `high` are the smallest and largest latency counted: the answer never lies
    outside them.
    """
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    if rank == total and high is not None:
        return high  # the largest value: known exactly
    if rank == 1 and low is not None:
        return low
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return _clamp(representative(index), low, high)
    return _clamp(representative(max(histogram)), low, high)  # unreachable with counts > 0


def _clamp(value: float, low: float | None, high: float | None) -> float:
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def to_text_keys(histogram: Mapping[int, int]) -> dict[str, int]:
    """The histogram as a JSON object or a MongoDB sub-document (keys must be text)."""
    return {str(index): count for index, count in histogram.items()}


def from_text_keys(document: Mapping[str, int] | None) -> Histogram:
    """to_text_keys' inverse; buckets with a count of 0 are dropped."""
    return {int(index): int(count) for index, count in (document or {}).items() if count}
