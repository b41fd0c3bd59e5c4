"""Settings for dgen-ping.

This module is the only place that reads the environment (or a `.env` file at the repository
root). Everything else reads `django.conf.settings`. Every variable is documented in
`.env.example` and in the README's configuration table.

Safe by default: with nothing set, DEBUG is off and the service refuses to start until the
production secrets are given. `make run` writes a development `.env` (DEBUG=true) first.
"""

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"

env = environ.Env()
# ENV_FILE="" disables reading a .env file (the test suite does this to stay hermetic).
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    env.read_env(ENV_FILE)

DEBUG = env.bool("DEBUG", default=False)

# --- Secrets --------------------------------------------------------------------------------
# In development the documented secret works, so the README's curl examples run as written;
# in production every secret must be given and be long enough to resist guessing. A missing or
# short one is not refused here (an exception at import would end in a traceback) but listed
# in WEAK_SECRETS, name -> minimum length: dgen_ping_site.safety refuses to start with them,
# naming them all. Until then a missing one is a random value nobody knows, so that Django
# can load to find the other problems.
DEV_TOKEN_SECRET = "dgen_secret_key"
DEV_SECRET_KEY = "dev-only-insecure-signing-key-change-me-in-production"
WEAK_SECRETS: dict[str, int] = {}


def _secret(name: str, dev_default: str, fallback: str = "", min_length: int = 32) -> str:
    given = env.str(name, default="")
    if DEBUG:
        return given or fallback or dev_default
    if (given or not fallback) and len(given) < min_length:
        WEAK_SECRETS[name] = min_length
    return given or fallback or secrets.token_urlsafe(64)


# Django's own deploy check asks for 50 characters.
SECRET_KEY = _secret("SECRET_KEY", DEV_SECRET_KEY, min_length=50)
# Guards /generate-token and /verify-token (header X-Token-Secret).
TOKEN_SECRET = _secret("TOKEN_SECRET", DEV_TOKEN_SECRET)
# Signs the JWTs handed to people; separate from TOKEN_SECRET so either can rotate alone.
JWT_SIGNING_KEY = _secret("JWT_SIGNING_KEY", SECRET_KEY, fallback=SECRET_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if DEBUG else ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "dgen_ping_site.exceptions.csrf_failure"

# --- Applications ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "llmproxy",
    "telemetry",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (see "Pages"), answered before telemetry and the request guards.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside the request guards, so their refusals (413, 411) carry the header too.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Outermost of our own: it times and records everything below, including rejections.
    "telemetry.middleware.TelemetryMiddleware",
    "dgen_ping_site.middleware.RequestBodyLimitMiddleware",
    "dgen_ping_site.middleware.LocalProviderNoticeMiddleware",
    # Sessions, Django users and messages: for the admin and the staff-session reports only
    # (dgen_ping_site.middleware).
    "dgen_ping_site.middleware.AdminSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "dgen_ping_site.middleware.AdminAuthenticationMiddleware",
    "dgen_ping_site.middleware.AdminMessageMiddleware",
]

ROOT_URLCONF = "dgen_ping_site.urls"
WSGI_APPLICATION = "dgen_ping_site.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Ours first: they override the docs pages and the browsable API (dgen_ping_site/templates).
        "DIRS": [BASE_DIR / "dgen_ping_site" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Django's own tables (revoked tokens, admin users). Telemetry lives elsewhere (see TELEMETRY).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Keep each thread's connection between requests: every authenticated request makes one
# revocation lookup, and reconnecting for it would cost more than the query.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers write budget counters to one file (accounts.ledger.database):
    # WAL lets readers (the per-request revocation lookup) go on while one writes;
    # synchronous=NORMAL makes a commit a write, not an fsync (a power loss may lose the last
    # commits; a crash of the process loses none); IMMEDIATE takes the write lock when a
    # transaction starts, so two transactions never deadlock upgrading a read lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        transaction_mode="IMMEDIATE",
        timeout=20,
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate-limit counters. Local memory is per process; use Redis so limits hold across workers.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Pages: static files and the API docs ---------------------------------------------------
# The admin, the browsable API, Swagger UI (/docs) and ReDoc (/redoc) load their CSS and
# JavaScript from the gateway itself, never from a CDN. gunicorn serves them through
# WhiteNoise from STATIC_ROOT, filled by `manage.py collectstatic` (`make serve` and the
# Docker image run it); the hashed names let browsers cache them for good.
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Request limits -------------------------------------------------------------------------
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# --- Tokens ---------------------------------------------------------------------------------
DEFAULT_SOEID = "default_user"
DEFAULT_PROJECT = "default_project"
# Token "1" and a missing token act as DEFAULT_SOEID. On only when asked for, or in development.
ALLOW_DEFAULT_TOKEN = env.bool("ALLOW_DEFAULT_TOKEN", default=DEBUG)
TOKEN_LIFETIME_SECONDS = env.int("TOKEN_LIFETIME_SECONDS", default=30 * 24 * 3600)
TOKEN_MAX_LIFETIME_SECONDS = env.int("TOKEN_MAX_LIFETIME_SECONDS", default=365 * 24 * 3600)
JWT_ISSUER = env.str("JWT_ISSUER", default="dgen-ping")

SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "ISSUER": JWT_ISSUER,
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=TOKEN_LIFETIME_SECONDS),
    "USER_ID_CLAIM": "soeid",
    "LEEWAY": 0,
}

