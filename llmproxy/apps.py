from django.apps import AppConfig


class LlmproxyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "llmproxy"

    def ready(self):
        # Builds the routing table now: a broken routes file stops start-up with a clear
        # message. (Serving processes also warn about the local provider: see wsgi.py.)
        from llmproxy.routing import routing_table

        routing_table()
