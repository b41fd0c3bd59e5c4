"""Starting and always stopping the processes a benchmark run needs.

Every child gets its own session (process group), so one signal reaches a server and all
the workers it forked, and a Ctrl-C in the terminal reaches only this orchestrator, which
then stops the groups itself, in reverse order of start.
"""

import atexit
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

_running: list[subprocess.Popen] = []


class StartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def spawn(
    command: list[str], log_path: Path, env: dict | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    """Start a long-running child with stdout+stderr to a log file; stopped by stop_all()."""
    log = log_path.open("ab")
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        log.close()
    _running.append(proc)
    return proc


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the child's whole group, then SIGKILL what is left after `grace` seconds."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # Workers can outlive their master briefly; the group is gone only when they are.
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc in _running:
        _running.remove(proc)


def stop_all() -> None:
    """Stop every child still running, newest first."""
    for proc in reversed(list(_running)):
        stop(proc, grace=5.0)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_cleanup() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt, and stop children at exit.
    SIGINT too: a shell starts background jobs with it ignored, and `kill -INT` must work."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    atexit.register(stop_all)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(ready, proc: subprocess.Popen, timeout: float, log_path: Path) -> float:
    """Poll `ready()` until true; seconds waited. StartError if the child dies or times out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if ready():
            return time.monotonic() - started
        if proc.poll() is not None:
            raise StartError(f"exited with {proc.returncode}:\n{log_tail(log_path)}")
        time.sleep(0.005)
    raise StartError(f"not ready after {timeout:.0f} s:\n{log_tail(log_path)}")
