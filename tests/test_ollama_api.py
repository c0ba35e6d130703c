"""Ollama's API (``/api``): the real server on a loopback port, the bundled demo model on the
real llama.cpp, and the official ``ollama`` Python client (a client no one here wrote);
raw HTTP (httpx) for the wire itself, malformed requests and a broken connection."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import ollama
import pytest
from ports import worker_port

from seedchat.api.app import create_app
from seedchat.api.calls import ApiOptions
from seedchat.api.ollama_shapes import OllamaChatRequest, ollama_settings
from seedchat.api.requests import EFFORT_BUDGETS, ChatRequest, chat_settings
from seedchat.api.serve import ApiServer
from seedchat.engine.host import ModelHost
from seedchat.network import find_free_port
from seedchat.seed.budget import UNLIMITED
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
#: Thinking far past any small budget (the demo model keeps to its budget by itself).
LONG_THINKING = "<seed:think>" + "I count the numbers one by one. " * 300 + "</seed:think>Done."
DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


@pytest.fixture
def host(demo_host: ModelHost) -> ModelHost:
    """The session's demo host (tests/conftest.py)."""
    return demo_host


def _serve(host: ModelHost, options: ApiOptions | None = None) -> ApiServer:
    server = ApiServer(
        create_app(host, options), "127.0.0.1", find_free_port("127.0.0.1", worker_port(18700))
    )
    server.start()
    return server


@pytest.fixture
def server(demo_server: ApiServer) -> ApiServer:
    """The session's API on the demo host (tests/conftest.py)."""
    return demo_server


@pytest.fixture
def client(server: ApiServer) -> ollama.Client:
    return ollama.Client(host=server.url.rstrip("/"), timeout=120)


@pytest.fixture
def model(client: ollama.Client) -> str:
    return client.list().models[0].model  # as an Ollama client finds it


def no_tags(text: str | None) -> bool:
    return not any(tag in (text or "") for tag in TAGS)


