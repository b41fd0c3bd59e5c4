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

# Upstreams see who calls: the gateway and its version, not the HTTP library.
USER_AGENT = f"dgen-ping/{settings.VERSION}"
# What requests sends unless told otherwise (Accept, Accept-Encoding), so the upstream sees
# the same requests from both clients.
DEFAULT_HEADERS = {**default_headers(), "User-Agent": USER_AGENT}
# Upstream hosts whose connections are kept (LLM upstreams and token endpoints).
HOSTS_KEPT = 8


class _Shared:
    """One client for the whole process, built from settings on first use."""

    def __init__(self, build, close):
        self._build, self._close = build, close
        self._client = None
        self._lock = threading.Lock()

    def get(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
        return self._client

    def drop(self) -> None:
        with self._lock:
            if self._client is not None:
                self._close(self._client)
            self._client = None


def pool() -> urllib3.PoolManager:
    """The process-wide pool for LLM calls, built on first use."""
    return _pool.get()


def session() -> requests.Session:
    """The process-wide session for the OAuth token endpoint, built on first use."""
    return _session.get()


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
    http.headers["User-Agent"] = USER_AGENT
    if options["PROXY"]:
        http.proxies = {"http": options["PROXY"], "https": options["PROXY"]}
    if options["CA_BUNDLE"]:
        http.verify = options["CA_BUNDLE"]
    adapter = HTTPAdapter(pool_connections=HOSTS_KEPT, max_retries=0)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


_pool = _Shared(_build_pool, urllib3.PoolManager.clear)
_session = _Shared(_build_session, requests.Session.close)


def reset() -> None:
    """Drop the clients (their connections close); the next call builds them from settings."""
    _pool.drop()
    _session.drop()
