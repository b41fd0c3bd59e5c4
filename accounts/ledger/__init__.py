"""The spend ledger of settings.BUDGETS["LEDGER"] ({"BACKEND", "OPTIONS"}), built once per
process: the database's (accounts.ledger.database) unless CACHE_URL is Redis
(accounts.ledger.redis). The contract is accounts.ledger.base.Ledger."""

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from accounts.ledger.base import Ledger

_ledger: Ledger | None = None
_lock = threading.Lock()


def get_ledger() -> Ledger:
    global _ledger
    if _ledger is None:
        with _lock:
            if _ledger is None:
                _ledger = _build(settings.BUDGETS["LEDGER"])
    return _ledger


def _build(config: dict) -> Ledger:
    try:
        backend = import_string(config["BACKEND"])
    except ImportError as exc:
        raise ImproperlyConfigured(f"BUDGETS ledger {config['BACKEND']!r}: {exc}") from exc
    return backend(**config.get("OPTIONS", {}))


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    global _ledger
    if setting == "BUDGETS":
        with _lock:
            _ledger = None
