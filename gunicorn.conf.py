"""Gunicorn settings for dgen-ping: `gunicorn -c gunicorn.conf.py dgen_ping_site.wsgi`.

Sized for an LLM gateway, as measured in docs/benchmarks.md (2 shared cores):
- workers (WEB_CONCURRENCY, default: one per core, at least 2) are for CPU: a worker runs
  Python on one core at a time (the GIL), a few hundred proxied requests/s at most;
- threads (GUNICORN_THREADS, default 64) are the LLM calls a worker keeps in flight: a
  worker answers at most threads / upstream seconds requests/s (64 threads: ~300/s with a
  200 ms upstream, 6/s with a 10 s one). Set it to the calls you expect at once per worker;
  a busy thread adds ~0.25 MB, so past ~150 threads a worker, add workers instead.
Gunicorn's own config file reads its environment variables here; the Django settings read
GUNICORN_THREADS only to keep one upstream connection per thread (LLM_POOL_SIZE).
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8001')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, os.cpu_count() or 1)))
# Measured: 2 workers x 64 threads keep 90-94% of direct throughput with a 200 ms upstream
# at 64 concurrent calls; with a 1 s upstream at 256 calls, 64 threads gave 40%, 128 gave 84%.
threads = int(os.environ.get("GUNICORN_THREADS", "64"))
# Each worker binds its own socket (SO_REUSEPORT), so the kernel spreads connections evenly
# instead of one worker winning most accept() races under keep-alive load.
reuse_port = True

# gthread's heartbeat runs in the worker's main loop, not in request threads, so this never
# interrupts a long LLM call; it only catches a worker whose main loop is stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
# After SIGTERM: time for in-flight requests (an LLM call may take LLM_TIMEOUT = 120 s) and
# the telemetry flush. Whatever is still spooled after that is recovered at the next start.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "150"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# The longest request line gunicorn takes (its own 414 is an HTML page): the reports' query
# strings, within the lengths the schema allows, percent-encoded, reach ~5 KB. 8190 is
# gunicorn's largest, and nginx's default (large_client_header_buffers 8k).
limit_request_line = 8190

# Recycling workers is off by default; if you turn it on, keep the jitter so they do not all
# restart at once. Their telemetry is flushed on exit either way.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0")) or max_requests // 10

# Gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which
# two instances on one machine would fight over: off unless a path is given.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

# gunicorn itself believes no client's X-Forwarded-Proto (its default believes 127.0.0.1's):
# Django alone decides, and only with BEHIND_TLS_PROXY=true (settings.SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = ""

accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None  # telemetry already records requests
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Seconds a worker's telemetry flush may take at exit (within graceful_timeout).
TELEMETRY_FLUSH_TIMEOUT = float(os.environ.get("TELEMETRY_FLUSH_TIMEOUT", "20"))


def on_starting(server):
    """Before any worker is forked: refuse an unsafe production configuration (one message,
    exit status 1; dgen_ping_site.safety), give Prometheus' multiprocess mode (/metrics,
    docs/metrics.md) an empty directory, named in the environment the workers inherit, and
    make the workers' telemetry writers hand their spools to the shipper process.
    Django is set up here to look; the workers inherit it, as with gunicorn's --preload."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgen_ping_site.settings")
    from django.conf import settings

    from dgen_ping_site.safety import exit_if_unsafe, setup_or_exit
    from telemetry.metrics.multiprocess import prepare

    setup_or_exit()
    exit_if_unsafe()
    prepare(settings.METRICS["MULTIPROCESS_DIR"])
    # Only now: the writer imports prometheus_client, which reads its mode when imported.
    from telemetry.writer import hand_off_to_shipper_process

    hand_off_to_shipper_process()


def when_ready(server):
    """Start the telemetry shipper process beside the workers, restarted if it dies
    (telemetry.supervisor): it ships the spool the workers append to, so that no request
    worker spends its CPU (and GIL) on storing telemetry."""
    from django.conf import settings

    from telemetry.supervisor import ShipperSupervisor

    server.telemetry_shipper = ShipperSupervisor.for_this_project(
        os.getpid(), settings.TELEMETRY["SPOOL_DIR"]
    )
    server.telemetry_shipper.start()


def on_exit(server):
    """After the workers have exited: the shipper ships what they spooled last, then exits.
    Whatever it could not store within the flush timeout is shipped at the next start."""
    shipper = getattr(server, "telemetry_shipper", None)
    if shipper is not None:
        shipper.stop(timeout=TELEMETRY_FLUSH_TIMEOUT)


def post_worker_init(worker):
    """Open this worker's telemetry writer now, after the fork (post_fork runs before Django
    is loaded, so it cannot be opened there)."""
    from telemetry.writer import get_writer

    get_writer()


def worker_exit(server, worker):
    """Release this worker's spool to the shipper process, and store what it held in memory
    (a spool it could not write) before it goes (a no-op in the master)."""
    from telemetry.writer import shutdown

    shutdown(timeout=TELEMETRY_FLUSH_TIMEOUT)


def child_exit(server, worker):
    """In the master, for every worker that exited, SIGKILLed ones too: its live gauges go
    (its counters stay, so totals never go backwards)."""
    from telemetry.metrics.multiprocess import process_exited

    process_exited(worker.pid)
