from django.apps import AppConfig


class LlmproxyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "llmproxy"

    def ready(self):
        # Builds the routing table now: a broken routes file stops start-up with a clear
        # message, and a gateway without upstreams says so in its log.
        from llmproxy.routing import warn_if_local

        warn_if_local()
