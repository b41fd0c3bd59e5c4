"""Events in one MongoDB collection, at one URI.

Each event is one document whose `_id` is the event id, so a batch written twice (after a
timeout, a crash, a replay) is stored once: duplicate-key errors count as written.
`timestamp` is stored as a BSON date so Mongo's own date tools, indexes and TTL work on it.

This store knows nothing of backups: a backup server is another store of the chain
(telemetry.backends.chain), configured in settings.TELEMETRY["STORES"].

The client is created on first use, in the process that uses it: never at import time and
never before gunicorn forks its workers (pymongo clients are not fork-safe). The indexes
the queries need are created then too, idempotently.
"""

import logging
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from dgen_ping_site.clock import iso_utc
from telemetry.backends import mongo_rollups
from telemetry.backends.base import (
    EventsRefused,
    PartialWrite,
    Position,
    TelemetryBackend,
    UncertainWrite,
)
from telemetry.query import GROUP_FIELDS, EventFilter, check_group_by, parse_timestamp
from telemetry.redact import describe_error
from telemetry.rollups import Rollup
from telemetry.schema import FIELDS
from telemetry.usage import COST_FIELD, PERCENTILES, TOKEN_FIELDS, sort_key

try:
    import bson
    import pymongo
    from pymongo.errors import (
        BulkWriteError,
        ConnectionFailure,
        InvalidURI,
        OperationFailure,
        ServerSelectionTimeoutError,
        WriteConcernError,
    )
    from pymongo.uri_parser import parse_uri
except ImportError:  # pragma: no cover - pymongo is in requirements/base.txt
    pymongo = None

DUPLICATE_KEY = 11000
# Server refusals that are about the document itself, not the server's state: retrying
# cannot help. (Anything else, e.g. NotWritablePrimary, may pass on a retry or elsewhere.)
REFUSAL_CODES = {
    2,  # BadValue
    14,  # TypeMismatch
    15,  # Overflow
    52,  # DollarPrefixedFieldName
    55,  # InvalidDBRef
    56,  # EmptyFieldName
    57,  # DottedFieldName
    121,  # DocumentValidationFailure
    10334,  # BSONObjectTooLarge
    17280,  # KeyTooLong
    17419,  # document too large after update
}
# The equality filters of EventFilter, each with the time range after it: what the report
# queries (telemetry.query) select by. Group-by keys are read from the matched documents.
FILTERED_FIELDS = ("soeid", "project_name", "model", "event_type")
SECONDS_PER_DAY = 86400
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
# Which write_batch stored a document: a write whose answer was lost is counted in the
# rollups once the server says which of its documents it holds.
WRITE_ID = "_w"

logger = logging.getLogger("telemetry")


class _PartlyStored(PartialWrite):
    """PartialWrite that also knows which events this write stored (not duplicates)."""

    def __init__(self, message: str, stored_ids: set[str], inserted: set[str]):
        super().__init__(message, stored_ids)
        self.inserted = inserted


