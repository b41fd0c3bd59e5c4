"""A clock the governance tests set by hand: settings.BUDGETS["CLOCK"] names `now`."""

from datetime import datetime

from dgen_ping_site.clock import utcnow

_moment: datetime | None = None


def now() -> datetime:
    return _moment or utcnow()


def set_moment(moment: datetime | None) -> None:
    global _moment
    _moment = moment
