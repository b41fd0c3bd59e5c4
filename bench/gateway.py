"""dgen-ping under gunicorn, configured as in production, against the fake upstreams.

Deployed as the README says: `gunicorn -c gunicorn.conf.py dgen_ping_site.wsgi`, DEBUG off,
long random secrets, the default token off, telemetry on with the CSV backend. Only what a
benchmark must change is changed: the bind address (127.0.0.1 and a free port), no rate
limit (one SOEID sends everything), no HTTPS redirect (no TLS proxy in front), and a routing
table whose models point at the fake upstreams. Everything lives in a temporary directory.
"""

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import payloads, procs
from bench.load import Request, probe

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / "gunicorn.conf.py"
# Used only while the repository has no gunicorn.conf.py (or when given on the command line).
FALLBACK_WORKERS = 2
FALLBACK_THREADS = 64
HEALTH = Request("GET", "/health", expect='"status"')
SOEID, PROJECT = "default_user", "default_project"


@dataclass
class Gateway:
    proc: subprocess.Popen
    url: str
    command: list[str]
    startup_s: float
    env: dict = field(repr=False)


def routes(nginx_url: str, slow_url: str) -> dict:
    """The routing table (LLM_ROUTES_FILE, format in docs/llm.md): the README's model "gemini"
    and one model per fake base URL, all through the OpenAI-compatible provider."""

    def route(base_url: str) -> dict:
        return {
            "provider": "openai",
            "base_url": base_url,
            "model": payloads.UPSTREAM_MODEL,
            "api_key": payloads.UPSTREAM_KEY,
        }

    return {
        "routes": {
            "gemini": route(f"{nginx_url}/plain/v1"),
            payloads.MODEL_PLAIN: route(f"{nginx_url}/plain/v1"),
            payloads.MODEL_STREAM: route(f"{nginx_url}/stream/v1"),
            payloads.MODEL_SLOW: route(f"{slow_url}/plain/v1"),
        }
    }


def environment(tmp: Path, nginx_url: str, slow_url: str) -> dict:
    """Production settings, with the benchmark's few changes (see the module docstring)."""
    routes_file = tmp / "routes.json"
    routes_file.write_text(json.dumps(routes(nginx_url, slow_url), indent=2))
    telemetry_dir = tmp / "telemetry"
    telemetry_dir.mkdir(exist_ok=True)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dgen_ping_site.settings",
        "ENV_FILE": "",  # a developer's .env must not change the figures
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "TOKEN_SECRET": secrets.token_urlsafe(32),
        "ALLOW_DEFAULT_TOKEN": "false",
        "SECURE_SSL_REDIRECT": "false",
        "RATE_LIMIT": "0",
        "MONGO_URI": "",
        "TELEMETRY_BACKEND": "csv",
        "CSV_FALLBACK_DIR": str(telemetry_dir),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "LLM_ROUTES_FILE": str(routes_file),
        "DEFAULT_MODEL": "gemini",
    }


def manage(env: dict, *args: str) -> str:
    """Run a management command; its stdout. Raises with its stderr when it fails."""
    command = [sys.executable, "manage.py", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


def prepare(env: dict) -> str:
    """Create the database tables and issue the benchmark's token; the token. It is for the
    README body's SOEID, so the README's /api/llm/completion body is sent unchanged."""
    manage(env, "migrate", "--noinput")
    return manage(env, "issue_token", SOEID, "--project-id", PROJECT).splitlines()[0]


def command(port: int, workers: int | None, threads: int | None, tmp: Path) -> list[str]:
    """The README's gunicorn command; -b always (loopback), -w/--threads when asked or when
    there is no gunicorn.conf.py yet, and gunicorn's control socket in `tmp` rather than
    ~/.gunicorn (shared by every gunicorn of the user)."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    cmd = [gunicorn]
    if CONFIG_FILE.exists():
        cmd += ["-c", str(CONFIG_FILE)]
    else:
        workers, threads = workers or FALLBACK_WORKERS, threads or FALLBACK_THREADS
        cmd += ["-k", "gthread"]
    cmd += ["-b", f"127.0.0.1:{port}", "--control-socket", str(tmp / "gunicorn.ctl")]
    if workers:
        cmd += ["-w", str(workers)]
    if threads:
        cmd += ["--threads", str(threads)]
    return [*cmd, "dgen_ping_site.wsgi"]


def start(env: dict, tmp: Path, workers: int | None, threads: int | None) -> Gateway:
    """Spawn gunicorn; returns once /health answers 200, timing spawn → first answer."""
    port = procs.free_port()
    cmd = command(port, workers, threads, tmp)
    env = {**env, "PORT": str(port)}
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    if threads:
        env["GUNICORN_THREADS"] = str(threads)
    url = f"http://127.0.0.1:{port}"
    log = tmp / "gunicorn.log"
    proc = procs.spawn(cmd, log, env, cwd=ROOT)
    waited = procs.wait_until(lambda: not probe(url, HEALTH, timeout=2), proc, 30, log)
    return Gateway(proc, url, cmd, waited, env)


def count_lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))


def telemetry_rows(env: dict) -> int:
    """Rows in the CSV telemetry files, header lines not counted (events hold no newline)."""
    files = Path(env["CSV_FALLBACK_DIR"]).glob("*.csv*")
    return sum(max(count_lines(path) - 1, 0) for path in files)
