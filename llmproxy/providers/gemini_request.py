"""OpenAI request bodies as Gemini ones: generateContent, embedContent, batchEmbedContents.

Every field Gemini has an equivalent for is translated; every other field is refused with
UnsupportedParameter naming it (dotted path, as OpenAI's `param`), never dropped: a caller
who asked for `logit_bias` must not get an answer made without it. docs/llm.md has the table.
"""

import json
import re

from llmproxy.errors import UnsupportedParameter
from llmproxy.providers.datatypes import ChatRequest, EmbeddingRequest, text_of

# The gateway's own fields: the route and the call decide them.
GATEWAY_FIELDS = frozenset({"model", "stream", "stream_options"})
# Fields about the caller, not the answer: nothing for Gemini to do with them.
NO_EFFECT = frozenset({"user", "safety_identifier", "prompt_cache_key"})
# Plain renames into generationConfig.
CONFIG_NAMES = {
    "temperature": "temperature",
    "top_p": "topP",
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "seed": "seed",
    "n": "candidateCount",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "logprobs": "responseLogprobs",
    "top_logprobs": "logprobs",
}
# reasoning_effort as a thinking budget in tokens (the figures Google's own OpenAI
# compatibility layer uses for low, medium and high).
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
TOOL_MODES = {"none": "NONE", "auto": "AUTO", "required": "ANY"}
DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.DOTALL)
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
# Keys a message may carry on a Gemini route; others (e.g. `name`, `audio`) are refused.
MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "refusal"})


def unsupported(param: str, why: str = "") -> UnsupportedParameter:
    reason = why or f"Gemini routes have no equivalent of `{param}`."
    return UnsupportedParameter(f"{param}: {reason}", status=400, param=param)


# --- generateContent -------------------------------------------------------------------------


def generate_content_body(request: ChatRequest) -> dict:
    """The generateContent body for `request`; raises UnsupportedParameter."""
    body, config = {}, {}
    for name, value in request.body.items():
        if value is None or name in GATEWAY_FIELDS or name in NO_EFFECT:
            continue
        if name in CONFIG_NAMES:
            config[CONFIG_NAMES[name]] = value
        elif name in SPECIAL:
            SPECIAL[name](value, body, config)
        else:
            raise unsupported(name)
    if config:
        body["generationConfig"] = config
    return body


def _messages(messages: list[dict], body: dict, config: dict) -> None:
    system, contents = [], []
    tool_names: dict[str, str] = {}  # tool_call_id -> function name, for the tool results
    for number, message in enumerate(messages):
        path = f"messages.{number}"
        for key in message.keys() - MESSAGE_KEYS:
            if message[key] is not None:
                raise unsupported(f"{path}.{key}")
        role = message["role"]
        if role in ("system", "developer"):
            system += _text_parts(message.get("content"), path)
        elif role == "user":
            contents.append({"role": "user", "parts": _user_parts(message.get("content"), path)})
        elif role == "assistant":
            contents.append({"role": "model", "parts": _model_parts(message, path, tool_names)})
        elif role == "tool":
            _add_tool_result(contents, message, path, tool_names)
        else:
            raise unsupported(f"{path}.role", f"Gemini routes take no `{role}` messages.")
    body["contents"] = contents
    if system:
        body["systemInstruction"] = {"parts": system}


def _text_parts(content, path: str) -> list[dict]:
    if isinstance(content, list):
        for number, part in enumerate(content):
            if part.get("type") != "text":
                raise unsupported(f"{path}.content.{number}", "Only text parts are allowed here.")
    text = text_of(content)
    return [{"text": text}] if text else []


def _user_parts(content, path: str) -> list[dict]:
    if not isinstance(content, list):
        return [{"text": text_of(content)}]
    return [_user_part(part, f"{path}.content.{number}") for number, part in enumerate(content)]


def _user_part(part: dict, path: str) -> dict:
    kind = part.get("type")
    if kind == "text":
        return {"text": part.get("text") or ""}
    if kind == "image_url":
        image = part.get("image_url") or {}
        if image.get("detail") not in (None, "auto"):
            raise unsupported(f"{path}.image_url.detail", "Gemini routes take `auto` only.")
        return _inline(image.get("url"), f"{path}.image_url.url")
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        mime = AUDIO_TYPES.get(audio.get("format"))
        if mime is None:
            raise unsupported(f"{path}.input_audio.format", "Gemini routes take wav or mp3.")
        return {"inlineData": {"mimeType": mime, "data": audio.get("data") or ""}}
    if kind == "file":
        file = part.get("file") or {}
        if file.get("file_id") is not None:
            raise unsupported(f"{path}.file.file_id", "Send the file as `file_data` instead.")
        return _inline(file.get("file_data"), f"{path}.file.file_data")
    raise unsupported(f"{path}.type", f"Gemini routes take no `{kind}` parts.")


def _inline(url, path: str) -> dict:
    """A base64 data URL as Gemini inline data: the only form Gemini reads without a fetch."""
    match = DATA_URL.match(url or "")
    if match is None:
        raise unsupported(path, "Gemini routes take media as data URLs (data:<type>;base64,...).")
    return {"inlineData": {"mimeType": match["mime"], "data": match["data"]}}


