"""Exercise a running dgen-ping the way the seed's client does; exit non-zero on any failure.

    python examples/test_client.py [soeid] [prompt]

Environment: DGEN_PING_URL (default http://127.0.0.1:8001), TOKEN_SECRET (default the
development secret `dgen_secret_key`).
"""

import os
import sys
import uuid

import requests

BASE_URL = os.environ.get("DGEN_PING_URL", "http://127.0.0.1:8001").rstrip("/")
TOKEN_SECRET = os.environ.get("TOKEN_SECRET", "dgen_secret_key")
TIMEOUT = 120


class Check:
    def __init__(self):
        self.failures = 0

    def __call__(self, name: str, ok: bool, detail: str = "") -> bool:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}" + (f" - {detail}" if detail else ""))
        self.failures += not ok
        return ok


def post(path: str, body: dict, **headers) -> requests.Response:
    return requests.post(f"{BASE_URL}{path}", json=body, headers=headers, timeout=TIMEOUT)


def completion(check: Check, token: str, soeid: str, prompt: str, label: str) -> None:
    body = {
        "soeid": soeid,
        "project_name": "default_project",
        "prompt": prompt,
        "model": "gemini",
        "temperature": 0.3,
        "max_tokens": 10000,
    }
    response = post("/api/llm/completion", body, **{"X-API-Token": token})
    data = response.json()
    ok = response.status_code == 200 and "completion" in data and "request_id" in data["metadata"]
    check(f"completion ({label})", ok, str(data.get("completion", data))[:100])


def main(soeid: str = "default_user", prompt: str = "Hello, how are you?") -> int:
    check = Check()
    health = requests.get(f"{BASE_URL}/health", timeout=TIMEOUT)
    check("health", health.status_code == 200, str(health.json().get("status")))

    secret = {"X-Token-Secret": TOKEN_SECRET}
    generated = post("/generate-token", {"soeid": soeid}, **secret)
    if not check("generate-token", generated.status_code == 200, f"HTTP {generated.status_code}"):
        return 1
    token = generated.json()["token"]
    verified = post("/verify-token", {"token": token}, **secret).json()
    check("verify-token", verified.get("valid") is True and verified["data"]["soeid"] == soeid)

    completion(check, token, soeid, prompt, "generated token")
    completion(check, "1", "default_user", prompt, 'default token "1"')

    event = {
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
    logged = post("/telemetry", event, **{"X-API-Token": token})
    check("telemetry", logged.status_code == 200, str(logged.json()))

    print(
        f"\n{'All checks passed.' if not check.failures else f'{check.failures} check(s) failed.'}"
    )
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
