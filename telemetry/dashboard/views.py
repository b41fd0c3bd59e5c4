"""The dashboard's pages, for staff signed in through the admin's login (a user token is
not enough: anyone else is sent to that login page)."""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import StreamingHttpResponse
from django.shortcuts import render

from accounts.errors import BudgetUnavailable
from dgen_ping_site.clock import utcnow
from telemetry.dashboard import charts, selectors
from telemetry.dashboard.forms import DashboardForm
from telemetry.errors import StoreUnavailable
from telemetry.export import export_chunks
from telemetry.selectors import reporting_backend

# Everything from the gateway itself: the page works offline and tells no one who reads it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
)


@staff_member_required
def dashboard(request):
    form = DashboardForm.from_query(request.GET)
    context = {**admin.site.each_context(request), "title": "Usage dashboard", "form": form}
    status = 200
    if not form.is_valid():
        status = 400
    else:
        try:
            context.update(_figures(form, _query(form)))
        except StoreUnavailable as exc:
            context["unavailable"], status = exc.detail, 503
    response = render(request, "telemetry/dashboard.html", context, status=status)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def _figures(form: DashboardForm, query: dict) -> dict:
    today = utcnow().date()
    filters = form.event_filter(today)
    usage = selectors.usage(
        backend=reporting_backend(), filters=filters, period=form.period_of(today)
    )
    try:
        budgets = selectors.budget_use(
            soeids=[filters.soeid] if filters.soeid else [r["soeid"] for r in usage.soeids],
            projects=[filters.project]
            if filters.project
            else [r["project"] for r in usage.projects],
        )
    except BudgetUnavailable:
        budgets = None
    return {
        "usage": usage,
        "budgets": budgets,
        "charts": charts.chart_data(usage, budgets, query),
        "query": query,
    }


def _query(form: DashboardForm) -> dict:
    """The filters as the page's query string has them (blank ones left out)."""
    data = form.cleaned_data
    query = {name: data[name] for name in ("period", "soeid", "project", "model") if data[name]}
    if data["period"] == "custom":
        query.update(since=data["since"].isoformat(), until=data["until"].isoformat())
    return query


@staff_member_required
def events_csv(request):
    """The events behind the page, as `manage.py export_telemetry --format csv` with the
    same filters writes them: the same code, streamed."""
    form = DashboardForm.from_query(request.GET)
    if not form.is_valid():
        return dashboard(request)  # the page, saying what is wrong with the filters
    today = utcnow().date()
    period = form.period_of(today)
    chunks = export_chunks(backend=reporting_backend(), filters=form.event_filter(today), fmt="csv")
    response = StreamingHttpResponse((data for _, data in chunks), content_type="text/csv")
    name = f"telemetry-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
