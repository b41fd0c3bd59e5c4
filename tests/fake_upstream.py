"""A fake LLM upstream on 127.0.0.1, for tests, benchmarks and fault injection.

It speaks real wire protocols over real HTTP/1.1 (keep-alive, chunked streams):
- OpenAI: POST /v1/chat/completions (plain, and SSE with `stream: true`), POST /v1/embeddings;
- Gemini: POST /v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse,
  :embedContent and :batchEmbedContents;
- OAuth2 client credentials: POST /oauth/token (HTTP Basic or form client authentication).

It answers the way those APIs do, from what the request asks for: declared tools are called
(every one, or the one `tool_choice` names, or only the first when parallel calls are off;
Gemini: `functionDeclarations`, `toolConfig`), unless the last message is a tool's result;
a JSON schema (`response_format` / `responseJsonSchema`) gets JSON that fits it; `logprobs`
(`responseLogprobs`) gets log probabilities, `n` (`candidateCount`) that many choices; usage
always comes with cached and reasoning tokens (OpenAI's details; Gemini's
`cachedContentTokenCount` and `thoughtsTokenCount`), CACHED_TOKENS and REASONING_TOKENS
unless scripted. Embeddings are small deterministic vectors (OpenAI's base64 encoding when
asked).

Behaviour is scripted per upstream model name (use "oauth" for the token endpoint):
`script(model, *modes)` queues modes for that model's next requests, `always(model, mode)`
sets its mode once the queue is empty. Modes, some with a parameter after a colon:
    ok                  a normal answer (the default)
    429[:seconds]       rate limited, with Retry-After when seconds are given
    500, 503, 400, 404  that status with an error body (400 names a request problem;
                        400:echo also quotes the credential the request carried;
                        400:echo_prompt quotes the whole prompt, then the credential)
    401                 unauthorized (also what any request with an unknown key gets)
    hang[:seconds]      wait (default 2 s) before answering: past the caller's timeout
    malformed           200 with a body that is not JSON
    drip[:seconds]      stream 40 pieces, one every `seconds` (default 0.02)
    cut                 stream a piece or two, then drop the connection
    linger[:seconds]    stream the answer and [DONE], then hold the body open that long
                        (default 2 s) before ending it
    error_event         stream a piece or two, then an SSE error event
    no_usage            answer without token usage
    usage:P:C[:K[:R]]   report P prompt tokens (K of them cached, default 0) and C completion
                        tokens (R of them reasoning, default 0); embeddings: P input tokens
    usage_in_choice     stream usage in the chunk that also carries the finish reason
    refuse              an OpenAI refusal instead of an answer
`delay` (seconds, default 0) holds every LLM answer that long before it starts.
Every request is recorded (`seen`): headers, body, mode, the usage reported, and whether the
client went away before the end of a stream (`aborted`).

Run it alone for benchmarks: `python tests/fake_upstream.py --port 8100`.
"""

import argparse
import base64
import json
import re
import struct
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
# Reported with every usage: of the prompt tokens, served from cache; of the completion
# tokens, spent thinking.
CACHED_TOKENS = 2
REASONING_TOKENS = 3
REFUSAL = "I cannot help with that."
SIGNATURE = "c2lnbmF0dXJl"  # the thought signature the Gemini fake attaches to calls
EMBEDDING_SIZE = 4
# What reading a request it does not understand raises.
UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError)


