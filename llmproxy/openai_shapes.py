"""The JSON shapes of OpenAI's request fields, as the gateway documents and checks them.

Types and documented limits only: what a field means is the upstream's business, so newer
part types, tool types and keys pass on (an OpenAI-compatible upstream judges them; a Gemini
route refuses what it cannot translate, naming it). See llmproxy.jsonshape for the keywords.
"""


def string(**extra) -> dict:
    return {"type": "string", **extra}


def number(low: float, high: float, **extra) -> dict:
    return {"type": "number", "minimum": low, "maximum": high, "nullable": True, **extra}


def integer(low: int, high: int, **extra) -> dict:
    return {"type": "integer", "minimum": low, "maximum": high, "nullable": True, **extra}


def obj(properties: dict, required: tuple = (), **extra) -> dict:
    shape = {"type": "object", "properties": properties, **extra}
    if required:
        shape["required"] = list(required)
    return shape


ROLES = ["system", "developer", "user", "assistant", "tool", "function"]

CONTENT_PART = obj(
    {
        "type": string(),
        "text": string(),
        "image_url": obj({"url": string(), "detail": string()}, ("url",)),
        "input_audio": obj({"data": string(), "format": string()}, ("data", "format")),
        "file": obj({"file_data": string(), "file_id": string(), "filename": string()}),
        "refusal": string(),
    },
    ("type",),
    description="A content part: `text`, `image_url`, `input_audio`, `file` (user messages) "
    "or `refusal` (assistant messages).",
)
TOOL_CALL = obj(
    {
        "id": string(),
        "type": string(description="`function`."),
        "function": obj({"name": string(), "arguments": string()}, ("name", "arguments")),
    },
    ("id", "type"),
)
MESSAGE = obj(
    {
        "role": string(enum=ROLES),
        "content": {
            "nullable": True,
            "oneOf": [string(), {"type": "array", "items": CONTENT_PART}],
            "description": "Text, or content parts. Null on an assistant message that calls tools.",
        },
        "name": string(),
        "tool_calls": {"type": "array", "items": TOOL_CALL},
        "tool_call_id": string(description="On `tool` messages: the call this answers."),
        "refusal": string(nullable=True),
    },
    ("role",),
)
MESSAGES = {"type": "array", "items": MESSAGE, "minItems": 1}

FUNCTION = obj(
    {
        "name": string(),
        "description": string(),
        "parameters": {"type": "object", "description": "A JSON Schema object."},
        "strict": {"type": "boolean", "nullable": True},
    },
    ("name",),
)
TOOLS = {
    "type": "array",
    "items": obj({"type": string(description="`function`."), "function": FUNCTION}, ("type",)),
    "nullable": True,
}
TOOL_CHOICE = {
    "nullable": True,
    "oneOf": [
        string(enum=["none", "auto", "required"]),
        obj(
            {
                "type": string(description="`function` or `allowed_tools`."),
                "function": obj({"name": string()}, ("name",)),
            },
            ("type",),
        ),
    ],
}
RESPONSE_FORMAT = obj(
    {
        "type": string(enum=["text", "json_object", "json_schema"]),
        "json_schema": obj(
            {
                "name": string(),
                "description": string(),
                "schema": {"type": "object", "description": "A JSON Schema object."},
                "strict": {"type": "boolean", "nullable": True},
            },
            ("name",),
        ),
    },
    ("type",),
    nullable=True,
)
STOP = {
    "nullable": True,
    "oneOf": [string(), {"type": "array", "items": string()}],
    "description": "Where the model stops: one sequence or several.",
}
LOGIT_BIAS = {
    "type": "object",
    "nullable": True,
    "additionalProperties": {"type": "number", "minimum": -100, "maximum": 100},
    "description": "Token id → bias.",
}
STREAM_OPTIONS = obj(
    {
        "include_usage": {"type": "boolean", "nullable": True},
        "include_obfuscation": {"type": "boolean", "nullable": True},
    },
    nullable=True,
    description="`include_usage`: a last chunk with the token usage.",
)


METADATA = {"type": "object", "nullable": True, "additionalProperties": string()}
MODALITIES = {"type": "array", "items": string(), "nullable": True}


def anything(kind: str, description: str = "") -> dict:
    """A value of this JSON type whose inside is the upstream's business."""
    shape = {"type": kind, "nullable": True}
    return {**shape, "description": description} if description else shape


# --- Embeddings ------------------------------------------------------------------------------

TEXT = string(minLength=1)
TOKENS = {"type": "array", "items": {"type": "integer"}, "minItems": 1}
EMBEDDING_INPUT = {
    "oneOf": [
        TEXT,
        {
            "type": "array",
            "minItems": 1,
            "maxItems": 2048,
            "items": {"oneOf": [TEXT, {"type": "integer"}, TOKENS]},
        },
    ],
    "description": "A text, a list of texts, or token ids (a list, or a list of lists).",
}
