"""Deployment checks: `manage.py check --deploy` says what is unsafe in production."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def default_token_disabled(app_configs, **kwargs):
    if not settings.ALLOW_DEFAULT_TOKEN:
        return []
    return [
        Warning(
            "ALLOW_DEFAULT_TOKEN is on: anyone can call the gateway as "
            f"'{settings.DEFAULT_SOEID}' with token '1' or no token at all.",
            hint="Set ALLOW_DEFAULT_TOKEN=false in production.",
            id="dgen_ping.W001",
        )
    ]
