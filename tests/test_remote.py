"""seedchat on a remote OpenAI-compatible server: a real third-party server
(llama-cpp-python's own ``python -m llama_cpp.server``, which sends Seed's tags as raw text)
and a real ``seedchat serve`` (which splits the reasoning and keeps the budget itself), both
on loopback ports with the bundled demo model."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from ports import worker_port

from seedchat.chat.session import ChatSession
from seedchat.engine.decoding import LoopEngine
from seedchat.engine.local import Engine
from seedchat.engine.remote import RemoteEngine
from seedchat.engine.remote_servers import RemoteServer, masked, save_server, saved_servers
from seedchat.engine.reply_budget import ReplyBudget
from seedchat.errors import EngineError
from seedchat.events import (
    AnswerDelta,
    Done,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.models import demo_model
from seedchat.network import find_free_port
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings, GenerationOptions, LoadOptions, load_settings
from seedchat.store import Store

pytestmark = pytest.mark.slow

TAG = re.compile(r"</?seed:|</?think>")
QUESTION = [Message("user", "What is 45 plus 38?")]


def _wait_for(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture(scope="module")
def llama_cpp_server() -> Iterator[RemoteServer]:
    """llama-cpp-python's own server (its [server] extra) with the demo model."""
    port = find_free_port("127.0.0.1", worker_port(18700))
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(demo_model()),
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        "2",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/v1/models")
        yield RemoteServer(f"http://127.0.0.1:{port}", name="llama-cpp")
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture(params=["llama-cpp", "seedchat"])
def remote(request, llama_cpp_server, seedchat_server) -> Iterator[RemoteEngine]:
    server = llama_cpp_server if request.param == "llama-cpp" else seedchat_server[0]
    with RemoteEngine.connect(server) as engine:
        yield engine


def run(engine: RemoteEngine, **options) -> list:
    options.setdefault("temperature", 0.8)
    options.setdefault("seed", 1)
    return list(engine.generate(QUESTION, GenerationOptions(**options)))


def text(events, kind) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


# -- the two kinds of server ------------------------------------------------------------------


def test_each_server_is_recognised(llama_cpp_server, seedchat_server):
    with RemoteEngine.connect(llama_cpp_server) as engine:
        assert not engine.model.features.renders_budget  # it ignores chat_template_kwargs
    with RemoteEngine.connect(seedchat_server[0]) as engine:
        features = engine.model.features
        assert features.enforces_budget and features.exact_counts


def test_budget_0_answers_directly(remote):
    events = run(remote, budget=0, max_tokens=200)
    assert not [e for e in events if isinstance(e, ThinkingStart | ThinkingDelta | Reflect)]
    answer = text(events, AnswerDelta)
    assert answer.strip() and not TAG.search(answer)
    assert isinstance(events[-1], Done) and events[-1].thinking_tokens == 0


def test_budget_512_thinks_with_reflect_events(remote):
    events = run(remote, budget=512, max_tokens=900, temperature=0.7, seed=3)
    start = next(e for e in events if isinstance(e, ThinkingStart))
    assert start.approximate == (not remote.model.features.exact_counts)
    reflects = [e for e in events if isinstance(e, Reflect) and not e.injected]
    assert reflects and all(r.true_count > 0 for r in reflects)  # the counters work remotely
    thinking = text(events, ThinkingDelta)
    assert thinking and "cot_budget_reflect" not in thinking and not TAG.search(thinking)
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    assert end.tokens <= 512  # hard, by default with a budget
    assert not TAG.search(text(events, AnswerDelta))


def test_unlimited_is_never_cut(remote):
    events = run(remote, budget=-1, max_tokens=700, temperature=0.3)
    assert isinstance(events[0], ThinkingStart)
    assert not any(isinstance(e, Reflect) and e.injected for e in events)
    assert not any(e.forced for e in events if isinstance(e, ThinkingEnd))


def test_a_hard_budget_is_kept_and_the_answer_has_no_tag(remote):
    events = run(remote, budget=100, enforcement="hard", max_tokens=400)
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    assert end.forced and end.tokens == 100
    injected = [e for e in events if isinstance(e, Reflect) and e.injected]
    assert injected and injected[-1].exhausted
    assert not any(isinstance(e, ThinkingDelta) for e in events[events.index(end) :])
    answer = text(events, AnswerDelta)
    assert answer.strip() and not TAG.search(answer)
    assert events[-1].thinking_tokens == 100


