"""Start-up check: a wrong telemetry backend is reported by `manage.py check`, not by the
first request."""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from telemetry.backends import backend_config, load_backend


@checks.register()
def check_telemetry_backends(app_configs=None, **kwargs):
    errors = []
    for alias in ("default", "fallback"):
        try:
            load_backend(backend_config(alias))  # constructors do no I/O
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id="telemetry.E001"))
    return errors
