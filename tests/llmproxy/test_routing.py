"""Building the routing table from settings, a routes file, or the upstream variables."""

import json
import logging
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from llmproxy.route_serializers import DEFAULT_MAX_OUTPUT_TOKENS
from llmproxy.routing import CHAT, EMBEDDING, Price, build_table, routing_table, warn_if_local

ENVIRONMENT = {
    "DEFAULT_MODEL": "gemini",
    "ROUTES": None,
    "ROUTES_FILE": "",
    "SECRETS": {},
    "PRIMARY_PROVIDER": "openai",
    "SECONDARY_PROVIDER": "openai",
    "TIMEOUT": 30.0,
    "CONNECT_TIMEOUT": 3.0,
    "RETRIES": 2,
    "BACKOFF": 0.5,
    "CLIENT_ID": "",
    "CLIENT_SECRET": "",
    "SCOPE": "",
    "COIN_URL": "",
    "OAUTH_CLIENT_AUTH": "basic",
    "API_ENDPOINT": "",
    "MODEL": "",
    "API_KEY": "",
    "SURL": "",
    "SMODEL": "",
    "SKEY": "",
}


def table(**llm):
    return build_table({**ENVIRONMENT, **llm})


def test_without_any_upstream_the_default_model_answers_locally():
    routes = table()
    assert routes.model_names(CHAT) == ["gemini"]
    assert routes.model_names(EMBEDDING) == ["local-embedding"]
    assert routes.resolve("gemini").provider == "local"
    assert routes.resolve("local-embedding", EMBEDDING).provider == "local"
    assert routes.uses_local_provider


def test_local_route_also_answers_to_gemini_when_the_default_differs():
    routes = table(DEFAULT_MODEL="house-model")
    assert routes.model_names(CHAT) == ["gemini", "house-model"]
    assert routes.resolve("gemini") is routes.resolve("house-model")


def test_primary_is_reachable_by_default_model_and_model_name_with_secondary_as_fallback():
    routes = table(
        API_ENDPOINT="https://primary/v1",
        MODEL="gpt-main",
        API_KEY="pk",
        SURL="https://secondary/v1",
        SMODEL="gpt-backup",
        SKEY="sk",
    )
    assert routes.model_names() == ["gemini", "gpt-backup", "gpt-main"]
    assert routes.resolve("gemini") is routes.resolve("gpt-main")
    assert [r.name for r in routes.chain("gemini")] == ["gpt-main", "gpt-backup"]
    primary, secondary = routes.chain("gemini")
    assert (primary.base_url, primary.model, primary.api_key) == (
        "https://primary/v1",
        "gpt-main",
        "pk",
    )
    assert (secondary.base_url, secondary.model, secondary.api_key) == (
        "https://secondary/v1",
        "gpt-backup",
        "sk",
    )
    assert not routes.uses_local_provider


def test_primary_uses_oauth_when_coin_url_is_set():
    routes = table(
        API_ENDPOINT="https://primary",
        MODEL="m",
        API_KEY="ignored",
        COIN_URL="https://coin/token",
        CLIENT_ID="cid",
        CLIENT_SECRET="cs",
        SCOPE="llm",
        PRIMARY_PROVIDER="gemini",
    )
    route = routes.resolve("gemini")
    assert route.provider == "gemini"
    assert route.api_key == ""
    assert (route.oauth.token_url, route.oauth.client_id, route.oauth.scope) == (
        "https://coin/token",
        "cid",
        "llm",
    )
    assert "cs" not in repr(route)


def test_secondary_alone_serves_the_default_model():
    routes = table(SURL="https://secondary", SMODEL="small", SKEY="sk")
    assert routes.resolve("gemini").name == "small"
    assert routes.chain("gemini")[1:] == []


def test_secondary_serving_the_same_model_name_gets_its_own_route_name():
    routes = table(API_ENDPOINT="https://a", MODEL="m", SURL="https://b", SMODEL="m")
    assert [r.name for r in routes.chain("m")] == ["m", "secondary"]
    assert routes.chain("m")[1].model == "m"


