"""A MongoDB store's rollups (telemetry.rollups): a collection beside the events'
(`<collection>_rollups`), one document per cube row.

The store counts a batch right after insert_many, for the events that insert stored, never
for duplicates (an event the collection already held) or refused ones: one bulk write of
upserts, `$inc` on the sums and the histogram's buckets, `$min`/`$max` on the latency range.
Removing events (the copy of a doubtful write, telemetry.backends.chain) `$inc`s them away.

An increment sent is applied once; what is not atomic is the pair (insert, increment): a
process killed between the two leaves its batch's events uncounted. `manage.py
telemetry_rollups --verify` finds such days and `--rebuild` counts everything again.

A document `{_id: "meta", version}` says the rollups count every event of the collection
under this definition (telemetry.rollups.VERSION). It is written when the collection is
first used empty, or by a rebuild; without it (events stored before rollups existed, or
under another definition) the store says it has no rollups, and reports count the events.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import orjson

from telemetry import histogram, rollups
from telemetry.query import EventFilter
from telemetry.rollups import CUBES, Key, Rollup, Totals
from telemetry.usage import TOKEN_FIELDS

try:
    from pymongo import UpdateOne
    from pymongo.errors import BulkWriteError, DuplicateKeyError
except ImportError:  # pragma: no cover - pymongo is in requirements/base.txt
    UpdateOne = None

META = "meta"
DUPLICATE_KEY = 11000
SECONDS_PER_DAY = 86400
REBUILD_BATCH = 1000  # documents per insert: each well within the store's socket timeout
_SUMS = ("requests", "errors", *TOKEN_FIELDS, "nanos")
_RANGE = ("latency_min", "latency_max")
# The fields a recount reads of each event (telemetry.rollups.tally).
COUNTED_FIELDS = (
    "timestamp", "soeid", "project_name", "model", "event_type", "token_jti", "status_code",
    *TOKEN_FIELDS, "cost", "latency_ms", "error",
)  # fmt: skip


def index_specs(retention_days: float | None) -> list[tuple[list, dict]]:
    """(keys, options) of the indexes: each cube's days, alone and after each filter; a
    day's rows expire a day after the day's last events would (TELEMETRY_RETENTION_DAYS)."""
    ttl = {}
    if retention_days:
        ttl = {"expireAfterSeconds": int(retention_days * SECONDS_PER_DAY) + SECONDS_PER_DAY}
    specs = [([("day", 1)], ttl), ([("cube", 1), ("day", 1)], {})]
    specs += [([("cube", 1), (name, 1), ("day", 1)], {}) for name in rollups.FILTER_DIMENSIONS]
    return specs


# --- the meta document ----------------------------------------------------------------------


def mark_counted_if_empty(events, collection) -> None:
    """A store with no events yet: its rollups count them all from now on."""
    if collection.find_one({"_id": META}) is None and events.find_one({}, {"_id": 1}) is None:
        _mark_counted(collection)


def counts_everything(collection) -> bool:
    meta = collection.find_one({"_id": META})
    return meta is not None and meta.get("version") == rollups.VERSION


def _mark_counted(collection) -> None:
    meta = {"version": rollups.VERSION}
    collection.update_one({"_id": META}, {"$set": meta}, upsert=True)


# --- counting -------------------------------------------------------------------------------


def add(collection, events: Iterable[Mapping], sign: int = 1) -> None:
    """Count these stored events (with sign=-1: remove them) in one bulk write."""
    operations = [
        _increment(cube, key, totals, sign)
        for cube, key, totals in rollups.cube_rows(rollups.tally(events))
    ]
    for _ in range(3):  # an upsert racing another's for a new row loses once, then updates
        if not operations:
            return
        try:
            collection.bulk_write(operations, ordered=False)
            return
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            operations = [operations[error["index"]] for error in errors]
    raise DuplicateKeyError("rollup upserts kept racing")


def _increment(cube: str, key: Key, totals: Totals, sign: int):
    values = dict(zip(CUBES[cube], key, strict=True))
    sums = dict(zip(_SUMS, _sums(totals), strict=True))
    sums.update({f"histogram.{i}": n for i, n in totals.histogram.items()})
    update = {
        "$setOnInsert": {"cube": cube, **_stored(values)},
        "$inc": {name: sign * value for name, value in sums.items()},
    }
    if sign > 0 and totals.latency_min is not None:  # a range cannot shrink back
        update["$min"] = {"latency_min": totals.latency_min}
        update["$max"] = {"latency_max": totals.latency_max}
    return UpdateOne({"_id": _document_id(cube, key)}, update, upsert=True)


def rebuild(events, collection) -> int:
    """Count every event of `events` (a collection) into fresh rollups; how many were
    counted.

    Events stored meanwhile by a running gateway may be missed or counted twice: rebuild
    when no process writes to this store, or run --verify afterwards.
    """
    projection = dict.fromkeys(COUNTED_FIELDS, 1)
    return replace(collection, events.find({}, projection).batch_size(5000))


def replace(collection, events: Iterable[Mapping]) -> int:
    """Make the rollups those of exactly these events (all the store holds); how many."""
    counted = rollups.tally(events)
    collection.delete_many({})
    documents = [_document(cube, key, t) for cube, key, t in rollups.cube_rows(counted)]
    for start in range(0, len(documents), REBUILD_BATCH):
        collection.insert_many(documents[start : start + REBUILD_BATCH], ordered=False)
    _mark_counted(collection)
    return sum(totals.requests for totals in counted.values())


def _document(cube: str, key: Key, totals: Totals) -> dict:
    values = dict(zip(CUBES[cube], key, strict=True))
    document = {"_id": _document_id(cube, key), "cube": cube, **_stored(values)}
    document.update(zip(_SUMS, _sums(totals), strict=True))
    document.update(latency_min=totals.latency_min, latency_max=totals.latency_max)
    document["histogram"] = histogram.to_text_keys(totals.histogram)
    return document


def _sums(totals: Totals) -> list[int]:
    return [totals.requests, totals.errors, *totals.tokens.values(), totals.nanos]


def _document_id(cube: str, key: Key) -> str:
    # JSON: unambiguous whatever the values hold.
    return orjson.dumps([cube, *key]).decode()


def _stored(values: Mapping) -> dict:
    """Dimension values as stored: the day as a date (for ranges and the TTL index)."""
    stored = dict(values)
    if stored.get("day") is not None:
        stored["day"] = rollups.midnight(stored["day"])
    return stored


# --- reading --------------------------------------------------------------------------------


def rows(collection, cube: str, filters: EventFilter, percentiles: bool) -> list[Rollup]:
    """The cube's rows matching `filters` (whole days)."""
    query: dict = {"cube": cube, **rollups.filter_values(filters, cube)}
    first, end = rollups.day_range(filters)
    span = {}
    if first is not None:
        span["$gte"] = rollups.midnight(first)
    if end is not None:
        span["$lt"] = rollups.midnight(end)
    if span:
        query["day"] = span
    projection = None if percentiles else {"histogram": 0, "latency_min": 0, "latency_max": 0}
    return [_rollup(CUBES[cube], doc) for doc in collection.find(query, projection)]


def _rollup(dims: Sequence[str], document: Mapping) -> Rollup:
    values = {name: document.get(name) for name in dims}
    if isinstance(values["day"], datetime):
        values["day"] = values["day"].date().isoformat()
    requests, errors, *tokens, nanos = (document.get(name, 0) for name in _SUMS)
    totals = Totals(requests, errors, dict(zip(TOKEN_FIELDS, tokens, strict=True)), nanos)
    totals.latency_min, totals.latency_max = (document.get(name) for name in _RANGE)
    totals.histogram = histogram.from_text_keys(document.get("histogram"))
    return Rollup(values, totals)
