"""Latency histograms: percentiles within the stated error of the exact nearest rank."""

import random

import pytest

from telemetry import histogram
from telemetry.histogram import RELATIVE_ERROR
from telemetry.usage import nearest_rank


def summarised(values: list[float]) -> tuple[dict, float, float]:
    counts: dict[int, int] = {}
    for value in values:
        histogram.merge(counts, {histogram.bucket(value): 1})
    return counts, min(values), max(values)


@pytest.mark.parametrize("fraction", [0.01, 0.25, 0.5, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("spread", ["lognormal", "uniform", "two clusters"])
def test_a_percentile_is_within_the_stated_error_of_the_exact_one(fraction, spread):
    rnd = random.Random(f"{spread}-{fraction}")
    draw = {
        "lognormal": lambda: rnd.lognormvariate(5, 1.5),
        "uniform": lambda: rnd.uniform(0.001, 120_000),
        "two clusters": lambda: rnd.choice([rnd.gauss(20, 1), rnd.gauss(3000, 50)]),
    }[spread]
    for size in (1, 2, 3, 10, 101, 5000):
        values = [abs(draw()) for _ in range(size)]
        exact = nearest_rank(sorted(values), fraction)
        estimate = histogram.percentile(*_arguments(values, fraction))
        assert abs(estimate - exact) <= RELATIVE_ERROR * exact, (size, exact, estimate)


def _arguments(values, fraction):
    counts, low, high = summarised(values)
    return counts, fraction, low, high


def test_equal_values_and_the_extremes_are_exact():
    assert histogram.percentile(*_arguments([123.456] * 7, 0.5)) == 123.456
    values = [50.0, 400.0]
    assert histogram.percentile(*_arguments(values, 0.5)) == 50.0  # rank 1: the smallest
    assert histogram.percentile(*_arguments(values, 0.95)) == 400.0  # rank 2 of 2: the largest


def test_zero_and_tiny_latencies_have_buckets():
    assert histogram.percentile(*_arguments([0.0, 0.0, 0.0], 0.5)) == 0.0
    estimate = histogram.percentile(*_arguments([0.0, 1e-9, 1e-9, 5.0], 0.5))
    assert estimate == pytest.approx(1e-9, rel=RELATIVE_ERROR)


def test_histograms_add_up_in_any_order():
    rnd = random.Random(7)
    parts = [summarised([rnd.expovariate(0.01) for _ in range(50)])[0] for _ in range(5)]
    forward, backward = {}, {}
    for part in parts:
        histogram.merge(forward, part)
    for part in reversed(parts):
        histogram.merge(backward, part)
    assert forward == backward
    for part in parts:  # taking every part away again leaves nothing, not zero counts
        histogram.merge(forward, {index: -count for index, count in part.items()})
    assert forward == {}


def test_no_latency_no_percentile():
    assert histogram.percentile({}, 0.5, None, None) is None


def test_histograms_travel_as_text_keys():
    counts = {histogram.bucket(v): 1 for v in (0.0, 0.5, 12.0, 9e6)}
    assert histogram.from_text_keys(histogram.to_text_keys(counts)) == counts
