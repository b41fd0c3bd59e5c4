"""Telemetry stores, configured Django's way: {"BACKEND": "dotted.path", "OPTIONS": {...}}.

`get_backend()` is the configured store (settings.TELEMETRY), `get_backend("fallback")` the
CSV fallback (settings.TELEMETRY["FALLBACK"]). Instances are cached per process: a store
built before a fork (e.g. a MongoClient) must not be used after it.
"""

import os
import threading
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from telemetry.backends.base import TelemetryBackend

_lock = threading.Lock()
_backends: dict[str, TelemetryBackend] = {}
_backends_pid = os.getpid()


def load_backend(config: Mapping) -> TelemetryBackend:
    """Build the store a {"BACKEND", "OPTIONS"} mapping describes."""
    path = config.get("BACKEND", "")
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"Could not import telemetry backend {path!r} ({exc}). Set TELEMETRY['BACKEND'] "
            "to a dotted path such as 'telemetry.backends.csv.CSVBackend'."
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, TelemetryBackend)):
        raise ImproperlyConfigured(f"Telemetry backend {path!r} is not a TelemetryBackend.")
    try:
        return cls(**config.get("OPTIONS", {}))
    except TypeError as exc:
        raise ImproperlyConfigured(f"Bad OPTIONS for telemetry backend {path!r}: {exc}") from exc


def backend_config(alias: str = "default") -> Mapping:
    if alias == "default":
        return settings.TELEMETRY
    if alias == "fallback":
        return settings.TELEMETRY["FALLBACK"]
    raise ImproperlyConfigured(f"Unknown telemetry backend alias {alias!r}.")


def get_backend(alias: str = "default") -> TelemetryBackend:
    """The process-wide store for `alias` ("default" or "fallback"), built on first use."""
    global _backends_pid
    with _lock:
        if _backends_pid != os.getpid():
            _backends.clear()  # inherited across fork: never reuse, never close
            _backends_pid = os.getpid()
        if alias not in _backends:
            _backends[alias] = load_backend(backend_config(alias))
        return _backends[alias]


def reset_backends() -> None:
    """Close and forget the cached stores (after the settings changed)."""
    with _lock:
        backends = list(_backends.values()) if _backends_pid == os.getpid() else []
        _backends.clear()
    for backend in backends:
        backend.close()
