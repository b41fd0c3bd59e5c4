"""Who may read /metrics: the holder of METRICS_TOKEN, callers from METRICS_ALLOWED_IPS, or,
with both set, only a caller who is both. With neither set, /metrics does not exist (404):
off unless an operator turns it on.

The address is the telemetry middleware's (REMOTE_ADDR, or the X-Forwarded-For hop a
TRUSTED_PROXIES proxy vouches for), so a Prometheus behind the same proxy is seen as itself.
"""

import functools
import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from dgen_ping_site.exceptions import error_body, not_found
from telemetry.middleware import client_ip

BEARER = "Bearer "


def refusal(request) -> HttpResponse | None:
    """The answer for a caller who may not read the metrics; None for one who may."""
    token, networks = settings.METRICS["TOKEN"], tuple(settings.METRICS["ALLOWED_IPS"])
    if not token and not networks:
        return not_found(request)
    if networks and not _allowed(client_ip(request.META), networks):
        detail = "Metrics are not served to this address (METRICS_ALLOWED_IPS)."
        return JsonResponse(error_body(detail, "address_not_allowed"), status=403)
    if token and not _presents(request, token):
        detail = "Metrics need the bearer token METRICS_TOKEN (Authorization: Bearer ...)."
        response = JsonResponse(error_body(detail, "not_authenticated"), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return None


def _presents(request, token: str) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith(BEARER):
        return False
    # Constant time: how much of a guess matched must not show in the answer's timing.
    return hmac.compare_digest(header[len(BEARER) :].encode(), token.encode())


def _allowed(address: str | None, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in _parsed(networks))


@functools.lru_cache(maxsize=8)
def _parsed(networks: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(network, strict=False) for network in networks)
