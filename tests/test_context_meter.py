"""The context meter's count is the engine's: the same tokens for the same prompt (a file's
Seed tags counted as text), the same "fits" rule, and the page's refusal before sending
exactly when the engine would refuse (the bundled demo model on the real llama.cpp)."""

from __future__ import annotations

import math

import pytest

from seedchat.chat.prompt_size import prompt_size
from seedchat.chat.session import ChatSession, Turn
from seedchat.documents.read import read_document
from seedchat.engine.local import Engine, LoadOptions
from seedchat.engine.remote import RemoteEngine
from seedchat.errors import ContextLengthError
from seedchat.events import Notice
from seedchat.models import demo_model
from seedchat.seed.prompt_tokens import CHARS_PER_TOKEN
from seedchat.settings import ChatSettings
from seedchat.ui.context_meter import meter_markdown, refuse_if_too_long

N_CTX = 2048


@pytest.fixture(scope="module")
def engine():
    options = LoadOptions(n_gpu_layers=0, context_length=N_CTX, threads=2)
    with Engine.load(demo_model(), options) as e:
        yield e


def session(engine: Engine, turns: list[Turn] | None = None) -> ChatSession:
    settings = ChatSettings(budget=0, max_tokens=64)
    return ChatSession(engine, None, settings, list(turns or []))


def file_of(tmp_path, words: int):
    path = tmp_path / "notes.md"
    path.write_text("A <seed:eos> tag as text. " + "lorem ipsum dolor " * words)
    return read_document(path)


def test_the_meter_counts_the_engines_prompt(engine, tmp_path):
    chat = session(engine, [Turn("user", "Hi"), Turn("assistant", "Hello.")])
    doc = file_of(tmp_path, 100)
    size = prompt_size(engine, chat, "What does it say?", [doc])
    tokens, _, dropped = engine._prompt(chat.messages("What does it say?", [doc]), _opts(chat))
    assert size.tokens == len(tokens) and dropped == [] and size.fits
    assert size.n_ctx == N_CTX and not size.estimated


def test_too_long_alone_is_refused_before_sending_as_the_engine_would(engine, tmp_path):
    chat = session(engine)
    doc = file_of(tmp_path, 800)
    size = prompt_size(engine, chat, "Summarize.", [doc])
    assert not size.fits and not size.drops_turns and size.needed > N_CTX
    with pytest.raises(ContextLengthError):
        engine._prompt(chat.messages("Summarize.", [doc]), _opts(chat))
    with pytest.raises(ContextLengthError, match="Does not fit"):
        refuse_if_too_long(chat, "Summarize.", [doc])


def test_with_earlier_turns_the_oldest_are_left_out_and_named(engine, tmp_path):
    doc = file_of(tmp_path, 100)
    chat = session(
        engine, [Turn("user", "First question", attachments=(doc,)), Turn("assistant", "ok")]
    )
    size = prompt_size(engine, chat, "And now?", [doc])
    assert not size.fits and size.drops_turns
    refuse_if_too_long(chat, "And now?", [doc])  # not refused: sent, the oldest left out
    events = list(engine.generate(chat.messages("And now?", [doc]), _opts(chat)))
    notices = [e for e in events if isinstance(e, Notice) and e.kind == "context"]
    assert notices and 'user "[file: notes.md]' in notices[0].text  # named


def test_a_remote_models_size_is_estimated_and_says_so(seedchat_server):
    server, _ = seedchat_server
    with RemoteEngine.connect(server) as remote:
        chat = session(remote)
        size = prompt_size(remote, chat, "Hello there. " * 40)
        rendered = remote.render(chat.messages("Hello there. " * 40), _opts(chat))
    assert size.estimated and size.n_ctx is None and size.fits
    assert size.tokens == math.ceil(len(rendered) / CHARS_PER_TOKEN) > 100
    assert meter_markdown(size) == f"about {size.tokens:,} tokens (estimated)"


def _opts(chat: ChatSession):
    return chat.generation_options()
