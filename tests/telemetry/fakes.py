"""A MongoDB stand-in for tests: mongomock behind a switch that makes a URI unreachable.

Use "tests.telemetry.fakes.FlakyMongoClient" as MongoBackend's client_factory. While a URI
is in DOWN, every operation raises the pymongo error mapped to it, as a real driver would
when the server is gone; each URI has its own data, shared by all clients of that URI.
"""

import mongomock
from pymongo.errors import BulkWriteError, PyMongoError, ServerSelectionTimeoutError

DOWN: dict[str, type[PyMongoError]] = {}
# uri -> error code: insert_many stores the first half of a batch, then fails the rest.
HALF_INSERTS: dict[str, int] = {}
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
    CONNECTIONS.clear()
    _SERVERS.clear()


class FlakyMongoClient:
    def __init__(self, uri: str, **options):
        self.uri = uri
        CONNECTIONS.append((uri, options))

    def __getitem__(self, name: str):
        return _Guarded(self.uri, server(self.uri)[name])

    def close(self) -> None:
        pass


class _Guarded:
    """Proxies a mongomock Database or Collection; calls fail while its URI is down."""

    def __init__(self, uri: str, target):
        self._uri = uri
        self._target = target

    def __getitem__(self, name: str):
        return _Guarded(self._uri, self._target[name])

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if isinstance(value, mongomock.Database | mongomock.Collection):
            return _Guarded(self._uri, value)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            if self._uri in DOWN:
                raise DOWN[self._uri](f"{self._uri}: connection refused")
            if name == "insert_many" and self._uri in HALF_INSERTS:
                return _insert_half(value, args[0], HALF_INSERTS[self._uri])
            result = value(*args, **kwargs)
            if isinstance(result, mongomock.Database | mongomock.Collection):
                return _Guarded(self._uri, result)
            return result

        return call


def _insert_half(insert_many, documents: list, code: int):
    half = len(documents) // 2
    insert_many(documents[:half], ordered=False)
    errors = [{"index": i, "code": code, "errmsg": "refused"} for i in range(half, len(documents))]
    raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": [], "nInserted": half})


def down(uri: str, error: type[PyMongoError] = ServerSelectionTimeoutError) -> None:
    DOWN[uri] = error


def up(uri: str) -> None:
    DOWN.pop(uri, None)
