"""Where a request's CPU goes: the gateway's WSGI app driven in-process, without gunicorn.

    python -m bench.profile [--scenario chat] [--requests 2000] [--repeat 5]
                            [--profiler none|cprofile|pyinstrument] [--top 25]

Starts nginx as the fake upstream, prepares the gateway's production settings exactly as
`make bench` does (bench.gateway), then calls `application(environ, start_response)` in
this process, one request after another, the way a gunicorn thread would. It reports the
request thread's CPU time per request (time.thread_time: not inflated by other processes
sharing the cores, unlike latency) and the whole process's, as the median of --repeat
rounds. As in a gunicorn worker, events are only spooled: shipping them is the work of
the shipper process (telemetry.shipper_process), not run here. With --profiler it then
profiles one more round and prints the top entries. Gunicorn's own share (sockets, HTTP
parsing) is not in these figures: `make bench` measures the whole server.
"""

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import gateway, payloads, procs, tools, upstream
from bench.load import Request

SCENARIOS = {
    "health": lambda token: Request("GET", "/health"),
    "completion": lambda token: Request(
        "POST",
        "/api/llm/completion",
        payloads.readme_completion_request(),
        {"X-API-Token": token},
    ),
    "chat": lambda token: Request(
        "POST",
        "/v1/chat/completions",
        payloads.chat_request(payloads.MODEL_PLAIN),
        {"Authorization": f"Bearer {token}"},
    ),
    "stream": lambda token: Request(
        "POST",
        "/v1/chat/completions",
        payloads.chat_request(payloads.MODEL_STREAM, stream=True),
        {"Authorization": f"Bearer {token}"},
    ),
}


def wsgi_environ(request: Request) -> dict:
    """The environ gunicorn's gthread worker builds for this request (the parts Django reads)."""
    body = request.body.encode()
    environ = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8001",
        "HTTP_USER_AGENT": "bench-profile",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "_body": body,
    }
    if body:
        environ.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    for name, value in request.headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def call(application, template: dict) -> int:
    """One request through the app; the status code. The body is read to the end and closed."""
    environ = dict(template)
    environ["wsgi.input"] = io.BytesIO(environ.pop("_body"))
    status = []
    result = application(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        for _ in result:
            pass
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(status[0].split()[0])


def round_cpu(application, template: dict, requests: int) -> tuple[float, float]:
    """(request thread, whole process) CPU µs per request over `requests` calls."""
    thread, process = time.thread_time(), time.process_time()
    for _ in range(requests):
        call(application, template)
    thread, process = time.thread_time() - thread, time.process_time() - process
    return thread * 1e6 / requests, process * 1e6 / requests


def profile_round(application, template: dict, requests: int, profiler: str, top: int) -> None:
    if profiler == "pyinstrument":
        from pyinstrument import Profiler

        with Profiler(interval=0.0001) as prof:
            for _ in range(requests):
                call(application, template)
        print(prof.output_text(unicode=True, color=False, show_all=False))
        return
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.runcall(lambda: [call(application, template) for _ in range(requests)])
    stats = pstats.Stats(prof).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def start_gateway(tmp: Path, scenario: str) -> tuple:
    """nginx started, this process turned into the gateway: (application, environ template)."""
    nginx = upstream.start_nginx(tools.find_tool("nginx"), tmp)
    env = gateway.environment(tmp, nginx.url, nginx.url)
    token = gateway.prepare(env)
    os.environ.update(env)  # before Django is imported: this process is the gateway now
    from dgen_ping_site.wsgi import application
    from telemetry.writer import hand_off_to_shipper_process

    # As in a gunicorn worker: events are spooled, the shipper process (not run here) ships.
    hand_off_to_shipper_process()

    template = wsgi_environ(SCENARIOS[scenario](token))
    status = call(application, template)
    if status != 200:
        raise SystemExit(f"{scenario}: HTTP {status}, not 200")
    return application, template


def run(args: argparse.Namespace, tmp: Path) -> None:
    application, template = start_gateway(tmp, args.scenario)
    round_cpu(application, template, args.warmup)
    rounds = [round_cpu(application, template, args.requests) for _ in range(args.repeat)]
    thread = statistics.median(r[0] for r in rounds)
    process = statistics.median(r[1] for r in rounds)
    spread = ", ".join(f"{r[0]:.0f}" for r in rounds)
    print(f"{args.scenario}: request thread {thread:.0f} µs/request (rounds: {spread}); ")
    print(f"{args.scenario}: whole process {process:.0f} µs/request (all its threads)")
    if args.profiler != "none":
        profile_round(application, template, args.requests, args.profiler, args.top)


def stop_telemetry() -> None:
    """Store this process's telemetry now: at exit it would write into the removed tmp."""
    writer = sys.modules.get("telemetry.writer")
    if writer is not None:
        writer.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="chat")
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the median is reported")
    parser.add_argument("--warmup", type=int, default=500, help="requests before the rounds")
    parser.add_argument("--profiler", choices=["none", "cprofile", "pyinstrument"], default="none")
    parser.add_argument("--top", type=int, default=25, help="profile entries shown")
    args = parser.parse_args(argv)
    procs.install_cleanup()
    tmp = Path(tempfile.mkdtemp(prefix="dgen-profile-"))
    try:
        run(args, tmp)
    finally:
        stop_telemetry()
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
