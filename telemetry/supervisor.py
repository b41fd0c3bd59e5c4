"""Keeps the telemetry shipper process running beside gunicorn's workers (in the master).

gunicorn.conf.py starts a `ShipperSupervisor` once the master is ready and stops it when the
master exits, after the workers. Its thread starts `manage.py ship_telemetry --parent
<master>` and waits for it; if the shipper dies (killed, crashed), the thread drops the
dead process's live Prometheus gauges (mark_process_dead, as for a worker) and starts
another, which takes over what the dead one left (telemetry.shipper_process). The thread,
not gunicorn's main loop, is the shipper's parent, so gunicorn never mistakes it for a
worker (whichever of the two reaps it, the thread's wait returns).

Starting a process from one thread while another forks is a race: a worker forked while
`Popen` waits for its child's `exec` inherits the pipe that tells `Popen` the exec
happened, keeps it open for ever, and `Popen` never returns. So the master's forks (of
workers) wait for a spawn under way, and a spawn waits for a fork (`os.register_at_fork`).
"""

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger("telemetry")

# What asks the shipper to ship what is left and exit.
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Block the stop signals in this thread while a shipper is started: it inherits the
    mask (it survives fork and exec) and unblocks them once its handlers are in place
    (`ship_telemetry`), so a stop sent while it is still starting is a drain, not a death."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ShipperSupervisor:
    def __init__(
        self,
        command: list[str],
        *,
        before_start: Callable[[], None] = lambda: None,
        after_exit: Callable[[int], None] = lambda pid: None,
        restart_delay: float = 1.0,
    ):
        self.command = command
        self.before_start = before_start
        self.after_exit = after_exit
        self.restart_delay = restart_delay
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._spawning = threading.Lock()  # held by a spawn, and by this process's forks
        self._thread = threading.Thread(target=self._run, name="telemetry-shipper", daemon=True)

    @classmethod
    def for_this_project(cls, parent: int, spool_dir: Path) -> "ShipperSupervisor":
        from telemetry.metrics.multiprocess import process_exited
        from telemetry.shipper_process import remove_status

        manage = Path(__file__).resolve().parent.parent / "manage.py"
        return cls(
            [sys.executable, str(manage), "ship_telemetry", "--parent", str(parent)],
            before_start=lambda: remove_status(spool_dir),
            after_exit=process_exited,
        )

    def start(self) -> None:
        os.register_at_fork(
            before=self._spawning.acquire,
            after_in_parent=self._spawning.release,
            after_in_child=self._spawning.release,
        )
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self.before_start()
                # Its own session: a terminal's Ctrl-C stops gunicorn, which then stops it
                # after the workers, so that it ships what they spooled last.
                with self._spawning, stop_signals_held():
                    self.process = subprocess.Popen(self.command, start_new_session=True)  # noqa: S603
            returncode = self.process.wait()
            self.after_exit(self.process.pid)
            if self._stopping.is_set():
                return
            self.restarts += 1
            logger.error(
                "Telemetry shipper (pid %d) exited with %s; starting another",
                self.process.pid,
                returncode,
            )
            self._stopping.wait(self.restart_delay)

    def stop(self, timeout: float) -> bool:
        """Let the shipper ship what is left and exit (SIGTERM), waiting up to `timeout`
        seconds, then kill it (what it left is shipped at the next start); True if it
        exited by itself."""
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is None:
            return True
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            return True
        logger.error("Telemetry shipper did not finish within %s s: killed", timeout)
        process.kill()
        self._thread.join()
        return False
