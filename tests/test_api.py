"""The OpenAI-compatible API: the real server on a loopback port, the bundled demo model on
the real llama.cpp, and the official `openai` SDK as the client (a client no one here
wrote); raw HTTP (httpx) where a test needs a malformed request or a broken connection."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest
from ports import worker_port

from seedchat.api.app import create_app
from seedchat.api.calls import ApiOptions
from seedchat.api.serve import ApiServer, check_exposure
from seedchat.engine.host import ModelHost
from seedchat.errors import SeedchatError
from seedchat.network import find_free_port
from seedchat.seed.tool_calls import prompt_messages
from seedchat.settings import ChatSettings

pytestmark = pytest.mark.slow

TAGS = ("<seed:", "</seed:", "<think>", "</think>")
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "the city"},
                "days": {"type": "integer", "description": "how many days"},
                "metric": {"type": "boolean", "description": "Celsius if true"},
            },
            "required": ["location"],
        },
    },
}
SEED_TOOL_CALL = (
    "<seed:think>The user wants the weather. I will call the tool.</seed:think>"
    "<seed:tool_call>\n<function=get_weather>\n<parameter=location>Beijing</parameter>\n"
    "<parameter=days>3</parameter>\n<parameter=metric>true</parameter>\n</function>\n"
    "</seed:tool_call>"
)


@pytest.fixture
def host(demo_host: ModelHost) -> ModelHost:
    """The session's demo host (tests/conftest.py)."""
    return demo_host


def _serve(host: ModelHost, options: ApiOptions | None = None) -> ApiServer:
    server = ApiServer(
        create_app(host, options), "127.0.0.1", find_free_port("127.0.0.1", worker_port(18080))
    )
    server.start()
    return server


@pytest.fixture
def server(demo_server: ApiServer) -> ApiServer:
    """The session's API on the demo host (tests/conftest.py)."""
    return demo_server


@pytest.fixture
def client(server: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "v1", api_key="not-needed", max_retries=0)


@pytest.fixture
def model(host: ModelHost) -> str:
    return host.info.path.stem


def ask(budget: int) -> dict:
    return {"extra_body": {"chat_template_kwargs": {"thinking_budget": budget}}}


def extra(obj, name: str):
    return (obj.model_extra or {}).get(name)


def no_tags(text: str | None) -> bool:
    return not any(tag in (text or "") for tag in TAGS)


# -- models, health ---------------------------------------------------------------------


def test_models_lists_the_loaded_model(client, model, server):
    listed = client.models.list()
    assert [m.id for m in listed.data] == [model]
    health = httpx.get(server.url + "health").json()
    assert health["status"] == "ok" and health["model"] == model


# -- chat: budgets, streamed and not ----------------------------------------------------


