"""The routing table: which upstream answers each model name a client may ask for.

It comes from settings.LLM: `ROUTES` (a settings structure), else the JSON or YAML file
named by `ROUTES_FILE`, else the environment's upstream variables (API_ENDPOINT/MODEL primary,
SURL/SKEY/SMODEL secondary and fallback). With no upstream at all, the default model answers
through the local development provider. The format is documented in docs/llm.md and checked
by llmproxy.route_serializers.
"""

import logging
import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string
from rest_framework.exceptions import ValidationError

from dgen_ping_site.exceptions import fields_text
from llmproxy import http
from llmproxy.oauth import ApiKey, ClientCredentials, OAuthConfig
from llmproxy.route_serializers import DEFAULT_MAX_OUTPUT_TOKENS, RouteInput, TableInput

logger = logging.getLogger(__name__)

PROVIDERS = {
    "openai": "llmproxy.providers.openai.OpenAIProvider",
    "gemini": "llmproxy.providers.gemini.GeminiProvider",
    "local": "llmproxy.providers.local.LocalProvider",
}
# Route settings whose default comes from settings.LLM.
TUNING_KEYS = {
    "timeout": "TIMEOUT",
    "connect_timeout": "CONNECT_TIMEOUT",
    "retries": "RETRIES",
    "backoff": "BACKOFF",
}
CHAT, EMBEDDING = "chat", "embedding"
LOCAL_MODEL = "local-development"
# The embedding model the local development provider answers for, beside DEFAULT_MODEL.
LOCAL_EMBEDDING_MODEL = "local-embedding"
# Settings a routes file may refer to as ${NAME}, besides LLM_SECRET_* variables.
REFERABLE = ("API_KEY", "SKEY", "CLIENT_ID", "CLIENT_SECRET", "SCOPE", "COIN_URL", "API_ENDPOINT")
REFERABLE += ("SURL", "MODEL", "SMODEL")
REFERENCE = re.compile(r"\$\{([A-Z0-9_]+)\}")


@dataclass(frozen=True)
class Price:
    """USD per million tokens. Stored for cost accounting; the gateway never guesses one."""

    input: Decimal
    output: Decimal
    cached_input: Decimal


@dataclass(frozen=True, eq=False)
class Route:
    """One upstream model: where it lives, how to authenticate, how hard to try."""

    name: str
    provider: str
    model: str
    kind: str = CHAT  # or EMBEDDING: which endpoints may use it
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    oauth: OAuthConfig | None = None
    headers: dict = field(default_factory=dict, repr=False)
    timeout: float = 120.0
    connect_timeout: float = 5.0
    retries: int = 2
    backoff: float = 0.5
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS  # the most a request may ask for
    price: Price | None = None  # None: no price, so no cost (never a guess)
    aliases: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()


class RoutingTable:
    """Routes by name and alias, each with its provider client built once."""

    def __init__(self, routes: list[Route], default_model: str):
        self.routes = {route.name: route for route in routes}
        self.default_model = default_model
        self._names = _names(routes)
        self._check(default_model)
        self._providers = _providers(routes)
        # Asked on every request: worked out once.
        self._limits = {
            name: min(route.max_output_tokens for route in self.chain(name)) for name in self._names
        }

    def resolve(self, model: str, kind: str | None = None) -> Route | None:
        """The route `model` names (of that kind, when given), or None."""
        name = self._names.get(model)
        route = self.routes[name] if name else None
        return route if route and kind in (None, route.kind) else None

    def chain(self, model: str) -> list[Route]:
        """The route for `model`, then its fallbacks in order (not their fallbacks)."""
        route = self.resolve(model)
        return [route, *(self.routes[name] for name in route.fallbacks)] if route else []

    def provider(self, route: Route):
        return self._providers[route.name]

    def model_names(self, kind: str | None = None) -> list[str]:
        """Every name a client may ask for (of that kind, when given): names and aliases."""
        return sorted(
            name for name, route in self._names.items() if kind in (None, self.routes[route].kind)
        )

    def max_output_tokens(self, model: str) -> int:
        """The most output tokens a request for `model` may ask for: every route of its chain
        may have to answer it."""
        return self._limits[model]

    def largest_max_output_tokens(self) -> int:
        return max(route.max_output_tokens for route in self.routes.values())

    @property
    def uses_local_provider(self) -> bool:
        return any(route.provider == "local" for route in self.routes.values())

    def _check(self, default_model: str) -> None:
        for route in self.routes.values():
            for name in route.fallbacks:
                if name not in self.routes or name == route.name:
                    raise ImproperlyConfigured(
                        f"LLM route {route.name!r}: fallback {name!r} is not another route."
                    )
                if self.routes[name].kind != route.kind:
                    raise ImproperlyConfigured(
                        f"LLM route {route.name!r}: fallback {name!r} is not a {route.kind} route."
                    )
        if self.resolve(default_model, CHAT) is None:
            raise ImproperlyConfigured(
                f"DEFAULT_MODEL {default_model!r} is not a chat model of the LLM routing table "
                f"(known: {', '.join(self.model_names(CHAT))})."
            )