def test_settings_timeouts_and_retries_are_the_route_defaults():
    route = table(API_ENDPOINT="https://a", TIMEOUT=9.0, RETRIES=4).resolve("gemini")
    assert (route.timeout, route.retries) == (9.0, 4)


ROUTES_YAML = """
defaults:
  timeout: 42
routes:
  gemini:
    provider: gemini
    model: gemini-2.0-flash
    base_url: https://generativelanguage.googleapis.com/v1beta/
    api_key: ${LLM_SECRET_GOOGLE}
    aliases: [flash]
    fallbacks: [gpt]
    retries: 0
  gpt:
    base_url: https://api.openai.com/v1
    model: gpt-4o-mini
    api_key: ${SKEY}
    headers: {OpenAI-Organization: org-1}
"""


def test_yaml_routes_file_with_secret_references(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES_YAML)
    routes = table(ROUTES_FILE=str(path), SKEY="sk-2", SECRETS={"LLM_SECRET_GOOGLE": "g-key"})
    flash = routes.resolve("flash")
    assert (flash.name, flash.provider, flash.api_key, flash.timeout, flash.retries) == (
        "gemini",
        "gemini",
        "g-key",
        42.0,
        0,
    )
    assert flash.base_url == "https://generativelanguage.googleapis.com/v1beta"
    gpt = routes.resolve("gpt")
    assert (gpt.provider, gpt.api_key, gpt.headers, gpt.retries) == (
        "openai",
        "sk-2",
        {"OpenAI-Organization": "org-1"},
        2,
    )
    assert [r.name for r in routes.chain("flash")] == ["gemini", "gpt"]


def test_json_routes_file(tmp_path):
    path = tmp_path / "routes.json"
    spec = {"routes": {"gemini": {"base_url": "https://x/v1", "model": "m", "oauth": True}}}
    path.write_text(json.dumps(spec))
    route = table(ROUTES_FILE=str(path), COIN_URL="https://coin", CLIENT_ID="c").resolve("gemini")
    assert route.oauth.token_url == "https://coin"


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (
            {"gemini": {"provider": "bard", "base_url": "x"}},
            "LLM route 'gemini': provider: \"bard\" is not a valid choice.",
        ),
        ({"gemini": {"provider": "openai"}}, "base_url: Required for this provider."),
        ({"gemini": {"base_url": "ftp://x"}}, "base_url: Must be an http:// or https:// URL."),
        (
            {"gemini": {"provider": "local", "fallback": ["x"]}},
            "fallback: Unknown field. Known fields: timeout, connect_timeout, retries,",
        ),
        ({"gemini": {"provider": "local", "fallbacks": ["nope"]}}, "fallback 'nope'"),
        ({"gemini": {"provider": "local", "timeout": "soon"}}, "timeout: Must be a JSON number."),
        ({"gemini": {"provider": "local", "retries": -1}}, "retries: Ensure this value is"),
        ({"gemini": {"provider": "local", "kind": "image"}}, 'kind: "image" is not a valid'),
        ({"gemini": {"provider": "local", "kind": "embedding"}}, "'gemini' is not a chat"),
        ({"gemini": {"provider": "local", "max_output_tokens": 0}}, "max_output_tokens: Ensure"),
        ({"gemini": {"provider": "local", "price": {"input": 1}}}, "price.output: This field is"),
        ({"gemini": {"provider": "local", "price": {"input": -1, "output": 1}}}, "price.input:"),
        (
            {"gemini": {"provider": "local", "price": {"input": 1, "output": 2, "cache": 1}}},
            "price.cache: Unknown field. Known fields: input, output, cached_input.",
        ),
        ({"gemini": {"provider": "local", "headers": ["x"]}}, "headers: Expected a dictionary"),
        ({"gemini": {"provider": "local", "oauth": "yes"}}, "oauth: Must be true, false or a"),
        ({"other": {"provider": "local"}}, "DEFAULT_MODEL 'gemini' is not a chat model"),
        (
            {"gemini": {"provider": "local"}, "b": {"provider": "local", "aliases": ["gemini"]}},
            "'gemini' is defined twice",
        ),
        ({"gemini": {"provider": "local", "api_key": "${HOME}"}}, "refer to ${HOME}"),
        (
            {"gemini": {"provider": "local", "oauth": {"token_url": "u"}}},
            "oauth.token_url: Must be",
        ),
        ({"gemini": {"provider": "local", "oauth": {"scope": "s"}}}, "needs a token_url"),
    ],
)
def test_bad_routing_tables_are_refused_with_a_clear_message(routes, message):
    with pytest.raises(ImproperlyConfigured, match=None) as caught:
        table(ROUTES={"routes": routes})
    assert message in str(caught.value)


