"""A MongoDB stand-in for tests: mongomock behind a switch that makes a URI unreachable
(and AnswerLost, a store whose server "dies" between storing a batch and answering).

Use "tests.telemetry.fakes.FlakyMongoClient" as MongoBackend's client_factory. While a URI
is in DOWN, every operation raises the pymongo error mapped to it, as a real driver would
when the server is gone; each URI has its own data, shared by all clients of that URI.

Subclasses change where the data lives (`data`) and when operations fail (`fault`,
`half_insert_code`, `run`): tests/reliability/shared_mongo.py shares one switch and one
store between the processes of a gunicorn server.
"""

import mongomock
import pymongo
import pymongo.collection
import pymongo.database
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from telemetry.backends.base import UncertainWrite
from telemetry.backends.mongo import MongoBackend

DOWN: dict[str, type[PyMongoError]] = {}
# uri -> error code: insert_many stores the first half of a batch, then fails the rest.
HALF_INSERTS: dict[str, int] = {}
# URIs whose next insert_many stores the batch, then loses the answer (AutoReconnect).
LOST_ANSWERS: set[str] = set()
# (uri, options) of every client created.
CONNECTIONS: list[tuple[str, dict]] = []
_SERVERS: dict[str, mongomock.MongoClient] = {}


def server(uri: str) -> mongomock.MongoClient:
    """The data behind a URI, for assertions."""
    if uri not in _SERVERS:
        _SERVERS[uri] = mongomock.MongoClient()
    return _SERVERS[uri]


def reset() -> None:
    DOWN.clear()
    HALF_INSERTS.clear()
    LOST_ANSWERS.clear()
    CONNECTIONS.clear()
    _SERVERS.clear()


class FlakyMongoClient:
    def __init__(self, uri: str, **options):
        self.uri = uri
        CONNECTIONS.append((uri, options))

    def __getitem__(self, name: str):
        return _Guarded(self, self.data()[name])

    def data(self):
        """The client the data lives in (mongomock's, or a real one)."""
        return server(self.uri)

    def fault(self, operation: str) -> type[PyMongoError] | None:
        """The error `operation` fails with now, or None."""
        return DOWN.get(self.uri)

    def half_insert_code(self) -> int | None:
        return HALF_INSERTS.get(self.uri)

    def run(self, operation: str, method, args: tuple, kwargs: dict):
        """Every database and collection call goes through here."""
        error = self.fault(operation)
        if error is not None:
            raise error(f"{self.uri}: connection refused")
        code = self.half_insert_code() if operation == "insert_many" else None
        if code is not None:
            return _insert_half(method, args[0], code)
        if operation == "insert_many" and self.uri in LOST_ANSWERS:
            LOST_ANSWERS.discard(self.uri)
            method(*args, **kwargs)
            raise AutoReconnect(f"{self.uri}: connection reset after the write")
        if operation == "bulk_write" and isinstance(method.__self__, mongomock.Collection):
            return _bulk_updates(method.__self__, args[0])
        return method(*args, **kwargs)

    def close(self) -> None:
        pass


_WRAPPED = (
    mongomock.Database,
    mongomock.Collection,
    pymongo.database.Database,
    pymongo.collection.Collection,
)


class _Guarded:
    """Proxies a Database or Collection; its calls go through the client's run()."""

    def __init__(self, client: FlakyMongoClient, target):
        self._client = client
        self._target = target

    def __getitem__(self, name: str):
        return _Guarded(self._client, self._target[name])

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if isinstance(value, _WRAPPED):
            return _Guarded(self._client, value)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            result = self._client.run(name, value, args, kwargs)
            return _Guarded(self._client, result) if isinstance(result, _WRAPPED) else result

        return call


def _bulk_updates(collection: mongomock.Collection, operations: list) -> None:
    """bulk_write of UpdateOne operations, one by one: mongomock 4.3 cannot take the
    operations of pymongo 4.20 (the rollups' increments, telemetry.backends.mongo_rollups)."""
    for operation in operations:
        assert isinstance(operation, pymongo.UpdateOne), operation
        collection.update_one(operation._filter, operation._doc, upsert=operation._upsert)


def _insert_half(insert_many, documents: list, code: int):
    half = len(documents) // 2
    insert_many(documents[:half], ordered=False)
    errors = [{"index": i, "code": code, "errmsg": "refused"} for i in range(half, len(documents))]
    raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": [], "nInserted": half})


def down(uri: str, error: type[PyMongoError] = ServerSelectionTimeoutError) -> None:
    DOWN[uri] = error


def up(uri: str) -> None:
    DOWN.pop(uri, None)


class AnswerLost(MongoBackend):
    """Stores the next batch, then loses the answer, as a server killed right after
    committing it would (subclasses say when, with `lose`)."""

    lose_next = True

    def lose(self) -> bool:
        lose, self.lose_next = self.lose_next, False
        return lose

    def write_batch(self, events):
        lose = self.lose()
        super().write_batch(events)
        if lose:
            ids = {event["event_id"] for event in events}
            raise UncertainWrite("AutoReconnect: connection closed after the write", ids)
