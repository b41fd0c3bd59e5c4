"""Start-up check: a wrong telemetry configuration is reported by `manage.py check`, not by
the first request."""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from telemetry.backends import load_store, stores


@checks.register()
def check_telemetry_stores(app_configs=None, **kwargs):
    errors = []
    try:
        stores.chain_aliases()
    except ImproperlyConfigured as exc:
        errors.append(checks.Error(str(exc), id="telemetry.E001"))
    for alias, config in stores.configs().items():
        try:
            load_store(config)  # constructors do no I/O
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(f"Telemetry store {alias!r}: {exc}", id="telemetry.E001"))
    return errors
