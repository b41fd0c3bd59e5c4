"""Every metric the gateway records, defined once: name, type, labels, buckets.

Names follow OpenTelemetry's semantic conventions where one exists, spelled as its Prometheus
exporter spells them (dots become underscores, the unit is appended, so
`gen_ai.client.operation.duration` is `gen_ai_client_operation_duration_seconds`); the
gateway's own metrics start with `dgen_ping_`. Every label value is bounded: routes and
methods (telemetry.metrics.labels), models, providers and routes of the routing table
(llmproxy.metrics), store aliases of the telemetry chain. docs/metrics.md lists them all,
with the budget gauges read at scrape time (telemetry.metrics.collectors).

prometheus_client decides when first imported whether values live in this process's memory
or in files that every gunicorn worker writes and any worker reads when scraped
(PROMETHEUS_MULTIPROC_DIR, set by gunicorn.conf.py: telemetry.metrics.multiprocess). Gauges
say how the processes' values add up: "livesum", the sum over the processes alive now.
"""

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)

# `_created` series double the output and say nothing a counter reset does not.
disable_created_metrics()

# This process's metrics (not prometheus_client's global registry, which adds the process
# and garbage collector metrics of whichever worker answers the scrape).
REGISTRY = CollectorRegistry(auto_describe=True)
# Values in files shared by the processes of a gunicorn deployment, not in memory.
MULTIPROCESS = values.ValueClass is not values.MutexValue

OTHER = "other"  # a label value that is not one of the known ones

# OpenTelemetry's advised bucket boundaries for the GenAI histograms.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
TOKEN_BUCKETS += (16777216, 67108864)
GEN_AI_SECONDS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48)
GEN_AI_SECONDS += (40.96, 81.92)
# OpenTelemetry's advice for HTTP servers, then an LLM call's long tail (LLM_TIMEOUT: 120 s).
HTTP_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
HTTP_SECONDS += (30, 60, 120)

GEN_AI = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"]

# --- HTTP --------------------------------------------------------------------------------

HTTP_SERVER_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Requests the gateway answered (those its telemetry records), by URL pattern, method and "
    "status: time from the first middleware to the response (for a stream: to its end).",
    ["http_route", "http_request_method", "http_response_status_code"],
    buckets=HTTP_SECONDS,
    registry=REGISTRY,
)

# --- LLM calls (llmproxy.metrics) ----------------------------------------------------------

GEN_AI_TOKEN_USAGE = Histogram(
    "gen_ai_client_token_usage",
    "Tokens per LLM call, input (prompt) or output (completion): the upstream's usage, or the "
    "gateway's estimate when it gave none.",
    [*GEN_AI, "gen_ai_token_type"],
    buckets=TOKEN_BUCKETS,
    registry=REGISTRY,
)
GEN_AI_DURATION = Histogram(
    "gen_ai_client_operation_duration_seconds",
    "LLM calls, from the request to the upstream's whole answer (retries and fallbacks "
    "included); error_type is set when the call failed.",
    [*GEN_AI, "error_type"],
    buckets=GEN_AI_SECONDS,
    registry=REGISTRY,
)
GEN_AI_TIME_TO_FIRST_CHUNK = Histogram(
    "gen_ai_client_operation_time_to_first_chunk_seconds",
    "Streamed LLM calls: time from the request to the upstream's first chunk.",
    GEN_AI,
    buckets=GEN_AI_SECONDS,
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "dgen_ping_upstream_errors",
    "Upstream attempts that failed, by route of the routing table and error type.",
    ["gen_ai_provider_name", "llm_route", "error_type"],
    registry=REGISTRY,
)
UPSTREAM_RETRIES = Counter(
    "dgen_ping_upstream_retries",
    "Attempts made again on the same route after a retryable failure.",
    ["gen_ai_provider_name", "llm_route"],
    registry=REGISTRY,
)
UPSTREAM_FALLBACKS = Counter(
    "dgen_ping_upstream_fallbacks",
    "Calls that left a route that failed for its next fallback route.",
    ["gen_ai_provider_name", "llm_route", "fallback_route"],
    registry=REGISTRY,
)
# Recorded only with METRICS_SOEID_LABEL=true: one series per person and token type.
SOEID_TOKENS = Counter(
    "dgen_ping_soeid_tokens",
    "Tokens of LLM calls per SOEID they are charged to (opt-in: one series per SOEID).",
    ["soeid", "gen_ai_token_type"],
    registry=REGISTRY,
)

# --- Telemetry pipeline (telemetry.metrics.recording.WriterMetrics) -------------------------

TELEMETRY_BACKLOG = Gauge(
    "dgen_ping_telemetry_backlog_events",
    "Events handed to the telemetry writers and not stored yet (in their spools or memory).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
TELEMETRY_STORED = Counter(
    "dgen_ping_telemetry_events_stored",
    "Telemetry events stored in a store of the chain.",
    registry=REGISTRY,
)
TELEMETRY_RECOVERED = Counter(
    "dgen_ping_telemetry_events_recovered",
    "Of the stored events, those shipped from the spool of a process that died.",
    registry=REGISTRY,
)
TELEMETRY_QUARANTINED = Counter(
    "dgen_ping_telemetry_events_quarantined",
    "Telemetry events a store refused for what they hold, set aside in the quarantine.",
    registry=REGISTRY,
)
TELEMETRY_CORRUPT = Counter(
    "dgen_ping_telemetry_spool_lines_corrupt",
    "Spool lines that were not events (torn or edited), set aside in the quarantine.",
    registry=REGISTRY,
)
TELEMETRY_DROPPED = Counter(
    "dgen_ping_telemetry_events_dropped",
    "Telemetry events lost: the spool could not be written and the memory bound was reached.",
    registry=REGISTRY,
)
TELEMETRY_STORE_STATE = Gauge(
    "dgen_ping_telemetry_store_state",
    "Processes that see each store of the chain in each state (untried, up, down).",
    ["store", "state"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
TELEMETRY_STORE_ACTIVE = Gauge(
    "dgen_ping_telemetry_store_active",
    "Processes whose telemetry goes to each store of the chain now.",
    ["store"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
TELEMETRY_STATUS = Gauge(
    "dgen_ping_telemetry_status",
    "Processes whose telemetry is in each status of /health (connected, backup, "
    "csv_fallback, unavailable, starting).",
    ["status"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)

_series: dict = {}


def series(metric, *labels: str):
    """`metric.labels(*labels)`, kept: labels() takes a lock and checks its arguments each
    time, and label values are bounded, so this dictionary is too."""
    key = (metric, labels)
    child = _series.get(key)
    if child is None:
        child = _series[key] = metric.labels(*labels)
    return child


def zero(gauge) -> None:
    """Set every series of `gauge` this process has written to 0."""
    for (metric, _labels), child in list(_series.items()):
        if metric is gauge:
            child.set(0)
