"""One answer path: the page, ``seedchat chat`` and the API make the same prompt of the same
history and settings, and get the same events for it.

The page's path is its own code (the chat pane's session, read through the pump as the page
reads it); ``seedchat chat`` is the real command in a subprocess; the API is the real server
on a loopback port, asked by the official ``openai`` SDK. All three run the bundled demo
model on the real llama.cpp, with a fixed seed, so a different prompt or a different
handling of any event shows as a difference.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import openai
import pytest
from ports import worker_port

from seedchat.api.app import create_app
from seedchat.api.calls import api_error
from seedchat.api.saving import ApiSaver
from seedchat.api.serve import ApiServer
from seedchat.chat.answer import answer
from seedchat.chat.pump import EventPump
from seedchat.chat.session import ChatSession, OpenThread
from seedchat.engine.host import ModelHost, NoModelLoaded
from seedchat.errors import ContextLengthError
from seedchat.events import AnswerDelta, Done, Event, Reflect, ThinkingDelta, ThinkingEnd
from seedchat.models import demo_model
from seedchat.network import find_free_port
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings, GenerationOptions, load_settings
from seedchat.store import Store
from seedchat.ui.chat_pane import make_session
from tests.replay import Replay

pytestmark = pytest.mark.slow

SYSTEM = "Answer in one line."
FIRST, SECOND = "What is 2 plus 2?", "And 4 plus 4?"
SETTINGS = ChatSettings(
    budget=512,
    temperature=0.8,
    top_p=0.9,
    seed=11,
    max_tokens=800,
    system_prompt=SYSTEM,
    lookup_decoding="off",
)
FLAGS = [
    *("--budget", "512", "--temperature", "0.8", "--top-p", "0.9", "--seed", "11"),
    *("--max-tokens", "800", "--system", SYSTEM, "--no-lookup"),
]
# What differs between two runs of the same reply: time, and what the KV cache reused.
TIMING = {
    "seconds",
    "time_to_first_token",
    "tokens_per_second",
    "prompt_tokens_per_second",
    "evaluated_prompt_tokens",
    "restored_prompt_tokens",
}


class RecordingHost(ModelHost):
    """The app's host, which also keeps each prompt it was asked to answer, as the model's
    template renders it (the exact text the engine tokenizes)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prompts: list[str] = []

    def generate(
        self,
        messages: Sequence[Message] | str,
        options: GenerationOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        text = messages if isinstance(messages, str) else self.render(messages, options)
        self.prompts.append(text)
        yield from super().generate(messages, options, cancel)


@pytest.fixture(scope="module")
def host() -> Iterator[RecordingHost]:
    host = RecordingHost(load_settings())
    host.load(demo_model(), remember=False, n_gpu_layers=0, context_length=4096)
    yield host
    host.unload()


def comparable(event: Event) -> dict:
    data = event.to_dict()
    for key in TIMING:
        data.pop(key, None)
    return data


def page_turn(session: ChatSession, question: str) -> list[Event]:
    """One turn as the page runs it: the session's events read through the pump."""
    cancel = threading.Event()
    pump = EventPump(lambda: session.turn(question, cancel), stop=cancel.set)
    try:
        return [event for batch in pump.batches() for event in batch]
    finally:
        pump.close()


def summary(reasoning: str, content: str, reflects: list[dict], thinking: dict, usage) -> dict:
    """What every front end can show of a reply: its text, its budget reports, its counts."""
    return {
        "reasoning": reasoning,
        "content": content,
        "reflects": [(r["used"], r["remaining"], r["true_count"]) for r in reflects],
        "thinking_tokens": thinking["tokens"],
        "forced": thinking["forced"],
        "completion_tokens": usage["completion_tokens"],
        "prompt_tokens": usage["prompt_tokens"],
    }


def summary_of_events(events: list[Event]) -> dict:
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    done = next(e for e in events if isinstance(e, Done))
    return summary(
        "".join(e.text for e in events if isinstance(e, ThinkingDelta)),
        "".join(e.text for e in events if isinstance(e, AnswerDelta)).strip(),
        [e.to_dict() for e in events if isinstance(e, Reflect)],
        {"tokens": end.tokens, "forced": end.forced},
        {"completion_tokens": done.generated_tokens, "prompt_tokens": done.prompt_tokens},
    )


def test_page_terminal_and_api_send_the_same_prompt_and_get_the_same_events(host, cli_env):
    # every front end decodes one token at a time: the page's settings and the terminal's
    # flags say so, and the API takes it from the host's settings
    host.settings.set("lookup_decoding", "off")
    store = Store()
    # the history: one turn in the page, saved
    first = make_session(host, store, SETTINGS, [], OpenThread())
    page_turn(first, FIRST)
    history, at = list(first.turns), first.thread
    assert [t.role for t in history] == ["user", "assistant"] and at.conversation_id

    # the terminal: the real command continues the saved conversation
    command = [sys.executable, "-m", "seedchat", "chat", "-c", at.conversation_id, *FLAGS]
    shown = subprocess.run(
        [*command, "--show-prompt", SECOND], capture_output=True, text=True, env=cli_env
    )
    assert shown.returncode == 0, shown.stderr
    ran = subprocess.run(
        [*command, "--no-save", "--json", SECOND], capture_output=True, text=True, env=cli_env
    )
    assert ran.returncode == 0, ran.stderr
    terminal = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]

    # the page: the same point of the same conversation
    host.prompts.clear()
    page = page_turn(make_session(host, store, SETTINGS, history, at), SECOND)
    page_prompt = host.prompts[-1]

    # the API: the client sends the history itself
    server = ApiServer(
        create_app(host), "127.0.0.1", find_free_port("127.0.0.1", worker_port(18850))
    )
    server.start()
    try:
        client = openai.OpenAI(base_url=server.url + "v1", api_key="-", max_retries=0)
        host.prompts.clear()
        reply = client.chat.completions.create(
            model=host.model_id,
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": FIRST},
                {"role": "assistant", "content": history[1].content},
                {"role": "user", "content": SECOND},
            ],
            temperature=0.8,
            top_p=0.9,
            seed=11,
            max_tokens=800,
            extra_body={"chat_template_kwargs": {"thinking_budget": 512}},
        )
        api_prompt = host.prompts[-1]
    finally:
        server.close()

    # one prompt, byte for byte
    assert shown.stdout == page_prompt == api_prompt
    assert SYSTEM in page_prompt and history[1].content in page_prompt
    # the terminal's events are the page's, one for one
    assert terminal and [comparable_dict(e) for e in terminal] == [comparable(e) for e in page]
    # and the API's reply is the same reply
    message = reply.choices[0].message
    extra = message.model_extra or {}
    api = summary(
        extra.get("reasoning_content") or "",
        (message.content or "").strip(),
        extra.get("seedchat_reflects") or [],
        extra["seedchat_thinking"],
        reply.usage.model_dump(),
    )
    assert api == summary_of_events(page)
    assert (
        reply.choices[0].finish_reason
        == {"stop": "stop", "length": "length"}[page[-1].finish_reason]
    )


