"""``/openapi.json`` and the fuzzer: the real ``seedchat serve`` process on the bundled demo
model (the real llama.cpp) on a loopback port, its published document validated as
OpenAPI 3 (``openapi-spec-validator``), then Schemathesis (each operation's Hypothesis
strategy, ``as_strategy``, run with ``given``) sends requests generated from that document,
valid and invalid, to every operation and checks each answer: no 5xx (``not_a_server_error``),
every answer as documented (``response_schema_conformance``, ``status_code_conformance``,
each line of an ``application/x-ndjson`` stream too).

The bounds (a few minutes at most on 2 cores): :data:`EXAMPLES` requests per operation, the
server's replies kept tiny (``max_tokens`` 16 in its settings, a request's own limit cut to
:data:`MOST_TOKENS`), each request's :data:`REQUEST_TIMEOUT`; past :data:`RUN_SECONDS` of fuzzing no more
requests are sent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from ports import worker_port
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from seedchat.models import demo_model
from seedchat.network import find_free_port

pytestmark = pytest.mark.slow

#: The fuzzer's bounds (see the module's docstring).
EXAMPLES = 30
MOST_TOKENS = 16
REQUEST_TIMEOUT = 60
RUN_SECONDS = 240

PATHS = {
    "/health": {"get"},
    "/": {"get", "head"},
    "/v1/models": {"get"},
    "/v1/chat/completions": {"post"},
    "/v1/completions": {"post"},
    **{f"/api/{name}": {"get"} for name in ("version", "tags", "ps")},
    **{f"/api/{name}": {"post"} for name in ("show", "chat", "generate")},
}


def _wait_healthy(base: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(base + "health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"seedchat serve did not come up (exit {proc.poll()})")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``seedchat serve`` on the demo model, its replies at most 16 tokens unless asked."""
    home = tmp_path_factory.mktemp("openapi-home")
    (home / "config").mkdir()
    (home / "config" / "settings.json").write_text(json.dumps({"max_tokens": MOST_TOKENS}))
    env = {**os.environ, "SEEDCHAT_HOME": str(home)}
    port = find_free_port("127.0.0.1", worker_port(18900))
    model = demo_model()
    assert model is not None, "the demo model is missing: run packaging/demo_model/build.py"
    command = [sys.executable, "-m", "seedchat", "serve", "-m", str(model), "--port", str(port)]
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_healthy(base, proc)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    text = (home / "serve.log").read_text()
    assert "Traceback" not in text, text[-3000:]  # no handler failed behind a 4xx


@pytest.fixture(scope="module")
def document(served: str) -> dict[str, Any]:
    reply = httpx.get(served + "openapi.json", timeout=30)
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    return reply.json()


def test_the_document_is_valid_openapi_3_and_covers_every_route(document):
    validate(document)  # raises on anything that is not OpenAPI 3.1
    assert document["openapi"].startswith("3.")
    assert {path: set(item) for path, item in document["paths"].items()} == PATHS
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (path, method)  # the APIs answer 400, never 422
            if path.startswith(("/v1/", "/api/")):
                assert {"200", "401", "403"} <= set(responses), (path, method)


def test_each_face_documents_its_own_error_shape_and_stream(document):
    def error_ref(path: str, status: str) -> str:
        content = document["paths"][path]["post"]["responses"][status]["content"]
        return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]

    for status in ("400", "404", "429", "503"):
        assert error_ref("/v1/chat/completions", status) == "OpenAIError"
        assert error_ref("/api/chat", status) == "OllamaError"
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert set(chat) == {"application/json", "text/event-stream"}
    ollama = document["paths"]["/api/generate"]["post"]["responses"]["200"]["content"]
    assert set(ollama) == {"application/json", "application/x-ndjson"}
    request = document["components"]["schemas"]["ChatRequest"]["properties"]
    assert request["max_tokens"]["anyOf"][0]["minimum"] == 1


def test_the_page_publishes_the_same_api_document(app, document):
    """The real page (gradio, in-process) serves the API beside it, and its document:
    the same operations but ``/`` (the page's own)."""
    reply = httpx.get(app.url.rstrip("/") + "/openapi.json", timeout=30)
    assert reply.status_code == 200, reply.text[:300]
    beside = reply.json()
    validate(beside)
    assert set(beside["paths"]) == set(document["paths"]) - {"/"}
    assert beside["components"] == document["components"]
    assert "security" not in beside["paths"]["/v1/models"]["get"]  # no key: none asked


