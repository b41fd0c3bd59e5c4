"""The WSGI application gunicorn serves: `gunicorn -c gunicorn.conf.py dgen_ping_site.wsgi`.

Importing it refuses an unsafe production configuration (dgen_ping_site.safety), whatever
server imports it, and the application answers every error it raises in JSON
(dgen_ping_site.wsgi_errors).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgen_ping_site.settings")

django_application = get_wsgi_application()

# Only a serving process gets here (not management commands).
from dgen_ping_site.safety import refuse_to_load  # noqa: E402  (needs the apps loaded above)
from dgen_ping_site.wsgi_errors import JsonErrors  # noqa: E402
from llmproxy.routing import warn_if_local  # noqa: E402

refuse_to_load()
# Say in the server's log when answers come from the local development provider.
warn_if_local()
application = JsonErrors(django_application)
