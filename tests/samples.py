"""Reading metrics in tests: sums of samples, from a scrape's text or from this process."""

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from telemetry.metrics.instruments import REGISTRY


def parse(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def local() -> list[Sample]:
    """This process's samples, as a scrape of it would give them."""
    return [sample for family in REGISTRY.collect() for sample in family.samples]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(
        sample.value
        for sample in samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def label_sets(samples: list[Sample], name: str) -> set[frozenset]:
    """The distinct label sets of the samples called `name` (its series)."""
    return {frozenset(sample.labels.items()) for sample in samples if sample.name == name}