def _model_parts(message: dict, path: str, tool_names: dict) -> list[dict]:
    content = message.get("content")
    if isinstance(content, list):
        text = "".join(part.get("text") or part.get("refusal") or "" for part in content)
    else:
        text = text_of(content) or message.get("refusal") or ""
    parts = [{"text": text}] if text else []
    for number, call in enumerate(message.get("tool_calls") or ()):
        parts.append(_function_call(call, f"{path}.tool_calls.{number}", tool_names))
    return parts or [{"text": ""}]


def _function_call(call: dict, path: str, tool_names: dict) -> dict:
    function = call.get("function")
    if call.get("type") != "function" or not isinstance(function, dict):
        raise unsupported(f"{path}.type", "Gemini routes take function tool calls only.")
    try:
        args = json.loads(function.get("arguments") or "{}")
    except ValueError:
        args = None
    if not isinstance(args, dict):
        raise unsupported(f"{path}.function.arguments", "Must be a JSON object on Gemini routes.")
    tool_names[call.get("id")] = function.get("name")
    part = {"functionCall": {"name": function.get("name"), "args": args}}
    # Gemini's thought signature, as its own OpenAI layer hands it out with the call.
    signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
    if signature:
        part["thoughtSignature"] = signature
    return part


def _add_tool_result(contents: list, message: dict, path: str, tool_names: dict) -> None:
    name = tool_names.get(message.get("tool_call_id"))
    if name is None:
        raise unsupported(
            f"{path}.tool_call_id", "Names no tool call of an earlier assistant message."
        )
    part = {"functionResponse": {"name": name, "response": _tool_response(message)}}
    last = contents[-1] if contents else None
    # The results of parallel calls go back together, in one turn.
    if last and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
        last["parts"].append(part)
    else:
        contents.append({"role": "user", "parts": [part]})


def _tool_response(message: dict) -> dict:
    """A tool's result as the object Gemini wants: its JSON object, else {"result": ...}."""
    text = text_of(message.get("content"))
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    return value if isinstance(value, dict) else {"result": value}


def _stop(value, body: dict, config: dict) -> None:
    config["stopSequences"] = [value] if isinstance(value, str) else value


def _response_format(value: dict, body: dict, config: dict) -> None:
    kind = value.get("type")
    if kind == "text":
        return
    config["responseMimeType"] = "application/json"
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise unsupported("response_format.json_schema.schema", "Required on Gemini routes.")
        config["responseJsonSchema"] = schema


def _tools(value: list, body: dict, config: dict) -> None:
    declarations = []
    for number, tool in enumerate(value):
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict):
            raise unsupported(f"tools.{number}.type", "Gemini routes take function tools only.")
        declaration = {"name": function.get("name")}
        if function.get("description") is not None:
            declaration["description"] = function["description"]
        if function.get("parameters") is not None:
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    body["tools"] = [{"functionDeclarations": declarations}]


def _tool_choice(value, body: dict, config: dict) -> None:
    if isinstance(value, str):
        calling = {"mode": TOOL_MODES[value]}
    elif value.get("type") == "function":
        name = (value.get("function") or {}).get("name")
        calling = {"mode": "ANY", "allowedFunctionNames": [name]}
    elif value.get("type") == "allowed_tools":
        allowed = value.get("allowed_tools") or {}
        names = [(tool.get("function") or {}).get("name") for tool in allowed.get("tools") or ()]
        calling = {"mode": TOOL_MODES.get(allowed.get("mode"), "AUTO")}
        calling["allowedFunctionNames"] = names
    else:
        raise unsupported("tool_choice.type", "Gemini routes choose among function tools only.")
    body["toolConfig"] = {"functionCallingConfig": calling}


def _parallel_tool_calls(value: bool, body: dict, config: dict) -> None:
    if not value:
        raise unsupported("parallel_tool_calls", "Gemini cannot be kept to one call per turn.")


def _reasoning_effort(value: str, body: dict, config: dict) -> None:
    if value not in THINKING_BUDGETS:
        raise unsupported("reasoning_effort", f"One of {', '.join(THINKING_BUDGETS)}.")
    config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS[value]}


def _store(value: bool, body: dict, config: dict) -> None:
    if value:
        raise unsupported("store", "Gemini routes store no completions.")


def _modalities(value: list, body: dict, config: dict) -> None:
    if value != ["text"]:
        raise unsupported("modalities", "Gemini routes answer with text only.")


SPECIAL = {
    "messages": _messages,
    "stop": _stop,
    "response_format": _response_format,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "parallel_tool_calls": _parallel_tool_calls,
    "reasoning_effort": _reasoning_effort,
    "store": _store,
    "modalities": _modalities,
}


# --- embedContent / batchEmbedContents ------------------------------------------------------


def embed_requests(request: EmbeddingRequest, model: str) -> list[dict]:
    """One embedContent request per input; raises UnsupportedParameter."""
    dimensions = None
    for name, value in request.body.items():
        if value is None or name in GATEWAY_FIELDS or name in NO_EFFECT:
            continue
        if name == "dimensions":
            dimensions = value
        elif name not in ("input", "encoding_format"):
            raise unsupported(name)
    requests = []
    for text in request.inputs:
        if not isinstance(text, str):
            raise unsupported("input", "Gemini routes embed text, not token lists.")
        one = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if dimensions is not None:
            one["outputDimensionality"] = dimensions
        requests.append(one)
    return requests