@dataclass
class Seen:
    """One request the fake received, and what it answered."""

    path: str
    headers: dict  # lower-cased names; a repeated header's last value
    body: object
    model: str = ""
    mode: str = "ok"
    usage: dict | None = None  # {"prompt_tokens", "completion_tokens", ...} as reported
    aborted: bool = False
    peer: tuple = ()  # the client's (address, port): one port for calls on one connection
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    header_names: list = field(default_factory=list)  # as received, repeats included

    @property
    def total_tokens(self) -> int:
        return self.usage["prompt_tokens"] + self.usage["completion_tokens"]

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
        body = _decode(raw, headers)
        seen = Seen(
            path=handler.path,
            headers=headers,
            body=body,
            peer=handler.client_address,
            header_names=list(handler.headers.keys()),
        )
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
        body = seen.body if isinstance(seen.body, dict) else None
        if path == "/oauth/token":
            seen.model = "oauth"
            self._token(handler, seen)
        elif path == "/v1/chat/completions" and body is not None:
            seen.model = str(body.get("model", ""))
            self._llm(handler, seen, OpenAIFormat(body), bool(body.get("stream")))
        elif path == "/v1/embeddings" and body is not None:
            seen.model = str(body.get("model", ""))
            self._embed(handler, seen, OpenAIEmbeddings(body))
        elif gemini and body is not None and gemini["method"] in GeminiEmbeddings.METHODS:
            seen.model = gemini["model"]
            self._embed(handler, seen, GeminiEmbeddings(body, gemini["method"]))
        elif gemini and body is not None:
            seen.model = gemini["model"]
            stream = gemini["method"] == "streamGenerateContent"
            self._llm(handler, seen, GeminiFormat(body, seen.model), stream)
        else:
            _send_json(handler, 404, {"error": {"message": f"No route {path}", "code": 404}})

    def _next_mode(self, model: str) -> str:
        with self._lock:
            queue = self._scripts[model]
            return queue.popleft() if queue else self._always.get(model, "ok")

    def _token(self, handler, seen: Seen) -> None:
        seen.mode = mode = self._next_mode("oauth")
        if self._fault(handler, seen, mode, ""):
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

    def _admitted(self, handler, seen: Seen, prompt: str) -> bool:
        """Authenticated and not scripted to fail: the request gets a real answer (after
        `delay`)."""
        seen.mode = mode = self._next_mode(seen.model)
        if not self._authorized(seen):
            # Echoes the key, as some real upstreams do: the gateway must not pass it on.
            message = f"Incorrect API key provided: {seen.key}"
            _send_json(handler, 401, {"error": {"message": message}})
            return False
        if self._fault(handler, seen, mode, prompt):
            return False
        if self.delay:
            self._stopping.wait(self.delay)
        return True

    def _llm(self, handler, seen: Seen, wire, stream: bool) -> None:
        if not self._admitted(handler, seen, wire.prompt_text()):
            return
        try:
            answer = Answer.to(wire, seen.mode)
        except UNREADABLE:
            # As a real upstream would: the request's own fault, said in a 400.
            message = "The fake upstream cannot read this request."
            _send_json(handler, 400, {"error": {"message": message, "code": 400}})
            return
        seen.usage = answer.usage
        if stream:
            self._stream(handler, wire, answer, seen.mode)
        else:
            _send_json(handler, 200, wire.reply(answer))

    def _embed(self, handler, seen: Seen, wire) -> None:
        if not self._admitted(handler, seen, " ".join(map(str, wire.texts()))):
            return
        tokens = sum(len(str(text).split()) for text in wire.texts())
        if seen.mode.startswith("usage:"):
            tokens = scripted_usage(seen.mode)["prompt_tokens"]
        seen.usage = {"prompt_tokens": tokens, "completion_tokens": 0}
        _send_json(handler, 200, wire.reply([vector(text) for text in wire.texts()], tokens))

    def _fault(self, handler, seen: Seen, mode: str, prompt: str) -> bool:
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
            elif param == "echo_prompt":
                message = f"Could not process {prompt} (request authenticated as {seen.key})"
            _send_json(handler, 400, {"error": {"message": message, "code": 400}})
        elif name == "malformed":
            _send(handler, 200, b'{"choices": [unterminated', "application/json")
        elif name == "hang":
            self._stopping.wait(float(param or DEFAULT_HANG))
            _send_json(handler, 200, {"late": True})
        else:
            return False
        return True

    def _stream(self, handler, wire, answer: "Answer", mode: str) -> None:
        name, _, param = mode.partition(":")
        pieces = answer.pieces(DRIP_PIECES if name == "drip" else None)
        events = wire.stream_events(answer, pieces, usage_in_choice=name == "usage_in_choice")
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
        if name == "linger":
            self._stopping.wait(float(param or DEFAULT_HANG))
        _write_chunk(handler, b"")


# --- Answers -----------------------------------------------------------------------------------


