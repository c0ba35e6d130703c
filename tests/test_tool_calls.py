"""Tool calls both ways: the model's Seed blocks → OpenAI ``tool_calls``, and a client's
messages → the prompt, through the real Seed-OSS template and the real thinking parser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from seedchat.errors import RequestError, SeedchatError
from seedchat.events import AnswerDelta, Notice, ThinkingDelta, ToolCall
from seedchat.seed.template import ChatTemplate, Message
from seedchat.seed.thinking import ThinkingParser, initial_state
from seedchat.seed.tool_calls import offered, openai_tool_call, prompt_messages, typed_arguments

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = ChatTemplate((REPO / "seedchat" / "data" / "templates" / "seed-oss.jinja").read_text())

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather forecast.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
            },
            "required": ["location"],
        },
    },
}

# What Seed-OSS writes (docs/seed-format.md, "Tool calls"), with a boolean added.
SEED_CALL = (
    "<seed:tool_call>\n<function=get_weather>\n<parameter=location>Beijing</parameter>\n"
    "<parameter=days>3</parameter>\n<parameter=metric>true</parameter>\n</function>\n"
    "</seed:tool_call>"
)
TAG = re.compile(r"</?(?:seed:)?(?:think|cot_budget_reflect|tool_call|eos|bos|pad)>|<function=")


def one_param_tool(schema: dict) -> list[dict]:
    return [
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {"type": "object", "properties": {"x": schema}},
            },
        }
    ]


def typed(schema: dict, raw: str):
    return typed_arguments(ToolCall("f", {"x": raw}), one_param_tool(schema))["x"]


def run(pieces: list[str], **kwargs) -> list:
    parser = ThinkingParser(**kwargs)
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.finish()


def splits(text: str):
    """The text in one piece, in every two pieces, and one character at a time."""
    yield [text]
    for k in range(1, len(text)):
        yield [text[:k], text[k:]]
    yield list(text)


def text_of(events: list, kind: type) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


# -- typing by JSON schema --------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "raw", "expected"),
    [
        ({"type": "string"}, "Beijing", "Beijing"),
        ({"type": "string"}, "3", "3"),
        ({"type": "string"}, " two words \n", " two words \n"),
        ({"type": "string", "enum": ["a", "b"]}, "a", "a"),
        ({"enum": ["1", "2"]}, "1", "1"),
        ({"type": "integer"}, "3", 3),
        ({"type": "integer"}, " -42 ", -42),
        ({"type": "number"}, "2.5", 2.5),
        ({"type": "number"}, "3.0", 3),
        ({"type": "number"}, "1e3", 1000),
        ({"type": "boolean"}, "true", True),
        ({"type": "boolean"}, "True", True),
        ({"type": "boolean"}, "false", False),
        ({"type": "boolean"}, "yes", False),
        ({"type": "object"}, '{"a": [1, "二"]}', {"a": [1, "二"]}),
        ({"type": "object"}, "{'a': True, 'b': None}", {"a": True, "b": None}),
        ({"type": "array"}, "[1, 2]", [1, 2]),
        ({"type": "array"}, "['x', 'y']", ["x", "y"]),
        ({"type": "array"}, "(1, 2)", [1, 2]),
        ({"type": "string"}, "null", None),
        ({"type": "integer"}, "NULL", None),
        ({"type": ["integer", "null"]}, "7", 7),
        ({"type": ["null", "boolean"]}, "true", True),
        ({"type": "INTEGER"}, "7", 7),
    ],
)
def test_values_are_typed_by_the_json_schema(schema, raw, expected):
    value = typed(schema, raw)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("schema", "raw"),
    [
        ({"type": "integer"}, "three"),
        ({"type": "integer"}, "3.5"),
        ({"type": "integer"}, ""),
        ({"type": "number"}, "about 2"),
        ({"type": "number"}, "inf"),
        ({"type": "number"}, "nan"),
        ({"type": "object"}, "{broken"),
        ({"type": "object"}, "NaN"),
        ({"type": "array"}, "{1, 2}"),  # a Python set: not JSON
        ({"type": "array"}, "b'bytes'"),
        ({"type": "array"}, "[" * 100_000),
        ({"type": "object"}, "__import__('os').system('true')"),
        ({}, "42"),  # no type: text
        ({"type": "mystery"}, "[1]"),
        ({"type": 5}, "1"),
    ],
)
def test_values_that_do_not_convert_keep_their_raw_text(schema, raw):
    assert typed(schema, raw) == raw


@pytest.mark.parametrize(
    "tools",
    [
        None,
        [],
        [WEATHER_TOOL],  # another tool's name
        [{"type": "function", "function": {"name": "f"}}],  # no parameters
        [{"type": "function", "function": {"name": "f", "parameters": "oops"}}],
        ["not a tool", {"function": None}],
    ],
)
def test_unknown_tools_and_parameters_keep_raw_text(tools):
    call = ToolCall("f", {"x": "3", "y": "null", "z": "true"})
    assert typed_arguments(call, tools) == {"x": "3", "y": "null", "z": "true"}


def test_unknown_parameter_of_a_known_tool_keeps_raw_text():
    call = ToolCall("get_weather", {"days": "3", "hours": "4", "note": "null"})
    assert typed_arguments(call, [WEATHER_TOOL]) == {"days": 3, "hours": "4", "note": "null"}


def test_a_bare_function_spec_is_read_too():
    tools = [WEATHER_TOOL["function"]]
    assert typed_arguments(ToolCall("get_weather", {"days": "2"}), tools) == {"days": 2}


def test_a_call_is_offered_only_when_the_request_holds_its_tool():
    call = ToolCall("get_weather", {"days": "2"})
    assert offered(call, [WEATHER_TOOL]) and offered(call, [WEATHER_TOOL["function"]])
    other = ToolCall("get_current_time", {"timezone": "UTC"})
    for tools in ([WEATHER_TOOL], [], None, ["not a tool", {"function": None}]):
        assert not offered(other, tools)
        assert not offered(call, tools) or tools == [WEATHER_TOOL]


# -- the OpenAI shape -------------------------------------------------------------------


def test_openai_tool_call_shape_and_the_id_made_by_the_parser():
    block = SEED_CALL.replace("true", "false").replace("Beijing", "北京")
    calls = [e for e in run([block, block]) if isinstance(e, ToolCall)]
    first = openai_tool_call(calls[0], [WEATHER_TOOL], 0)
    second = openai_tool_call(calls[1], [WEATHER_TOOL], 1)
    assert set(first) == {"index", "id", "type", "function"}
    assert (first["index"], second["index"]) == (0, 1)
    assert first["type"] == "function"
    # each call's id was made where it was parsed, and the API's entry carries it
    assert re.fullmatch(r"call_[0-9a-f]{24}", calls[0].id)
    assert (first["id"], second["id"]) == (calls[0].id, calls[1].id)
    assert first["id"] != second["id"]
    assert first["function"]["name"] == "get_weather"
    arguments = first["function"]["arguments"]
    assert isinstance(arguments, str)
    assert "北京" in arguments  # ensure_ascii=False
    assert json.loads(arguments) == {"location": "北京", "days": 3, "metric": False}


def test_openai_tool_call_without_tools_gives_raw_strings():
    call = ToolCall("anything", {"n": "1"})
    assert json.loads(openai_tool_call(call, None, 0)["function"]["arguments"]) == {"n": "1"}


# -- client messages → the template's messages -------------------------------------------


def test_roles_and_text_parts_become_messages():
    messages = prompt_messages(
        [
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Use tools."}]},
            {
                "role": "user",
                "name": "ann",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": "Hi", "reasoning_content": "x", "reasoning": "x"},
            {"role": "user", "content": []},
        ]
    )
    assert messages == [
        Message("system", "Be brief."),
        Message("system", "Use tools."),
        Message("user", "a\nb"),
        Message("assistant", "Hi"),
        Message("user", ""),
    ]


def test_assistant_tool_calls_and_tool_results_become_messages():
    messages = prompt_messages(
        [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "I should look it up.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"days": 3}'},
                    },
                    {"id": "call_2", "function": {"name": "now", "arguments": ""}},
                    {"function": {"name": "f", "arguments": {"x": [1]}}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "user", "content": "thanks", "tool_calls": "ignored on a user turn"},
        ]
    )
    assert messages[1] == Message(
        "assistant",
        "",
        tool_calls=[
            {"name": "get_weather", "arguments": {"days": 3}},
            {"name": "now", "arguments": {}},
            {"name": "f", "arguments": {"x": [1]}},
        ],
    )
    assert messages[2] == Message("tool", "sunny")
    assert messages[3] == Message("user", "thanks")


def test_message_to_template_writes_values_as_the_model_does():
    message = Message(
        "assistant",
        "",
        tool_calls=[{"name": "f", "arguments": {"s": "x", "n": 3, "b": True, "o": {"k": None}}}],
    )
    assert message.to_template()["tool_calls"] == [
        {
            "type": "function",
            "function": {
                "name": "f",
                "arguments": {"s": "x", "n": "3", "b": "true", "o": '{"k": null}'},
            },
        }
    ]
    assert "tool_calls" not in Message("assistant", "hi").to_template()


CALL = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("messages", "param", "words"),
    [
        (["hello"], "messages[0]", "must be an object"),
        ([{"content": "hi"}], "messages[0].role", "None is not supported"),
        ([{"role": "function", "content": "x"}], "messages[0].role", "'function'"),
        ([{"role": ["user"], "content": "x"}], "messages[0].role", "not supported"),
        ([{"role": "user"}], "messages[0].content", "needs content"),
        ([{"role": "system", "content": None}], "messages[0].content", "needs content"),
        (
            [{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "c"}],
            "messages[1].content",
            "a tool message needs content",
        ),
        ([{"role": "assistant"}], "messages[0].content", "needs content or tool_calls"),
        ([{"role": "user", "content": 5}], "messages[0].content", "string or a list"),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                    ],
                }
            ],
            "messages[0].content[1].image_url.url",
            "image-1.png is an image that cannot be read",
        ),
        (
            [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
            "messages[0].content[0]",
            "'input_audio'",
        ),
        ([{"role": "user", "content": ["bare"]}], "messages[0].content[0]", "'str' part"),
        (
            [{"role": "user", "content": [{"type": "text"}]}],
            "messages[0].content[0].text",
            "string",
        ),
        (
            [{"role": "assistant", "content": "x", "tool_calls": CALL}],
            "messages[0].tool_calls",
            "must be a list",
        ),
        (
            [{"role": "assistant", "tool_calls": [{"type": "custom", "custom": {}}]}],
            "messages[0].tool_calls[0]",
            '"type": "function"',
        ),
        (
            [{"role": "assistant", "tool_calls": [{"type": "function", "function": {}}]}],
            "messages[0].tool_calls[0].function.name",
            "non-empty string",
        ),
        (
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "ok"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        CALL,
                        {"type": "function", "function": {"name": "f", "arguments": "{'x': 1}"}},
                    ],
                },
            ],
            "messages[2].tool_calls[1].function.arguments",
            "is not valid JSON",
        ),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}],
                }
            ],
            "messages[0].tool_calls[0].function.arguments",
            "JSON object",
        ),
    ],
)
def test_invalid_messages_name_the_field(messages, param, words):
    with pytest.raises(RequestError) as caught:
        prompt_messages(messages)
    assert isinstance(caught.value, SeedchatError)
    assert caught.value.param == param
    assert words in str(caught.value)
    assert param in str(caught.value)


# -- round trips through the real template and the real parser ----------------------------

CONVERSATION = [
    {"role": "user", "content": "Weather in Beijing?"},
    {
        "role": "assistant",
        "content": None,
        "reasoning_content": "I should call the tool.",
        "tool_calls": [
            {
                "id": "call_0123456789abcdef01234567",
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "arguments": '{"location": "Beijing", "days": 3, "metric": true}',
                },
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_0123456789abcdef01234567", "content": '{"temp": 21}'},
]


def test_template_renders_tool_calls_and_results_in_seed_format():
    text = TEMPLATE.render(prompt_messages(CONVERSATION))
    assert text == (
        "<seed:bos>user\nWeather in Beijing?<seed:eos>"
        "<seed:bos>assistant\n" + SEED_CALL + "<seed:eos>"
        '<seed:bos>tool\n{"temp": 21}<seed:eos>'
        "<seed:bos>assistant\n"
    )
    with_text = [*CONVERSATION[:1], {**CONVERSATION[1], "content": "Let me check."}]
    rendered = TEMPLATE.render(prompt_messages(with_text), add_generation_prompt=False)
    assert rendered.endswith("<seed:bos>assistant\nLet me check.\n\n" + SEED_CALL + "<seed:eos>")
    with_tools = TEMPLATE.render(prompt_messages(CONVERSATION), tools=[WEATHER_TOOL])
    assert with_tools.startswith("<seed:bos>system\nYou are Doubao")
    assert "def get_weather(location: str,days: int,metric: bool):" in with_tools
    assert with_tools.endswith(text)


def test_a_rendered_call_parses_back_to_the_client_s_arguments():
    text = TEMPLATE.render(prompt_messages(CONVERSATION), add_generation_prompt=False)
    assistant = text.split("<seed:bos>assistant\n")[1].split("<seed:eos>")[0]
    calls = [e for e in run([assistant]) if isinstance(e, ToolCall)]
    sent = json.loads(CONVERSATION[1]["tool_calls"][0]["function"]["arguments"])
    assert [typed_arguments(c, [WEATHER_TOOL]) for c in calls] == [sent]


def test_model_tool_call_becomes_openai_tool_call_at_every_split():
    output = "<seed:think>The user wants the weather.</seed:think>" + SEED_CALL + "<seed:eos>"
    for pieces in splits(output):
        events = run(pieces)
        calls = [e for e in events if isinstance(e, ToolCall)]
        assert [c.name for c in calls] == ["get_weather"], pieces
        assert calls[0].arguments == {"location": "Beijing", "days": "3", "metric": "true"}
        assert text_of(events, AnswerDelta) == ""
        assert text_of(events, ThinkingDelta) == "The user wants the weather."
        entry = openai_tool_call(calls[0], [WEATHER_TOOL], 0)
        arguments = json.loads(entry["function"]["arguments"])
        assert arguments == {"location": "Beijing", "days": 3, "metric": True}
        assert type(arguments["days"]) is int


def test_tool_call_after_the_answer_began_is_a_call_not_text():
    output = "<seed:think>hm</seed:think>\nLet me check the forecast. " + SEED_CALL + " Done."
    for pieces in splits(output):
        events = run(pieces)
        assert [e.name for e in events if isinstance(e, ToolCall)] == ["get_weather"], pieces
        answer = text_of(events, AnswerDelta)
        assert answer == "Let me check the forecast.  Done."
        assert not TAG.search(answer)
        assert not any(isinstance(e, Notice) for e in events)


def test_tool_call_with_budget_zero_is_a_call_not_answer_text():
    prompt = TEMPLATE.render(
        [Message("user", "Weather in Beijing?")], thinking_budget=0, tools=[WEATHER_TOOL]
    )
    assert prompt.endswith("</seed:cot_budget_reflect>\n</seed:think>")
    in_thinking, in_reflect = initial_state(prompt)
    assert (in_thinking, in_reflect) == (False, False)
    output = "\n" + SEED_CALL + "<seed:eos>"  # what the model writes where the answer goes
    for pieces in splits(output):
        events = run(pieces, start_in_thinking=in_thinking, start_in_reflect=in_reflect)
        calls = [e for e in events if isinstance(e, ToolCall)]
        assert [c.name for c in calls] == ["get_weather"], pieces
        assert text_of(events, AnswerDelta) == ""
        arguments = json.loads(
            openai_tool_call(calls[0], [WEATHER_TOOL], 0)["function"]["arguments"]
        )
        assert arguments == {"location": "Beijing", "days": 3, "metric": True}