class MongoBackend(TelemetryBackend):
    fallback_status = "backup"
    can_discard = True
    keeps_rollups = True

    def __init__(
        self,
        uri: str,
        db_name: str = "dgen_db",
        collection: str = "telemetry",
        server_selection_timeout_ms: int = 2000,
        write_concern: str | int | None = None,
        journal: bool | None = None,
        retention_days: float | None = None,
        client_factory: str = "pymongo.MongoClient",
        rollup_collection: str | None = None,
    ):
        if pymongo is None:
            raise ImproperlyConfigured("MongoBackend needs pymongo: pip install pymongo.")
        self.uri = _checked_uri(uri)
        self.db_name = db_name
        self.collection_name = collection
        self.timeout_ms = server_selection_timeout_ms
        self.write_concern = _write_concern(write_concern, journal)
        self.retention_days = retention_days
        self.client_factory = _import_factory(client_factory)
        self.rollup_collection_name = rollup_collection or f"{collection}_rollups"
        self._lock = threading.Lock()
        self._collection = None
        self._rollups = None  # the rollups' collection, connected with the events'
        self._rollups_trusted = False
        # (write id, event ids) of writes whose answer was lost: counted once known.
        self._uncounted: list[tuple[str, set[str]]] = []
        self._percentile_operator = True  # until the server says it has no $percentile

    # --- the connection -------------------------------------------------------------------

    def collection(self):
        """The collection, connected (lazily) and indexed on first use in this process."""
        with self._lock:
            if self._collection is None:
                collection = self._connect()
                ensure_indexes(collection, index_specs(self.retention_days))
                rollups = collection.database[self.rollup_collection_name]
                if self.write_concern:
                    rollups = rollups.with_options(write_concern=collection.write_concern)
                ensure_indexes(rollups, mongo_rollups.index_specs(self.retention_days))
                mongo_rollups.mark_counted_if_empty(collection, rollups)
                self._collection, self._rollups = collection, rollups
            return self._collection

    def rollups_collection(self):
        """The collection of the store's rollups (telemetry.backends.mongo_rollups)."""
        self.collection()
        return self._rollups

    def _connect(self):
        # A few seconds, not pymongo's 30, so the chain moves on to the next store quickly.
        client = self.client_factory(
            self.uri,
            serverSelectionTimeoutMS=self.timeout_ms,
            connectTimeoutMS=self.timeout_ms,
            socketTimeoutMS=max(10_000, self.timeout_ms),
            tz_aware=True,
            appname="dgen-ping",
        )
        collection = client[self.db_name][self.collection_name]
        if not self.write_concern:
            return collection  # the URI's (w=, journal=) or the server's default
        # Only what was set here replaces the URI's settings: journal=true in the URI stays.
        merged = {**collection.write_concern.document, **self.write_concern}
        return collection.with_options(write_concern=pymongo.WriteConcern(**merged))

    def _run(self, operation: Callable):
        return operation(self.collection())

    def close(self) -> None:
        with self._lock:
            collection, self._collection = self._collection, None
        if collection is not None:
            collection.database.client.close()

    # --- the contract ---------------------------------------------------------------------

    def write_batch(self, events: Sequence[dict]) -> None:
        if not events:
            return
        self._count_uncounted()
        write_id = uuid.uuid4().hex[:16]
        documents, refused = _documents(events, write_id)
        try:
            inserted = self._insert(documents, refused, write_id)
        except (bson.errors.InvalidDocument, OverflowError):
            # One document BSON cannot encode fails the whole call: find it, send the rest.
            documents, refused = _encodable(documents, refused)
            self._insert(documents, refused, write_id)
            # Part of the first attempt may have been sent: whatever this write stored.
            inserted = self._stored_by(write_id, documents)
        self._count(documents, inserted)
        if refused:
            raise EventsRefused(refused, {document["_id"] for document in documents})

    def _insert(self, documents: list[dict], refused: dict[str, str], write_id: str) -> set[str]:
        """insert_many; the ids it stored (not those the collection held already)."""
        collection = self.collection()
        try:
            return _insert(collection, documents, refused)
        except ServerSelectionTimeoutError:
            raise  # no server to send them to: nothing was sent
        except (ConnectionFailure, WriteConcernError) as exc:
            # Sent, then the connection broke (or the write may not last): the server may
            # hold any of them.
            ids = {document["_id"] for document in documents}
            self._uncounted.append((write_id, ids))
            raise UncertainWrite(f"{type(exc).__name__}: {exc}", ids) from exc
        except _PartlyStored as exc:
            self._count(documents, exc.inserted)
            raise

    # --- rollups (telemetry.backends.mongo_rollups) ---------------------------------------

    def _count(self, documents: Sequence[dict], inserted: Collection[str], sign: int = 1):
        """Count these documents in the rollups (those of `inserted` only)."""
        counted = [document for document in documents if document["_id"] in inserted]
        try:
            mongo_rollups.add(self.rollups_collection(), counted, sign)
        except Exception as exc:
            # The events are stored whatever happens here: the write must not look failed
            # (the chain would store them again elsewhere). Not retried either: part of the
            # increments may have been applied.
            logger.warning(
                "Telemetry rollups missed %d events (%s): run `manage.py telemetry_rollups "
                "--verify`",
                len(counted),
                describe_error(exc),
            )

    def _stored_by(self, write_id: str, documents: Sequence[dict]) -> set[str]:
        query = {"_id": {"$in": [d["_id"] for d in documents]}, WRITE_ID: write_id}
        return {d["_id"] for d in self._run(lambda c: list(c.find(query, {"_id": 1})))}

    def _count_uncounted(self) -> None:
        """Count what writes whose answer was lost stored after all (the server answers
        again: this is called before anything else is asked of it)."""
        while self._uncounted:
            write_id, ids = self._uncounted[0]
            query = {"_id": {"$in": list(ids)}, WRITE_ID: write_id}
            stored = self._run(lambda c, q=query: list(c.find(q)))
            self._count(stored, {document["_id"] for document in stored})
            self._uncounted.pop(0)

    def rollup_rows(
        self, cube: str, filters: EventFilter, *, percentiles: bool = True
    ) -> list[Rollup] | None:
        collection = self.rollups_collection()
        if not self._rollups_trusted:
            self._rollups_trusted = mongo_rollups.counts_everything(collection)
            if not self._rollups_trusted:
                logger.warning(
                    "Telemetry rollups of %s do not count every event yet (events stored "
                    "before they existed?): reports count the events until `manage.py "
                    "telemetry_rollups --rebuild` is run.",
                    self.collection_name,
                )
                return None
        return mongo_rollups.rows(collection, cube, filters, percentiles)

    def rebuild_rollups(self) -> None:
        self._uncounted.clear()  # the rebuild counts them
        mongo_rollups.rebuild(self.collection(), self.rollups_collection())
        self._rollups_trusted = True

    def discard(self, ids: Collection[str]) -> None:
        self._count_uncounted()
        # One by one: what is removed, and only that, is taken out of the rollups.
        removed = [
            document
            for event_id in ids
            if (document := self._run(lambda c, i=event_id: c.find_one_and_delete({"_id": i})))
        ]
        self._count(removed, {document["_id"] for document in removed}, sign=-1)

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
        self._count_uncounted()
        query = {"_id": {"$in": list(ids)}}
        return {doc["_id"] for doc in self._run(lambda c: list(c.find(query, {"_id": 1})))}

    def health(self) -> dict:
        try:
            self._run(lambda c: c.database.command("ping"))
        except Exception as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "error": None}


