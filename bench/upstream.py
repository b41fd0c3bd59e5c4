"""The fake upstreams: nginx answering fixed bodies at once, and a 200 ms one.

nginx cannot cheaply look inside a request body, so plain and streamed answers live under
two base URLs and the gateway gets one route per base URL:

    <base>/plain/v1/chat/completions    fixed chat.completion JSON with usage
    <base>/stream/v1/chat/completions   fixed SSE stream ending in a usage chunk and [DONE]
    <base>/gemini/v1beta/models/<m>:generateContent        Gemini JSON with usageMetadata
    <base>/gemini/v1beta/models/<m>:streamGenerateContent  Gemini SSE
    <base>/_bench/requests              requests received so far (nginx's stub_status)

Counting the requests an upstream received around a measurement shows that a gateway
really called it for every answer, so no figure is of an error path.
"""

import http.client
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import payloads, procs

STATUS_PATH = "/_bench/requests"
NGINX_CONF = """\
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /plain/v1/chat/completions {{
            default_type application/json;
            return 200 {chat};
        }}
        location = /stream/v1/chat/completions {{
            default_type text/event-stream;
            add_header Cache-Control no-cache;
            return 200 {stream};
        }}
        location ~ ^/gemini/v1beta/models/[^/]+:generateContent$ {{
            default_type application/json;
            return 200 {gemini};
        }}
        location ~ ^/gemini/v1beta/models/[^/]+:streamGenerateContent$ {{
            default_type text/event-stream;
            return 200 {gemini_stream};
        }}
        location = {status_path} {{
            stub_status;
        }}
        location / {{
            default_type application/json;
            return 404 '{{"error": {{"message": "no such fake route"}}}}';
        }}
    }}
}}
"""


@dataclass
class Upstream:
    proc: subprocess.Popen
    url: str  # http://127.0.0.1:<port>, without a trailing slash
    startup_s: float


def _nginx_string(text: str) -> str:
    """`text` as a single-quoted nginx string (nginx turns \\n back into a newline)."""
    if "$" in text:
        raise ValueError("nginx would read '$' as a variable")
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def nginx_config(tmp: Path, port: int) -> str:
    return NGINX_CONF.format(
        tmp=tmp,
        port=port,
        status_path=STATUS_PATH,
        chat=_nginx_string(payloads.chat_completion()),
        stream=_nginx_string(payloads.chat_completion_stream()),
        gemini=_nginx_string(payloads.gemini_generate_content()),
        gemini_stream=_nginx_string(payloads.gemini_stream()),
    )


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def requests_received(base_url: str) -> int:
    """Requests the upstream has received, this one included, from the third line of a
    stub_status page ("server accepts handled requests", then the three counts)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", STATUS_PATH)
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    return int(body.splitlines()[2].split()[2])


def start_nginx(nginx: str, tmp: Path) -> Upstream:
    """nginx in the foreground with its own config, pid and logs under `tmp`."""
    port = procs.free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_config(tmp, port))
    log = tmp / "nginx.log"
    # -e: the error log before the config is read (else /var/log/nginx, which needs root).
    command = [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "nginx-error.log")]
    proc = procs.spawn([*command, "-g", "daemon off;"], log)
    waited = procs.wait_until(lambda: _listening(port), proc, 10, log)
    return Upstream(proc, f"http://127.0.0.1:{port}", waited)


def start_slow(tmp: Path, delay: float) -> Upstream:
    """The asyncio server of bench.slow_upstream, answering after `delay` seconds."""
    port = procs.free_port()
    log = tmp / "slow-upstream.log"
    command = [sys.executable, "-m", "bench.slow_upstream", "--port", str(port)]
    proc = procs.spawn([*command, "--delay", str(delay)], log)
    waited = procs.wait_until(lambda: _listening(port), proc, 10, log)
    return Upstream(proc, f"http://127.0.0.1:{port}", waited)