def test_budget_0_answers_directly(client, model):
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=60,
        temperature=0,
        **ask(0),
    )
    message = reply.choices[0].message
    assert message.content and no_tags(message.content)
    assert not extra(message, "reasoning_content") and not extra(message, "reasoning")
    usage = reply.usage
    assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 60
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_budget_512_streams_thinking_in_both_fields_with_reflect_data(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is 12 plus 30?"}],
        max_tokens=700,
        temperature=0.7,
        seed=5,
        stream=True,
        stream_options={"include_usage": True},
        **ask(512),
    )
    content, reasoning, reasoning2, reflects, finish, usage = [], [], [], [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            content.append(delta.content or "")
            reasoning.append(extra(delta, "reasoning_content") or "")
            reasoning2.append(extra(delta, "reasoning") or "")
            if extra(delta, "seedchat_reflect"):
                reflects.append(extra(delta, "seedchat_reflect"))
            finish = choice.finish_reason or finish
    thinking = "".join(reasoning)
    assert thinking and thinking == "".join(reasoning2)
    assert no_tags("".join(content)) and no_tags(thinking)
    assert "cot_budget_reflect" not in thinking and "I have used" not in thinking
    assert reflects and all(r["true_count"] > 0 for r in reflects)
    assert {"used", "remaining", "exhausted", "true_count", "injected"} <= set(reflects[0])
    assert finish in ("stop", "length")
    assert 0 < usage.completion_tokens_details.reasoning_tokens <= 512  # hard: never past it
    assert usage.completion_tokens >= usage.completion_tokens_details.reasoning_tokens


def test_unlimited_thinking_whole_and_streamed(client, model):
    messages = [{"role": "user", "content": "What is 7 plus 8?"}]
    whole = client.chat.completions.create(
        model=model, messages=messages, max_tokens=500, temperature=0, **ask(-1)
    )
    message = whole.choices[0].message
    assert extra(message, "reasoning_content") == extra(message, "reasoning")
    assert extra(message, "reasoning_content")
    assert no_tags(message.content)
    assert whole.usage.completion_tokens_details.reasoning_tokens > 0
    streamed = client.chat.completions.create(
        model=model, messages=messages, max_tokens=500, temperature=0, stream=True, **ask(-1)
    )
    parts = [c.choices[0].delta for c in streamed if c.choices]
    thinking = "".join(extra(d, "reasoning_content") or "" for d in parts)
    answer = "".join(d.content or "" for d in parts)
    # the same greedy reply, whole or streamed
    assert thinking == extra(message, "reasoning_content")
    assert answer == (message.content or "")


def test_the_budget_aliases(client, model):
    messages = [{"role": "user", "content": "Say hi."}]
    for extra_body in ({"thinking_budget": 0}, {"reasoning_effort": "minimal"}):
        reply = client.chat.completions.create(
            model=model, messages=messages, max_tokens=40, extra_body=extra_body
        )
        assert reply.usage.completion_tokens_details.reasoning_tokens == 0, extra_body


def test_soft_enforcement_on_request(client, model, host):
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is 45 plus 38?"}],
        max_tokens=300,
        temperature=0.8,
        seed=1,
        extra_body={"thinking_budget": 100, "seedchat": {"enforce": "soft"}},
    )
    thinking = extra(reply.choices[0].message, "seedchat_thinking")
    assert thinking is None or not thinking["forced"]
    hard = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is 45 plus 38?"}],
        max_tokens=300,
        temperature=0.8,
        seed=1,
        extra_body={"thinking_budget": 100},
    )
    thinking = extra(hard.choices[0].message, "seedchat_thinking")
    assert thinking["forced"] and thinking["tokens"] == 100
    assert hard.usage.completion_tokens_details.reasoning_tokens == 100


def test_stop_sequences_end_the_answer(client, model):
    messages = [{"role": "user", "content": "Say hello."}]
    free = client.chat.completions.create(
        model=model, messages=messages, max_tokens=60, temperature=0, **ask(0)
    )
    text = free.choices[0].message.content
    assert len(text) > 4
    cut = text[2:4]
    stopped = client.chat.completions.create(
        model=model, messages=messages, max_tokens=60, temperature=0, stop=[cut], **ask(0)
    )
    assert stopped.choices[0].message.content == text[: text.index(cut)]
    assert stopped.choices[0].finish_reason == "stop"


# -- plain completion ---------------------------------------------------------------------


