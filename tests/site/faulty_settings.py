"""The production settings, with URLs that fail where Django does not catch it
(tests/site/faulty_urls.py): for the guard around the WSGI application."""

from dgen_ping_site.settings import *  # noqa: F403

ROOT_URLCONF = "tests.site.faulty_urls"
