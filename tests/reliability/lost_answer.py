"""A primary whose server dies right after storing a batch, before answering: the write
whose answer is lost, on demand, on a real server.

Killing a server under load lands between a commit and its answer only now and then (one
run in three found one such batch). Here the test arms the store with the server's PID, in
the file `arm` of the directory named by LOST_ANSWER_DIR; the first worker to write a batch
after that takes the file (a rename: one batch, one worker), stores the batch, SIGKILLs the
server, says so (the file `fired`) and raises the UncertainWrite the broken connection would
have raised.
"""

import os
import signal
from pathlib import Path

from telemetry.backends.base import UncertainWrite
from tests.telemetry.fakes import AnswerLost

DIR_ENV = "LOST_ANSWER_DIR"


def arm(directory: Path, server_pid: int) -> None:
    scratch = directory / "arm.new"
    scratch.write_text(str(server_pid))
    scratch.replace(directory / "arm")


def fired(directory: Path) -> bool:
    return (directory / "fired").exists()


class AnswerLostOnArm(AnswerLost):
    server_pid: int | None = None

    def lose(self) -> bool:
        self.server_pid = _take_arm()
        return self.server_pid is not None

    def write_batch(self, events):
        try:
            super().write_batch(events)
        except UncertainWrite:
            if self.server_pid is not None:  # stored, and now the answer is lost
                os.kill(self.server_pid, signal.SIGKILL)
                (_directory() / "fired").touch()  # only now may the test reap the server
            raise


def _directory() -> Path:
    return Path(os.environ[DIR_ENV])


def _take_arm() -> int | None:
    try:
        (_directory() / "arm").rename(_directory() / "taken")
    except FileNotFoundError:
        return None
    return int((_directory() / "taken").read_text())
