"""The fake upstreams' request count, which shows a gateway really called them."""

import http.client

import pytest

from bench import procs, upstream


@pytest.fixture
def slow_upstream(tmp_path):
    server = upstream.start_slow(tmp_path, delay=0.01)
    yield server.url
    procs.stop(server.proc)


def post_chat(base_url: str, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", int(base_url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("POST", path, body="{}", headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_slow_upstream_counts_every_request_it_received(slow_upstream):
    before = upstream.requests_received(slow_upstream)
    statuses = [post_chat(slow_upstream, "/plain/v1/chat/completions") for _ in range(3)]
    statuses.append(post_chat(slow_upstream, "/no/such/route"))

    # Each reading counts itself, as nginx's stub_status does.
    assert statuses == [200, 200, 200, 404]
    assert upstream.requests_received(slow_upstream) - before - 1 == 4