def _names(routes: list[Route]) -> dict[str, str]:
    names: dict[str, str] = {}
    for route in routes:
        for name in (route.name, *route.aliases):
            if name in names:
                raise ImproperlyConfigured(f"LLM model name {name!r} is defined twice.")
            names[name] = route.name
    return names


def _providers(routes: list[Route]) -> dict:
    """A provider per route; routes with the same OAuth client share one token cache."""
    tokens: dict[OAuthConfig, ClientCredentials] = {}
    providers = {}
    for route in routes:
        if route.oauth:
            credential = tokens.get(route.oauth) or ClientCredentials(route.oauth, http.session())
            tokens[route.oauth] = credential
        else:
            credential = ApiKey(route.api_key)
        provider = import_string(PROVIDERS[route.provider])
        providers[route.name] = provider(route, credential, http.pool())
    return providers


# --- Building the table ----------------------------------------------------------------------


def build_table(llm: dict) -> RoutingTable:
    """The table described by settings.LLM (see the module docstring for the precedence)."""
    spec = llm["ROUTES"] or (_read_file(llm["ROUTES_FILE"]) if llm["ROUTES_FILE"] else None)
    spec = _expand(spec, llm) if spec else {"routes": routes_from_environment(llm)}
    table = _checked(TableInput, spec, "The LLM routing table")
    defaults = {key: llm[name] for key, name in TUNING_KEYS.items()}
    defaults.update(table.get("defaults", {}))
    routes = [
        _route(name, _checked(RouteInput, entry or {}, f"LLM route {name!r}"), defaults, llm)
        for name, entry in table["routes"].items()
    ]
    return RoutingTable(routes, llm["DEFAULT_MODEL"])


def _checked(serializer_class, data, what: str) -> dict:
    """`data` validated by the serializer; ImproperlyConfigured naming every key at fault."""
    serializer = serializer_class(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except ValidationError as exc:
        raise ImproperlyConfigured(f"{what}: {fields_text(exc.detail)}") from None
    return serializer.validated_data


def _read_file(path: str) -> dict:
    # YAML is a superset of JSON, so one loader reads both formats.
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ImproperlyConfigured(f"Cannot read LLM_ROUTES_FILE {path!r}: {exc}") from exc


def _expand(value, llm: dict):
    """Replace ${NAME} in every string with the setting or LLM_SECRET_* variable it names."""
    if isinstance(value, dict):
        return {key: _expand(item, llm) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, llm) for item in value]
    if isinstance(value, str):
        return REFERENCE.sub(lambda match: _lookup(match.group(1), llm), value)
    return value


def _lookup(name: str, llm: dict) -> str:
    if name in REFERABLE:
        return llm[name]
    if name in llm["SECRETS"]:
        return llm["SECRETS"][name]
    raise ImproperlyConfigured(
        f"LLM routes refer to ${{{name}}}, which is neither one of {', '.join(REFERABLE)} "
        "nor a set LLM_SECRET_* environment variable."
    )


def _route(name: str, entry: dict, defaults: dict, llm: dict) -> Route:
    """The Route a validated routes-file entry describes, with the table's defaults."""
    tuning = {key: entry.get(key, defaults.get(key)) for key in (*TUNING_KEYS, "max_output_tokens")}
    tuning["max_output_tokens"] = tuning["max_output_tokens"] or DEFAULT_MAX_OUTPUT_TOKENS
    price = entry.get("price")
    return Route(
        name=name,
        provider=entry["provider"],
        kind=entry["kind"],
        model=entry.get("model") or name,
        base_url=entry.get("base_url", "").rstrip("/"),
        api_key=entry["api_key"],
        oauth=_oauth(name, entry.get("oauth"), llm),
        headers=dict(entry.get("headers") or {}),
        **tuning,
        price=Price(**price) if price else None,
        aliases=tuple(entry.get("aliases") or ()),
        fallbacks=tuple(entry.get("fallbacks") or ()),
    )


