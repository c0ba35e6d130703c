"""The page's attachments, meter and prefill progress, without a browser: the chips on a
message (untrusted names escaped), the meter's words, the plan buttons' text, the uploads
read once and a refused one set apart, and the prompt's progress where the thinking block
goes."""

from __future__ import annotations

import html
import re

import pytest

from seedchat.chat.prompt_size import PromptSize
from seedchat.chat.session import Turn
from seedchat.documents.read import Document, DocumentError, read_document
from seedchat.events import AnswerDelta, Done, Prefill, ThinkingStart
from seedchat.planner import ContextPlan, context_needed, reply_room
from seedchat.ui.attachments import UploadCache, message_parts, message_value, refused
from seedchat.ui.context_meter import meter_markdown, plan_button_text, turns_for
from seedchat.ui.render import TurnView, file_chip, user_message
from seedchat.wording import (
    context_meter_words,
    does_not_fit_words,
)


def doc(name: str, size: int = 12410) -> Document:
    return Document(name, "text", "hello\n", size, "0" * 64)


def test_a_chip_shows_the_name_and_size():
    assert file_chip(doc("notes.md")) == '<span class="file-chip">notes.md · 12,410 bytes</span>'
    assert "1 byte<" in file_chip(doc("a.txt", 1))


@pytest.mark.parametrize(
    "name",
    [
        '<img src=x onerror="alert(1)">.txt',
        "</span><script>alert(1)</script>",
        "**bold** [link](http://x) `code` #h |t| ~s~.md",
        "a&lt;b.txt",
        r"\(x\) \[y\] $$z$$.txt",
    ],
)
def test_an_untrusted_name_is_text_never_markup(name):
    chip = file_chip(doc(name))
    inner = chip.removeprefix('<span class="file-chip">').removesuffix("</span>")
    # no tag of the name survives: only the chip's own span
    assert "<" not in inner and ">" not in inner
    # no character of Markdown or LaTeX either: each is a character reference
    assert not set("*[]`#|~()$\\") & set(re.sub(r"&#\d+;", "", inner))
    shown = html.unescape(inner)
    assert shown.startswith(f"{name} · ")


def test_a_question_with_files_shows_its_chips_then_its_text():
    message = user_message("What does it say?", [doc("a.txt"), doc("b.pdf")])
    assert message["role"] == "user"
    chips, text = message["content"].split("\n\n")
    assert chips.count('class="file-chip"') == 2 and text == "What does it say?"
    assert user_message("Hi") == {"role": "user", "content": "Hi"}
    assert user_message("", [doc("a.txt")])["content"].endswith("</span>")


def test_the_meter_words():
    assert context_meter_words(41870, 65536) == "41,870 of 65,536 tokens"
    assert context_meter_words(1230, None, estimated=True) == "about 1,230 tokens (estimated)"
    assert context_meter_words(1230, 8192, estimated=True) == (
        "about 1,230 of 8,192 tokens (estimated)"
    )
    refused_words = does_not_fit_words(3000, 2048, 6000, drops_turns=False)
    assert refused_words.startswith("Does not fit: 3,000 tokens and room for the reply need")
    assert "6,000; 2,048 is loaded" in refused_words and "shorten" in refused_words
    assert "oldest turns are left out" in does_not_fit_words(3000, 2048, 6000, drops_turns=True)


def test_the_meter_says_when_a_prompt_does_not_fit():
    fits = PromptSize(900, 2048, max_tokens=8192)
    assert fits.fits and meter_markdown(fits) == "900 of 2,048 tokens"
    too_long = PromptSize(3000, 2048, max_tokens=8192)
    assert not too_long.fits and too_long.needed == 5999
    shown = meter_markdown(too_long)
    assert shown.startswith("3,000 of 2,048 tokens\n\n**Does not fit")
    # a prompt that fits alone but not with its room for the reply does not fit either
    assert not PromptSize(1100, 2048, max_tokens=8192).fits
    # with earlier turns, the question alone fitting: they are left out
    assert PromptSize(3000, 2048, 8192, question_alone=500).drops_turns
    assert not PromptSize(3000, 2048, 8192, question_alone=2000).drops_turns
    assert meter_markdown(None) == ""
    assert PromptSize(10**6, None, 8192, estimated=True).fits  # unknown: never refused