# Requests per minute per SOEID on the LLM and telemetry endpoints; 0 turns the limit off.
RATE_LIMIT = env.int("RATE_LIMIT", default=120)
# Tokens per minute per SOEID on the LLM endpoints (worst case reserved, then settled to the
# usage, like budgets); counted in CACHES like RATE_LIMIT. 0 turns the limit off.
TOKEN_RATE_LIMIT = env.int("TOKEN_RATE_LIMIT", default=1_000_000)

# Budgets (docs/governance.md): spend is counted in Redis when CACHE_URL is Redis, so every
# worker and host shares one atomic ledger, and in the database otherwise (never in a
# per-process cache). CLOCK is what budget periods read the time from (tests move it).
_CACHE = CACHES["default"]
if _CACHE["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # The first server of a list is the one Django's cache writes to.
    _location = _CACHE["LOCATION"]
    _location = _location[0] if isinstance(_location, list) else _location.split(",")[0]
    _LEDGER = {"BACKEND": "accounts.ledger.redis.RedisLedger", "OPTIONS": {"url": _location}}
else:
    _LEDGER = {"BACKEND": "accounts.ledger.database.DatabaseLedger", "OPTIONS": {}}
BUDGETS = {"LEDGER": _LEDGER, "CLOCK": "dgen_ping_site.clock.utcnow"}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.GatewayTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.SoeidRateThrottle"],
    # The API speaks JSON only: no form or multipart parsing (and no upload handling) to
    # attack, and the schema documents exactly what is accepted.
    # Strict: refuses at the edge what a store could not take (dgen_ping_site.parsers).
    "DEFAULT_PARSER_CLASSES": ["dgen_ping_site.parsers.StrictJSONParser"],
    # JSON answers by orjson (dgen_ping_site.renderers); the browsable API for browsers.
    "DEFAULT_RENDERER_CLASSES": [
        "dgen_ping_site.renderers.FastJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "dgen_ping_site.negotiation.ExplainedNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "dgen_ping_site.exceptions.json_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "dgen-ping",
    "DESCRIPTION": "LLM gateway with JWT authentication and per-request telemetry.",
    "VERSION": VERSION,
    # Swagger UI and ReDoc from drf-spectacular-sidecar (pinned), served as static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No online validator badge: the page calls nothing but the gateway.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # 3.1: full JSON Schema, so request schemas can say exactly what is accepted (e.g.
    # propertyNames for the keys of custom telemetry metadata).
    "OAS_VERSION": "3.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dgen_ping_site.openapi.add_links",
    ],
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "TokenSecret": {"type": "apiKey", "in": "header", "name": "X-Token-Secret"},
            # Django staff session (the admin site's login), accepted by the usage reports.
            "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
        }
    },
}

# --- Telemetry ------------------------------------------------------------------------------
# Stores are configured Django's way (telemetry.backends): named {"BACKEND", "OPTIONS"}
# entries, and the CHAIN writes try them in. The original service's variables build the usual chain:
# MongoDB at MONGO_URI, then each MONGO_BACKUP_URI, then CSV files in CSV_FALLBACK_DIR.
MONGO_URI = env.str("MONGO_URI", default="")
# One or more comma-separated URIs tried, in order, when MONGO_URI fails.
MONGO_BACKUP_URIS = env.list("MONGO_BACKUP_URI", default=[])
DB_NAME = env.str("DB_NAME", default="dgen_db")
CSV_FALLBACK_DIR = Path(env.str("CSV_FALLBACK_DIR", default="telemetry_logs"))
if not CSV_FALLBACK_DIR.is_absolute():
    CSV_FALLBACK_DIR = BASE_DIR / CSV_FALLBACK_DIR
TELEMETRY_BACKEND = env.str("TELEMETRY_BACKEND", default="mongo" if MONGO_URI else "csv")
if TELEMETRY_BACKEND not in ("mongo", "csv"):
    raise ImproperlyConfigured(
        f"TELEMETRY_BACKEND must be 'mongo' or 'csv', not {TELEMETRY_BACKEND!r}."
    )
