"""Telemetry stores, configured Django's way (like STORAGES and CACHES).

    TELEMETRY = {
        "STORES": {
            "primary": {"BACKEND": "telemetry.backends.mongo.MongoBackend", "OPTIONS": {...}},
            "backup": {"BACKEND": "telemetry.backends.mongo.MongoBackend", "OPTIONS": {...}},
            "csv": {"BACKEND": "telemetry.backends.csv.CSVBackend", "OPTIONS": {...}},
        },
        "CHAIN": ["primary", "backup", "csv"],   # the order writes try them in
        "RETRY_INTERVAL": 30.0,                  # a failed store's cool-down
        ...
    }

`stores[alias]` is one store, `stores.chain()` the failover chain over CHAIN
(telemetry.backends.chain), `stores.default_alias()` the chain's first store: the store of
record, which reports read. Instances are built on first use and kept per process: a store
built before a fork (e.g. a MongoClient) must not be used after it, so a forked child builds
its own. `stores.reset()` closes and forgets them (after the settings changed).
"""

import os
import threading
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from telemetry.backends.base import TelemetryBackend
from telemetry.backends.chain import ChainStore


def load_store(config: Mapping) -> TelemetryBackend:
    """Build the store a {"BACKEND", "OPTIONS"} mapping describes (no I/O)."""
    path = config.get("BACKEND", "")
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"Could not import telemetry backend {path!r} ({exc}). Set its BACKEND to a "
            "dotted path such as 'telemetry.backends.csv.CSVBackend'."
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, TelemetryBackend)):
        raise ImproperlyConfigured(f"Telemetry backend {path!r} is not a TelemetryBackend.")
    try:
        return cls(**config.get("OPTIONS", {}))
    except TypeError as exc:
        raise ImproperlyConfigured(f"Bad OPTIONS for telemetry backend {path!r}: {exc}") from exc


class StoreHandler:
    """Alias -> store instance, from settings.TELEMETRY, one set per process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stores: dict[str, TelemetryBackend] = {}
        self._chain: ChainStore | None = None
        self._pid = os.getpid()

    @staticmethod
    def configs() -> Mapping[str, Mapping]:
        return settings.TELEMETRY["STORES"]

    @staticmethod
    def chain_aliases() -> list[str]:
        aliases = list(settings.TELEMETRY["CHAIN"])
        unknown = [alias for alias in aliases if alias not in StoreHandler.configs()]
        if unknown or not aliases:
            raise ImproperlyConfigured(
                f"TELEMETRY['CHAIN'] must name stores of TELEMETRY['STORES'] "
                f"({sorted(StoreHandler.configs())}); unknown: {unknown or 'an empty chain'}."
            )
        return aliases

    def default_alias(self) -> str:
        return self.chain_aliases()[0]

    def __getitem__(self, alias: str) -> TelemetryBackend:
        with self._lock:
            self._forget_if_forked()
            if alias not in self._stores:
                if alias not in self.configs():
                    raise ImproperlyConfigured(
                        f"No telemetry store {alias!r}; configured: {sorted(self.configs())}."
                    )
                self._stores[alias] = load_store(self.configs()[alias])
            return self._stores[alias]

    def chain(self) -> ChainStore:
        """The chain over TELEMETRY["CHAIN"]: where the writer stores events."""
        links = [(alias, self[alias]) for alias in self.chain_aliases()]
        with self._lock:
            if self._chain is None:
                self._chain = ChainStore(links, settings.TELEMETRY["RETRY_INTERVAL"])
            return self._chain

    def reset(self) -> None:
        """Close and forget this process's stores (after the settings changed)."""
        with self._lock:
            self._forget_if_forked()
            stores, self._stores, self._chain = list(self._stores.values()), {}, None
        for store in stores:
            store.close()

    def _forget_if_forked(self) -> None:
        if self._pid != os.getpid():
            self._stores, self._chain = {}, None  # inherited across fork: never reuse, never close
            self._pid = os.getpid()


stores = StoreHandler()
