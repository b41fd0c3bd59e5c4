"""Writes to telemetry that views ask for."""

import uuid

from accounts.identity import GatewayIdentity
from dgen_ping_site.clock import iso_utc
from telemetry.backends.base import TelemetryBackend
from telemetry.context import annotate
from telemetry.selectors import reading


def record_custom_event(request, *, identity: GatewayIdentity, data: dict) -> dict:
    """Make a submitted event (POST /telemetry) this request's one telemetry event.

    Who sent it comes from the token, not the body: the body's soeid and client_id are used
    only with the development default token; otherwise a differing soeid is kept as
    `extra.claimed_soeid`. A project-scoped token's project wins over the body's.
    """
    metadata = dict(data.get("metadata") or {})
    extra = metadata.pop("extra", {})
    claimed_soeid = metadata.pop("soeid", None)
    claimed_client = metadata.pop("client_id", None)
    soeid = client_id = identity.soeid
    if identity.is_default:
        soeid = claimed_soeid or soeid
        client_id = claimed_client or soeid
    elif claimed_soeid and claimed_soeid != soeid:
        extra["claimed_soeid"] = claimed_soeid
    if identity.project_id:
        metadata["project_name"] = identity.project_id
    event_id, timestamp = uuid.uuid4().hex, iso_utc()
    annotate(
        request,
        **{key: data[key] for key in ("event_type", "request_id", "client_ip") if key in data},
        **metadata,
        event_id=event_id,
        timestamp=timestamp,
        soeid=soeid,
        client_id=client_id,
        extra=extra,
    )
    return {"status": "accepted", "event_id": event_id, "timestamp": timestamp}


def rebuild_rollups(*, backend: TelemetryBackend) -> None:
    """Count every event of the store again into fresh rollups (telemetry.rollups)."""
    with reading():
        backend.rebuild_rollups()