@dataclass
class Answer:
    """The fake's answer to a request, and the usage it reports for it."""

    text: str | None
    usage: dict | None
    calls: list[tuple[str, dict]] = field(default_factory=list)  # (function, arguments)
    refusal: str | None = None
    choices: int = 1
    logprobs: bool = False

    @classmethod
    def to(cls, wire, mode: str) -> "Answer":
        prompt = wire.prompt_text()
        calls = [] if wire.answers_tool_results() else wire.calls_to_make()
        schema = wire.json_schema()
        text = None
        if mode == "refuse" or calls:
            pass
        elif schema is not None:
            text = json.dumps(sample(schema, schema))
        else:
            text = f"Fake answer to: {prompt[:60]}"
        said = REFUSAL if mode == "refuse" else text or json.dumps(calls)
        # Deliberately unlike the gateway's 4-characters-a-token estimate.
        counts = {
            "prompt_tokens": 11 + len(prompt.split()),
            "completion_tokens": 7 + len(said.split()),
            "cached_tokens": CACHED_TOKENS,
            "reasoning_tokens": REASONING_TOKENS,
        }
        if mode.startswith("usage:"):
            counts = scripted_usage(mode)
        return cls(
            text,
            counts if mode != "no_usage" else None,
            calls,
            REFUSAL if mode == "refuse" else None,
            wire.choices(),
            wire.wants_logprobs(),
        )

    def pieces(self, count: int | None = None) -> list[str]:
        words = (self.text or "").split(" ")
        pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
        if count:
            pieces = [pieces[i % len(pieces)] for i in range(count)]
        return pieces if self.text else []


