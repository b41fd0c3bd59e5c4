"""nginx in front of a gateway, configured by the repository's own template
(deploy/nginx/dgen-ping.conf.template), as the README's deployment runs it.

The official nginx image renders the template with envsubst; here the same ${NAME}s are
replaced, and the result is included in a minimal main configuration whose paths are all in
a temporary directory, so nginx runs unprivileged on a free port.
"""

import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.telemetry import servers
from tests.tools import missing_tool

TEMPLATE = servers.ROOT / "deploy" / "nginx" / "dgen-ping.conf.template"
MAIN = """\
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/dgen-ping.conf;
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if not found:
        missing_tool("nginx is not installed (Debian: apt-get install nginx-light)")
    return found


def render(template: str, values: dict[str, str]) -> str:
    """envsubst limited to `values`, as the nginx image does: nginx's $variables stay."""
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


@dataclass
class FrontProxy:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, tmp: Path, gateway_port: int, client_timeout: int) -> "FrontProxy":
        tmp.mkdir(parents=True, exist_ok=True)
        port = servers.free_port()
        values = {
            "NGINX_PORT": f"127.0.0.1:{port}",
            "GATEWAY": f"127.0.0.1:{gateway_port}",
            "CLIENT_TIMEOUT": str(client_timeout),
            "MAX_BODY": "2m",
        }
        (tmp / "dgen-ping.conf").write_text(render(TEMPLATE.read_text(), values))
        (tmp / "nginx.conf").write_text(MAIN.format(tmp=tmp))
        command = [nginx_binary(), "-p", str(tmp), "-c", str(tmp / "nginx.conf")]
        command += ["-e", str(tmp / "error.log"), "-g", "daemon off;"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        servers.wait_until_serving(port, process)
        return cls(process, port)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)  # nginx's graceful shutdown
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