def chat_raw(server: ApiServer, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(server.url + "api/chat", json=body, timeout=120, **kwargs)


# -- the model ------------------------------------------------------------------------------


def test_list_show_and_ps_describe_the_loaded_model(client, server, host):
    (listed,) = client.list().models
    assert listed.model == f"{host.model_id}:latest"
    assert listed.size == host.info.size_bytes and re.fullmatch(r"[0-9a-f]{64}", listed.digest)
    assert listed.details.format == "gguf" and listed.details.family == "seed_oss"
    assert listed.details.quantization_level == host.info.quantization
    shown = client.show(listed.model)
    assert {"completion", "tools", "thinking"} <= set(shown.capabilities)
    assert shown.modelinfo["seed_oss.context_length"] == 4096  # the loaded context
    assert shown.modelinfo["general.parameter_count"] == host.info.parameters
    assert "num_ctx 4096" in shown.parameters and shown.template
    assert client.show(host.model_id).details == shown.details  # without the tag too
    (running,) = client.ps().models
    assert running.model == listed.model and running.context_length == 4096
    assert running.size_vram == 0 and running.size >= host.info.size_bytes  # on the CPU here
    assert running.expires_at.year > 2100  # stays loaded
    version = httpx.get(server.url + "api/version").json()["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version) and int(version.split(".")[1]) >= 6
    assert httpx.get(server.url).text.startswith("Ollama is running")


# -- chat: thinking, streamed and whole ----------------------------------------------------


def test_chat_whole_and_streamed_with_thinking_in_its_own_field(client, model):
    messages = [{"role": "user", "content": "What is 7 plus 8?"}]
    options = {"temperature": 0, "num_predict": 600}
    whole = client.chat(model=model, messages=messages, think=True, options=options)
    assert whole.done and whole.done_reason in ("stop", "length")
    assert whole.message.role == "assistant"
    assert whole.message.thinking and no_tags(whole.message.thinking)
    assert "cot_budget_reflect" not in whole.message.thinking
    assert whole.message.content and no_tags(whole.message.content)
    assert whole.eval_count <= 600 and whole.prompt_eval_count > 0
    parts = list(
        client.chat(model=model, messages=messages, think=True, options=options, stream=True)
    )
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert parts[-1].done_reason == whole.done_reason and parts[-1].eval_count == whole.eval_count
    # the same greedy reply, whole or streamed; thinking and answer never in one piece
    assert "".join(p.message.thinking or "" for p in parts) == whole.message.thinking
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    assert not any(p.message.thinking and p.message.content for p in parts)


def test_think_false_answers_directly(client, model):
    reply = client.chat(
        model=model,
        messages=[{"role": "user", "content": "Say hello."}],
        think=False,
        options={"num_predict": 60},
    )
    assert reply.message.content and no_tags(reply.message.content)
    assert not reply.message.thinking


def test_think_levels_are_reasoning_efforts_budgets():
    base = ChatSettings(budget=1024)
    for level in ("low", "medium", "high"):
        ollama_side = ollama_settings(OllamaChatRequest(model="m", think=level), base, 4096)
        openai_side = chat_settings(
            ChatRequest(model="m", messages=[{}], reasoning_effort=level), base
        )
        assert ollama_side.budget == openai_side.budget == EFFORT_BUDGETS[level]
        assert ollama_side.enforcement == openai_side.enforcement == "hard"
    think = {
        False: 0,
        True: 1024,  # the server's budget
        None: 1024,
    }
    for value, budget in think.items():
        settings = ollama_settings(OllamaChatRequest(model="m", think=value), base, 4096)
        assert settings.budget == budget, value
    unset = ollama_settings(OllamaChatRequest(model="m", think=True), ChatSettings(budget=0), None)
    assert unset.budget == UNLIMITED  # thinking asked of a server set to answer directly
    numeric = OllamaChatRequest(model="m", think="high", options={"thinking_budget": 300})
    assert ollama_settings(numeric, base, 4096).budget == 300  # the number wins


@pytest.mark.parametrize(
    ("ask", "budget"), [({"think": "low"}, 512), ({"options": {"thinking_budget": 100}}, 100)]
)
def test_the_hard_budget_cuts_at_exactly_the_mapped_budget(server, host, model, ask, budget):
    host.engine.script_next_reply(LONG_THINKING)  # the model would think past the budget
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Count to a thousand."}],
        "stream": False,
        "options": {"num_predict": budget + 150, **ask.get("options", {})},
        **{k: v for k, v in ask.items() if k != "options"},
    }
    reply = chat_raw(server, body).json()
    thinking = reply["message"]["seedchat_thinking"]
    assert thinking["forced"] and thinking["tokens"] == budget
    assert reply["message"]["thinking"] and no_tags(reply["message"]["thinking"])
    reflects = reply["message"]["seedchat_reflects"]
    assert reflects and reflects[-1]["exhausted"] and reflects[-1]["injected"]


def test_reflect_reports_stream_as_data(server, host, model):
    host.engine.script_next_reply(LONG_THINKING)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Count."}],
        "think": "low",
        "options": {"num_predict": 660},
    }
    with httpx.stream("POST", server.url + "api/chat", json=body, timeout=120) as response:
        objects = [json.loads(line) for line in response.iter_lines()]
    reflects = [
        o["message"]["seedchat_reflect"] for o in objects if "seedchat_reflect" in o["message"]
    ]
    assert reflects and all(r["true_count"] > 0 for r in reflects)
    assert {"used", "remaining", "exhausted", "true_count", "injected"} <= set(reflects[0])
    ends = [
        o["message"]["seedchat_thinking"] for o in objects if "seedchat_thinking" in o["message"]
    ]
    assert ends == [{**ends[0], "tokens": 512, "forced": True}]