def test_a_server_with_a_key_documents_it():
    from fastapi.testclient import TestClient

    from seedchat.api.app import create_app
    from seedchat.api.calls import ApiOptions
    from seedchat.engine.host import ModelHost
    from seedchat.settings import load_settings

    app = create_app(ModelHost(load_settings()), ApiOptions(api_key="k"))
    client = TestClient(app, base_url="http://127.0.0.1")
    keyed = client.get("/openapi.json").json()  # the document itself needs no key
    validate(keyed)
    assert keyed["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert keyed["paths"]["/api/chat"]["post"]["security"] == [{"apiKey": []}]
    assert "security" not in keyed["paths"]["/health"]["get"]


# -- what the fuzzer found (each a 500 before) ---------------------------------------------------

LONE_SURROGATE = [  # JSON's "\ud800" parses to text that no encoder writes: the tokenizer failed
    ("v1/chat/completions", {"messages": [{"role": "user", "content": "hi \ud800"}]}, "messages"),
    ("v1/completions", {"prompt": "hi \ud800"}, "prompt"),
    ("api/chat", {"messages": [{"role": "user", "content": "hi \ud800"}]}, "messages"),
    ("api/generate", {"prompt": "hi \ud800"}, "prompt"),
]


@pytest.mark.parametrize(
    ("path", "body", "field"), LONE_SURROGATE, ids=[c[0] for c in LONE_SURROGATE]
)
def test_text_with_a_lone_surrogate_is_a_400_naming_the_field(served, path, body, field):
    model = httpx.get(served + "v1/models", timeout=REQUEST_TIMEOUT).json()["data"][0]["id"]
    raw = json.dumps({"model": model, "stream": False, "max_tokens": 4, **body})
    headers = {"content-type": "application/json"}
    reply = httpx.post(served + path, content=raw, headers=headers, timeout=REQUEST_TIMEOUT)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    named = error["param"] if path.startswith("v1/") else error
    assert field in named and "Unicode" in (error["message"] if path.startswith("v1/") else error)


def test_a_tool_whose_parameters_the_template_cannot_read_is_a_400(served):
    """A tool with ``parameters`` but no ``properties`` object: the template failed (500)."""
    model = httpx.get(served + "v1/models", timeout=REQUEST_TIMEOUT).json()["data"][0]["id"]
    for parameters in ({"x": 1}, {"properties": []}, {"properties": {"a": 1}}, {"required": 3}):
        tools = [{"type": "function", "function": {"name": "f", "parameters": parameters}}]
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "tools": tools}
        for path in ("v1/chat/completions", "api/chat"):
            body = {**body, "stream": False, "max_tokens": 4, "options": {"num_predict": 4}}
            reply = httpx.post(served + path, json=body, timeout=REQUEST_TIMEOUT)
            if parameters == {"x": 1}:  # no properties: none, as a tool without parameters
                assert reply.status_code == 200, reply.text
            else:
                assert reply.status_code == 400 and "parameters" in reply.text, reply.text


# -- the fuzzer --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_schema(served: str, document: dict[str, Any]):
    schema = schemathesis.openapi.from_url(served + "openapi.json")
    schema.config.update(base_url=served.rstrip("/"))
    return schema


def _tiny(body: Any) -> None:
    """A generated request's own token limits cut to :data:`MOST_TOKENS`."""
    if not isinstance(body, dict):
        return
    places = [(body, "max_tokens"), (body, "max_completion_tokens")]
    if isinstance(body.get("options"), dict):
        places.append((body["options"], "num_predict"))
    for where, key in places:
        value = where.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > MOST_TOKENS:
            where[key] = MOST_TOKENS


def _named(case, model: str):
    if isinstance(case.body, dict) and "model" in case.body:
        case.body["model"] = model
    return case


def ndjson_lines_conform(document: dict[str, Any]):
    """A check: each line of an ``application/x-ndjson`` answer is what the document says."""

    def check(ctx, response, case) -> None:
        kind = response.headers.get("content-type", [""])[0]
        if not kind.startswith("application/x-ndjson"):
            return
        operation = document["paths"][case.operation.path][case.method.lower()]
        line = operation["responses"][str(response.status_code)]["content"]
        schema = {**line["application/x-ndjson"]["schema"], "components": document["components"]}
        validator = jsonschema.Draft202012Validator(schema)
        for text in response.content.decode().splitlines():
            validator.validate(json.loads(text))

    return check


OPERATIONS = sorted((method.upper(), path) for path, methods in PATHS.items() for method in methods)
_clock: dict[str, float] = {}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_schemathesis_finds_no_server_error_and_no_schema_break(api_schema, document, method, path):
    start = _clock.setdefault("start", time.monotonic())
    operation = api_schema[path][method]
    models = httpx.get(api_schema.config.base_url + "/v1/models", timeout=REQUEST_TIMEOUT)
    model = models.json()["data"][0]["id"]
    cases = st.one_of(  # valid requests name the served model (else all would be 404s)
        operation.as_strategy(GenerationMode.POSITIVE).map(lambda case: _named(case, model)),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    checks = [
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
        ndjson_lines_conform(document),
    ]

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is shown as found
    )
    def one(case) -> None:
        if time.monotonic() - start > RUN_SECONDS:
            return  # the time bound: the operations left get fewer requests
        _tiny(case.body)
        case.call_and_validate(checks=checks, timeout=REQUEST_TIMEOUT)

    one()