def test_completions_on_plain_text(client, model):
    reply = client.completions.create(
        model=model, prompt="Once upon a time", max_tokens=20, temperature=0
    )
    assert reply.object == "text_completion" and reply.choices[0].text
    assert reply.usage.completion_tokens <= 20
    streamed = client.completions.create(
        model=model, prompt="Once upon a time", max_tokens=20, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == reply.choices[0].text


# -- tool calls ---------------------------------------------------------------------------


def test_a_tool_call_round_trip(client, model, host):
    messages = [{"role": "user", "content": "What is the weather in Beijing for 3 days?"}]
    host.engine.script_next_reply(SEED_TOOL_CALL)  # what Seed-OSS writes for this request
    first = client.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER], max_tokens=200
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert call.id.startswith("call_") and len(call.id) == 29
    assert json.loads(call.function.arguments) == {"location": "Beijing", "days": 3, "metric": True}
    assert no_tags(choice.message.content)
    assert (
        extra(choice.message, "reasoning_content")
        == "The user wants the weather. I will call the tool."
    )
    messages += [
        choice.message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}),
        {"role": "tool", "tool_call_id": call.id, "content": '{"forecast": "sunny, 25 C"}'},
    ]
    final = client.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER], max_tokens=120, temperature=0, **ask(0)
    )
    assert final.choices[0].message.content and final.choices[0].finish_reason in ("stop", "length")
    # the call and its result went back to the model in Seed's own format
    options = ChatSettings(budget=0).generation_options(tools=[WEATHER])
    prompt = host.engine.render(prompt_messages(messages), options)
    assert "<function=get_weather>" in prompt and "sunny, 25 C" in prompt


def test_a_streamed_tool_call(client, model, host):
    host.engine.script_next_reply(SEED_TOOL_CALL)
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Beijing?"}],
        tools=[WEATHER],
        stream=True,
    )
    calls, finish = [], None
    for chunk in stream:
        for choice in chunk.choices:
            calls += choice.delta.tool_calls or []
            finish = choice.finish_reason or finish
    assert finish == "tool_calls" and len(calls) == 1
    assert json.loads(calls[0].function.arguments)["days"] == 3


# -- many clients ---------------------------------------------------------------------------


def test_eight_concurrent_streams_are_all_answered_in_full(client, model, host):
    results: dict[int, tuple[str | None, int]] = {}

    def one(i: int) -> None:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": f"What is {i} plus {i}?"}],
            max_tokens=40,
            temperature=0.7,
            seed=i,
            stream=True,
            stream_options={"include_usage": True},
            **ask(0),
        )
        finish, tokens = None, 0
        for chunk in stream:
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
        results[i] = (finish, tokens)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert sorted(results) == list(range(8))
    assert all(finish in ("stop", "length") and tokens > 0 for finish, tokens in results.values())
    assert not host.busy and host.turns.waiting == 0


def test_a_client_that_goes_away_frees_the_model(server, model, host):
    body = {
        "model": model,
        "stream": True,
        "max_tokens": 4000,
        "temperature": 1.0,
        "messages": [{"role": "user", "content": "Count to a thousand."}],
        "thinking_budget": -1,
    }
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", server.url + "v1/chat/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        for _ in range(5):
            next(lines)
    # the connection is closed mid-reply: the model stops within a token
    deadline = time.monotonic() + 10
    while host.busy and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not host.busy
    started = time.monotonic()
    reply = httpx.post(
        server.url + "v1/chat/completions",
        timeout=60,
        json={
            "model": model,
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 5,
            "thinking_budget": 0,
        },
    )
    assert reply.status_code == 200 and time.monotonic() - started < 5


def test_a_full_queue_answers_429_with_retry_after(server, model, host):
    host.turns.enter()  # the model is generating for someone
    places = [host.turns.enter() for _ in range(host.turns.max_waiting)]  # and the queue is full
    try:
        reply = httpx.post(
            server.url + "v1/chat/completions",
            timeout=30,
            json={"model": model, "messages": [{"role": "user", "content": "Hi"}]},
        )
        assert reply.status_code == 429 and reply.headers["retry-after"]
        assert reply.json()["error"]["code"] == "model_busy"
    finally:
        for place in places:
            host.turns.give_up(place)
        host.turns.leave()


# -- safety ---------------------------------------------------------------------------------