def test_options_sampling_stop_and_num_predict(client, model):
    messages = [{"role": "user", "content": "Who are you?"}]
    free = client.chat(model=model, messages=messages, think=False, options={"temperature": 0})
    text = free.message.content
    assert len(text) > 4
    cut = text[2:4]
    stopped = client.chat(
        model=model, messages=messages, think=False, options={"temperature": 0, "stop": [cut]}
    )
    assert stopped.message.content == text[: text.index(cut)] and stopped.done_reason == "stop"
    short = client.chat(
        model=model, messages=messages, think=False, options={"temperature": 0, "num_predict": 3}
    )
    assert short.eval_count == 3 and short.done_reason == "length"
    assert text.startswith(short.message.content)
    seeded = [
        client.chat(
            model=model, messages=messages, think=False, options={"seed": 7, "num_predict": 20}
        ).message.content
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1]  # the seed is kept
    kept = client.chat(model=model, messages=messages, think=False, keep_alive="5m")
    assert kept.done


def test_an_empty_chat_or_prompt_only_says_the_model_is_loaded(client, model):
    chat = client.chat(model=model, messages=[])
    assert chat.done and chat.done_reason == "load"
    generated = client.generate(model=model, prompt="")
    assert generated.done and generated.done_reason == "load"


# -- generate ---------------------------------------------------------------------------------


def test_generate_with_the_template_and_raw(client, model):
    reply = client.generate(
        model=model,
        prompt="What is 2 plus 3?",
        system="Be brief.",
        think="low",
        options={"temperature": 0, "num_predict": 700},
    )
    assert reply.done and reply.response and no_tags(reply.response)
    assert reply.thinking and no_tags(reply.thinking)
    streamed = list(
        client.generate(
            model=model,
            prompt="What is 2 plus 3?",
            system="Be brief.",
            think="low",
            options={"temperature": 0, "num_predict": 700},
            stream=True,
        )
    )
    assert "".join(p.response for p in streamed) == reply.response
    assert "".join(p.thinking or "" for p in streamed) == reply.thinking
    raw = client.generate(
        model=model,
        prompt="Once upon a time",
        raw=True,
        options={"temperature": 0, "num_predict": 12},
    )
    assert raw.response and raw.eval_count <= 12 and not raw.thinking


# -- tools ------------------------------------------------------------------------------------


def test_a_tool_call_round_trip(client, model, host):
    messages = [{"role": "user", "content": "What is the weather in Beijing for 3 days?"}]
    host.engine.script_next_reply(SEED_TOOL_CALL)  # what Seed-OSS writes for this request
    first = client.chat(
        model=model, messages=messages, tools=[WEATHER], options={"num_predict": 200}
    )
    (call,) = first.message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments == {"location": "Beijing", "days": 3, "metric": True}
    assert first.message.thinking == "The user wants the weather. I will call the tool."
    assert no_tags(first.message.content) and first.done_reason == "stop"
    messages += [
        first.message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}),
        {"role": "tool", "tool_name": "get_weather", "content": '{"forecast": "sunny, 25 C"}'},
    ]
    final = client.chat(
        model=model,
        messages=messages,
        tools=[WEATHER],
        think=False,
        options={"num_predict": 80, "temperature": 0},
    )
    assert final.message.content and not final.message.tool_calls
    # the call (arguments as an object) and its result went back to the model in Seed's format
    options = ChatSettings(budget=0).generation_options(tools=[WEATHER])
    prompt = host.engine.render(prompt_messages(messages), options)
    assert "<function=get_weather>" in prompt and "sunny, 25 C" in prompt
    assert "<parameter=days>3</parameter>" in prompt


def test_a_streamed_tool_call(client, model, host):
    host.engine.script_next_reply(SEED_TOOL_CALL)
    parts = list(
        client.chat(
            model=model,
            messages=[{"role": "user", "content": "Weather in Beijing?"}],
            tools=[WEATHER],
            stream=True,
        )
    )
    calls = [c for p in parts for c in p.message.tool_calls or []]
    assert [c.function.arguments["days"] for c in calls] == [3]
    assert parts[-1].done and parts[-1].done_reason == "stop"


