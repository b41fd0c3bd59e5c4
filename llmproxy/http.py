"""The HTTP clients every upstream call of this process shares (connection pooling).

LLM calls go straight to urllib3's connection pool, the layer `requests` itself sends
through: requests' own layers (preparing the request, merging session settings, hooks)
cost ~0.2 ms a call, a tenth of the gateway's CPU budget per request. The OAuth token
endpoint, called about once an hour, keeps the convenience of a `requests.Session`.
Both send the same headers, trust the same CAs and use the same proxy.
"""

import threading

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH, default_headers

# What requests sends unless told otherwise (User-Agent, Accept, Accept-Encoding), so the
# upstream sees the same requests from both clients.
DEFAULT_HEADERS = dict(default_headers())
# Upstream hosts whose connections are kept (LLM upstreams and token endpoints).
HOSTS_KEPT = 8

_pool: urllib3.PoolManager | None = None
_session: requests.Session | None = None
_lock = threading.Lock()


def pool() -> urllib3.PoolManager:
    """The process-wide pool for LLM calls, built on first use."""
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = _build_pool()
    return _pool


def session() -> requests.Session:
    """The process-wide session for the OAuth token endpoint, built on first use."""
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                _session = _build_session()
    return _session


def _build_pool() -> urllib3.PoolManager:
    options = settings.LLM
    tuning = {
        "num_pools": HOSTS_KEPT,
        "maxsize": options["POOL_SIZE"],
        # Retries and redirects are ours (llmproxy.retry); a redirect would also carry our
        # credentials to wherever it points.
        "retries": False,
        "cert_reqs": "CERT_REQUIRED",
        "ca_certs": options["CA_BUNDLE"] or DEFAULT_CA_BUNDLE_PATH,
    }
    if options["PROXY"]:
        return urllib3.ProxyManager(options["PROXY"], **tuning)
    return urllib3.PoolManager(**tuning)


def _build_session() -> requests.Session:
    options = settings.LLM
    http = requests.Session()
    # Without this, every call re-reads ~/.netrc and proxy variables: a measurable cost per
    # request, and behaviour that depends on the server's shell. Proxy and CA are settings.
    http.trust_env = False
    if options["PROXY"]:
        http.proxies = {"http": options["PROXY"], "https": options["PROXY"]}
    if options["CA_BUNDLE"]:
        http.verify = options["CA_BUNDLE"]
    adapter = HTTPAdapter(pool_connections=HOSTS_KEPT, max_retries=0)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


def reset() -> None:
    """Drop the clients (their connections close); the next call builds them from settings."""
    global _pool, _session
    with _lock:
        if _pool is not None:
            _pool.clear()
        if _session is not None:
            _session.close()
        _pool = _session = None