def sample(schema, root: dict):
    """A value that fits a JSON schema (objects with every property, first enum values);
    any value for a schema it does not understand."""
    if not isinstance(schema, dict):
        return "fake"
    if "$ref" in schema:
        target = root
        for key in schema["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        return sample(target, root)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            return sample(schema[combined][0], root)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        return {name: sample(inner, root) for name, inner in properties.items()}
    if kind == "array":
        return [sample(schema.get("items") or {"type": "string"}, root)]
    scalars = {"string": "fake", "integer": 1, "number": 1.5, "boolean": True, "null": None}
    return scalars.get(kind, "fake") if isinstance(kind, str) else "fake"


def _arguments(parameters: dict | None) -> dict:
    """Arguments for a function call that fit its parameters' schema."""
    return sample(parameters, parameters) if parameters else {}


def token_logprobs(text: str) -> list[dict]:
    """OpenAI-style logprobs: one entry per word, with one alternative."""
    entries = []
    for word in text.split(" "):
        alternative = {"token": word.upper(), "logprob": -2.5, "bytes": list(word.upper().encode())}
        entries.append(
            {
                "token": word,
                "logprob": -0.25,
                "bytes": list(word.encode()),
                "top_logprobs": [alternative],
            }
        )
    return entries


class OpenAIFormat:
    sends_done = True

    def __init__(self, body: dict):
        self.body = body

    def prompt_text(self) -> str:
        return " ".join(_text(message.get("content")) for message in self.body.get("messages", []))

    def answers_tool_results(self) -> bool:
        messages = self.body.get("messages") or [{}]
        return messages[-1].get("role") == "tool"

    def calls_to_make(self) -> list[tuple[str, dict]]:
        # Tools it cannot call (other types, no function) are left alone, not refused.
        tools = [
            tool["function"]
            for tool in self.body.get("tools") or ()
            if isinstance(tool.get("function"), dict)
            and isinstance(tool["function"].get("name"), str)
        ]
        choice = self.body.get("tool_choice")
        if choice == "none" or not tools:
            return []
        named = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
        if named:
            tools = [t for t in tools if t["name"] == named]
        if self.body.get("parallel_tool_calls") is False:
            tools = tools[:1]
        return [(tool["name"], _arguments(tool.get("parameters"))) for tool in tools]

    def json_schema(self) -> dict | None:
        response_format = self.body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            return (response_format.get("json_schema") or {}).get("schema") or {}
        if response_format.get("type") == "json_object":
            return {"type": "object", "properties": {"answer": {"type": "string"}}}
        return None

    def choices(self) -> int:
        return self.body.get("n") or 1

    def wants_logprobs(self) -> bool:
        return bool(self.body.get("logprobs"))

    def reply(self, answer: Answer) -> dict:
        body = self._head("chat.completion")
        body["choices"] = [self._choice(answer, index) for index in range(answer.choices)]
        if answer.usage:
            body["usage"] = _openai_usage(answer.usage)
        return body

    def _head(self, kind: str) -> dict:
        return {
            "id": "chatcmpl-fake",
            "object": kind,
            "created": int(time.time()),
            "model": self.body.get("model"),
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
        }

    def _choice(self, answer: Answer, index: int) -> dict:
        message = {"role": "assistant", "content": answer.text, "refusal": answer.refusal}
        finish = "stop"
        if answer.calls:
            message["tool_calls"] = [
                _openai_call(number, name, args) for number, (name, args) in enumerate(answer.calls)
            ]
            finish = "tool_calls"
        choice = {"index": index, "message": message, "finish_reason": finish}
        choice["logprobs"] = None
        if answer.logprobs and answer.text:
            choice["logprobs"] = {"content": token_logprobs(answer.text), "refusal": None}
        return choice

    def stream_events(self, answer: Answer, pieces: list[str], *, usage_in_choice: bool):
        head = self._head("chat.completion.chunk")

        def chunk(delta: dict, finish=None, index: int = 0, **extra) -> dict:
            return {
                **head,
                "choices": [{"index": index, "delta": delta, "finish_reason": finish, **extra}],
            }

        finish = "tool_calls" if answer.calls else "stop"
        for index in range(answer.choices):
            if index:
                yield chunk({}, finish, index - 1)
            yield chunk({"role": "assistant", "content": ""}, index=index)
            if answer.refusal:
                yield chunk({"refusal": answer.refusal}, index=index)
            for piece in pieces:
                logprobs = {"content": token_logprobs(piece.strip())} if answer.logprobs else None
                yield chunk({"content": piece}, index=index, logprobs=logprobs)
            for number, (name, args) in enumerate(answer.calls):
                call = _openai_call(number, name, args)
                arguments = call["function"].pop("arguments")
                yield chunk({"tool_calls": [{"index": number, **call}]}, index=index)
                for start in range(0, len(arguments), 8):  # arguments arrive in pieces
                    piece = {
                        "index": number,
                        "function": {"arguments": arguments[start : start + 8]},
                    }
                    yield chunk({"tool_calls": [piece]}, index=index)
        last = chunk({}, finish, answer.choices - 1)
        wants_usage = (self.body.get("stream_options") or {}).get("include_usage")
        if answer.usage and usage_in_choice:
            yield {**last, "usage": _openai_usage(answer.usage)}
            return
        yield last
        if answer.usage and wants_usage:
            yield {**head, "choices": [], "usage": _openai_usage(answer.usage)}


class GeminiFormat:
    sends_done = False

    def __init__(self, body: dict, model: str):
        self.body = body
        self.model = model
        self.config = body.get("generationConfig") or {}

    def prompt_text(self) -> str:
        parts = [part for content in self.body.get("contents", []) for part in content["parts"]]
        system = (self.body.get("systemInstruction") or {}).get("parts", [])
        return " ".join(_gemini_text(part) for part in [*system, *parts])

    def answers_tool_results(self) -> bool:
        contents = self.body.get("contents") or [{"parts": []}]
        return any("functionResponse" in part for part in contents[-1]["parts"])

    def calls_to_make(self) -> list[tuple[str, dict]]:
        declarations = [
            declaration
            for tool in self.body.get("tools") or ()
            for declaration in tool.get("functionDeclarations") or ()
        ]
        calling = (self.body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if calling.get("mode") == "NONE":
            return []
        allowed = calling.get("allowedFunctionNames")
        if allowed:
            declarations = [d for d in declarations if d["name"] in allowed]
        return [(d["name"], _arguments(d.get("parametersJsonSchema"))) for d in declarations]

    def json_schema(self) -> dict | None:
        if self.config.get("responseMimeType") != "application/json":
            return None
        schema = self.config.get("responseJsonSchema")
        return schema or {"type": "object", "properties": {"answer": {"type": "string"}}}

    def choices(self) -> int:
        return self.config.get("candidateCount") or 1

    def wants_logprobs(self) -> bool:
        return bool(self.config.get("responseLogprobs"))

    def reply(self, answer: Answer) -> dict:
        return self._chunk(answer, answer.text, "STOP", answer.usage, calls=True)

    def stream_events(self, answer: Answer, pieces: list[str], *, usage_in_choice: bool):
        pieces = pieces or [""]
        for number, piece in enumerate(pieces, start=1):
            last = number == len(pieces)
            # Gemini repeats cumulative usage on every chunk; only the last one is final.
            partial = answer.usage and {
                **answer.usage,
                "completion_tokens": number if not last else answer.usage["completion_tokens"],
            }
            yield self._chunk(answer, piece, "STOP" if last else None, partial, calls=last)

    def _chunk(self, answer: Answer, text, finish, usage, *, calls: bool) -> dict:
        parts = [{"text": text}] if text else []
        if calls:
            parts += [
                {"functionCall": {"name": name, "args": args}, "thoughtSignature": SIGNATURE}
                for name, args in answer.calls
            ]
        candidates = []
        for index in range(answer.choices):
            candidate = {"content": {"role": "model", "parts": parts}, "index": index}
            if finish:
                candidate["finishReason"] = finish
            if answer.logprobs and text:
                candidate["logprobsResult"] = _gemini_logprobs(text.strip())
            candidates.append(candidate)
        chunk = {"candidates": candidates, "modelVersion": self.model, "responseId": "fake-id"}
        if usage:
            prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
            chunk["usageMetadata"] = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": max(0, completion - usage["reasoning_tokens"]),
                "thoughtsTokenCount": usage["reasoning_tokens"],
                "cachedContentTokenCount": usage["cached_tokens"],
                "totalTokenCount": prompt + completion,
            }
        return chunk


def _gemini_logprobs(text: str) -> dict:
    entries = token_logprobs(text)
    return {
        "chosenCandidates": [
            {"token": e["token"], "logProbability": e["logprob"]} for e in entries
        ],
        "topCandidates": [
            {"candidates": [{"token": a["token"], "logProbability": a["logprob"]}]}
            for e in entries
            for a in e["top_logprobs"]
        ],
    }


# --- Embeddings --------------------------------------------------------------------------------


def vector(text) -> list[float]:
    """A small vector that depends on the text (or token list) only."""
    seed = len(str(text))
    return [round(seed / (position + 1), 4) for position in range(EMBEDDING_SIZE)]


class OpenAIEmbeddings:
    def __init__(self, body: dict):
        self.body = body

    def texts(self) -> list:
        value = self.body.get("input")
        if isinstance(value, str) or (value and isinstance(value[0], int)):
            return [value]
        return list(value or [])

    def reply(self, vectors: list[list[float]], tokens: int) -> dict:
        base64_wanted = self.body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": number,
                "embedding": _base64(values) if base64_wanted else values,
            }
            for number, values in enumerate(vectors)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": self.body.get("model"), "usage": usage}