def test_a_call_to_a_tool_not_offered_stays_text_whole_and_streamed(client, model, host):
    """A client runs only the tools it sent: the model's call to another is its text."""
    other = SEED_TOOL_CALL.replace("get_weather", "get_current_time")
    call_text = "\n<function=get_current_time>\n<parameter=location>Beijing</parameter>\n"
    call_text += "<parameter=days>3</parameter>\n<parameter=metric>true</parameter>\n</function>\n"
    asked = {"model": model, "messages": [{"role": "user", "content": "Time?"}], "tools": [WEATHER]}
    host.engine.script_next_reply(other)
    whole = client.chat(**asked)
    assert not whole.message.tool_calls and whole.message.content == call_text
    host.engine.script_next_reply(other)
    parts = list(client.chat(**asked, stream=True))
    assert not [p for p in parts if p.message.tool_calls]
    assert "".join(p.message.content or "" for p in parts) == call_text
    assert parts[-1].done_reason == "stop"


def test_a_tool_call_carries_the_id_it_got_where_it_was_parsed(server, model, host):
    host.engine.script_next_reply(SEED_TOOL_CALL)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Weather in Beijing?"}],
        "tools": [WEATHER],
        "stream": False,
    }
    (call,) = chat_raw(server, body).json()["message"]["tool_calls"]
    assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"])
    assert call["function"]["name"] == "get_weather"


# -- the wire ---------------------------------------------------------------------------------


