"""Load generation with wrk, and a one-shot probe that checks a target answers correctly."""

import hashlib
import http.client
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_request.lua"
SUMMARY_MARK = "BENCH_JSON "


@dataclass(frozen=True)
class Request:
    """One request, sent again and again; `expect` must appear in a correct answer."""

    method: str
    path: str
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    expect: str = ""


def probe(base_url: str, request: Request, timeout: float = 30) -> str:
    """Empty when one request gets a 200 containing `expect`; else what went wrong."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(
            request.method, request.path, body=request.body or None, headers=_headers(request)
        )
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if response.status != 200 or request.expect not in body:
        return f"HTTP {response.status}: {_gist(body)}"
    return ""


def _gist(body: str) -> str:
    """An answer in a few words: an HTML page by its title, anything else cut short."""
    if (start := body.find("<title>")) >= 0:
        return "HTML page: " + body[start + 7 : body.find("</title>", start)].strip()
    return " ".join(body.split())[:200]


def _headers(request: Request) -> dict[str, str]:
    if request.body:
        return {"Content-Type": "application/json", **request.headers}
    return dict(request.headers)


def run_wrk(
    wrk: str, base_url: str, request: Request, connections: int, seconds: int, tmp: Path
) -> dict:
    """Drive `connections` keep-alive connections for `seconds`; wrk's summary as a dict."""
    env = {
        **os.environ,
        "BENCH_METHOD": request.method,
        "BENCH_BODY_FILE": str(_body_file(request.body, tmp)) if request.body else "",
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in _headers(request).items()),
    }
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(LUA_SCRIPT), base_url + request.path]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    for line in result.stdout.splitlines():
        if line.startswith(SUMMARY_MARK):
            summary = json.loads(line[len(SUMMARY_MARK) :])
            summary["rps"] = summary["requests"] / summary["duration_s"]
            return summary
    raise RuntimeError(f"wrk printed no summary (exit {result.returncode}): {result.stderr[-500:]}")


def _body_file(body: str, tmp: Path) -> Path:
    path = tmp / f"body-{hashlib.sha256(body.encode()).hexdigest()[:12]}.json"
    if not path.exists():
        path.write_text(body)
    return path