def test_the_local_and_a_remote_engine_cut_at_exactly_the_budget_through_one_keeper(
    llama_cpp_server, monkeypatch
):
    """The same hard budget on the local engine and on a server that does not keep budgets
    (llama-cpp-python's): both cut through :class:`ReplyBudget`, once, when the true count
    reaches exactly the budget, with the same notices and the same injected end."""
    cuts: list[tuple[str, int, int]] = []
    real_cut = ReplyBudget.cut

    def cut(self, parser):  # the real cut, seen
        cuts.append((engine_name, self.budget, parser.thinking_tokens))
        return real_cut(self, parser)

    monkeypatch.setattr(ReplyBudget, "cut", cut)
    options = GenerationOptions(budget=100, max_tokens=400, temperature=0.8, seed=1)
    load = LoadOptions(n_gpu_layers=0, context_length=4096, threads=2, kv_cache_disk_gb=0)
    replies = {}
    with Engine.load(demo_model(), load) as local, RemoteEngine.connect(llama_cpp_server) as far:
        assert isinstance(local, LoopEngine)  # what the decode loop needs of an engine
        for engine_name, engine in (("local", local), ("remote", far)):
            replies[engine_name] = list(engine.generate(QUESTION, options))
    assert cuts == [("local", 100, 100), ("remote", 100, 100)]
    notices = {
        name: [e for e in events if isinstance(e, Notice)] for name, events in replies.items()
    }
    assert notices["local"] == notices["remote"] and "below 512" in notices["local"][0].text
    for events in replies.values():
        end = next(e for e in events if isinstance(e, ThinkingEnd))
        assert end.forced and end.tokens == 100
        injected = [e for e in events if isinstance(e, Reflect) and e.injected]
        assert len(injected) == 1 and injected[0].exhausted and injected[0].remaining == 0
        deltas = [e for e in events if isinstance(e, ThinkingDelta)]
        assert deltas[-1].tokens == 100  # the last thinking the model wrote is the 100th token
        assert text(events, AnswerDelta).strip() and not TAG.search(text(events, AnswerDelta))
        assert events[-1].thinking_tokens == 100 and events[-1].finish_reason in ("stop", "length")


def test_a_soft_budget_is_left_to_the_model(remote):
    events = run(remote, budget=100, enforcement="soft", max_tokens=400)
    assert not any(isinstance(e, Reflect) and e.injected for e in events)


def test_cancel_closes_the_stream_and_frees_the_server(remote):
    cancel = threading.Event()
    events = []
    for event in remote.generate(QUESTION, GenerationOptions(budget=-1, max_tokens=3000), cancel):
        events.append(event)
        if len(events) == 5:
            cancel.set()
    assert events[-1].finish_reason == "cancelled" and len(events) < 20
    started = time.monotonic()
    assert run(remote, budget=0, max_tokens=20)[-1].generated_tokens > 0
    assert time.monotonic() - started < 10  # the server is not still writing the old reply


# -- errors ------------------------------------------------------------------------------------


def test_a_server_that_is_down_is_a_clear_error():
    port = find_free_port("127.0.0.1", worker_port(18790))
    with pytest.raises(EngineError, match="Cannot reach the server") as err:
        RemoteEngine.connect(RemoteServer(f"http://127.0.0.1:{port}"))
    assert "Is it running" in str(err.value)


def test_a_wrong_key_and_an_unknown_model_are_clear_errors(seedchat_server):
    server = seedchat_server[0]
    with pytest.raises(EngineError, match="refused the API key"):
        RemoteEngine.connect(RemoteServer(server.url, "wrong", "box"))
    with pytest.raises(EngineError, match="has no model 'gpt-4o'") as err:
        RemoteEngine.connect(server, "gpt-4o")
    assert "seedchat-demo-seed-oss" in err.value.hint


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"days": {"type": "integer"}}},
    },
}


def test_a_call_the_server_parsed_keeps_the_server_s_id(seedchat_server, monkeypatch):
    server, host = seedchat_server
    monkeypatch.setattr("seedchat.engine.remote.new_call_id", lambda: "call_made_here")
    host.engine.script_next_reply(
        "<seed:tool_call>\n<function=get_weather>\n<parameter=days>3</parameter>\n"
        "</function>\n</seed:tool_call>"
    )
    options = GenerationOptions(budget=0, max_tokens=100, tools=[WEATHER])
    with RemoteEngine.connect(server) as engine:
        events = list(engine.generate([Message("user", "Weather for 3 days?")], options))
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    assert (call.name, call.arguments) == ("get_weather", {"days": "3"})
    assert re.fullmatch(r"call_[0-9a-f]{24}", call.id)  # the server's, not made again here


