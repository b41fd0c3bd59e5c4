"""How the dashboard writes its figures, and its drill-down links."""

from urllib.parse import urlencode

from django import template
from django.utils.html import format_html

from telemetry.dashboard.charts import NO_VALUE, drill_down
from telemetry.dashboard.charts import error_kind as name_error_kind

register = template.Library()


@register.filter
def count(value) -> str:
    """1234567 -> '1,234,567'."""
    return "–" if value is None else f"{value:,}"


@register.filter
def usd(value) -> str:
    """US dollars: cents for amounts of a dollar or more, six decimals below."""
    if value is None:
        return "–"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.6f}"


@register.filter
def ms(value) -> str:
    return "–" if value is None else f"{value:,.1f} ms"


@register.filter
def share(part, whole) -> str:
    """part / whole as a percentage with one decimal."""
    return f"{100 * part / whole:.1f} %" if whole else "–"


@register.filter
def shown(value) -> str:
    """A group value, or a mark for events without one."""
    return NO_VALUE if value is None else value


@register.simple_tag
def drill_link(query: dict, field: str, value: str | None) -> str:
    """`value` linked to this page filtered on `field` = `value` too (a mark for none)."""
    if value is None:
        return NO_VALUE
    return format_html('<a href="{}">{}</a>', drill_down(query, field, value), value)


@register.filter
def value_of(row: dict, field: str):
    return row[field]


@register.filter
def error_kind(status: int | None) -> str:
    return name_error_kind(status)


@register.filter
def urlencode_query(query: dict) -> str:
    return urlencode(query)
