"""Events in a MongoDB collection, failing over from MONGO_URI to the MONGO_BACKUP_URI list.

Each event is one document whose `_id` is the event id, so a batch written twice (after a
timeout, a crash, a replay) is stored once: duplicate-key errors count as written.
`timestamp` is stored as a BSON date so Mongo's own date tools and indexes work on it.

Clients are created on first use, in the process that uses them: never at import time and
never before gunicorn forks its workers (pymongo clients are not fork-safe).
"""

import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from dgen_ping_site.clock import iso_utc
from telemetry.backends.base import PartialWrite, Position, TelemetryBackend
from telemetry.query import GROUP_FIELDS, EventFilter, check_group_by, parse_timestamp
from telemetry.schema import FIELDS
from telemetry.usage import COST_FIELD, PERCENTILES, TOKEN_FIELDS, sort_key

try:
    import pymongo
    from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure
except ImportError:  # pragma: no cover - pymongo is in requirements/base.txt
    pymongo = None

DUPLICATE_KEY = 11000
INDEXED_FIELDS = ("timestamp", "soeid", "project_name", "model")


class MongoBackend(TelemetryBackend):
    def __init__(
        self,
        uris: Sequence[str],
        db_name: str = "dgen_db",
        collection: str = "telemetry",
        server_selection_timeout_ms: int = 2000,
        write_concern: str | int = 1,
        retry_primary_interval: float = 30.0,
        client_factory: str = "pymongo.MongoClient",
    ):
        if pymongo is None:
            raise ImproperlyConfigured("MongoBackend needs pymongo: pip install pymongo.")
        self.uris = [uri for uri in uris if uri]
        if not self.uris:
            raise ImproperlyConfigured(
                "MongoBackend needs a URI: set MONGO_URI (and optionally MONGO_BACKUP_URI), "
                "or TELEMETRY_BACKEND=csv."
            )
        self.db_name = db_name
        self.collection_name = collection
        self.timeout_ms = server_selection_timeout_ms
        self.write_concern = _write_concern(write_concern)
        self.retry_primary_interval = retry_primary_interval
        self.client_factory = _import_factory(client_factory)
        self._lock = threading.Lock()
        self._collections: dict[int, object] = {}
        self._active = 0
        self._retry_primary_at = 0.0
        self._percentile_operator = True  # until the server says it has no $percentile

    # --- connections and failover ---------------------------------------------------------

    def _collection(self, index: int):
        with self._lock:
            if index not in self._collections:
                self._collections[index] = self._connect(self.uris[index])
            return self._collections[index]

    def _connect(self, uri: str):
        # A few seconds, not pymongo's 30, so failing over to the backup takes <= 5 s.
        client = self.client_factory(
            uri,
            serverSelectionTimeoutMS=self.timeout_ms,
            connectTimeoutMS=self.timeout_ms,
            socketTimeoutMS=max(10_000, self.timeout_ms),
            tz_aware=True,
            appname="dgen-ping",
        )
        collection = client[self.db_name][self.collection_name].with_options(
            write_concern=pymongo.WriteConcern(w=self.write_concern)
        )
        return _Indexed(collection)

    def _order(self) -> list[int]:
        """URIs to try: the one in use, or the first again once its retry time has come."""
        start = self._active
        if start and time.monotonic() >= self._retry_primary_at:
            start = 0
        return [*range(start, len(self.uris)), *range(start)]

    def _run(self, operation: Callable):
        """operation(collection) on the first URI that answers; raises the last failure."""
        failure = None
        for index in self._order():
            try:
                collection = self._collection(index)
                collection.ensure_indexes()
                result = operation(collection.collection)
            except ConnectionFailure as exc:
                failure = exc
                continue
            if index and index != self._active:
                self._retry_primary_at = time.monotonic() + self.retry_primary_interval
            self._active = index
            return result
        raise failure

    def mode(self) -> str:
        return "backup" if self._active else "connected"

    def close(self) -> None:
        with self._lock:
            collections, self._collections = self._collections, {}
        for indexed in collections.values():
            indexed.collection.database.client.close()

    # --- the contract ---------------------------------------------------------------------

    def write_batch(self, events: Sequence[dict]) -> None:
        if events:
            documents = [to_document(event) for event in events]
            self._run(lambda collection: _insert(collection, documents))

    def iter_events(self, filters: EventFilter | None = None) -> Iterator[dict]:
        query = to_query(filters or EventFilter())
        cursor = self._run(lambda c: c.find(query).sort("timestamp", 1).batch_size(1000))
        for document in cursor:
            yield from_document(document)

    def recent_events(
        self, filters: EventFilter | None = None, before: Position | None = None, limit: int = 100
    ) -> list[dict]:
        query = to_query(filters or EventFilter())
        if before is not None:
            query = {"$and": [query, _older_than(before)]}
        newest_first = [("timestamp", -1), ("_id", -1)]
        documents = self._run(lambda c: list(c.find(query).sort(newest_first).limit(limit)))
        return [from_document(document) for document in documents]

    def count_events(self, filters: EventFilter | None = None) -> int | None:
        query = to_query(filters or EventFilter())
        return self._run(lambda c: c.count_documents(query))

    def aggregate_usage(
        self, group_by: Sequence[str] = (), filters: EventFilter | None = None
    ) -> list[dict]:
        group_by = check_group_by(group_by)
        match = {"$match": to_query(filters or EventFilter())}
        if self._percentile_operator:
            try:
                rows = self._aggregate([match, *usage_pipeline(group_by)])
                return _rows(rows, group_by)
            except (OperationFailure, NotImplementedError):
                # MongoDB < 7.0 (or mongomock): no $percentile accumulator.
                self._percentile_operator = False
        return _rows(self._aggregate([match, *sorted_usage_pipeline(group_by)]), group_by)

    def _aggregate(self, pipeline: list) -> list[dict]:
        return self._run(lambda c: list(c.aggregate(pipeline, allowDiskUse=True)))

    def existing_ids(self, ids: Collection[str], since: datetime | None = None) -> set[str]:
        query = {"_id": {"$in": list(ids)}}
        return {doc["_id"] for doc in self._run(lambda c: list(c.find(query, {"_id": 1})))}

    def health(self) -> dict:
        try:
            self._run(lambda c: c.database.command("ping"))
        except Exception as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "error": None}


