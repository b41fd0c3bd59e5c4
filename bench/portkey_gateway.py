"""Portkey's open-source gateway (@portkey-ai/gateway, Node) against the same fake upstreams.

Run as its deployment guide runs the Node server, `node build/start-server.js`: one process
(it has no worker option; figures are per process, like the gateway's per worker),
`--headless` (no browser console: its /public pages and /log/stream feed are not
registered) and NODE_ENV=production. It checks no key of its own, keeps no telemetry and
has no config file here: each request names its provider and upstream in headers
(bench/scenarios.py). What a benchmark has to change: it listens on 127.0.0.1 (through a
preload, as start-server.js has no host option), and proxy variables are not passed on (its
upstream calls go straight to loopback, as the others' do).
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.load import Request, probe

LOOPBACK_PRELOAD = Path(__file__).resolve().parent / "portkey_loopback.cjs"
READY = Request("GET", "/", expect="AI Gateway says hey!")
PROXY_VARIABLES = {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}


@dataclass
class Portkey:
    proc: subprocess.Popen
    url: str
    command: list[str]
    startup_s: float


def command(entry: Path, port: int) -> list[str]:
    node = shutil.which("node") or "node"
    return [node, "--require", str(LOOPBACK_PRELOAD), str(entry), f"--port={port}", "--headless"]


def start(entry: Path, tmp: Path) -> Portkey:
    """Spawn Portkey's Node server; returns once `GET /` answers, timing spawn → answer."""
    port = procs.free_port()
    cmd = command(entry, port)
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env["NODE_ENV"] = "production"
    log = tmp / "portkey.log"
    proc = procs.spawn(cmd, log, env, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    waited = procs.wait_until(lambda: not probe(url, READY, timeout=2), proc, 60, log)
    return Portkey(proc, url, cmd, waited)
