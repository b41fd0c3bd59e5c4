"""Slow clients (OWASP API4): a client that sends its request slowly must not hold a gunicorn
thread. gunicorn gives a connection a thread until its request has arrived, with no time
limit, so the deployment puts nginx in front (README: Deploy): the repository's template,
here with CLIENT_TIMEOUT seconds, in front of a gateway with WEB_CONCURRENCY=1 and
GUNICORN_THREADS=3.

Slow clients: twice as many connections as the gateway has threads, half of them sending
their headers a byte at a time, half sending complete headers and then no body. No clock
decides a verdict: "promptly" means an ordinary request is answered while every slow
connection is still open.
"""

import http.client
import socket
import threading
import time

import pytest

from tests.security.front_proxy import FrontProxy
from tests.security.gateway import Gateway, routes

pytestmark = pytest.mark.slow

THREADS = 3
CLIENT_TIMEOUT = 3
TRICKLE_EVERY = 0.3
HEADERS_STARTED = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
BODY_PROMISED = (
    b"POST /telemetry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n{"
)


class SlowClients:
    """Connections that never finish their request; each one's end is noted when the
    server cuts it (its next read sees the close)."""

    def __init__(self, port: int, count: int):
        self.opened = time.monotonic()
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        self.cut_after: dict[int, float] = {}
        for index, sock in enumerate(self.sockets):
            sock.sendall(HEADERS_STARTED if index % 2 == 0 else BODY_PROMISED)
            sock.setblocking(False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(TRICKLE_EVERY) and len(self.cut_after) < len(self.sockets):
            for index, sock in enumerate(self.sockets):
                if index not in self.cut_after and self._is_cut(index, sock):
                    self.cut_after[index] = time.monotonic() - self.opened

    def _is_cut(self, index: int, sock: socket.socket) -> bool:
        try:
            if sock.recv(4096) == b"":
                return True
        except BlockingIOError:
            pass
        except OSError:
            return True
        try:
            if index % 2 == 0:
                sock.send(b"a")  # one more byte of an endless header
        except OSError:
            return True
        return False

    @property
    def all_open(self) -> bool:
        return not self.cut_after

    def wait_until_all_cut(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.cut_after) < len(self.sockets) and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def ordinary_request(port: int, timeout: float) -> int | None:
    """The status of GET /health on a new connection, or None if none came in `timeout`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


@pytest.fixture
def gateway(tmp_path, fake_upstream):
    overrides = {"WEB_CONCURRENCY": "1", "GUNICORN_THREADS": str(THREADS)}
    with Gateway.configure(tmp_path / "gateway", routes(fake_upstream), **overrides) as gateway:
        yield gateway


@pytest.fixture
def front_proxy(tmp_path, gateway):
    proxy = FrontProxy.start(tmp_path / "nginx", gateway.port, CLIENT_TIMEOUT)
    yield proxy
    proxy.stop()


def test_gunicorn_alone_is_held_by_slow_clients(gateway):
    """Why gunicorn must not face clients: the threat the proxy removes."""
    slow = SlowClients(gateway.port, 2 * THREADS)
    try:
        time.sleep(1)  # every slow connection has been handed a thread
        assert ordinary_request(gateway.port, timeout=3) is None
        assert slow.all_open
    finally:
        slow.close()
    assert ordinary_request(gateway.port, timeout=10) == 200  # free again once they go


def test_behind_nginx_slow_clients_hold_no_thread_and_are_cut_after_the_limit(front_proxy):
    slow = SlowClients(front_proxy.port, 2 * THREADS)
    try:
        time.sleep(1)
        assert ordinary_request(front_proxy.port, timeout=30) == 200
        assert slow.all_open  # answered while every slow client was still connected
        slow.wait_until_all_cut(timeout=CLIENT_TIMEOUT + 30)
    finally:
        slow.close()
    assert len(slow.cut_after) == 2 * THREADS
    # Not before the limit: nginx gives a client CLIENT_TIMEOUT seconds.
    assert min(slow.cut_after.values()) >= CLIENT_TIMEOUT * 0.9, slow.cut_after