class _Indexed:
    """A collection and whether its indexes were ensured (once per client)."""

    def __init__(self, collection):
        self.collection = collection
        self.done = False

    def ensure_indexes(self) -> None:
        if not self.done:
            for name in INDEXED_FIELDS:
                self.collection.create_index(name)
            self.done = True


def _import_factory(path: str) -> Callable:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"MongoBackend client_factory {path!r}: {exc}") from exc


def _write_concern(value: str | int) -> str | int:
    return int(value) if str(value).isdigit() else value


def _insert(collection, documents: list[dict]) -> None:
    try:
        collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        details = exc.details
        others = [e for e in details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
        if details.get("writeConcernErrors"):
            raise  # the writes happened but may not last: say nothing was stored
        if others:
            # Unordered: every document but the refused ones was stored (or already was).
            refused = {error["index"] for error in others}
            stored = {doc["_id"] for i, doc in enumerate(documents) if i not in refused}
            message = f"{len(refused)} of {len(documents)} events refused: {others[0]['errmsg']}"
            raise PartialWrite(message, stored) from exc
        # Only duplicates: those events were stored by an earlier attempt.


# --- mapping events <-> documents -----------------------------------------------------------


def to_document(event: dict) -> dict:
    document = {"_id": event["event_id"], **event}
    del document["event_id"]
    document["timestamp"] = parse_timestamp(event["timestamp"])
    return document


def from_document(document: dict) -> dict:
    event = {name: document.get(name) for name in FIELDS}
    event["event_id"] = document["_id"]
    moment = document["timestamp"]
    event["timestamp"] = iso_utc(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    event["extra"] = event["extra"] or {}
    return event


def to_query(filters: EventFilter) -> dict:
    query: dict = dict(filters.field_values())
    span = {}
    if filters.since is not None:
        span["$gte"] = filters.since
    if filters.until is not None:
        span["$lt"] = filters.until
    if span:
        query["timestamp"] = span
    return query


def _older_than(position: Position) -> dict:
    moment, event_id = parse_timestamp(position[0]), position[1]
    return {
        "$or": [{"timestamp": {"$lt": moment}}, {"timestamp": moment, "_id": {"$lt": event_id}}]
    }


# --- usage aggregation ----------------------------------------------------------------------


def _group_id(group_by: Sequence[str]) -> dict:
    keys = {}
    for name in group_by:
        field = "$" + GROUP_FIELDS[name]
        if name == "day":
            keys[name] = {"$dateToString": {"format": "%Y-%m-%d", "date": field}}
        else:
            keys[name] = field
    return keys


def _totals(group_by: Sequence[str]) -> dict:
    is_error = {"$or": [{"$gte": ["$status_code", 400]}, {"$gt": ["$error", ""]}]}
    group = {
        "_id": _group_id(group_by),
        "requests": {"$sum": 1},
        "errors": {"$sum": {"$cond": [is_error, 1, 0]}},
    }
    group.update({name: {"$sum": "$" + name} for name in (*TOKEN_FIELDS, COST_FIELD)})
    return group


def usage_pipeline(group_by: Sequence[str]) -> list[dict]:
    """MongoDB >= 7.0: percentiles by $percentile (t-digest; exact on small groups)."""
    group = _totals(group_by)
    group["percentiles"] = {
        "$percentile": {
            "input": "$latency_ms",
            "p": list(PERCENTILES.values()),
            "method": "approximate",
        }
    }
    split = {name: {"$arrayElemAt": ["$percentiles", i]} for i, name in enumerate(PERCENTILES)}
    return [{"$group": group}, {"$set": split}]


def sorted_usage_pipeline(group_by: Sequence[str]) -> list[dict]:
    """Older servers: latencies pushed in sorted order, nearest rank picked in the pipeline.

    Each group's latencies travel as one array (16 MB document limit: about a million
    requests per group), which is why $percentile is preferred when the server has it.
    """
    group = _totals(group_by)
    group["latencies"] = {"$push": "$latency_ms"}
    numbers = {"$filter": {"input": "$latencies", "as": "v", "cond": {"$ne": ["$$v", None]}}}
    pick = {}
    for name, fraction in PERCENTILES.items():
        rank = {"$ceil": {"$multiply": [fraction, {"$size": "$latencies"}]}}
        pick[name] = {"$arrayElemAt": ["$latencies", {"$max": [0, {"$subtract": [rank, 1]}]}]}
    return [
        {"$sort": {"latency_ms": 1}},
        {"$group": group},
        {"$set": {"latencies": numbers}},
        {"$set": pick},
    ]


def _rows(results: list[dict], group_by: Sequence[str]) -> list[dict]:
    rows = []
    for result in results:
        if not result["requests"]:
            continue  # an empty input grouped into one empty group (mongomock does this)
        row = {name: result["_id"].get(name) for name in group_by}
        row.update({name: result[name] for name in ("requests", "errors", *TOKEN_FIELDS)})
        row[COST_FIELD] = float(result[COST_FIELD])
        row.update({name: result.get(name) for name in PERCENTILES})
        rows.append(row)
    return sorted(rows, key=lambda row: sort_key(row, group_by))
