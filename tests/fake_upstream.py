"""A fake LLM upstream on 127.0.0.1, for tests, benchmarks and fault injection.

It speaks three real wire protocols over real HTTP/1.1 (keep-alive, chunked streams):
- OpenAI chat completions: POST /v1/chat/completions (plain, and SSE with `stream: true`);
- Gemini: POST /v1beta/models/{model}:generateContent and :streamGenerateContent?alt=sse;
- OAuth2 client credentials: POST /oauth/token (HTTP Basic or form client authentication).

Behaviour is scripted per upstream model name (use "oauth" for the token endpoint):
`script(model, *modes)` queues modes for that model's next requests, `always(model, mode)`
sets its mode once the queue is empty. Modes, some with a parameter after a colon:
    ok                  a normal answer (the default)
    429[:seconds]       rate limited, with Retry-After when seconds are given
    500, 503, 400, 404  that status with an error body (400 names a request problem;
                        400:echo also quotes the credential the request carried)
    401                 unauthorized (also what any request with an unknown key gets)
    hang[:seconds]      wait (default 2 s) before answering: past the caller's timeout
    malformed           200 with a body that is not JSON
    drip[:seconds]      stream 40 pieces, one every `seconds` (default 0.02)
    cut                 stream a piece or two, then drop the connection
    error_event         stream a piece or two, then an SSE error event
    no_usage            answer without token usage
    usage:P:C[:K]       report P prompt tokens (K of them cached) and C completion tokens
    usage_in_choice     stream usage in the chunk that also carries the finish reason
`delay` (seconds, default 0) holds every LLM answer that long before it starts.
Every request is recorded (`seen`): headers, body, mode, the usage reported, and whether the
client went away before the end of a stream (`aborted`).

Run it alone for benchmarks: `python tests/fake_upstream.py --port 8100`.
"""

import argparse
import base64
import json
import re
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

GEMINI_PATH = re.compile(r"^/v1beta/models/(?P<model>[^:/]+):(?P<method>\w+)$")
DRIP_PIECES = 40
DEFAULT_HANG = 2.0
DEFAULT_DRIP = 0.02


