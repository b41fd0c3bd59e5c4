"""Settings for the test suite: production mode (DEBUG off) with throwaway secrets and
local, temporary storage. The environment is set here, before the real settings read it,
so a developer's `.env` never leaks into a test run."""

import atexit
import os
import shutil
import tempfile

TEST_ENV = {
    "ENV_FILE": "",
    "DEBUG": "false",
    "SECRET_KEY": "test-secret-key-that-is-long-enough-for-django-0123456789",
    "TOKEN_SECRET": "test-token-secret-that-is-long-enough-012345",
    "ALLOW_DEFAULT_TOKEN": "false",
    "SECURE_SSL_REDIRECT": "false",
    "RATE_LIMIT": "0",
    "CSV_FALLBACK_DIR": (SCRATCH := tempfile.mkdtemp(prefix="dgen-ping-tests-")),
    "MONGO_URI": "",
    "TELEMETRY_BACKEND": "csv",
    "LOG_LEVEL": "WARNING",
}
# Empty: servers started by tests serve no static files unless a suite collects them
# (tests/browser.py), and a developer's collected files never leak in.
TEST_ENV["STATIC_ROOT"] = os.path.join(SCRATCH, "static")
os.makedirs(TEST_ENV["STATIC_ROOT"])
os.environ.update(TEST_ENV)
# Registered before the telemetry writer's own atexit flush, so it runs after it.
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)

from dgen_ping_site.settings import *  # noqa: E402,F403

# In-process tests render pages without `collectstatic`: plain file names, no manifest.
STORAGES = {  # noqa: F405
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
