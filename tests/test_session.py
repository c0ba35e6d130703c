"""The chat session (seedchat.chat.session): one turn saved as it happens, regenerate and edit
as branches of the store, the prompt every front end sends, a failing store.

A real SQLite file throughout. The model is the bundled demo on the real llama.cpp where
its text matters; where a test needs exact events (a 200 kB answer for a full disk, a
known reply) a replay stands in for the model's output: the session, the store and the
recorder under test are the real ones.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from seedchat.chat.session import HISTORY_THINKING, ChatSession, OpenThread, Turn, turns_of
from seedchat.engine.local import Engine, LoadOptions
from seedchat.errors import SeedchatError, StoreError
from seedchat.events import AnswerDelta, Done, ThinkingDelta
from seedchat.models import demo_model
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings
from seedchat.store import Store, export_json
from seedchat.ui.conversations import open_conversation
from tests.replay import Replay, answer


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "conversations.db") as s:
        yield s


@pytest.fixture(scope="module")
def engine():
    path = demo_model()
    assert path is not None, "the demo model is missing: run packaging/demo_model/build.py"
    with Engine.load(path, LoadOptions(n_gpu_layers=0, context_length=2048, threads=2)) as e:
        yield e


def test_a_turn_is_saved_as_it_happens_and_kept(store: Store):
    settings = ChatSettings(budget=1024, enforcement="soft", temperature=0.5)
    session = ChatSession(Replay(answer("Five.", "2+3")), store, settings, model="demo.gguf")
    events = list(session.turn("What is 2+3?"))
    assert isinstance(events[-1], Done)
    conv = store.get_conversation(session.thread.conversation_id)
    assert [m.role for m in conv.messages] == ["user", "assistant"]
    saved = conv.messages[1]
    assert (saved.content, saved.thinking, saved.status, saved.model) == (
        "Five.",
        "2+3",
        "complete",
        "demo.gguf",
    )
    assert ChatSettings.from_record(saved.settings) == settings
    assert ChatSettings.from_record(conv.settings) == settings
    assert session.turns == [
        Turn("user", "What is 2+3?", id=conv.messages[0].id),
        Turn("assistant", "Five.", "2+3", id=saved.id),
    ]
    assert session.thread == OpenThread(conv.id, saved.id)


def test_earlier_thinking_is_left_out_of_the_prompt(store: Store):
    replay = Replay(answer("Five.", "let me add"), answer("Nine."))
    session = ChatSession(replay, store, ChatSettings(system_prompt=" Be brief. "))
    list(session.turn("What is 2+3?"))
    list(session.turn("And 4+5?"))
    assert not HISTORY_THINKING
    assert replay.asked[1] == [
        Message("system", "Be brief."),
        Message("user", "What is 2+3?"),
        Message("assistant", "Five."),  # its thinking is not sent back
        Message("user", "And 4+5?"),
    ]


def test_a_resumed_conversation_gives_the_same_prompt_as_the_live_one(store: Store):
    settings = ChatSettings(budget=512, system_prompt="Answer in French.")
    live = ChatSession(Replay(answer("Cinq.", "hmm"), answer("Neuf.")), store, settings)
    list(live.turn("2+3?"))
    list(live.turn("4+5?"))
    resumed = ChatSession.resume(Replay(), store, live.thread.conversation_id)
    assert resumed.settings == settings
    assert resumed.turns == live.turns
    assert resumed.thread == live.thread
    assert resumed.prompt("6+7?") == live.prompt("6+7?")
    # the page opens it with the same turns
    assert open_conversation(store, live.thread.conversation_id).turns == live.turns


def test_regenerate_keeps_the_old_answer_as_a_sibling(store: Store):
    session = ChatSession(Replay(answer("Four."), answer("4")), store)
    list(session.turn("What is 2+2?"))
    old = session.turns[-1]
    list(session.regenerate())
    new = session.turns[-1]
    assert [t.content for t in session.turns] == ["What is 2+2?", "4"]
    siblings = store.siblings(new.id)
    assert [m.content for m in siblings] == ["Four.", "4"]
    assert store.get_conversation(session.thread.conversation_id).messages[-1].id == new.id
    exported = export_json(store)["conversations"][0]["messages"]
    assert {m["content"] for m in exported} == {"What is 2+2?", "Four.", "4"}
    assert old.id in {m["id"] for m in exported}


def test_edit_last_makes_a_new_question_beside_the_old(store: Store):
    replay = Replay(answer("Four."), answer("Six."))
    session = ChatSession(replay, store)
    list(session.turn("What is 2+2?"))
    first_question = session.turns[0].id
    list(session.edit_last("What is 3+3?"))
    assert [t.content for t in session.turns] == ["What is 3+3?", "Six."]
    assert [m.content for m in store.siblings(session.turns[0].id)] == [
        "What is 2+2?",
        "What is 3+3?",
    ]
    assert replay.asked[1] == [Message("user", "What is 3+3?")]  # the old one is not asked
    conv = store.get_conversation(session.thread.conversation_id)
    assert [m.content for m in conv.messages] == ["What is 3+3?", "Six."]
    assert first_question in {m.id for m in store.messages(conv.id)}


def test_regenerate_and_edit_need_a_question():
    session = ChatSession(Replay(), None)
    with pytest.raises(SeedchatError, match="nothing to regenerate"):
        list(session.regenerate())
    with pytest.raises(SeedchatError, match="no question to edit"):
        list(session.edit_last("hi"))


def test_a_failed_answer_stays_saved_but_is_not_sent_again(store: Store):
    class Broken(Replay):
        def generate(self, messages, options, cancel=None):
            yield AnswerDelta("half")
            raise SeedchatError("the model crashed")

    session = ChatSession(Replay(answer("first answer")), store)
    list(session.turn("first question"))
    session.engine = Broken()
    with pytest.raises(SeedchatError):
        list(session.turn("second question"))
    conv = store.get_conversation(session.thread.conversation_id)
    assert (conv.messages[-1].status, conv.messages[-1].error) == ("error", "the model crashed")
    assert [t.content for t in turns_of(conv.messages)] == [
        "first question",
        "first answer",
        "second question",
    ]


def _stored(store: Store, message_id: str, want: str, timeout: float = 10.0) -> str:
    """The stored content of a message once it reads ``want`` (the recorder flushes in the
    background about once a second)."""
    deadline = time.monotonic() + timeout
    while (content := store.message(message_id).content) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return content


def test_a_full_disk_keeps_the_chat_going_and_loses_nothing(store: Store):
    big = "x" * 200_000
    reply = [AnswerDelta("first part, "), AnswerDelta(big), Done("stop")]
    session = ChatSession(Replay(reply), store)
    events = session.turn("keep me")
    next(events)  # the question is saved, the answer started and its first part flushed
    answer_id = session.thread.leaf_id
    assert _stored(store, answer_id, "first part, ") == "first part, "
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    next(events)
    next(events)  # Done: saving the whole answer needs space; it fails, the chat goes on
    assert session.problem and "not being saved" in session.problem
    assert store.message(answer_id).content == "first part, "  # what was saved is intact
    store.conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    with pytest.raises(StopIteration):
        next(events)  # the end of the turn saves the whole answer
    assert session.problem is None
    msg = store.message(answer_id)
    assert msg.content == "first part, " + big
    assert (msg.status, msg.finish_reason) == ("complete", "stop")
    assert session.turns[-1].id == answer_id


def test_no_store_means_nothing_saved_and_no_error():
    session = ChatSession(Replay(answer("hello")), None)
    list(session.turn("hi"))
    assert session.problem is None and session.thread == OpenThread()
    assert [t.content for t in session.turns] == ["hi", "hello"]


def test_a_question_on_a_missing_conversation_is_reported(store: Store):
    session = ChatSession(Replay(answer("still answered")), store, thread=OpenThread("0" * 32))
    events = list(session.turn("hello?"))
    assert isinstance(events[-1], Done)  # the chat went on
    assert session.problem and "not being saved" in session.problem
    with pytest.raises(StoreError):
        store.get_conversation("0" * 32)


def test_a_real_turn_on_the_demo_model_is_saved_with_its_settings(engine, store: Store):
    settings = ChatSettings(budget=512, temperature=0.7, seed=3, max_tokens=400, top_k=40)
    session = ChatSession(engine, store, settings, model=engine.path.name)
    events = list(session.turn("What is 12 plus 30?"))
    done = events[-1]
    assert isinstance(done, Done) and done.finish_reason in ("stop", "length")
    assert engine.last_turn.sampling.top_k == 40 and engine.last_turn.sampling.seed == 3
    saved = store.message(session.thread.leaf_id)  # the answer ends the branch
    assert saved.stats["generated_tokens"] == done.generated_tokens
    assert saved.thinking == "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    # the next turn's prompt: the rendered history ends with the answer, without thinking
    prompt = session.prompt("And 1 plus 1?")
    assert "<seed:think>" not in prompt.split("What is 12 plus 30?")[1]
    assert prompt.endswith("And 1 plus 1?<seed:eos><seed:bos>assistant\n")


def test_a_turn_with_tool_calls_hashes_by_value():
    """The page keeps its turns in a gradio State that gradio hashes to see changes."""
    from seedchat.chat.session import Turn

    call = {"name": "get_current_time", "arguments": {"timezone": "Asia/Tokyo"}, "id": "c1"}
    a = Turn("assistant", "", tool_calls=(call,))
    same = Turn("assistant", "", tool_calls=(dict(call),))
    other = Turn("assistant", "", tool_calls=({**call, "arguments": {"timezone": "UTC"}},))
    assert hash(a) == hash(same) and a == same
    assert hash(a) != hash(other)
