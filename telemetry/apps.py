import os
import signal
import sys
import threading

from django.apps import AppConfig
from django.core.signals import setting_changed

TELEMETRY_SETTINGS = {"TELEMETRY", "TELEMETRY_BACKEND", "TELEMETRY_MONGO"}


class TelemetryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "telemetry"

    def ready(self):
        from telemetry import checks  # noqa: F401  (registers the configuration check)

        setting_changed.connect(_settings_changed)
        if _is_serving_runserver():
            # runserver dies on SIGTERM without running atexit; make it exit cleanly so the
            # writer flushes (gunicorn has its own handler and a worker_exit hook).
            signal.signal(signal.SIGTERM, _exit_cleanly)


def _settings_changed(*, setting, **kwargs):
    if setting in TELEMETRY_SETTINGS:
        from telemetry import writer

        writer.reset()


def _is_serving_runserver() -> bool:
    """The runserver process that serves requests (not the autoreloader's parent)."""
    if sys.argv[1:2] != ["runserver"] or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    return os.environ.get("RUN_MAIN") == "true" or "--noreload" in sys.argv


def _exit_cleanly(signum, frame):
    sys.exit(0)