def test_the_stream_is_newline_delimited_json_with_nanosecond_durations(server, model):
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "What is 12 plus 30?"}],
        "think": "low",
        "options": {"num_predict": 400, "temperature": 0.7, "seed": 3},
    }
    started = time.perf_counter_ns()
    with httpx.stream("POST", server.url + "api/chat", json=body, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        raw = b"".join(response.iter_bytes())
    wall = time.perf_counter_ns() - started
    text = raw.decode()
    assert text.endswith("}\n") and "data:" not in text and "\n\n" not in text
    objects = [json.loads(line) for line in text.split("\n")[:-1]]  # one object a line
    assert len(objects) > 2
    *parts, last = objects
    assert all(o["done"] is False and o["model"] == model for o in parts)
    assert all(set(o["message"]) >= {"role", "content"} for o in parts)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", parts[0]["created_at"])
    assert last["done"] is True and last["done_reason"] in ("stop", "length")
    assert all(isinstance(last[k], int) and last[k] >= 0 for k in DURATIONS)
    # nanoseconds: within the time the client waited, and the parts add up
    assert 1_000_000 < last["total_duration"] <= wall
    assert last["eval_duration"] > 1000 * last["eval_count"]  # more than 1 µs a token
    parts_sum = sum(last[k] for k in ("load_duration", "prompt_eval_duration", "eval_duration"))
    assert parts_sum <= last["total_duration"]
    assert last["eval_count"] > 1 and last["prompt_eval_count"] > 0
    whole = chat_raw(server, {**body, "stream": False})
    assert whole.headers["content-type"] == "application/json"
    assert whole.json()["done"] is True and whole.text.count("\n") == 0


# -- errors -----------------------------------------------------------------------------------

HI = [{"role": "user", "content": "hi"}]
MALFORMED = [
    ("not JSON", "{not json", 400),
    ("a JSON list", [1, 2], 400),
    ("no model", {"messages": HI}, 400),
    ("unknown model", {"model": "llama3.2:latest", "messages": HI}, 404),
    ("messages not a list", {"model": "M", "messages": "hi"}, 400),
    ("content of a wrong type", {"model": "M", "messages": [{"role": "user", "content": 5}]}, 400),
    ("unknown role", {"model": "M", "messages": [{"role": "wizard", "content": "hi"}]}, 400),
    ("an image", {"model": "M", "messages": [{**HI[0], "images": ["aGk="]}]}, 400),
    (
        "temperature a string",
        {"model": "M", "messages": HI, "options": {"temperature": "hot"}},
        400,
    ),
    ("top_p above 1", {"model": "M", "messages": HI, "options": {"top_p": 3}}, 400),
    ("options not an object", {"model": "M", "messages": HI, "options": [1]}, 400),
    ("stream a string", {"model": "M", "messages": HI, "stream": "yes"}, 400),
    ("think a number", {"model": "M", "messages": HI, "think": 5}, 400),
    ("an unknown think level", {"model": "M", "messages": HI, "think": "extreme"}, 400),
    ("a budget below -1", {"model": "M", "messages": HI, "options": {"thinking_budget": -7}}, 400),
    ("num_predict 0", {"model": "M", "messages": HI, "options": {"num_predict": 0}}, 400),
    ("num_ctx too large", {"model": "M", "messages": HI, "options": {"num_ctx": 131072}}, 400),
    ("JSON format", {"model": "M", "messages": HI, "format": "json"}, 400),
    (
        "a prompt longer than the context",
        {"model": "M", "messages": [{**HI[0], "content": "word " * 6000}]},
        400,
    ),
]


@pytest.mark.parametrize(("what", "body", "status"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_chat_gets_a_4xx_in_ollamas_shape(server, model, what, body, status):
    url = server.url + "api/chat"
    if isinstance(body, str):
        reply = httpx.post(url, content=body, headers={"content-type": "application/json"})
    else:
        if isinstance(body, dict) and body.get("model") == "M":
            body = {**body, "model": model}
        reply = httpx.post(url, json=body, timeout=60)
    assert reply.status_code == status, (what, reply.text)
    error = reply.json()
    assert set(error) == {"error"} and isinstance(error["error"], str) and error["error"]


def test_the_ollama_client_sees_the_errors(client, server, model):
    with pytest.raises(ollama.ResponseError) as unknown:
        client.chat(model="llama3.2", messages=HI)
    assert unknown.value.status_code == 404 and "llama3.2" in unknown.value.error
    with pytest.raises(ollama.ResponseError) as big:
        client.chat(model=model, messages=HI, options={"num_ctx": 32768}, stream=True).__next__()
    assert big.value.status_code == 400
    assert (
        "num_ctx" in big.value.error
        and "4096" in big.value.error
        and "--context" in big.value.error
    )
    with pytest.raises(ollama.ResponseError) as level:
        client.generate(model=model, prompt="hi", think="extreme")
    assert level.value.status_code == 400 and "low, medium, high" in level.value.error
    with pytest.raises(ollama.ResponseError) as missing:
        client.show("nothing-here")
    assert missing.value.status_code == 404
    nowhere = httpx.post(server.url + "api/pull", json={"model": model})
    assert nowhere.status_code == 404 and set(nowhere.json()) == {"error"}
    # and the server keeps serving
    assert client.chat(model=model, messages=HI, think=False, options={"num_predict": 5}).done


# -- many clients, disconnects, the key, saving -----------------------------------------------


def test_a_client_that_goes_away_stops_its_reply(server, model, host):
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Count to a thousand."}],
        "options": {"num_predict": 4000, "thinking_budget": -1, "temperature": 1.0},
    }
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", server.url + "api/chat", json=body) as response,
    ):
        lines = response.iter_lines()
        for _ in range(5):
            json.loads(next(lines))
    # the connection is closed mid-reply: the model stops within a token
    deadline = time.monotonic() + 10
    while host.busy and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not host.busy
    started = time.monotonic()
    body = {"model": model, "messages": HI, "stream": False, "think": False}
    reply = chat_raw(server, {**body, "options": {"num_predict": 5}})
    assert reply.status_code == 200 and time.monotonic() - started < 5


def test_concurrent_clients_share_the_one_model_queue(client, model, host):
    results: dict[int, str] = {}

    def one(i: int) -> None:
        reply = client.chat(
            model=model,
            messages=[{"role": "user", "content": f"What is {i} plus {i}?"}],
            think=False,
            options={"num_predict": 30, "seed": i},
        )
        results[i] = reply.done_reason

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert sorted(results) == list(range(4)) and set(results.values()) <= {"stop", "length"}
    assert not host.busy and host.turns.waiting == 0


def test_a_full_queue_answers_429_in_ollamas_shape(server, model, host):
    host.turns.enter()  # the model is generating for someone
    places = [host.turns.enter() for _ in range(host.turns.max_waiting)]  # and the queue is full
    try:
        reply = chat_raw(server, {"model": model, "messages": HI})
        assert reply.status_code == 429 and reply.headers["retry-after"]
        assert set(reply.json()) == {"error"} and "busy" in reply.json()["error"]
    finally:
        for place in places:
            host.turns.give_up(place)
        host.turns.leave()


def test_the_api_key_is_asked_for(host):
    server = _serve(host, ApiOptions(api_key="s3cret"))
    try:
        base = server.url.rstrip("/")
        with pytest.raises(ollama.ResponseError) as refused:
            ollama.Client(host=base).list()
        assert refused.value.status_code == 401 and "Bearer" in refused.value.error
        wrong = ollama.Client(host=base, headers={"Authorization": "Bearer nope"})
        with pytest.raises(ollama.ResponseError):
            wrong.chat(model=host.model_id, messages=HI)
        keyed = ollama.Client(host=base, headers={"Authorization": "Bearer s3cret"})
        assert keyed.list().models[0].model.startswith(host.model_id)
        assert keyed.chat(
            model=host.model_id, messages=HI, think=False, options={"num_predict": 5}
        ).done
    finally:
        server.close()


def test_ollama_chats_are_saved_like_the_openai_ones(host, tmp_path):
    from seedchat.api.saving import ApiSaver
    from seedchat.store import Store

    with Store(tmp_path / "api.db") as store:
        server = _serve(host, ApiOptions(saver=ApiSaver(store)))
        try:
            client = ollama.Client(host=server.url.rstrip("/"))
            messages = [{"role": "user", "content": "What is 2 plus 2?"}]
            first = client.chat(
                model=host.model_id, messages=messages, think="low", options={"temperature": 0}
            )
            messages += [
                {"role": "assistant", "content": first.message.content},
                {"role": "user", "content": "And 3 plus 3?"},
            ]
            client.chat(
                model=host.model_id, messages=messages, think=False, options={"num_predict": 20}
            )
        finally:
            server.close()
        (summary,) = store.list_conversations()
        assert summary.origin == "api"
        conv = store.get_conversation(summary.id)
        assert [m.role for m in conv.messages] == ["user", "assistant", "user", "assistant"]
        answer = conv.messages[1]
        assert answer.status == "complete" and answer.content == first.message.content
        assert answer.thinking == first.message.thinking
        assert answer.stats["generated_tokens"] == first.eval_count


# -- seedchat serve ---------------------------------------------------------------------------


def test_seedchat_serve_is_an_ollama_server(cli_env):
    port = find_free_port("127.0.0.1", worker_port(18900))
    proc = subprocess.Popen(
        [sys.executable, "-m", "seedchat", "serve", "--port", str(port), "--context", "2048"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
    )
    try:
        client = ollama.Client(host=f"http://127.0.0.1:{port}", timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/version", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        (listed,) = client.list().models
        assert client.ps().models[0].context_length == 2048
        reply = client.chat(
            model=listed.model, messages=HI, think=False, options={"num_predict": 10}
        )
        assert reply.done and reply.message.content is not None
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert f"127.0.0.1:{port}/api" in out  # the banner names Ollama's address too


def test_the_page_serves_ollamas_api_beside_v1(host):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from seedchat.ui.launch import LaunchOptions, api_mount

    mount = api_mount(host, LaunchOptions())
    page = Starlette()
    mount.attach(page, "http://127.0.0.1:7860/")
    web = TestClient(page)
    assert web.get("/api/tags").json()["models"][0]["model"] == f"{host.model_id}:latest"
    assert web.get("/v1/models").json()["data"][0]["id"] == host.model_id