_journal = env.str("MONGO_JOURNAL", default="")
# Days events are kept (unset: forever): a TTL index on MongoDB; prune_telemetry for files.
TELEMETRY_RETENTION_DAYS = env.float("TELEMETRY_RETENTION_DAYS", default=None)
# Every MongoDB store of the chain has these options, and its own URI.
TELEMETRY_MONGO = {
    "BACKEND": "telemetry.backends.mongo.MongoBackend",
    "OPTIONS": {
        "db_name": DB_NAME,
        "collection": env.str("MONGO_COLLECTION", default="telemetry"),
        "server_selection_timeout_ms": env.int("MONGO_TIMEOUT_MS", default=2000),
        # Empty: the URI's w= (or the server's default, w:1).
        "write_concern": env.str("MONGO_WRITE_CONCERN", default=""),
        # true: acknowledged only once in the server's journal (survives a server crash).
        "journal": env.bool("MONGO_JOURNAL") if _journal else None,
        "retention_days": TELEMETRY_RETENTION_DAYS,
    },
}


def _mongo_store(uri: str) -> dict:
    return {**TELEMETRY_MONGO, "OPTIONS": {**TELEMETRY_MONGO["OPTIONS"], "uri": uri}}


TELEMETRY_STORES = {}
if TELEMETRY_BACKEND == "mongo":
    TELEMETRY_STORES["primary"] = _mongo_store(MONGO_URI)
    for _n, _uri in enumerate(MONGO_BACKUP_URIS, start=1):
        TELEMETRY_STORES["backup" if _n == 1 else f"backup{_n}"] = _mongo_store(_uri)
TELEMETRY_STORES["csv"] = {
    "BACKEND": "telemetry.backends.csv.CSVBackend",
    "OPTIONS": {
        "directory": CSV_FALLBACK_DIR,
        "max_bytes": env.int("CSV_MAX_BYTES", default=100 * 1024 * 1024),
        "daily": env.bool("CSV_ROTATE_DAILY", default=True),
    },
}
TELEMETRY_SPOOL_DIR = Path(env.str("TELEMETRY_SPOOL_DIR", default=str(CSV_FALLBACK_DIR / "spool")))
TELEMETRY = {
    "STORES": TELEMETRY_STORES,
    # The order writes try the stores in (telemetry.backends.chain).
    "CHAIN": list(TELEMETRY_STORES),
    # Seconds a store that failed is left alone before it is tried again (once).
    "RETRY_INTERVAL": env.float("TELEMETRY_RETRY_PRIMARY_INTERVAL", default=30.0),
    # Where events wait, one line each, until the writer has stored them.
    # Must be a local disk: liveness of its owners is told by flock.
    "SPOOL_DIR": TELEMETRY_SPOOL_DIR,
    "SPOOL_SEGMENT_BYTES": env.int("TELEMETRY_SPOOL_SEGMENT_BYTES", default=16 * 1024 * 1024),
    # Events no store will take, with the store's reason (telemetry.quarantine).
    "QUARANTINE_DIR": Path(
        env.str("TELEMETRY_QUARANTINE_DIR", default=str(TELEMETRY_SPOOL_DIR / "quarantine"))
    ),
    "BATCH_SIZE": env.int("TELEMETRY_BATCH_SIZE", default=500),
    "FLUSH_INTERVAL": env.float("TELEMETRY_FLUSH_INTERVAL", default=1.0),
    # Seconds between looks for the spool segments of dead processes.
    "RECOVERY_INTERVAL": env.float("TELEMETRY_RECOVERY_INTERVAL", default=10.0),
    "RETENTION_DAYS": TELEMETRY_RETENTION_DAYS,
    "EXCLUDED_PATHS": env.list(
        "TELEMETRY_EXCLUDED_PATHS",
        default=[
            "/health",
            "/metrics",
            "/docs",
            "/redoc",
            "/api/schema/",
            "/static/",
            "/favicon.ico",
        ],
    ),
}


# --- Client addresses -----------------------------------------------------------------------
def _networks(name: str) -> list[str]:
    """Addresses or networks (10.0.0.0/8) from a comma-separated variable, checked now."""
    values = env.list(name, default=[])
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {value!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)."
            ) from None
    return values


# Proxies whose X-Forwarded-For is believed when recording the client IP (and for /metrics).
TRUSTED_PROXIES = _networks("TRUSTED_PROXIES")