@dataclass
class Seen:
    """One request the fake received, and what it answered."""

    path: str
    headers: dict
    body: object
    model: str = ""
    mode: str = "ok"
    usage: dict | None = None  # {"prompt_tokens", "completion_tokens"} as reported
    aborted: bool = False
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def bearer(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ")

    @property
    def key(self) -> str:
        """The credential presented: Gemini's key header, else the bearer token."""
        return self.headers.get("x-goog-api-key") or self.bearer


class FakeUpstream:
    """The server; `with FakeUpstream() as fake:` or start()/stop()."""

    def __init__(self, *, api_keys=("sk-test",), clients=None, port: int = 0):
        self.api_keys = set(api_keys)  # empty: no authentication at all
        self.clients = clients if clients is not None else {"client-id": "client-secret"}
        self.token_ttl = 3600
        self.token_delay = 0.0
        self.delay = 0.0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.reset()

    # --- control -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    openai_url = property(lambda self: self.url + "/v1")
    gemini_url = property(lambda self: self.url + "/v1beta")
    token_url = property(lambda self: self.url + "/oauth/token")

    def start(self) -> "FakeUpstream":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeUpstream":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget scripts, records and issued tokens."""
        with self._lock:
            self.seen: list[Seen] = []
            self._scripts: dict[str, deque] = defaultdict(deque)
            self._always: dict[str, str] = {}
            self._tokens: set[str] = set()
            self._issued = 0
        self.token_ttl, self.token_delay, self.delay = 3600, 0.0, 0.0

    def script(self, model: str, *modes: str) -> None:
        with self._lock:
            self._scripts[model].extend(modes)

    def always(self, model: str, mode: str) -> None:
        with self._lock:
            self._always[model] = mode

    def revoke_tokens(self) -> None:
        """Every OAuth token issued so far now gets 401, as an expired token would."""
        with self._lock:
            self._tokens.clear()

    def requests_for(self, model: str) -> list[Seen]:
        return [seen for seen in list(self.seen) if seen.model == model]

    @property
    def token_requests(self) -> list[Seen]:
        return self.requests_for("oauth")

    # --- serving -------------------------------------------------------------------------

    def handle(self, handler: "_Handler") -> None:
        path = urlsplit(handler.path).path
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in handler.headers.items()}
        seen = Seen(path=handler.path, headers=headers, body=_decode(raw, headers))
        with self._lock:
            self.seen.append(seen)
        try:
            self._route(handler, path, seen)
        except (BrokenPipeError, ConnectionResetError):
            seen.aborted = True
            handler.close_connection = True
        finally:
            seen.done.set()

    def _route(self, handler, path: str, seen: Seen) -> None:
        gemini = GEMINI_PATH.match(path)
        if path == "/oauth/token":
            seen.model = "oauth"
            self._token(handler, seen)
        elif path == "/v1/chat/completions" and isinstance(seen.body, dict):
            seen.model = str(seen.body.get("model", ""))
            self._llm(handler, seen, OpenAIFormat(seen.body), bool(seen.body.get("stream")))
        elif gemini and isinstance(seen.body, dict):
            seen.model = gemini["model"]
            stream = gemini["method"] == "streamGenerateContent"
            self._llm(handler, seen, GeminiFormat(seen.body, seen.model), stream)
        else:
            _send_json(handler, 404, {"error": {"message": f"No route {path}", "code": 404}})

    def _next_mode(self, model: str) -> str:
        with self._lock:
            queue = self._scripts[model]
            return queue.popleft() if queue else self._always.get(model, "ok")

    def _token(self, handler, seen: Seen) -> None:
        seen.mode = mode = self._next_mode("oauth")
        if self._fault(handler, seen, mode):
            return
        if not self._client_ok(handler, seen.body):
            _send_json(handler, 401, {"error": "invalid_client"})
            return
        if self.token_delay:
            self._stopping.wait(self.token_delay)
        with self._lock:
            self._issued += 1
            token = f"tok-{self._issued}"
            self._tokens.add(token)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}
        _send_json(handler, 200, body)

    def _client_ok(self, handler, form) -> bool:
        scheme, _, value = handler.headers.get("Authorization", "").partition(" ")
        if scheme == "Basic":
            client_id, _, secret = base64.b64decode(value).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return (
            form.get("grant_type") == "client_credentials" and self.clients.get(client_id) == secret
        )

    def _authorized(self, seen: Seen) -> bool:
        if not self.api_keys:
            return True
        with self._lock:
            return seen.key in self.api_keys or seen.key in self._tokens

    def _llm(self, handler, seen: Seen, wire, stream: bool) -> None:
        seen.mode = mode = self._next_mode(seen.model)
        if not self._authorized(seen):
            # Echoes the key, as some real upstreams do: the gateway must not pass it on.
            message = f"Incorrect API key provided: {seen.key}"
            _send_json(handler, 401, {"error": {"message": message}})
            return
        if self._fault(handler, seen, mode):
            return
        if self.delay:
            self._stopping.wait(self.delay)
        answer = Answer.to(wire.prompt_text(), usage=mode != "no_usage")
        if mode.startswith("usage:"):
            answer.usage = _scripted_usage(mode)
        seen.usage = answer.usage
        if stream:
            self._stream(handler, seen, wire, answer, mode)
        else:
            _send_json(handler, 200, wire.reply(answer))

    def _fault(self, handler, seen: Seen, mode: str) -> bool:
        """Answers a fault mode; False when the mode asks for a normal answer."""
        name, _, param = mode.partition(":")
        if name == "429":
            headers = {"Retry-After": param} if param else {}
            _send_json(handler, 429, {"error": {"message": "Rate limit reached"}}, headers)
        elif name in {"500", "503", "404", "401"}:
            _send_json(handler, int(name), {"error": {"message": f"fake upstream {name}"}})
        elif name == "400":
            message = "Invalid value for 'temperature': too hot for this model."
            if param == "echo":  # some upstreams quote the request, credentials included
                message += f" (request authenticated as {seen.key})"
            _send_json(handler, 400, {"error": {"message": message, "code": 400}})
        elif name == "malformed":
            _send(handler, 200, b'{"choices": [unterminated', "application/json")
        elif name == "hang":
            self._stopping.wait(float(param or DEFAULT_HANG))
            _send_json(handler, 200, {"late": True})
        else:
            return False
        return True

    def _stream(self, handler, seen: Seen, wire, answer: "Answer", mode: str) -> None:
        name, _, param = mode.partition(":")
        pieces = answer.pieces(DRIP_PIECES if name == "drip" else None)
        events = wire.stream_events(pieces, answer.usage, usage_in_choice=name == "usage_in_choice")
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for number, event in enumerate(events):
            if name == "cut" and number == 2:
                handler.close_connection = True
                return
            if name == "error_event" and number == 2:
                event = {"error": {"message": "fake upstream overloaded", "code": 503}}
            _write_chunk(handler, b"data: " + json.dumps(event).encode() + b"\n\n")
            if name == "error_event" and number == 2:
                break
            if name == "drip":
                self._stopping.wait(float(param or DEFAULT_DRIP))
        if wire.sends_done and name != "error_event":
            _write_chunk(handler, b"data: [DONE]\n\n")
        _write_chunk(handler, b"")


