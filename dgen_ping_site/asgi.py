"""The ASGI application (not the deployed one: see dgen_ping_site.wsgi).

Importing it refuses an unsafe production configuration, as the WSGI module does.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgen_ping_site.settings")

application = get_asgi_application()

from dgen_ping_site.safety import refuse_to_load  # noqa: E402  (needs the apps loaded above)
from llmproxy.routing import warn_if_local  # noqa: E402

refuse_to_load()
# Say in the server's log when answers come from the local development provider.
warn_if_local()