def test_an_api_key_is_required_when_set(host, model):
    server = _serve(host, ApiOptions(api_key="s3cret"))
    try:
        anonymous = openai.OpenAI(base_url=server.url + "v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            anonymous.models.list()
        bare = httpx.get(server.url + "v1/models")
        assert bare.status_code == 401 and bare.json()["error"]["code"] == "invalid_api_key"
        keyed = openai.OpenAI(base_url=server.url + "v1", api_key="s3cret", max_retries=0)
        assert keyed.models.list().data[0].id == model
    finally:
        server.close()


def test_beyond_loopback_without_a_key_refuses_to_start(cli_env):
    with pytest.raises(SeedchatError, match="--api-key"):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", "key")  # with a key it may
    check_exposure("127.0.0.1", None)
    proc = subprocess.run(
        [sys.executable, "-m", "seedchat", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=60,
    )
    assert proc.returncode == 1 and "without an API key" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- malformed requests ---------------------------------------------------------------------

MALFORMED = [
    ("not JSON", "{not json", 400),
    ("a JSON list", [1, 2], 400),
    ("no messages", {"model": "M"}, 400),
    ("empty messages", {"model": "M", "messages": []}, 400),
    ("messages not a list", {"model": "M", "messages": "hi"}, 400),
    ("unknown role", {"model": "M", "messages": [{"role": "wizard", "content": "hi"}]}, 400),
    ("content of a wrong type", {"model": "M", "messages": [{"role": "user", "content": 5}]}, 400),
    (
        "an image part",
        {
            "model": "M",
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}
            ],
        },
        400,
    ),
    ("unknown model", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404),
    ("no model", {"messages": [{"role": "user", "content": "hi"}]}, 400),
    (
        "absurd max_tokens",
        {"model": "M", "max_tokens": 10**9, "messages": [{"role": "user", "content": "hi"}]},
        400,
    ),
    (
        "negative max_tokens",
        {"model": "M", "max_tokens": -1, "messages": [{"role": "user", "content": "hi"}]},
        400,
    ),
    (
        "temperature a string",
        {"model": "M", "temperature": "hot", "messages": [{"role": "user", "content": "hi"}]},
        400,
    ),
    (
        "top_p above 1",
        {"model": "M", "top_p": 3, "messages": [{"role": "user", "content": "hi"}]},
        400,
    ),
    (
        "a budget below -1",
        {"model": "M", "thinking_budget": -7, "messages": [{"role": "user", "content": "hi"}]},
        400,
    ),
    (
        "an unknown effort",
        {
            "model": "M",
            "reasoning_effort": "extreme",
            "messages": [{"role": "user", "content": "hi"}],
        },
        400,
    ),
    (
        "a JSON response format",
        {
            "model": "M",
            "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": "hi"}],
        },
        400,
    ),
    ("n = 3", {"model": "M", "n": 3, "messages": [{"role": "user", "content": "hi"}]}, 400),
    (
        "tool arguments not JSON",
        {
            "model": "M",
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{oops"},
                        }
                    ],
                },
            ],
        },
        400,
    ),
    (
        "a prompt longer than the context",
        {"model": "M", "messages": [{"role": "user", "content": "word " * 6000}]},
        400,
    ),
    ("an unknown path", None, 404),
]


@pytest.mark.parametrize(("what", "body", "status"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_request_gets_a_4xx_in_openai_shape(server, model, what, body, status):
    url = server.url + "v1/chat/completions"
    if body is None:
        reply = httpx.post(server.url + "v1/nowhere", json={})
    elif isinstance(body, str):
        reply = httpx.post(url, content=body, headers={"content-type": "application/json"})
    else:
        if isinstance(body, dict) and body.get("model") == "M":
            body = {**body, "model": model}
        reply = httpx.post(url, json=body, timeout=60)
    assert reply.status_code == status, (what, reply.text)
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]


def test_the_server_keeps_serving_after_malformed_requests(client, model):
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=10, **ask(0)
    )
    assert reply.choices[0].message.content is not None


