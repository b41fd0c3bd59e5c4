from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from dgen_ping_site import exceptions, views
from dgen_ping_site.schema_view import SchemaView
from telemetry.metrics.views import metrics

urlpatterns = [
    path("", views.ServiceInfoView.as_view(), name="service-info"),
    path("health", views.HealthView.as_view(), name="health"),
    path("metrics", metrics, name="metrics"),
    path("", include("accounts.urls")),
    path("", include("telemetry.urls")),
    path("", include("llmproxy.urls")),
    path("", include("telemetry.dashboard.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", admin.site.urls),
    # Last: unknown paths get a JSON 404 in development too (Django's debug page is HTML),
    # whatever characters they hold (`.` would stop at a newline).
    re_path(r"^(?!static/)[\s\S]*$", exceptions.not_found),
]

# The admin's index links to the usage dashboard.
admin.site.index_template = "telemetry/admin_index.html"

handler400 = exceptions.bad_request
handler403 = exceptions.permission_denied
handler404 = exceptions.not_found
handler500 = exceptions.server_error
