"""Exercise a running dgen-ping the way the original test client does; exit non-zero on any failure.

    python examples/test_client.py [--url URL] [--token-secret SECRET] [soeid] [prompt]

Defaults: the URL from DGEN_PING_URL, else http://127.0.0.1:8001 (`make run`); the token
secret from TOKEN_SECRET, else the development one, `dgen_secret_key`.
"""

import argparse
import os
import sys
import uuid

import requests

TIMEOUT = 120
DEV_TOKEN_SECRET = "dgen_secret_key"


class Check:
    def __init__(self):
        self.failures = 0

    def __call__(self, name: str, ok: bool, detail: str = "") -> bool:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}" + (f" - {detail}" if detail else ""))
        self.failures += not ok
        return ok


class Client:
    def __init__(self, url: str, token_secret: str):
        self.url = url.rstrip("/")
        self.secret = {"X-Token-Secret": token_secret}

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=TIMEOUT)

    def post(self, path: str, body: dict, **headers) -> requests.Response:
        return requests.post(f"{self.url}{path}", json=body, headers=headers, timeout=TIMEOUT)


def completion(client: Client, check: Check, token: str, soeid: str, prompt: str, label: str):
    body = {
        "soeid": soeid,
        "project_name": "default_project",
        "prompt": prompt,
        "model": "gemini",
        "temperature": 0.3,
        "max_tokens": 10000,
    }
    response = client.post("/api/llm/completion", body, **{"X-API-Token": token})
    data = response.json()
    ok = response.status_code == 200 and "completion" in data and "request_id" in data["metadata"]
    check(f"completion ({label})", ok, str(data.get("completion", data))[:100])


def telemetry_event(soeid: str) -> dict:
    return {
        "event_type": "custom_event",
        "request_id": f"test-{uuid.uuid4().hex[:8]}",
        "client_ip": "127.0.0.1",
        "metadata": {
            "client_id": soeid,
            "soeid": soeid,
            "project_name": "default_project",
            "target_service": "custom",
            "endpoint": "/custom",
            "method": "POST",
            "status_code": 200,
            "latency_ms": 100.0,
            "request_size": 50,
            "response_size": 200,
        },
    }


def exercise(client: Client, soeid: str, prompt: str) -> int:
    check = Check()
    health = client.get("/health")
    check("health", health.status_code == 200, str(health.json().get("status")))

    generated = client.post("/generate-token", {"soeid": soeid}, **client.secret)
    if not check("generate-token", generated.status_code == 200, f"HTTP {generated.status_code}"):
        return 1
    token = generated.json()["token"]
    verified = client.post("/verify-token", {"token": token}, **client.secret).json()
    check("verify-token", verified.get("valid") is True and verified["data"]["soeid"] == soeid)

    completion(client, check, token, soeid, prompt, "generated token")
    if client.post("/verify-token", {"token": "1"}, **client.secret).json().get("valid"):
        completion(client, check, "1", "default_user", prompt, 'default token "1"')
    else:
        print('[SKIP] completion (default token "1") - off here, as in production')

    logged = client.post("/telemetry", telemetry_event(soeid), **{"X-API-Token": token})
    check("telemetry", logged.status_code == 200, str(logged.json()))

    failed = check.failures
    print(f"\n{'All checks passed.' if not failed else f'{failed} check(s) failed.'}")
    return 1 if failed else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Exercise a running dgen-ping: health, tokens, a completion, telemetry. "
        "Exits non-zero when anything fails."
    )
    parser.add_argument(
        "soeid", nargs="?", default="default_user", help="SOEID to issue a token for"
    )
    parser.add_argument("prompt", nargs="?", default="Hello, how are you?", help="prompt to send")
    parser.add_argument(
        "--url",
        default=os.environ.get("DGEN_PING_URL", "http://127.0.0.1:8001"),
        help="the service (default: $DGEN_PING_URL, else http://127.0.0.1:8001)",
    )
    parser.add_argument(
        "--token-secret",
        default=os.environ.get("TOKEN_SECRET", DEV_TOKEN_SECRET),
        help="X-Token-Secret for /generate-token (default: $TOKEN_SECRET, else the "
        "development secret)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        return exercise(Client(args.url, args.token_secret), args.soeid, args.prompt)
    except requests.ConnectionError:
        print(
            f"No dgen-ping answers at {args.url}. Start it with `make run` "
            "(make run PORT=8002 for another port), or give its address with --url.",
            file=sys.stderr,
        )
        return 2
    except (requests.RequestException, ValueError) as exc:
        print(f"{args.url} did not answer as dgen-ping does: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