def test_seedchat_serve_runs_the_api_alone_without_gradio(cli_env, tmp_path):
    port = find_free_port("127.0.0.1", worker_port(18300))
    log = tmp_path / "stderr.txt"  # -X importtime writes every import there
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "seedchat", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=cli_env,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        client = openai.OpenAI(base_url=base + "v1", api_key="none", max_retries=0)
        model = client.models.list().data[0].id
        reply = client.chat.completions.create(
            model=model,
            max_tokens=20,
            extra_body={"thinking_budget": 0},
            messages=[{"role": "user", "content": "Hi"}],
        )
        assert reply.choices[0].message.content is not None
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    err = log.read_text()
    assert proc.returncode == 0, err[-2000:]
    assert f"127.0.0.1:{port}/v1" in out
    imported = {line.split("|")[-1].strip() for line in err.splitlines() if "|" in line}
    assert "fastapi" in imported and "gradio" not in imported  # no gradio in the API server


# -- saving -----------------------------------------------------------------------------------


def test_api_conversations_are_not_saved_unless_asked(client, model):
    from seedchat.store import Store

    client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=5,
        extra_body={"thinking_budget": 0},
    )
    with Store() as store:
        assert store.count_conversations() == 0


def test_saved_api_conversations_are_continued_and_marked(host, model, tmp_path):
    from seedchat.api.saving import ApiSaver
    from seedchat.store import Store

    with Store(tmp_path / "api.db") as store:
        server = _serve(host, ApiOptions(saver=ApiSaver(store)))
        try:
            client = openai.OpenAI(base_url=server.url + "v1", api_key="none", max_retries=0)
            messages = [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2 plus 2?"},
            ]
            first = client.chat.completions.create(  # thinking cut at 512, then the answer
                model=model, messages=messages, max_tokens=900, temperature=0, **ask(512)
            )
            assert first.choices[0].message.content
            messages += [
                {"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": "And 3 plus 3?"},
            ]
            second = client.chat.completions.create(
                model=model, messages=messages, max_tokens=40, **ask(0)
            )
            client.chat.completions.create(
                model=model, max_tokens=5, **ask(0), messages=[{"role": "user", "content": "Other"}]
            )
        finally:
            server.close()
        summaries = store.list_conversations()
        assert len(summaries) == 2 and {s.origin for s in summaries} == {"api"}
        conv = store.get_conversation(summaries[-1].id)  # the older one: continued, not doubled
        assert [m.role for m in conv.messages] == [
            "system",
            "user",
            "assistant",
            "user",
            "assistant",
        ]
        assert conv.messages[2].content == first.choices[0].message.content
        assert conv.messages[4].content == second.choices[0].message.content
        answer = conv.messages[2]
        assert answer.status == "complete" and answer.model == model
        assert answer.thinking == (extra(first.choices[0].message, "reasoning_content") or "")
        assert answer.stats["generated_tokens"] == first.usage.completion_tokens


def test_a_saved_api_call_keeps_the_id_the_client_was_given(host, model, tmp_path):
    from seedchat.api.saving import ApiSaver
    from seedchat.store import Store

    with Store(tmp_path / "api.db") as store:
        server = _serve(host, ApiOptions(saver=ApiSaver(store)))
        try:
            client = openai.OpenAI(base_url=server.url + "v1", api_key="none", max_retries=0)
            host.engine.script_next_reply(SEED_TOOL_CALL)
            reply = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "Weather in Beijing?"}],
                tools=[WEATHER],
                max_tokens=200,
            )
        finally:
            server.close()
        (call,) = reply.choices[0].message.tool_calls
        (summary,) = store.list_conversations()
        answer = store.get_conversation(summary.id).messages[-1]
        assert [c["id"] for c in answer.tool_calls] == [call.id]  # one id, made by the parser
        assert answer.tool_calls[0]["name"] == "get_weather"