@dataclass
class Answer:
    """The fake's answer to a prompt, and the usage it reports for it."""

    text: str
    usage: dict | None

    @classmethod
    def to(cls, prompt: str, usage: bool = True) -> "Answer":
        text = f"Fake answer to: {prompt[:60]}"
        # Deliberately unlike the gateway's 4-characters-a-token estimate.
        counts = {
            "prompt_tokens": 11 + len(prompt.split()),
            "completion_tokens": 7 + len(text.split()),
        }
        return cls(text, counts if usage else None)

    def pieces(self, count: int | None = None) -> list[str]:
        words = self.text.split(" ")
        pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
        if count:
            pieces = [pieces[i % len(pieces)] for i in range(count)]
        return pieces


class OpenAIFormat:
    sends_done = True

    def __init__(self, body: dict):
        self.body = body

    def prompt_text(self) -> str:
        return " ".join(_text(message.get("content")) for message in self.body.get("messages", []))

    def reply(self, answer: Answer) -> dict:
        message = {"role": "assistant", "content": answer.text}
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
        if answer.usage:
            body["usage"] = _openai_usage(answer.usage)
        return body

    def stream_events(self, pieces: list[str], usage: dict | None, *, usage_in_choice: bool):
        head = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "model": self.body.get("model"),
        }
        yield {
            **head,
            "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}],
        }
        for piece in pieces:
            yield {
                **head,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
        last = {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        wants_usage = (self.body.get("stream_options") or {}).get("include_usage")
        if usage and usage_in_choice:
            yield {**last, "usage": _openai_usage(usage)}
            return
        yield last
        if usage and wants_usage:
            yield {**head, "choices": [], "usage": _openai_usage(usage)}


class GeminiFormat:
    sends_done = False

    def __init__(self, body: dict, model: str):
        self.body = body
        self.model = model

    def prompt_text(self) -> str:
        parts = [part for content in self.body.get("contents", []) for part in content["parts"]]
        system = (self.body.get("systemInstruction") or {}).get("parts", [])
        return " ".join(part.get("text", "") for part in [*system, *parts])

    def reply(self, answer: Answer) -> dict:
        return self._chunk(answer.text, "STOP", answer.usage)

    def stream_events(self, pieces: list[str], usage: dict | None, *, usage_in_choice: bool):
        for number, piece in enumerate(pieces, start=1):
            last = number == len(pieces)
            # Gemini repeats cumulative usage on every chunk; only the last one is final.
            partial = usage and {
                **usage,
                "completion_tokens": number if not last else usage["completion_tokens"],
            }
            yield self._chunk(piece, "STOP" if last else None, partial)

    def _chunk(self, text: str, finish: str | None, usage: dict | None) -> dict:
        candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        chunk = {"candidates": [candidate], "modelVersion": self.model}
        if usage:
            prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
            chunk["usageMetadata"] = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": completion,
                "totalTokenCount": prompt + completion,
            }
            if usage.get("cached_tokens"):
                chunk["usageMetadata"]["cachedContentTokenCount"] = usage["cached_tokens"]
        return chunk


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must not hold up stop()
    # socketserver's default backlog of 5 drops connections a burst of clients opens at once.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # Clients dropping keep-alive connections is normal here; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body would wait for
    # the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.server.fake.handle(self)

    def log_message(self, format, *args):  # noqa: A002
        pass


def _decode(raw: bytes, headers: dict):
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {key: values[0] for key, values in parse_qs(raw.decode()).items()}
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


def _text(content) -> str:
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content)
    return str(content or "")


def _scripted_usage(mode: str) -> dict:
    """usage:P:C[:K] as the usage the fake reports."""
    prompt, completion, *cached = (int(part) for part in mode.split(":")[1:])
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return {**usage, "cached_tokens": cached[0]} if cached else usage


def _openai_usage(usage: dict) -> dict:
    body = {key: usage[key] for key in ("prompt_tokens", "completion_tokens")}
    body["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if usage.get("cached_tokens"):
        body["prompt_tokens_details"] = {"cached_tokens": usage["cached_tokens"]}
    return body


def _send(handler, status: int, body: bytes, content_type: str, headers=None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _send_json(handler, status: int, body, headers=None) -> None:
    _send(handler, status, json.dumps(body).encode(), "application/json", headers)


def _write_chunk(handler, data: bytes) -> None:
    handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    handler.wfile.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--api-key", default="sk-test", help="'' accepts any key")
    args = parser.parse_args()
    with FakeUpstream(api_keys=[args.api_key] if args.api_key else [], port=args.port) as fake:
        print(f"OpenAI: {fake.openai_url}  Gemini: {fake.gemini_url}  OAuth: {fake.token_url}")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