def test_a_server_that_fails_mid_turn_keeps_the_conversation(seedchat_server, tmp_path):
    server, host = seedchat_server
    with Store(tmp_path / "c.db") as store, RemoteEngine.connect(server) as engine:
        session = ChatSession(engine, store, ChatSettings(budget=0, max_tokens=30))
        list(session.turn("What is 2 plus 2?"))
        host.turns.enter()  # the server is busy ...
        places = [host.turns.enter() for _ in range(host.turns.max_waiting)]  # ... and full
        try:
            with pytest.raises(EngineError, match="429"):
                list(session.turn("And 3 plus 3?"))
        finally:
            for place in places:
                host.turns.give_up(place)
            host.turns.leave()
        conv = store.get_conversation(session.thread.conversation_id)
    assert [m.role for m in conv.messages] == ["user", "assistant", "user", "assistant"]
    assert conv.messages[1].status == "complete" and conv.messages[3].status == "error"


# -- the command line --------------------------------------------------------------------------


def test_seedchat_chat_on_a_remote_server(cli_env, llama_cpp_server):
    base = [sys.executable, "-m", "seedchat", "chat", "--engine-url", llama_cpp_server.url]
    proc = subprocess.run(
        [*base, "What is 2 + 3?", "--json", "--budget", "512", "--seed", "3"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert "ThinkingStart" in types and types[-1] == "Done"
    assert not TAG.search("".join(e.get("text", "") for e in events if e["type"] == "AnswerDelta"))
    with Store() as store:  # saved as any chat, with the remote model named
        conv = store.get_conversation(store.list_conversations()[0].id)
    assert conv.messages[1].model and "127.0.0.1" in conv.messages[1].model
    down = find_free_port("127.0.0.1", worker_port(18795))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "seedchat",
            "chat",
            "--engine-url",
            f"http://127.0.0.1:{down}",
            "Hi",
        ],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert proc.returncode == 1 and "Cannot reach the server" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- saved servers -----------------------------------------------------------------------------


def test_a_saved_server_keeps_its_key_private(monkeypatch):
    monkeypatch.setattr(
        "seedchat.engine.remote_servers._keyring", lambda: None
    )  # a machine without one
    settings = load_settings()
    where = save_server(settings, RemoteServer("http://gpu:8000/v1", "sk-secret-123456", "gpu"))
    assert "settings file" in where
    path = settings.path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # readable by its owner only
    (server,) = saved_servers(load_settings())
    assert (server.name, server.url, server.api_key) == (
        "gpu",
        "http://gpu:8000/v1",
        "sk-secret-123456",
    )
    assert masked(server.api_key) == "…3456" and "secret" not in masked(server.api_key)


# -- the page ----------------------------------------------------------------------------------


def test_the_page_on_a_remote_server_added_in_the_models_tab(app, page, new_page, llama_cpp_server):
    from tests.browser import screenshot, send, set_budget, wait_done

    app.host.wait_loaded(120)
    page.get_by_role("tab", name="Models").click()
    page.get_by_text("Add a server").click()
    page.locator("#server-name textarea, #server-name input").first.fill("lab")
    page.locator("#server-url textarea, #server-url input").first.fill(llama_cpp_server.url)
    page.locator("#add-server").click()
    page.locator("#server-note").get_by_text("Added").wait_for(timeout=30_000)
    page.locator("#load-model").click()
    page.locator("#model-status").get_by_text("remote").wait_for(timeout=30_000)
    assert app.host.remote is not None and app.host.remote.server.name == "lab"
    screenshot(page, "remote-server-added")
    page.get_by_role("tab", name="Chat").click()
    set_budget(page, 512)
    send(page, "What is 12 plus 30?")
    stats = wait_done(page, timeout_ms=120_000)
    assert "thinking" in stats
    title = page.locator("#chatbot .thought-group .title").last.inner_text()
    assert "~" in title and "/ 512 tokens" in title  # counted from the server's chunks
    screenshot(page, "remote-chat")
    # saved as any conversation: a reload opens it as it was drawn
    again = new_page(fresh=False)
    again.locator("#chatbot .thought-group").first.wait_for(timeout=30_000)
    assert "~" in again.locator("#chatbot .thought-group .title").last.inner_text()
    assert "12 plus 30" in again.locator("#chatbot [data-testid=user]").first.inner_text()