def test_a_tool_call_after_the_answer_began_or_at_budget_0_is_a_call(client, model, host):
    text = "Let me look that up." + SEED_TOOL_CALL.split("</seed:think>")[1]
    host.engine.script_next_reply(text)
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Beijing?"}],
        tools=[WEATHER],
        **ask(0),
    )
    message = reply.choices[0].message
    assert message.content == "Let me look that up." and no_tags(message.content)
    assert [c.function.name for c in message.tool_calls] == ["get_weather"]
    assert reply.choices[0].finish_reason == "tool_calls"


def test_a_call_to_a_tool_not_offered_stays_text_whole_and_streamed(client, model, host):
    """A client runs only the tools it sent: the model's call to another is its text."""
    other = SEED_TOOL_CALL.replace("get_weather", "get_current_time")
    call_text = "\n<function=get_current_time>\n<parameter=location>Beijing</parameter>\n"
    call_text += "<parameter=days>3</parameter>\n<parameter=metric>true</parameter>\n</function>\n"
    asked = {"model": model, "messages": [{"role": "user", "content": "Time?"}], "tools": [WEATHER]}
    host.engine.script_next_reply(other)
    reply = client.chat.completions.create(**asked)
    message = reply.choices[0].message
    assert not message.tool_calls and reply.choices[0].finish_reason == "stop"
    assert message.content == call_text
    host.engine.script_next_reply(other)
    chunks = list(client.chat.completions.create(**asked, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert not [d for d in deltas if d.tool_calls]
    assert "".join(d.content or "" for d in deltas) == call_text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_a_tool_call_drafted_inside_the_thinking_stays_thinking(client, model, host):
    call = SEED_TOOL_CALL.split("</seed:think>")[1]
    host.engine.script_next_reply(f"<seed:think>Maybe {call} no.</seed:think>It is sunny.")
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER],
        **ask(-1),
    )
    message = reply.choices[0].message
    assert not message.tool_calls and message.content == "It is sunny."
    assert "<function=get_weather>" in extra(message, "reasoning_content")
    assert reply.choices[0].finish_reason == "stop"


def test_a_longer_conversation_reuses_the_cached_prefix(client, model):
    messages = [{"role": "user", "content": "What is 2 plus 2?"}]
    first = client.chat.completions.create(model=model, messages=messages, max_tokens=30, **ask(-1))
    messages += [
        {"role": "assistant", "content": first.choices[0].message.content or "4"},
        {"role": "user", "content": "And 3 plus 3?"},
    ]
    second = client.chat.completions.create(
        model=model, messages=messages, max_tokens=30, **ask(-1)
    )
    cached = second.usage.prompt_tokens_details.cached_tokens
    # the first request's whole prompt was not evaluated again
    assert first.usage.prompt_tokens - 1 <= cached < second.usage.prompt_tokens


def test_a_file_part_reaches_the_prompt_as_the_terminal_attaches_it(client, model, server):
    import base64

    from documents_helpers import make_pdf

    from seedchat.documents.read import attach, read_document

    pdf = make_pdf(["Revenue was 12 million.", "Costs were 9 million."])
    data = "data:application/pdf;base64," + base64.b64encode(pdf).decode()
    parts = [
        {"type": "text", "text": "What was the revenue?"},
        {"type": "file", "file": {"filename": "q3.pdf", "file_data": data}},
    ]
    as_text = attach("What was the revenue?", [read_document(pdf, "q3.pdf")])
    usage = []
    for content in (parts, as_text):
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": content}],
            max_tokens=2,
            temperature=0,
            **ask(0),
        )
        usage.append(reply.usage.prompt_tokens)
    assert usage[0] == usage[1] > len(as_text) // 8  # the same prompt, the file's text in it
    bad = [{"type": "file", "file": {"filename": "x.pdf", "file_data": "JVBERi0xLjcK"}}]
    reply = httpx.post(
        server.url + "v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": bad}]},
        timeout=60,
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == "messages[0].content[0].file.file_data"
    assert "x.pdf is a damaged PDF" in error["message"]
