from django.urls import path

from telemetry import views

urlpatterns = [
    path("telemetry", views.TelemetryView.as_view(), name="telemetry"),
    path("api/telemetry/events", views.EventsView.as_view(), name="telemetry-events"),
    path("api/telemetry/usage", views.UsageView.as_view(), name="telemetry-usage"),
    path("api/telemetry/usage/me", views.MyUsageView.as_view(), name="telemetry-usage-me"),
]