@pytest.mark.parametrize("tokens", [1, 15, 100, 1000, 3000, 8000, 9000, 100_000])
def test_the_context_needed_is_the_smallest_that_fits(tokens):
    needed = context_needed(tokens, 8192)
    assert tokens + reply_room(needed, 8192) <= needed
    assert tokens + reply_room(needed - 1, 8192) > needed - 1


def test_a_plan_button_says_the_planners_words():
    plan = ContextPlan(131072, "q8_0", False, 48, 64, 17 * 2**30, 10, 20, fits=True)
    assert plan_button_text(plan) == (
        "Reload with 131,072 tokens, KV q8_0 in RAM: +17.0 GB RAM, 48 of 64 layers on the "
        "GPU — fits"
    )


def test_the_meter_measures_without_the_question_being_edited():
    turns = [Turn("user", "a"), Turn("assistant", "b"), Turn("user", "c"), Turn("assistant", "d")]
    assert turns_for(turns, False) == turns
    assert turns_for(turns, True) == turns[:2]


def test_uploads_are_read_once_and_a_refused_one_is_set_apart(tmp_path):
    good = tmp_path / "u1" / "notes.md"
    good.parent.mkdir()
    good.write_text("# Notes\nhello\n")
    bad = tmp_path / "u2" / "photo.png"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    cache = UploadCache()
    kept, docs, error = refused(cache, [str(good), str(bad)])
    assert kept == [str(good)] and [d.name for d in docs] == ["notes.md"]
    assert (
        isinstance(error, DocumentError)
        and "photo.png is an image that cannot be read" in error.message
    )
    assert docs[0] == read_document(good)
    good.write_text("changed")  # read once: the cached document stays as attached
    assert cache.read(str(good)).text == "# Notes\nhello\n"
    assert message_parts(message_value("hi", kept)) == ("hi", kept)
    assert message_parts("plain") == ("plain", [])
    assert message_parts(None) == ("", [])


def test_the_prompts_progress_takes_the_thinking_blocks_place():
    view = TurnView(budget=512)
    view.apply(Prefill(2048, 6000, 500.0, 8.0))
    [block] = view.messages()  # no "…" answer under it
    assert block["metadata"] == {
        "title": "Reading the prompt: 2,048 of 6,000 tokens · 500 tokens/s · about 8 s left",
        "status": "pending",
    }
    view.apply(Prefill(6000, 6000, 520.0, 0.0))
    assert view.messages()[0]["metadata"]["title"].startswith("Reading the prompt: 6,000 of 6,000")
    view.apply(ThinkingStart())
    titles = [m.get("metadata", {}).get("title", "") for m in view.messages()]
    assert not any(t.startswith("Reading") for t in titles)
    # budget 0: the answer replaces the progress
    direct = TurnView(budget=0)
    direct.apply(Prefill(100, 200))
    assert direct.messages()[0]["metadata"]["status"] == "pending"
    direct.apply(AnswerDelta("Hi"))
    direct.apply(Done("stop"))
    assert direct.messages() == [{"role": "assistant", "content": "Hi"}]


def test_a_chosen_plan_is_what_the_next_start_loads(tmp_path):
    from seedchat.settings import LoadOptions, load_settings
    from seedchat.ui.context_meter import remember_plan

    path = tmp_path / "settings.json"
    settings = load_settings(path)
    assert LoadOptions.from_settings(settings).offload_kqv  # by default the KV cache is on the GPU
    plan = ContextPlan(131072, "q8_0", False, 48, 64, 17 << 30, 20 << 30, 40 << 30, True)
    remember_plan(settings, plan)
    again = LoadOptions.from_settings(load_settings(path))  # a new start reads the file
    assert (again.context_length, again.kv_cache_type) == (131072, "q8_0")
    assert again.flash_attn and not again.offload_kqv  # the KV cache stays in RAM
