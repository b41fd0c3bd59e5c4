"""
WSGI config for dgen_ping_site project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgen_ping_site.settings")

application = get_wsgi_application()

# Only a serving process gets here (not management commands): say now, in the server's log,
# when answers will come from the local development provider rather than a real model.
from llmproxy.routing import warn_if_local  # noqa: E402  (needs the apps loaded above)

warn_if_local()
