"""The telemetry event: one fixed, versioned list of fields, and its CSV form.

Every stored event has every field (missing values are None), so CSV files have identical
columns in identical order and Mongo documents have one shape. Bump SCHEMA_VERSION when the
list changes; readers map columns by the header of each file, so old files stay readable.
"""

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

import orjson

from dgen_ping_site.clock import iso_utc

SCHEMA_VERSION = 2

# name -> type. The order is the CSV column order; docs/telemetry.md explains each field.
FIELD_TYPES: dict[str, type] = {
    "event_id": str,
    "schema_version": int,
    "timestamp": str,
    "event_type": str,
    "request_id": str,
    "client_ip": str,
    "client_id": str,
    "soeid": str,
    "project_name": str,
    "target_service": str,
    "endpoint": str,
    "method": str,
    "status_code": int,
    "latency_ms": float,
    "request_size": int,
    "response_size": int,
    "user_agent": str,
    "model": str,
    "provider": str,
    "upstream_model": str,
    "prompt_tokens": int,
    "completion_tokens": int,
    "total_tokens": int,
    "tokens_estimated": bool,
    "temperature": float,
    "max_tokens": int,
    "upstream_latency_ms": float,
    "error": str,
    "extra": dict,
    # Version 2: the token a request was made with and what its LLM call cost (governance);
    # how an LLM answer ended and the usage details that price it, never content (issue 12).
    "token_jti": str,
    "cost": float,
    "finish_reason": str,
    "tool_calls": int,
    "cached_tokens": int,
    "reasoning_tokens": int,
}
FIELDS: tuple[str, ...] = tuple(FIELD_TYPES)

# The most characters an event keeps of a text field: some are whatever an unauthenticated
# caller sends (the path, the user agent, the method), and an event must not let them fill
# the disk. A value cut short says so in extra.truncated (field -> its full length).
TEXT_LIMITS = {"endpoint": 2048, "user_agent": 512, "error": 1000, "client_ip": 64, "method": 16}
DEFAULT_TEXT_LIMIT = 256
# Integers are signed 64 bits, as MongoDB stores them; others are kept in extra.invalid_fields.
STORABLE_INT = (-(2**63), 2**63 - 1)
CSV_HEADER = ",".join(FIELDS) + "\r\n"

# Set by the pipeline itself; a view's annotation cannot replace them.
_GENERATED = ("schema_version",)


def build_event(**fields) -> dict:
    """A complete event from the given fields.

    Missing fields are None (event_id and timestamp are generated), values are coerced to
    the field's type, empty strings become None, and names outside the schema go to `extra`
    rather than being lost.
    """
    extra = dict(fields.pop("extra", None) or {})
    event = dict.fromkeys(FIELDS)
    for name, value in fields.items():
        if name not in FIELD_TYPES or name in _GENERATED:
            extra[name] = value
        else:
            event[name] = _coerce(name, value, extra)
    event["event_id"] = event["event_id"] or uuid.uuid4().hex
    event["schema_version"] = SCHEMA_VERSION
    event["timestamp"] = event["timestamp"] or iso_utc()
    event["extra"] = extra
    return event


def _coerce(name: str, value, extra: dict):
    kind = FIELD_TYPES[name]
    if type(value) is not kind:  # the usual case skips this: it runs on the request thread
        if value is None or value == "":
            return None
        try:
            value = _convert(name, kind, value)
        except (TypeError, ValueError):
            return _invalid(name, value, extra)
    if kind is str:
        return _cut(name, value, extra) if value else None
    if kind is int and not STORABLE_INT[0] <= value <= STORABLE_INT[1]:
        return _invalid(name, value, extra)
    return value


def _convert(name: str, kind: type, value):
    if kind is bool:
        return _to_bool(value)
    if kind is dict:
        raise TypeError(name)
    return kind(value)


def _invalid(name: str, value, extra: dict) -> None:
    """Keep what was sent, where it cannot break the column's type, cut to size."""
    extra.setdefault("invalid_fields", {})[name] = str(value)[:DEFAULT_TEXT_LIMIT]
    return None


def _cut(name: str, text: str, extra: dict) -> str:
    limit = TEXT_LIMITS.get(name, DEFAULT_TEXT_LIMIT)
    if len(text) <= limit:
        return text
    extra.setdefault("truncated", {})[name] = len(text)
    return text[:limit]


def _to_bool(value) -> bool:
    if isinstance(value, str):
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise ValueError(value)
    return bool(value)


# --- CSV ------------------------------------------------------------------------------------


def csv_cell(value) -> str:
    """A value as its CSV cell: '' for None, true/false, JSON for a dict, else str()."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return str(value)


def csv_rows(events: Iterable[Mapping], header: bool = False) -> str:
    """CSV text for these events (CRLF line ends, RFC 4180 quoting), header first if asked."""
    out = io.StringIO()
    if header:
        out.write(CSV_HEADER)
    writer = csv.writer(out)
    writer.writerows([csv_cell(event.get(name)) for name in FIELDS] for event in events)
    return out.getvalue()


def from_csv_row(header: list[str], row: list[str]) -> dict:
    """The event a CSV row holds, mapped by its file's header (so older files still read)."""
    return event_from_cells(row_aligner(header)(row))


def row_aligner(header: Sequence[str]) -> Callable[[list[str]], list[str]]:
    """Rows of a file with this header as cells in FIELDS order ('' for a field it lacks).

    Worked out once per file: reading is the inner loop of exports and replays.
    """
    index = {name: i for i, name in enumerate(header)}
    positions = [index.get(name) for name in FIELDS]
    aligned = positions == list(range(len(FIELDS)))

    def align(row: list[str]) -> list[str]:
        if aligned and len(row) == len(FIELDS):
            return row
        return [row[i] if i is not None and i < len(row) else "" for i in positions]

    return align


def event_from_cells(cells: list[str]) -> dict:
    """The event in a row of cells in FIELDS order; ValueError if a cell does not parse."""
    values = [text or None for text in cells]
    for i, parse in _PARSERS:
        if values[i] is not None:
            values[i] = parse(values[i])
    event = dict(zip(FIELDS, values, strict=True))
    event["extra"] = event["extra"] or {}
    return event


def _parse_json(text: str):
    if text == "{}":
        return {}
    try:
        return orjson.loads(text)  # several times faster than json.loads
    except orjson.JSONDecodeError:
        return json.loads(text)  # what only json reads, e.g. NaN


_PARSE = {int: int, float: float, bool: "true".__eq__, dict: _parse_json}
# (position, parser) of every field that is not text.
_PARSERS = [(i, _PARSE[kind]) for i, kind in enumerate(FIELD_TYPES.values()) if kind is not str]
