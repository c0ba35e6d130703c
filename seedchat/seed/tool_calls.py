"""OpenAI tool calls and Seed's ``<seed:tool_call>`` blocks, both ways, as pure functions.

Model → client: the thinking parser turns the model's block into a
:class:`~seedchat.events.ToolCall` whose arguments are the raw text between
``<parameter=K>`` tags. :func:`typed_arguments` converts each value by the tool's JSON
schema, as vLLM's ``seed_oss`` tool parser does (docs/seed-format.md, "Tool calls"),
and :func:`openai_tool_call` wraps the call in OpenAI's shape, arguments a JSON string,
with the id the call was given where it was parsed (:mod:`seedchat.seed.tool_blocks`).
:func:`offered` says whether a request offered the tool a call names: a call to a tool the
client did not send stays the model's text (a client can only run the tools it sent).
Model output never makes these raise: a value that does not convert stays its raw text.

Client → model: :func:`prompt_messages` checks the ``messages`` of a request and turns them
into :class:`~seedchat.seed.template.Message` objects for the model's own template, which writes
earlier calls back as ``<seed:tool_call>`` blocks and tool results as a ``tool`` turn.
A message's content may be a string or a list of parts: ``text`` parts, and ``file`` parts
as OpenAI sends them (``{"type": "file", "file": {"filename": …, "file_data": BASE64}}``,
``file_data`` plain base64 or a ``data:…;base64,`` URL), read by
:func:`seedchat.documents.read.read_document` and written into the message by
:func:`seedchat.documents.read.attach` (the files first, then the text), as the terminal and the
page attach files. Earlier reasoning (``reasoning_content``/``reasoning``) is dropped, as the chat session
drops earlier thinking. Each problem is a :class:`~seedchat.errors.RequestError` whose
``param`` names the field, e.g. ``messages[2].tool_calls[0].function.arguments``.
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
import math
from collections.abc import Callable
from typing import Any

from seedchat.documents.read import Document, DocumentError, attach, read_document
from seedchat.errors import RequestError
from seedchat.events import ToolCall
from seedchat.seed.template import Message

#: OpenAI roles → the roles Seed's template knows.
ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}

# What a parse of model text may raise (literal_eval: also MemoryError, RecursionError).
_PARSE_ERRORS = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)


# -- model → client -------------------------------------------------------------------


def typed_arguments(call: ToolCall, tools: list[dict] | None) -> dict[str, Any]:
    """The call's arguments, each converted by its JSON-schema type in ``tools``.

    string/enum (or no type): the raw text; integer → int; number → float, an integral
    one → int; boolean → ``text.lower() == "true"``; object/array → JSON, else a Python
    literal, else the raw text; ``null`` → None. A value that does not convert, an unknown
    tool and an unknown parameter keep the raw text.
    """
    properties = _properties(call.name, tools)
    return {name: _typed(value, properties.get(name)) for name, value in call.arguments.items()}


def openai_tool_call(call: ToolCall, tools: list[dict] | None, index: int) -> dict[str, Any]:
    """The call as an OpenAI ``tool_calls`` entry (``index`` for streamed deltas), with
    the call's own id."""
    arguments = json.dumps(typed_arguments(call, tools), ensure_ascii=False)
    return {
        "index": index,
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def offered(call: ToolCall, tools: list[dict] | None) -> bool:
    """Whether ``tools`` (a request's, OpenAI's or Ollama's shape) holds the tool ``call``
    calls: a call to any other tool is the model's text, not a call a client can run."""
    return _function(call.name, tools) is not None


def _function(name: str, tools: list[dict] | None) -> dict[str, Any] | None:
    """The function entry of the tool called ``name`` in ``tools`` (None if there is none)."""
    for tool in tools or []:
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("name") == name:
            return function
    return None


def _properties(name: str, tools: list[dict] | None) -> dict[str, Any]:
    """The parameters' schemas of the tool called ``name`` ({} if there is none)."""
    parameters = (_function(name, tools) or {}).get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    return properties if isinstance(properties, dict) else {}


def _typed(value: str, schema: Any) -> Any:
    if not isinstance(schema, dict):  # an unknown parameter
        return value
    if value.strip().lower() == "null":
        return None
    kind = schema.get("type")
    if isinstance(kind, list):  # ["integer", "null"]
        kind = next((k for k in kind if k != "null"), None)
    convert = _CONVERTERS.get(kind.strip().lower() if isinstance(kind, str) else "")
    return value if convert is None else convert(value)


def _to_int(value: str) -> int | str:
    try:
        return int(value.strip())
    except ValueError:
        return value


def _to_number(value: str) -> float | int | str:
    try:
        number = float(value.strip())
    except ValueError:
        return value
    if not math.isfinite(number):  # not JSON
        return value
    return int(number) if number.is_integer() else number


def _to_bool(value: str) -> bool:
    return value.strip().lower() == "true"


def _to_json(value: str) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(value.strip())
        except _PARSE_ERRORS:
            continue
        try:  # a literal may be a set, bytes or NaN: keep only what JSON can carry
            text = json.dumps(parsed, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            continue
        return json.loads(text)  # a tuple as a list, {1: …} as {"1": …}
    return value


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "integer": _to_int,
    "number": _to_number,
    "boolean": _to_bool,
    "object": _to_json,
    "array": _to_json,
}


# -- client → model -------------------------------------------------------------------


def prompt_messages(messages: list[dict[str, Any]]) -> list[Message]:
    """A request's OpenAI chat messages as the template's messages (RequestError if invalid)."""
    return [_message(message, f"messages[{i}]") for i, message in enumerate(messages)]


def _message(message: Any, where: str) -> Message:
    if not isinstance(message, dict):
        raise RequestError(f"{where} must be an object with a role and content.", param=where)
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise RequestError(
            f"{where}.role {role!r} is not supported; use system, developer, user, "
            "assistant or tool.",
            param=f"{where}.role",
        )
    role = ROLES[role]
    content, files = _content(message.get("content"), f"{where}.content")
    calls = []  # only an assistant turn carries calls
    if role == "assistant":
        calls = _tool_calls(message.get("tool_calls"), f"{where}.tool_calls")
    if content is None and not calls:
        needed = "content or tool_calls" if role == "assistant" else "content"
        raise RequestError(
            f"{where}.content is missing: a {role} message needs {needed}.",
            param=f"{where}.content",
        )
    return Message(role, content or "", tool_calls=calls or None, attachments=files)


def _content(content: Any, where: str) -> tuple[str | None, tuple[Document, ...]]:
    """A string, None, or the text of a list of parts: text parts joined by newlines,
    after the files of file parts (:func:`seedchat.documents.read.attach`); and those files."""
    if content is None or isinstance(content, str):
        return content, ()
    if not isinstance(content, list):
        raise RequestError(f"{where} must be a string or a list of parts.", param=where)
    texts: list[str] = []
    files: list[Document] = []
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        if kind == "file":
            files.append(_file_part(part.get("file"), f"{here}.file"))
            continue
        if kind == "image_url":  # read by OCR, as an attached picture is
            files.append(_image_part(part.get("image_url"), f"{here}.image_url", len(files)))
            continue
        if kind != "text":
            raise RequestError(
                f"{here} is a {kind!r} part, which is not supported: "
                "seedchat's models read text (parts of type 'text', 'file' and "
                "'image_url', whose text is read by OCR).",
                param=here,
            )
        if not isinstance(part.get("text"), str):
            raise RequestError(f"{here}.text must be a string.", param=f"{here}.text")
        texts.append(part["text"])
    return attach("\n".join(texts), files), tuple(files)


def _file_part(file: Any, where: str) -> Document:
    """An OpenAI ``file`` part's file, read (RequestError naming the field if it cannot be)."""
    if not isinstance(file, dict):
        raise RequestError(f"{where} must be an object with file_data and filename.", param=where)
    if file.get("file_id") is not None and file.get("file_data") is None:
        raise RequestError(
            f"{where}.file_id is not supported: seedchat has no file store.",
            param=f"{where}.file_id",
            hint="Send the file's bytes in file_data (base64) with its filename.",
        )
    name, data = file.get("filename"), file.get("file_data")
    if not isinstance(name, str) or not name.strip():
        raise RequestError(f"{where}.filename must name the file.", param=f"{where}.filename")
    if not isinstance(data, str):
        raise RequestError(
            f"{where}.file_data must be the file's bytes in base64.", param=f"{where}.file_data"
        )
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(
            f"{where}.file_data is not valid base64.", param=f"{where}.file_data"
        ) from exc
    try:
        return read_document(raw, name.strip())
    except DocumentError as err:
        raise RequestError(err.message, param=f"{where}.file_data", hint=err.hint) from err


def _image_part(image: Any, where: str, index: int) -> Document:
    """An OpenAI ``image_url`` part given as a ``data:`` URL, read by OCR (no address is
    fetched: the model reads text, and a URL would be a request to anywhere)."""
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url.startswith("data:image/"):
        raise RequestError(
            f"{where}.url must be a data: URL of the image (base64).",
            param=f"{where}.url",
            hint="seedchat reads images sent in the request only; it fetches no address.",
        )
    suffix = url[len("data:image/") :].split(";")[0].split(",")[0] or "png"
    file = {"filename": f"image-{index + 1}.{suffix}", "file_data": url}
    try:
        return _file_part(file, where)
    except RequestError as err:
        message = err.message.replace(f"{where}.file_data", f"{where}.url")
        if f"{where}.url" not in message:
            message = f"{where}.url: {message}"
        raise RequestError(message, param=f"{where}.url", hint=err.hint) from err


def _tool_calls(calls: Any, where: str) -> list[dict[str, Any]]:
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise RequestError(f"{where} must be a list.", param=where)
    return [_tool_call(call, f"{where}[{j}]") for j, call in enumerate(calls)]


def _tool_call(call: Any, where: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or call.get("type", "function") != "function":
        raise RequestError(
            f'{where} must be {{"type": "function", "function": {{"name": …, "arguments": …}}}}.',
            param=where,
        )
    name = function.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RequestError(
            f"{where}.function.name must be a non-empty string.", param=f"{where}.function.name"
        )
    arguments = _arguments(function.get("arguments"), f"{where}.function.arguments")
    return {"name": name, "arguments": arguments}


def _arguments(arguments: Any, where: str) -> dict[str, Any]:
    """A call's arguments: a JSON object, as a string (OpenAI's form) or already decoded."""
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError) as exc:
            raise RequestError(f"{where} is not valid JSON: {exc}.", param=where) from exc
    if arguments is None:
        return {}
    if not isinstance(arguments, dict):
        raise RequestError(f"{where} must be a JSON object of argument values.", param=where)
    return arguments
