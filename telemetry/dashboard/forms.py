"""The dashboard's filters: a period of whole UTC days, and a SOEID, project and model."""

from dataclasses import dataclass
from datetime import date, timedelta

from django import forms

from telemetry.query import EventFilter
from telemetry.rollups import midnight

# Period choice -> days it spans, ending today (UTC).
PERIODS = {"today": 1, "7d": 7, "30d": 30}
DEFAULT_PERIOD = "7d"
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Whole UTC days, first to last (included)."""

    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


class DashboardForm(forms.Form):
    period = forms.ChoiceField(
        choices=[
            ("today", "Today"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
            ("custom", "Custom"),
        ],
        required=False,
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(
        required=False, label="To (included)", widget=forms.DateInput({"type": "date"})
    )
    # The lists suggest the values in view (the page fills them).
    soeid = forms.CharField(
        required=False, max_length=64, label="SOEID", widget=forms.TextInput({"list": "soeids"})
    )
    project = forms.CharField(
        required=False, max_length=128, widget=forms.TextInput({"list": "projects"})
    )
    model = forms.CharField(
        required=False, max_length=128, widget=forms.TextInput({"list": "models"})
    )

    @classmethod
    def from_query(cls, query) -> "DashboardForm":
        """The form of a page's query string; no period given is the default one."""
        data = query.copy()
        data.setdefault("period", DEFAULT_PERIOD)
        return cls(data)

    def clean(self):
        data = super().clean()
        data["period"] = data.get("period") or DEFAULT_PERIOD
        if data["period"] == "custom":
            since, until = data.get("since"), data.get("until")
            if since is None or until is None:
                raise forms.ValidationError("A custom period needs both dates.")
            if since > until:
                raise forms.ValidationError("The period must start before it ends.")
            if (until - since).days >= MAX_DAYS:
                raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        return data

    def period_of(self, today: date) -> Period:
        """The chosen days (the form must be valid)."""
        data = self.cleaned_data
        if data["period"] == "custom":
            return Period(data["since"], data["until"])
        return Period(today - timedelta(days=PERIODS[data["period"]] - 1), today)

    def event_filter(self, today: date) -> EventFilter:
        """The events of the chosen days and values (blank: any)."""
        period, data = self.period_of(today), self.cleaned_data
        return EventFilter(
            since=midnight(period.first.isoformat()),
            until=midnight((period.last + timedelta(days=1)).isoformat()),
            soeid=data["soeid"] or None,
            project=data["project"] or None,
            model=data["model"] or None,
        )
