"""What a process holds, read from /proc: its threads and its open sockets."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Holdings:
    threads: int
    sockets: int


def holdings(pid: int) -> Holdings:
    return Holdings(threads=len(os.listdir(f"/proc/{pid}/task")), sockets=_sockets(pid))


def _sockets(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed while we looked
            pass
    return count
