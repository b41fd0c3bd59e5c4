"""Timestamps as the API shows them: UTC, millisecond precision, 'Z' suffix."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime | None = None) -> str:
    """'2025-01-01T12:00:00.000Z': milliseconds and Z, as the original API answered."""
    moment = (moment or utcnow()).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