def comparable_dict(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in TIMING}


# -- the recording and the errors of the one path -----------------------------------------


def test_a_full_disk_never_stops_an_api_answer_and_what_was_saved_stays(tmp_path):
    """The API's saver hands the one path its recording: a store that fills up mid-answer
    is said in the recording's problem, the answer still arrives whole, the question and
    the answer's start stay as they were saved."""
    store = Store(tmp_path / "c.db")
    big = "x" * 200_000
    engine = Replay([AnswerDelta("first part, "), AnswerDelta(big), Done("stop")])
    recording = ApiSaver(store).start([Message("user", FIRST)], ChatSettings(), "demo")
    events = answer(engine, [Message("user", FIRST)], ChatSettings(), None, recording)
    assert next(events) == AnswerDelta("first part, ")
    deadline = time.monotonic() + 10  # the recorder writes in the background, once a second
    while store.message(recording.answer_id).content != "first part, ":
        assert time.monotonic() < deadline, "the answer's start was never written"
        time.sleep(0.05)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    rest = list(events)
    assert isinstance(rest[-1], Done) and rest[0].text == big  # the answer went on
    assert recording.problem and "not being saved" in recording.problem
    saved = store.message(recording.answer_id)
    assert (saved.content, saved.status) == ("first part, ", "partial")
    conversation = store.get_conversation(saved.conversation_id)
    assert conversation.messages[0].content == FIRST and conversation.origin == "api"


def test_an_error_is_saved_as_an_error_and_raised(host, tmp_path):
    store = Store(tmp_path / "c.db")
    recording = ApiSaver(store).start([Message("user", "hi")], ChatSettings(), "demo")
    too_long = [Message("user", "word " * 5000)]
    with pytest.raises(ContextLengthError):
        list(answer(host, too_long, ChatSettings(), None, recording))
    saved = store.message(recording.answer_id)
    assert saved.status == "error" and "too long" in saved.error


def test_no_model_is_a_typed_error_the_api_answers_with_503():
    empty = ModelHost(load_settings())
    empty.load_in_background(None)  # nothing to load: the host says why
    with pytest.raises(NoModelLoaded) as info:
        list(answer(empty, [Message("user", "hi")], ChatSettings()))
    err = api_error(info.value)
    assert err.status == 503 and err.code == "model_not_loaded"
    assert "Models tab" in err.message