def _checked_uri(uri: str) -> str:
    """The URI, if it is one: a typo is a configuration error, not a store that is down."""
    if not uri:
        raise ImproperlyConfigured(
            "MongoBackend needs a URI: set MONGO_URI (and optionally MONGO_BACKUP_URI), "
            "or TELEMETRY_BACKEND=csv."
        )
    try:
        if not uri.startswith("mongodb+srv://"):  # an SRV URI is resolved by DNS: not here
            parse_uri(uri)
    except (InvalidURI, ValueError) as exc:
        raise ImproperlyConfigured(f"{_safe(uri)!r} is not a MongoDB URI: {exc}") from None
    return uri


def _safe(uri: str) -> str:
    """A URI without its password, for messages."""
    scheme, sep, rest = uri.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}***@{host}" if at else uri


def _import_factory(path: str) -> Callable:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"MongoBackend client_factory {path!r}: {exc}") from exc


def _write_concern(w: str | int | None, journal: bool | None) -> dict:
    """The write concern options set here ({} = leave them to the URI and the server)."""
    options = {}
    if w not in (None, ""):
        options["w"] = int(w) if str(w).isdigit() else w
    if journal is not None:
        options["j"] = journal
    return options


# --- indexes --------------------------------------------------------------------------------


def index_specs(retention_days: float | None) -> list[tuple[list, dict]]:
    """(keys, options) of every index the queries need.

    Time alone (ranges, oldest-first exports, newest-first pages; a TTL index when events
    expire), and each equality filter followed by time, so a report on one SOEID, project,
    model or event type over a period reads only that part of the index.
    """
    ttl = {}
    if retention_days:
        ttl = {"expireAfterSeconds": int(retention_days * SECONDS_PER_DAY)}
    specs = [([("timestamp", 1)], ttl)]
    specs += [([(field, 1), ("timestamp", 1)], {}) for field in FILTERED_FIELDS]
    return specs


