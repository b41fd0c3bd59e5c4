"""MongoDB for a gunicorn server under test: one fault switch and one store for all its
processes, at the driver boundary (MongoBackend's `client_factory`).

Every operation of `SharedMongoClient` first reads the switch, a file in the directory named
by SHARED_MONGO_DIR, and fails the way pymongo fails:

    up          every operation works
    down        ServerSelectionTimeoutError: the server is unreachable (at start, or gone)
    reconnect   AutoReconnect: the connection was lost mid-run
    flap:<s>    AutoReconnect during every other <s>-second window of the wall clock
    partial     insert_many stores the first half of each batch, then BulkWriteError
                (NotWritablePrimary) for the rest, as a primary stepping down would

The data is mongomock's, shared by the processes through a journal of inserted documents
(JSON lines, replayed into each process's mongomock under a lock before every operation),
so the test reads what the workers stored. Faults a real server can be made to have
(killed, restarted, unreachable) are tested on one: tests/reliability/test_mongo_server_faults.py.
"""

import fcntl
import os
import time
from pathlib import Path

import mongomock
from bson import json_util
from pymongo.errors import AutoReconnect, PyMongoError, ServerSelectionTimeoutError

from telemetry.backends.mongo import from_document
from tests.telemetry import fakes

HOME_ENV = "SHARED_MONGO_DIR"
SWITCH = "switch"
JOURNAL = "journal.jsonl"
NOT_WRITABLE_PRIMARY = 10107
JSON_OPTIONS = json_util.JSONOptions(tz_aware=True)


def set_switch(home: Path, mode: str) -> None:
    """Flip the switch for every process of the server (atomically: write, then rename)."""
    scratch = home / (SWITCH + ".new")
    scratch.write_text(mode)
    scratch.replace(home / SWITCH)


def read_switch(home: Path) -> str:
    try:
        return (home / SWITCH).read_text().strip() or "up"
    except FileNotFoundError:
        return "up"


class SharedMongoClient(fakes.FlakyMongoClient):
    def __init__(self, uri: str, **options):
        super().__init__(uri, **options)
        self.home = Path(os.environ[HOME_ENV])

    def data(self):
        return _local

    def fault(self, operation: str) -> type[PyMongoError] | None:
        mode = read_switch(self.home)
        if mode == "down":
            return ServerSelectionTimeoutError
        if mode == "reconnect":
            return AutoReconnect
        if mode.startswith("flap:"):
            window = int(time.time() / float(mode.partition(":")[2]))
            return AutoReconnect if window % 2 else None
        return None

    def half_insert_code(self) -> int | None:
        return NOT_WRITABLE_PRIMARY if read_switch(self.home) == "partial" else None

    def run(self, operation: str, method, args: tuple, kwargs: dict):
        with _Journal(self.home / JOURNAL) as journal:
            journal.replay()
            try:
                return super().run(operation, method, args, kwargs)
            finally:
                if operation == "insert_many":
                    journal.record(method.__self__, args[0])


# --- mongomock shared through a journal -----------------------------------------------------

_local = mongomock.MongoClient()  # this process's copy; fork-safe: nothing is connected
_journaled: set = set()  # ids of documents in the journal, as far as this process knows
_offset = 0  # bytes of the journal this process has replayed


class _Journal:
    """The journal file, locked for one operation."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> "_Journal":
        self.file = open(self.path, "a+b")  # noqa: SIM115 (closed in __exit__)
        fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()  # releases the lock

    def replay(self) -> None:
        """Insert what other processes journaled since we last looked."""
        global _offset
        self.file.seek(_offset)
        for line in self.file:
            entry = json_util.loads(line, json_options=JSON_OPTIONS)
            document = entry["document"]
            if document["_id"] not in _journaled:
                _local[entry["db"]][entry["collection"]].insert_one(document)
                _journaled.add(document["_id"])
        _offset = self.file.tell()

    def record(self, collection, documents: list[dict]) -> None:
        """Journal the documents an insert_many stored (all, some or none of them)."""
        ids = [document["_id"] for document in documents if document["_id"] not in _journaled]
        stored = {d["_id"] for d in collection.find({"_id": {"$in": ids}}, {"_id": 1})}
        lines = []
        for document in documents:
            if document["_id"] in stored and document["_id"] not in _journaled:
                entry = {"db": collection.database.name, "collection": collection.name}
                lines.append(json_util.dumps({**entry, "document": document}) + "\n")
                _journaled.add(document["_id"])
        self.file.write("".join(lines).encode())
        self.file.flush()
        global _offset
        _offset = self.file.tell()


# --- what the test reads --------------------------------------------------------------------


def stored_events(home: Path) -> list[dict]:
    """Every event the server's processes stored in 'MongoDB', one per stored document."""
    path = home / JOURNAL
    lines = path.read_bytes().splitlines() if path.exists() else []
    entries = [json_util.loads(line, json_options=JSON_OPTIONS) for line in lines]
    return [from_document(entry["document"]) for entry in entries]
