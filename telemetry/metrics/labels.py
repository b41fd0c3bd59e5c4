"""HTTP label values that stay bounded whatever requests arrive.

The route is the URL pattern that answered (`/v1/models/<path:model>`), never the path a
client sent, so one series per endpoint, not per URL. A request no named pattern answered
(an unknown path, or one refused before URL resolution, e.g. 413 by the body limit) is
"other". Methods outside HTTP's own are "_OTHER", as OpenTelemetry's HTTP conventions say.
"""

from telemetry.metrics.instruments import OTHER

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE"})
METHODS |= {"PATCH"}
OTHER_METHOD = "_OTHER"


def http_route(request) -> str:
    match = getattr(request, "resolver_match", None)
    # The catch-all patterns that answer unknown paths (ours, the admin's) have no name.
    if match is None or not match.url_name:
        return OTHER
    return "/" + match.route


def http_method(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


def http_status(status: int) -> str:
    return str(status) if type(status) is int and 100 <= status <= 599 else OTHER
