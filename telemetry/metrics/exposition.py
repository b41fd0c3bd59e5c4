"""The scrape: every metric, in the format Prometheus asked for.

Under gunicorn (multiprocess mode) the answering worker reads every process's files, so any
worker gives the whole gateway's figures, the dead workers' counts included; elsewhere
(runserver, tests) this process's registry is the whole story. Budgets are read now.
"""

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from telemetry.metrics import instruments
from telemetry.metrics.collectors import BudgetCollector


def scrape(accept: str) -> tuple[bytes, str]:
    """The metrics as bytes, and their content type: OpenMetrics when `accept` asks for it
    (Prometheus does), else Prometheus' text format 0.0.4."""
    encode, content_type = choose_encoder(accept)
    return encode(_registry()), content_type


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if instruments.MULTIPROCESS:
        MultiProcessCollector(registry)
    else:
        registry.register(instruments.REGISTRY)
    registry.register(BudgetCollector())
    return registry
