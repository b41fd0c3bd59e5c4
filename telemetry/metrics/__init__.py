"""Prometheus metrics for operators: what `/metrics` serves (docs/metrics.md).

- `instruments`: every metric, its type, labels and buckets, defined once;
- `labels`: the bounded label values (HTTP route, method, status);
- `recording`: what requests and the telemetry writer record (no I/O);
- `collectors`: figures read when Prometheus scrapes (budgets);
- `exposition`: the scrape itself, from this process or from every gunicorn worker;
- `access`: who may scrape; `views`: the endpoint;
- `multiprocess`: gunicorn's hooks for Prometheus' multiprocess mode.

This package imports nothing at import time: gunicorn's master loads `multiprocess` before
prometheus_client may be imported (it chooses its mode, once, when first imported).
"""