def test_unreadable_routes_file_is_refused(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="Cannot read LLM_ROUTES_FILE"):
        table(ROUTES_FILE=str(tmp_path / "missing.yaml"))


def test_table_is_rebuilt_when_settings_change(llm, fake):
    before = routing_table()
    assert routing_table() is before
    llm({"gemini": {"provider": "local"}})
    assert routing_table() is not before
    assert routing_table().resolve("gemini").provider == "local"


def test_start_up_warns_when_answers_come_from_the_local_provider(llm, caplog):
    with caplog.at_level(logging.WARNING, logger="llmproxy.routing"):
        warn_if_local()
        assert not caplog.records
        llm({"gemini": {"provider": "local"}})
        warn_if_local()
    assert "not a real model" in caplog.text


def test_unknown_top_level_and_default_keys_are_named():
    with pytest.raises(ImproperlyConfigured) as caught:
        table(ROUTES={"route": {}, "defaults": {"timeout": 5, "retry": 1}})
    message = str(caught.value)
    assert message.startswith("The LLM routing table: ")
    assert "route: Unknown field. Known fields: defaults, routes." in message
    assert "defaults.retry: Unknown field. Known fields: timeout, connect_timeout" in message


def test_price_kind_and_output_limit_are_stored_on_the_route():
    routes = {
        "gemini": {
            "base_url": "https://x/v1",
            "price": {"input": "2.5", "output": 10, "cached_input": 1.25},
            "max_output_tokens": 4096,
        },
        "cheap": {"base_url": "https://x/v1", "price": {"input": 0.15, "output": 0.6}},
        "vectors": {"base_url": "https://x/v1", "kind": "embedding"},
    }
    built = table(ROUTES={"routes": routes, "defaults": {"max_output_tokens": 8192}})
    gemini, cheap, vectors = (built.resolve(name) for name in ("gemini", "cheap", "vectors"))
    assert gemini.price == Price(Decimal("2.5"), Decimal("10"), Decimal("1.25"))
    assert (gemini.max_output_tokens, cheap.max_output_tokens) == (4096, 8192)
    # Without a cached price, cached tokens cost what input tokens cost.
    assert cheap.price == Price(Decimal("0.15"), Decimal("0.6"), Decimal("0.15"))
    assert vectors.price is None
    assert (gemini.kind, vectors.kind) == ("chat", "embedding")
    assert built.model_names("chat") == ["cheap", "gemini"]
    assert built.model_names("embedding") == ["vectors"]
    assert built.resolve("vectors", "chat") is None


def test_default_output_limit_is_documented_value():
    assert table().resolve("gemini").max_output_tokens == DEFAULT_MAX_OUTPUT_TOKENS == 32768


def test_a_models_output_limit_is_the_lowest_of_its_chain():
    routes = {
        "gemini": {"base_url": "https://x/v1", "max_output_tokens": 9000, "fallbacks": ["b"]},
        "b": {"base_url": "https://y/v1", "max_output_tokens": 4000},
    }
    built = table(ROUTES={"routes": routes})
    assert (built.max_output_tokens("gemini"), built.max_output_tokens("b")) == (4000, 4000)
    assert built.largest_max_output_tokens() == 9000


def test_fallbacks_must_be_of_the_same_kind():
    routes = {
        "gemini": {"base_url": "https://x/v1", "fallbacks": ["vectors"]},
        "vectors": {"base_url": "https://x/v1", "kind": "embedding"},
    }
    with pytest.raises(ImproperlyConfigured, match="fallback 'vectors' is not a chat route"):
        table(ROUTES={"routes": routes})
