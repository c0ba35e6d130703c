"""Every number a request may carry is range-checked: a negative or absurd value gets a 400
naming the field (``param`` in OpenAI's error, the message on Ollama's ``/api``), from the
real server on a loopback port over the demo model, asked by raw HTTP and by the official
``openai`` and ``ollama`` clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest
from ports import worker_port

from seedchat.api.app import create_app
from seedchat.api.serve import ApiServer
from seedchat.engine.host import ModelHost
from seedchat.models import demo_model
from seedchat.network import find_free_port
from seedchat.settings import load_settings

pytestmark = pytest.mark.slow

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def host() -> Iterator[ModelHost]:
    host = ModelHost(load_settings())
    host.load(demo_model(), remember=False, n_gpu_layers=0, context_length=2048)
    yield host
    host.unload()


@pytest.fixture(scope="module")
def base(host: ModelHost) -> Iterator[str]:
    server = ApiServer(
        create_app(host), "127.0.0.1", find_free_port("127.0.0.1", worker_port(18950))
    )
    server.start()
    yield server.url
    server.close()


#: (where, field, bad values): ``where`` is chat or completions (/v1), or options (/api/chat).
OPENAI_BAD = [
    ("chat", "max_tokens", [-1, 0, 10**9]),
    ("chat", "max_completion_tokens", [-5, 10**12]),
    ("chat", "n", [0, -1, 1000]),
    ("chat", "top_k", [-1, 10**9]),
    ("chat", "top_p", [-0.1, 1.5]),
    ("chat", "temperature", [-1, 100]),
    ("chat", "seed", [-1, 2**40]),
    ("chat", "thinking_budget", [-2, 10**9]),
    ("chat", "presence_penalty", [-3, 3]),
    ("chat", "frequency_penalty", [5]),
    ("chat", "top_logprobs", [-1, 50]),
    ("completions", "logprobs", [-1, 100]),
    ("completions", "best_of", [0, 100]),
    ("completions", "max_tokens", [-7, 10**10]),
]
OLLAMA_BAD = [
    ("temperature", [-1, 10]),
    ("top_p", [2]),
    ("top_k", [-1, 10**9]),
    ("num_predict", [-3, 10**9]),
    ("seed", [2**40, -(2**40)]),
    ("num_ctx", [0, -1, 10**12]),
    ("thinking_budget", [-2, 10**9]),
    ("min_p", [2]),
    ("repeat_penalty", [-1]),
    ("presence_penalty", [3]),
    ("mirostat", [5]),
    ("num_thread", [-1]),
]


def _cases(table):
    return [(*row[:-1], value) for row in table for value in row[-1]]


@pytest.mark.parametrize(("where", "field", "value"), _cases(OPENAI_BAD))
def test_v1_refuses_an_out_of_range_number_naming_it(base, host, where, field, value):
    body = {"model": host.model_id, field: value}
    if where == "chat":
        body["messages"] = HI
    else:
        body["prompt"] = "Once"
    reply = httpx.post(
        f"{base}v1/{where.replace('chat', 'chat/completions')}", json=body, timeout=60
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == field, reply.text


@pytest.mark.parametrize(("field", "value"), _cases(OLLAMA_BAD))
def test_api_refuses_an_out_of_range_option_naming_it(base, host, field, value):
    body = {"model": host.model_id, "messages": HI, "stream": False, "options": {field: value}}
    reply = httpx.post(base + "api/chat", json=body, timeout=60)
    assert reply.status_code == 400, reply.text
    assert f"options.{field}" in reply.json()["error"], reply.text


def test_a_budget_in_chat_template_kwargs_is_range_checked(base, host):
    for value in (-5, 10**9):
        body = {
            "model": host.model_id,
            "messages": HI,
            "chat_template_kwargs": {"thinking_budget": value},
        }
        reply = httpx.post(base + "v1/chat/completions", json=body, timeout=60)
        assert reply.status_code == 400 and "thinking_budget" in reply.json()["error"]["param"]


def test_a_union_field_is_named_as_the_client_wrote_it(base, host):
    """pydantic names a union's branch in its location (``think.bool``); the answer names
    the field."""
    body = {"model": host.model_id, "messages": HI, "think": 5, "stream": False}
    error = httpx.post(base + "api/chat", json=body, timeout=60).json()["error"]
    assert "'think'" in error and "think.bool" not in error
    body = {"model": host.model_id, "messages": HI, "stop": 5}
    error = httpx.post(base + "v1/chat/completions", json=body, timeout=60).json()["error"]
    assert error["param"] == "stop"


def test_the_openai_sdk_gets_the_field_named(base, host):
    client = openai.OpenAI(base_url=base + "v1", api_key="none", max_retries=0)
    for field, value in [
        ("max_tokens", -1),
        ("n", 0),
        ("seed", -1),
        ("temperature", 9),
        ("top_logprobs", 99),
        ("presence_penalty", -9),
    ]:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=host.model_id, messages=HI, **{field: value})
        assert caught.value.param == field
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=host.model_id, prompt="Once", max_tokens=10**9)
    assert caught.value.param == "max_tokens"
    fine = client.chat.completions.create(
        model=host.model_id, messages=HI, max_tokens=8, seed=0, top_logprobs=0, n=1
    )
    assert fine.choices[0].finish_reason in ("stop", "length")


def test_the_ollama_client_gets_the_field_named(base, host):
    client = ollama.Client(host=base.rstrip("/"))
    for field, value in [("num_ctx", -1), ("num_predict", -100), ("top_k", -3), ("seed", 2**40)]:
        with pytest.raises(ollama.ResponseError) as caught:
            client.chat(model=host.model_id, messages=HI, options={field: value})
        assert caught.value.status_code == 400 and f"options.{field}" in caught.value.error
    fine = client.chat(model=host.model_id, messages=HI, options={"num_predict": 8, "seed": -1})
    assert fine.done
