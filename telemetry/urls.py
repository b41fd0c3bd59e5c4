from django.urls import path

from telemetry import views

urlpatterns = [
    path("telemetry", views.TelemetryView.as_view(), name="telemetry"),
]
