"""A fake upstream that answers every request after a fixed delay, like a real LLM.

Stock nginx has no way to delay an answer (echo_sleep is a third-party module), so this
is a small asyncio server: a sleeping request is a timer, not a thread, and costs no CPU
while it waits. Same routes and bodies as the nginx upstream (plain and stream base URLs),
and the same request count, in the shape of nginx's stub_status page (answered at once,
so it is asked on a connection of its own).
Run: python -m bench.slow_upstream --port 9000 --delay 0.2
"""

import argparse
import asyncio
import itertools

from bench import payloads
from bench.upstream import STATUS_PATH


def _response(content_type: str, body: str) -> bytes:
    data = body.encode()
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode() + data


RESPONSES = {
    b"/plain/v1/chat/completions": _response("application/json", payloads.chat_completion()),
    b"/stream/v1/chat/completions": _response(
        "text/event-stream", payloads.chat_completion_stream()
    ),
}
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
RECEIVED = itertools.count(1)  # requests received, the one being handled included


def _status(received: int) -> bytes:
    return _response(
        "text/plain", f"Active connections: -\nserver accepts handled requests\n - - {received}\n"
    )


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class DelayedHTTP(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all that clients send here."""

    def __init__(self, delay: float):
        self.delay = delay
        self.buffer = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (head_end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:head_end]
            end = head_end + 4 + _content_length(head)
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            path = head.split(b" ", 2)[1].split(b"?", 1)[0]
            received = next(RECEIVED)
            if path == STATUS_PATH.encode():
                self.transport.write(_status(received))
                continue
            # Same delay for all, so timers fire in request order: keep-alive stays ordered.
            asyncio.get_running_loop().call_later(self.delay, self._send, RESPONSES.get(path))

    def _send(self, response: bytes | None) -> None:
        if not self.transport.is_closing():
            self.transport.write(response or NOT_FOUND)


async def serve(port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: DelayedHTTP(delay), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.delay))


if __name__ == "__main__":
    main()