def _oauth(name: str, entry: dict | None, llm: dict) -> OAuthConfig | None:
    """`oauth: true` means the environment's COIN_URL client; a mapping overrides any of it."""
    if entry is None:
        return None
    config = OAuthConfig(
        token_url=entry.get("token_url", llm["COIN_URL"]),
        client_id=entry.get("client_id", llm["CLIENT_ID"]),
        client_secret=entry.get("client_secret", llm["CLIENT_SECRET"]),
        scope=entry.get("scope", llm["SCOPE"]),
        client_auth=entry.get("client_auth", llm["OAUTH_CLIENT_AUTH"]),
    )
    if not (config.token_url and config.client_id) or config.client_auth not in {"basic", "body"}:
        raise ImproperlyConfigured(
            f"LLM route {name!r}: OAuth needs a token_url (COIN_URL) and a client_id "
            "(CLIENT_ID), and client_auth 'basic' or 'body'."
        )
    return config


def routes_from_environment(llm: dict) -> dict:
    """Routes from the upstream variables: primary, secondary (its fallback), else the local
    development provider, for chat (DEFAULT_MODEL) and embeddings (LOCAL_EMBEDDING_MODEL)."""
    default, routes = llm["DEFAULT_MODEL"], {}
    primary = llm["MODEL"] or default if llm["API_ENDPOINT"] else None
    if primary:
        routes[primary] = _primary_route(primary, llm)
    if llm["SURL"]:
        name = llm["SMODEL"] or default
        if primary and name in {primary, default}:
            name = "secondary"
        routes[name] = _secondary_route(llm, default_alias=not primary and name != default)
        if primary:
            routes[primary]["fallbacks"] = [name]
    if not routes:
        aliases = ["gemini"] if default != "gemini" else []
        routes[default] = {"provider": "local", "model": LOCAL_MODEL, "aliases": aliases}
        local = {"provider": "local", "model": LOCAL_MODEL, "kind": EMBEDDING}
        routes[LOCAL_EMBEDDING_MODEL] = local
    return routes


def _primary_route(name: str, llm: dict) -> dict:
    oauth = bool(llm["COIN_URL"])
    return {
        "provider": llm["PRIMARY_PROVIDER"],
        "model": name,
        "base_url": llm["API_ENDPOINT"],
        "api_key": "" if oauth else llm["API_KEY"],
        "oauth": oauth,
        "aliases": [llm["DEFAULT_MODEL"]] if llm["DEFAULT_MODEL"] != name else [],
    }


def _secondary_route(llm: dict, default_alias: bool) -> dict:
    return {
        "provider": llm["SECONDARY_PROVIDER"],
        "model": llm["SMODEL"] or llm["MODEL"] or llm["DEFAULT_MODEL"],
        "base_url": llm["SURL"],
        "api_key": llm["SKEY"],
        # Its own key when SKEY is set; the shared OAuth client otherwise.
        "oauth": bool(llm["COIN_URL"]) and not llm["SKEY"],
        "aliases": [llm["DEFAULT_MODEL"]] if default_alias else [],
    }


# --- The process-wide table ------------------------------------------------------------------

_table: RoutingTable | None = None
_lock = threading.Lock()


def routing_table() -> RoutingTable:
    """The table for the current settings, built once per process."""
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = build_table(settings.LLM)
    return _table


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    # Tests (and nothing else) change settings at run time; rebuild from the new values.
    global _table
    if setting == "LLM":
        with _lock:
            _table = None
        http.reset()


def warn_if_local() -> None:
    """Say at start-up, loudly, that answers will not come from a real model."""
    if routing_table().uses_local_provider:
        logger.warning(
            "No LLM upstream is configured: model(s) %s answer through the local development "
            "provider, which is not a real model. Set API_ENDPOINT (and MODEL) or "
            "LLM_ROUTES_FILE to use a real upstream.",
            ", ".join(routing_table().model_names()),
        )
