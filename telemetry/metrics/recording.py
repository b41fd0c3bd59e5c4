"""What requests and the telemetry writer add to the metrics: in memory or a shared file, never
a network call, so the request path pays a few microseconds (docs/benchmarks.md).

- `http_request`: once per request, where the telemetry middleware builds its event, from
  the values it measured (not from what a view or a client annotated, which could be
  anything: `POST /telemetry` takes a status code from its body).
- `WriterMetrics`: the writer thread publishes what /health shows (backlog, stored,
  quarantined, dropped, the chain's stores) after each round, not per request.
"""

from collections.abc import Mapping, Sequence

from telemetry.metrics import instruments as m
from telemetry.metrics.labels import http_method, http_route, http_status


def http_request(request, measured: Mapping) -> None:
    """One answered request: its URL pattern, method, status and latency."""
    labels = (
        http_route(request),
        http_method(measured["method"]),
        http_status(measured["status_code"]),
    )
    m.series(m.HTTP_SERVER_DURATION, *labels).observe(measured["latency_ms"] / 1000)


class WriterMetrics:
    """One telemetry writer's figures as metrics: its gauges set, its counters advanced by
    what its totals grew since the last call (the writer keeps totals; counters only go up).

    The writer calls `publish` after each round of shipping, holding its shipping lock, so
    two calls never race. A shipper process of its own would publish the same way.
    """

    COUNTERS = {
        "stored": m.TELEMETRY_STORED,
        "recovered": m.TELEMETRY_RECOVERED,
        "quarantined": m.TELEMETRY_QUARANTINED,
        "corrupt": m.TELEMETRY_CORRUPT,
        "dropped": m.TELEMETRY_DROPPED,
    }
    STATES = ("untried", "up", "down")

    GAUGES = (m.TELEMETRY_STATUS, m.TELEMETRY_STORE_STATE, m.TELEMETRY_STORE_ACTIVE)

    def __init__(self):
        self._published = dict.fromkeys(self.COUNTERS, 0)
        self._status: str | None = None
        # A writer that replaced another in this process (settings changed) starts afresh.
        for gauge in self.GAUGES:
            m.zero(gauge)

    def publish(
        self, *, totals: Mapping[str, int], backlog: int, status: str, stores: Sequence[dict]
    ) -> None:
        """totals: this writer's counts so far (keys of COUNTERS); stores: the chain's
        `describe()`."""
        self.publish_totals(totals)
        m.TELEMETRY_BACKLOG.set(backlog)
        self._publish_status(status)
        for store in stores:
            alias = store["alias"]
            for state in self.STATES:
                m.series(m.TELEMETRY_STORE_STATE, alias, state).set(store["state"] == state)
            m.series(m.TELEMETRY_STORE_ACTIVE, alias).set(store["active"])

    def publish_totals(self, totals: Mapping[str, int]) -> None:
        """The counters alone: a gunicorn worker's writer, whose spool the shipper process
        ships, counts only what it dropped or shipped itself (held in memory)."""
        for name, counter in self.COUNTERS.items():
            grown = totals[name] - self._published[name]
            if grown > 0:
                counter.inc(grown)
                self._published[name] = totals[name]

    def _publish_status(self, status: str) -> None:
        if status == self._status:
            return
        if self._status is not None:
            m.series(m.TELEMETRY_STATUS, self._status).set(0)
        m.series(m.TELEMETRY_STATUS, status).set(1)
        self._status = status