def ensure_indexes(collection, specs: list[tuple[list, dict]]) -> None:
    """Create the indexes (a no-op when they exist); change a TTL if the retention did."""
    for keys, options in specs:
        try:
            collection.create_index(keys, **options)
        except OperationFailure as exc:
            if exc.code not in (85, 86):  # IndexOptionsConflict, IndexKeySpecsConflict
                raise
            _set_expiry(collection, keys, options.get("expireAfterSeconds"))


def _set_expiry(collection, keys: list, seconds: int | None) -> None:
    """The time index exists with another TTL: change it in place, or make it plain again."""
    if seconds is not None:
        index = {"keyPattern": dict(keys), "expireAfterSeconds": seconds}
        collection.database.command("collMod", collection.name, index=index)
        return
    collection.drop_index(keys)
    collection.create_index(keys)


# --- writing --------------------------------------------------------------------------------


def _documents(events: Sequence[dict], write_id: str) -> tuple[list[dict], dict[str, str]]:
    """The events as documents, and why those that cannot be one (a bad timestamp) cannot."""
    documents, refused = [], {}
    for event in events:
        try:
            documents.append({**to_document(event), WRITE_ID: write_id})
        except (TypeError, ValueError) as exc:
            refused[event["event_id"]] = f"not storable: {exc}"
    return documents, refused


def _encodable(documents: list[dict], refused: dict[str, str]) -> tuple[list[dict], dict]:
    """The documents BSON can encode, and the reasons the others cannot be (NUL in a key,
    an integer beyond 64 bits, too large...) added to `refused`."""
    good = []
    for document in documents:
        try:
            size = len(bson.encode(document))
        except (bson.errors.InvalidDocument, OverflowError, TypeError, ValueError) as exc:
            refused[document["_id"]] = f"{type(exc).__name__}: {exc}"
            continue
        if size > MAX_DOCUMENT_BYTES:
            refused[document["_id"]] = f"document of {size} bytes: the limit is 16 MiB"
            continue
        good.append(document)
    return good, refused


def _insert(collection, documents: list[dict], refused: dict[str, str]) -> set[str]:
    """insert_many, unordered; refusals of single documents are added to `refused`. The ids
    it stored: not those refused or failed, nor duplicates (stored before)."""
    try:
        collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        details = exc.details
        if details.get("writeConcernErrors"):
            # The writes happened but may not last: say nothing is known to be stored.
            raise WriteConcernError(str(details["writeConcernErrors"][0])) from exc
        write_errors = details.get("writeErrors", [])
        duplicates = {e["index"] for e in write_errors if e.get("code") == DUPLICATE_KEY}
        errors = [e for e in write_errors if e.get("code") != DUPLICATE_KEY]
        for error in errors:
            if error.get("code") in REFUSAL_CODES:
                refused[documents[error["index"]]["_id"]] = f"{error['code']}: {error['errmsg']}"
        failed = {error["index"] for error in errors}
        inserted = {doc["_id"] for i, doc in enumerate(documents) if i not in failed | duplicates}
        others = [e for e in errors if e.get("code") not in REFUSAL_CODES]
        if others:
            # Unordered: every document but the failed ones was stored (or already was).
            stored = {doc["_id"] for i, doc in enumerate(documents) if i not in failed}
            message = f"{len(others)} of {len(documents)} events failed: {others[0]['errmsg']}"
            raise _PartlyStored(message, stored, inserted) from exc
        for index in sorted(failed, reverse=True):
            del documents[index]  # what remains is what was stored
        # Only duplicates and refusals: the others are stored.
        return inserted
    return {document["_id"] for document in documents}


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
