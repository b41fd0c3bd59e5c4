from django.urls import path
from django.views.generic import RedirectView

from telemetry.dashboard import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/events.csv", views.events_csv, name="dashboard-events-csv"),
    # APPEND_SLASH is off (the API's paths are exact): the page's own address without it.
    path("dashboard", RedirectView.as_view(pattern_name="dashboard", query_string=True)),
]
