"""The one HTTP session every upstream call of this process shares (connection pooling)."""

import threading

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

_session: requests.Session | None = None
_lock = threading.Lock()


def session() -> requests.Session:
    """The process-wide session, built on first use."""
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                _session = _build_session()
    return _session


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
    # Retries are ours (llmproxy.retry), with backoff and fallbacks; urllib3 must not add more.
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=options["POOL_SIZE"], max_retries=0)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


def reset() -> None:
    """Drop the session (its pool closes); the next call builds one from current settings."""
    global _session
    with _lock:
        if _session is not None:
            _session.close()
        _session = None
