"""What a routing table may say, as serializers: each key, its type, its limits.

Checked once, at start-up (llmproxy.routing.build_table). An error names the route, the key
at fault and what is allowed, so a typo in a routes file stops the service with a message
its operator can act on.
"""

from urllib.parse import urlsplit

from rest_framework import serializers

from dgen_ping_site.serializers import StrictInput

PROVIDER_NAMES = ("openai", "gemini", "local")
KINDS = ("chat", "embedding")
# Output tokens a request may ask for when the route does not say (docs/llm.md).
DEFAULT_MAX_OUTPUT_TOKENS = 32768
# Prices are USD per million tokens.
PRICE = {"max_digits": 14, "decimal_places": 8, "min_value": 0}


class ConfigInput(StrictInput):
    """A mapping of known keys, each of its JSON type: a misspelt key is an error naming the
    known ones, not a no-op (StrictInput reports it together with the fields' own errors)."""


def http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise serializers.ValidationError("Must be an http:// or https:// URL.")


class PriceInput(ConfigInput):
    input = serializers.DecimalField(**PRICE, help_text="USD per million prompt tokens.")
    output = serializers.DecimalField(**PRICE, help_text="USD per million completion tokens.")
    cached_input = serializers.DecimalField(
        **PRICE, required=False, help_text="USD per million cached prompt tokens (default: input)."
    )

    def validate(self, attrs):
        attrs.setdefault("cached_input", attrs["input"])
        return attrs


class OAuthInput(ConfigInput):
    token_url = serializers.CharField(validators=[http_url], required=False)
    client_id = serializers.CharField(required=False)
    client_secret = serializers.CharField(required=False, allow_blank=True)
    scope = serializers.CharField(required=False, allow_blank=True)
    client_auth = serializers.ChoiceField(choices=["basic", "body"], required=False)


class OAuthField(serializers.Field):
    """`true` (the COIN_URL client of the environment), `false`, or a mapping overriding it."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return {} if data else None
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be true, false or a mapping.")
        oauth = OAuthInput(data=data)
        oauth.is_valid(raise_exception=True)
        return dict(oauth.validated_data)


class TuningInput(ConfigInput):
    """What `defaults` may set for every route, and each route for itself."""

    timeout = serializers.FloatField(min_value=0.001, required=False)
    connect_timeout = serializers.FloatField(min_value=0.001, required=False)
    retries = serializers.IntegerField(min_value=0, max_value=10, required=False)
    backoff = serializers.FloatField(min_value=0, required=False)
    max_output_tokens = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)


class RouteInput(TuningInput):
    provider = serializers.ChoiceField(choices=PROVIDER_NAMES, default="openai")
    kind = serializers.ChoiceField(choices=KINDS, default="chat")
    model = serializers.CharField(required=False, max_length=200)
    base_url = serializers.CharField(required=False, validators=[http_url])
    api_key = serializers.CharField(required=False, allow_blank=True, default="")
    oauth = OAuthField(required=False, allow_null=True)
    headers = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    aliases = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    fallbacks = serializers.ListField(child=serializers.CharField(), required=False)
    price = PriceInput(required=False, allow_null=True)

    def validate(self, attrs):
        if attrs["provider"] != "local" and not attrs.get("base_url"):
            raise serializers.ValidationError({"base_url": ["Required for this provider."]})
        return attrs


class TableInput(ConfigInput):
    defaults = TuningInput(required=False)
    # Each route is checked on its own (RouteInput), so its errors can name it.
    routes = serializers.DictField(allow_empty=False)