class GeminiEmbeddings:
    METHODS = ("embedContent", "batchEmbedContents")

    def __init__(self, body: dict, method: str):
        self.body = body
        self.batch = method == "batchEmbedContents"

    def texts(self) -> list[str]:
        requests = self.body.get("requests", []) if self.batch else [self.body]
        return [" ".join(p.get("text", "") for p in r["content"]["parts"]) for r in requests]

    def reply(self, vectors: list[list[float]], tokens: int) -> dict:
        # Gemini's embedding answers say nothing of tokens.
        if self.batch:
            return {"embeddings": [{"values": values} for values in vectors]}
        return {"embedding": {"values": vectors[0]}}


def _base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


# --- HTTP ----------------------------------------------------------------------------------------


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


def _gemini_text(part: dict) -> str:
    if "functionResponse" in part:
        return json.dumps(part["functionResponse"]["response"])
    return part.get("text", "")


def _openai_call(number: int, name: str, args: dict) -> dict:
    arguments = json.dumps(args)
    return {
        "id": f"call_{number}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def scripted_usage(mode: str) -> dict:
    """usage:P:C[:K[:R]] as the usage the fake reports."""
    counts = [int(part) for part in mode.split(":")[1:]]
    prompt, completion, cached, reasoning = (counts + [0, 0])[:4]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": cached,
        "reasoning_tokens": reasoning,
    }


def _openai_usage(usage: dict) -> dict:
    prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": usage["cached_tokens"], "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage["reasoning_tokens"],
            "audio_tokens": 0,
        },
    }


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