# --- Metrics (GET /metrics for Prometheus; docs/metrics.md) ---------------------------------
_metrics_token = env.str("METRICS_TOKEN", default="")
if _metrics_token and not DEBUG and len(_metrics_token) < 32:
    WEAK_SECRETS["METRICS_TOKEN"] = 32  # it guards /metrics: refused at start (safety.py)
METRICS = {
    # Off (404) unless one is set; with both, a scrape needs the token and an allowed address.
    "TOKEN": _metrics_token,  # sent by Prometheus as Authorization: Bearer <token>
    "ALLOWED_IPS": _networks("METRICS_ALLOWED_IPS"),
    # A per-SOEID token counter and SOEIDs on budget gauges: one series per person.
    "SOEID_LABEL": env.bool("METRICS_SOEID_LABEL", default=False),
    # gunicorn.conf.py empties it at start and points its workers at it (multiprocess mode).
    "MULTIPROCESS_DIR": TELEMETRY_SPOOL_DIR / "metrics",
}

# --- LLM upstreams (variable names kept from the original service) ---------------------------
# With DEBUG off, the service refuses to start while a model would be answered by the local
# development provider (no upstream configured), unless this says it is meant: then /health
# and every answer say so (dgen_ping_site.safety).
ALLOW_LOCAL_PROVIDER = env.bool("ALLOW_LOCAL_PROVIDER", default=False)
# llmproxy.routing builds the routing table from ROUTES (a settings structure), else from the
# JSON/YAML file ROUTES_FILE, else from the variables below; docs/llm.md has the format.
LLM = {
    "DEFAULT_MODEL": env.str("DEFAULT_MODEL", default="gemini"),
    "DEFAULT_TEMPERATURE": env.float("DEFAULT_TEMPERATURE", default=0.3),
    "DEFAULT_MAX_TOKENS": env.int("DEFAULT_MAX_TOKENS", default=10000),
    "ROUTES": None,
    "ROUTES_FILE": env.str("LLM_ROUTES_FILE", default=""),
    # `${LLM_SECRET_X}` in a routes file expands to this variable, so keys stay out of the file.
    "SECRETS": {
        name: value for name, value in env.ENVIRON.items() if name.startswith("LLM_SECRET_")
    },
    "PRIMARY_PROVIDER": env.str("LLM_PRIMARY_PROVIDER", default="openai"),
    "SECONDARY_PROVIDER": env.str("LLM_SECONDARY_PROVIDER", default="openai"),
    "TIMEOUT": env.float("LLM_TIMEOUT", default=120.0),
    "CONNECT_TIMEOUT": env.float("LLM_CONNECT_TIMEOUT", default=5.0),
    "RETRIES": env.int("LLM_RETRIES", default=2),
    "BACKOFF": env.float("LLM_BACKOFF", default=0.5),
    # Longest wait between two attempts; a longer upstream Retry-After ends the retries.
    "MAX_RETRY_WAIT": env.float("LLM_MAX_RETRY_WAIT", default=10.0),
    # Upstream connections kept per host: one per thread of a worker (gunicorn.conf.py reads
    # GUNICORN_THREADS too). Fewer, and calls beyond it open a connection each time.
    "POOL_SIZE": env.int("LLM_POOL_SIZE", default=env.int("GUNICORN_THREADS", default=64)),
    # Upstream calls ignore the proxy and CA variables of the environment (for speed and
    # predictability); give them here when the network needs them.
    "PROXY": env.str("LLM_PROXY", default=""),
    "CA_BUNDLE": env.str("LLM_CA_BUNDLE", default=""),
    # OAuth2 client credentials for the upstreams.
    "CLIENT_ID": env.str("CLIENT_ID", default=""),
    "CLIENT_SECRET": env.str("CLIENT_SECRET", default=""),
    "SCOPE": env.str("SCOPE", default=""),
    "COIN_URL": env.str("COIN_URL", default=""),
    # "basic" (HTTP Basic, RFC 6749's default) or "body" (client_id/secret as form fields).
    "OAUTH_CLIENT_AUTH": env.str("LLM_OAUTH_CLIENT_AUTH", default="basic"),
    # Primary service.
    "API_ENDPOINT": env.str("API_ENDPOINT", default=""),
    "MODEL": env.str("MODEL", default=""),
    "API_KEY": env.str("API_KEY", default=""),
    # Secondary service, also the primary's fallback.
    "SURL": env.str("SURL", default=""),
    "SMODEL": env.str("SMODEL", default=""),
    "SKEY": env.str("SKEY", default=""),
}

# --- Production hardening -------------------------------------------------------------------
if not DEBUG:
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    # Behind a TLS-terminating proxy, trust its scheme header: only then, since anyone can
    # send X-Forwarded-Proto to a gateway that is reached directly.
    if env.bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Load balancers and Prometheus ask over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
