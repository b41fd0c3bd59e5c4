"""Whether this configuration is safe to serve, and the one message that says why not.

With DEBUG off, the service does not start while a production secret is missing or short,
while the development default token is on, or while a model would be answered by the local
development provider without ALLOW_LOCAL_PROVIDER saying that is meant. Every entry point
refuses with the same message, naming every problem at once: `manage.py` (all commands for
the secrets, `runserver` and `check --deploy` for everything), gunicorn's master before it
forks (gunicorn.conf.py, `on_starting`) and the WSGI module, for any other server.
"""

import sys

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

GENERATE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(64))"'


class UnsafeConfiguration(ImproperlyConfigured):
    """The configuration must not serve; the message says what to change."""


def local_provider_models() -> list[str]:
    """Model names the local development provider answers (empty when all are real)."""
    from llmproxy.routing import routing_table  # needs the settings, not at import

    table = routing_table()
    if not table.uses_local_provider:
        return []
    local = [route for route in table.routes.values() if route.provider == "local"]
    return sorted(name for route in local for name in (route.name, *route.aliases))


def problems(*, serving: bool = True) -> list[str]:
    """What makes this configuration unsafe in production; empty in development (DEBUG).

    The secrets matter to every command (they sign and check tokens); the rest only to a
    process that serves requests.
    """
    if settings.DEBUG:
        return []
    found = [_weak_secret(name, length) for name, length in settings.WEAK_SECRETS.items()]
    if serving:
        found += _serving_problems()
    return found


def _weak_secret(name: str, min_length: int) -> str:
    return f"{name} is missing or shorter than {min_length} characters."


def _serving_problems() -> list[str]:
    found = []
    if settings.ALLOW_DEFAULT_TOKEN:
        found.append(
            f'ALLOW_DEFAULT_TOKEN is on: token "1", and no token at all, would act as '
            f"{settings.DEFAULT_SOEID}. Set ALLOW_DEFAULT_TOKEN=false."
        )
    models = local_provider_models()
    if models and not settings.ALLOW_LOCAL_PROVIDER:
        found.append(
            f"No LLM upstream is configured: model(s) {', '.join(models)} would be answered "
            "by the local development provider, which is not a real model. Set API_ENDPOINT "
            "and MODEL (or LLM_ROUTES_FILE), or ALLOW_LOCAL_PROVIDER=true if that is meant."
        )
    return found


def refusal(found: list[str]) -> str:
    """The one message: every problem, then how to fix the secrets and how to develop."""
    lines = ["dgen-ping will not start: DEBUG is off (production) and the configuration is unsafe."]
    lines += [f"  - {problem}" for problem in found]
    if settings.WEAK_SECRETS:
        lines.append(f"Generate each secret with: {GENERATE_SECRET}")
    lines.append("For development on a laptop, run `make run` instead (DEBUG=true).")
    return "\n".join(lines)


def check(*, serving: bool = True) -> None:
    """Raise UnsafeConfiguration, with the one message, if this must not start."""
    found = problems(serving=serving)
    if found:
        raise UnsafeConfiguration(refusal(found))


def refuse_to_load() -> None:
    """For the WSGI and ASGI modules, which any server may import: raise the refusal in the
    form the server prints alone. gunicorn prints an AppImportError's message (no traceback)
    and stops; from other servers, UnsafeConfiguration ends the start."""
    try:
        check()
    except UnsafeConfiguration as exc:
        if "gunicorn" in sys.modules:
            from gunicorn.errors import AppImportError

            raise AppImportError(str(exc)) from None
        raise


def exit_if_unsafe_command(argv: list[str]) -> None:
    """`manage.py`'s gate: a serving command needs it all, any other the secrets.

    runserver checks here, before its autoreloader starts: a failing check inside the
    reloader would print a traceback and wait for file changes instead of exiting.
    """
    command = argv[1] if len(argv) > 1 else "help"
    if command in {"help", "--help", "-h", "--version"}:
        return
    setup_or_exit()
    exit_if_unsafe(serving=command == "runserver" or (command == "check" and "--deploy" in argv))


def setup_or_exit() -> None:
    """django.setup(); a variable the settings refuse (a malformed address, say) is printed
    alone, as the unsafe configurations are, with exit status 1 instead of a traceback."""
    try:
        django.setup()
    except ImproperlyConfigured as exc:
        print(f"dgen-ping will not start: {exc}", file=sys.stderr)
        sys.exit(1)


def exit_if_unsafe(*, serving: bool = True) -> None:
    """For a process's start: print the message alone (no traceback) and exit with 1."""
    try:
        check(serving=serving)
    except UnsafeConfiguration as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
