"""A long file in the page, end to end (real app, real Chromium, a generated Seed-OSS-shaped
model trained for 131,072 tokens on the real llama.cpp, CPU): a file attached to the
message box moves the context meter past the loaded 2,048 tokens; the page says it does
not fit and offers the planner's plans; one click reloads the model with the first; the
question is answered with the file's chip on it; after a restart the conversation opens
as it was (its chip too) and the next answer restores the saved KV state."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path

import pytest
from contract_text import contract_lines

from seedchat.planner import context_needed, plan_context, read_shape
from seedchat.settings import load_settings
from tests.browser import (
    Pages,
    meter,
    running_app,
    screenshot,
    send,
    set_budget,
    wait_done,
    wait_meter,
)

pytestmark = pytest.mark.slow

LOADED = 2048
QUESTION = "Which clause sets the notice period?"
FIRST_REPLY = "Clause 4 sets a notice period of thirty days."
SECOND_REPLY = "Payment is due within fourteen days."


def contract(path: Path, lines: int = 60) -> Path:
    """A text file of a few thousand tokens (more than the loaded context holds)."""
    text = "".join(contract_lines(lines))
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def reading_held(engine):
    """Hold the engine after the first batch of the prompt (a slow machine), until the
    caller releases it: the page shows the progress meanwhile."""
    real, calls, gate = engine._decode, [], threading.Event()

    def held(tokens: list[int]) -> None:
        calls.append(len(tokens))
        if len(calls) == 2:
            gate.wait(120)
        real(tokens)

    engine._decode = held
    try:
        yield gate.set
    finally:
        gate.set()
        del engine._decode


def stopped(host, timeout: float = 30.0) -> None:
    """Wait until a tab's Stop has set its cancel flag."""
    deadline = time.monotonic() + timeout
    while not any(flag.is_set() for flag in host._cancels.values()):
        assert time.monotonic() < deadline, "the Stop never reached the model"
        time.sleep(0.05)


def tokens_shown(text: str) -> int:
    return int(text.split(" of ")[0].replace(",", "").split()[-1])


def test_attach_a_long_file_reload_with_a_plan_and_reopen(
    browser,
    tmp_path: Path,
    long_model: Path,  # tests/conftest.py: made once for the session
    monkeypatch: pytest.MonkeyPatch,
):
    home = tmp_path / "home"
    settings = home / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        json.dumps({"thinking_budget": 0, "max_tokens": 48, "context_length": LOADED})
    )
    monkeypatch.setenv("SEEDCHAT_TEST_MODEL", str(long_model))
    upload = contract(tmp_path / "contract.txt")
    binary = tmp_path / "program.bin"  # (a picture is read by OCR now: this one is not)
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    with running_app(home, port=7897) as app, Pages(browser, app.url) as pages:
        assert app.host.wait_loaded(120) and app.host.engine.n_ctx == LOADED
        page = pages()
        page.locator("#message textarea").fill(QUESTION)
        short = tokens_shown(wait_meter(page, f"of {LOADED:,} tokens"))
        assert 0 < short < 100 and "Does not fit" not in meter(page)

        # a file that cannot be attached: its error, and the meter as it was
        page.locator("#message input[type=file]").set_input_files(str(binary))
        page.locator("#error-box").get_by_text("program.bin is a binary file").wait_for()
        assert tokens_shown(meter(page)) == short

        page.locator("#message input[type=file]").set_input_files(str(upload))
        shown = wait_meter(page, "Does not fit")
        long = tokens_shown(shown)
        assert long > LOADED and f"of {LOADED:,} tokens" in shown
        plan = page.locator("#context-plan-0")
        plan.wait_for(state="visible")
        words = plan.inner_text()
        n_ctx = plan_context(read_shape(long_model), context_needed(long, 48))
        assert LOADED < n_ctx <= 8192
        assert words.startswith(f"Reload with {n_ctx:,} tokens, KV f16 in RAM") and "fits" in words
        screenshot(page, "long-context-does-not-fit")

        plan.click()
        after = wait_meter(page, f"of {n_ctx:,} tokens", timeout=120_000)
        assert "Does not fit" not in after and tokens_shown(after) == long
        assert app.host.engine.n_ctx == n_ctx
        assert load_settings(settings).get("context_length") == n_ctx  # kept for the next start
        assert not plan.is_visible()

        app.host.engine.script_next_reply(FIRST_REPLY)
        with reading_held(app.host.engine) as release:
            page.locator("#send").click()
            # the prompt's progress where the thinking block goes, while it is read
            page.locator("#chatbot").get_by_text(
                f"Reading the prompt: 512 of {long:,} tokens"
            ).wait_for(timeout=120_000)
            screenshot(page, "long-context-reading")
            release()
        first = wait_done(page, timeout_ms=240_000)
        assert f"evaluated {long:,}" in first  # the whole prompt read once, after the reload
        page.locator("#chatbot").get_by_text(FIRST_REPLY).wait_for()
        chip = page.locator("#chatbot .file-chip")
        assert chip.count() == 1 and chip.inner_text().startswith("contract.txt · ")
        assert app.host.engine.last_turn.prompt_tokens == long
        screenshot(page, "long-context-answered")
        app.host.unload()  # the engine's end: its last state is on disk

    with running_app(home, port=7897) as app, Pages(browser, app.url) as pages:
        assert app.host.wait_loaded(120) and app.host.engine.n_ctx == n_ctx
        page = pages(fresh=False)  # the conversation used last, as it was
        page.locator("#chatbot").get_by_text(FIRST_REPLY).wait_for()
        assert page.locator("#chatbot .file-chip").inner_text().startswith("contract.txt")
        app.host.engine.script_next_reply(SECOND_REPLY)
        send(page, "And when is payment due?")
        stats = wait_done(page, timeout_ms=240_000)
        page.locator("#chatbot").get_by_text(SECOND_REPLY).wait_for()
        done = app.host.engine.last_turn
        assert done.restored_tokens > 0 and f"restored {done.restored_tokens:,}" in stats
        screenshot(page, "long-context-reopened")
        app.host.unload()


HOSTILE = "<img src=x onerror=window.pwned=1> __bold__ [link](x) `code`.txt"


def test_a_files_name_is_shown_as_text(app, page, tmp_path: Path):
    """A file's name is the user's: on its chip it reads as it is, never as HTML or
    Markdown (the bundled demo model answers)."""
    app.host.wait_loaded(120)
    folder = tmp_path / "upload"
    folder.mkdir()
    path = folder / HOSTILE
    path.write_text("Short notes.\n", encoding="utf-8")
    page.locator("#message input[type=file]").set_input_files(str(path))
    wait_meter(page, "tokens")
    set_budget(page, 0)
    app.host.engine.script_next_reply("Short notes.")
    send(page, "What is in the file?")
    wait_done(page)
    screenshot(page, "file-chip-name-as-text")
    chip = page.locator("#chatbot .file-chip")
    chip.wait_for()
    store = app.running.blocks.seedchat_store
    conv = store.get_conversation(store.list_conversations(limit=1)[0].id)
    [stored] = next(m for m in conv.messages if m.role == "user").attachments
    assert "[link](x)" in stored.name and "__bold__" in stored.name  # as gradio kept it
    assert chip.inner_text() == f"{stored.name} · 13 bytes"  # shown as it is
    markup = "#chatbot img, #chatbot .file-chip :is(a, strong, em, code, .katex)"
    assert page.locator(markup).count() == 0
    assert page.evaluate("window.pwned") is None


def test_stop_while_a_long_prompt_is_read(app, page, tmp_path: Path):
    """Stop is the prompt's Cancel: the reading stops between two batches, the turn ends
    "stopped" (the bundled demo model)."""
    app.host.wait_loaded(120)
    set_budget(page, 0)
    page.locator("#message input[type=file]").set_input_files(str(contract(tmp_path / "c.txt")))
    wait_meter(page, "tokens")
    with reading_held(app.host.engine) as release:
        send(page, "Which clause sets the notice period?")
        page.locator("#chatbot").get_by_text("Reading the prompt: 512 of").wait_for(timeout=60_000)
        page.locator("#stop").click()
        stopped(app.host)  # the Stop reached the model while the batch is held
        release()
    stats = wait_done(page)
    assert stats.endswith("stopped")
    page.locator("#chatbot").get_by_text("— stopped").wait_for()
    assert (
        app.host.engine.last_turn.evaluated_prompt_tokens < app.host.engine.last_turn.prompt_tokens
    )


DROP = """(args) => {
    const [selector, name, text, how] = args;
    const data = new DataTransfer();
    data.items.add(new File([text], name, {type: "text/markdown"}));
    const target = document.querySelector(selector);
    const event = how === "paste"
        ? new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true})
        : new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true});
    target.dispatchEvent(event);
}"""


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_a_file_dropped_or_pasted_on_the_box_is_attached(app, page, how: str):
    """Besides the paperclip button, a file dropped on the message box or pasted into it (the
    browser's own events, as a file manager or the clipboard sends them) is attached: the
    meter counts it and the question carries its chip and its text to the model."""
    app.host.wait_loaded(120)
    set_budget(page, 0)
    page.locator("#message textarea").fill("When is the meeting?")
    before = tokens_shown(wait_meter(page, "tokens"))
    name, text = f"{how}-notes.md", f"The {how}ped notes say: the meeting is on Tuesday.\n"
    target = "#message textarea"  # a drop bubbles up to the box's drop area
    page.locator(target).wait_for()
    page.evaluate(DROP, [target, name, text, how])
    page.wait_for_function(
        "(before) => { const el = document.querySelector('#context-meter');"
        " const n = el && parseInt(el.innerText.replace(/,/g, '').match(/\\d+/));"
        " return n > before; }",
        arg=before,
        timeout=60_000,
    )
    app.host.engine.script_next_reply("On Tuesday.")
    send(page, "When is the meeting?")
    wait_done(page)
    chip = page.locator("#chatbot .file-chip")
    chip.wait_for()
    assert chip.inner_text() == f"{name} · {len(text.encode())} bytes"
    store = app.running.blocks.seedchat_store
    conv = store.get_conversation(store.list_conversations(limit=1)[0].id)
    question = next(m for m in conv.messages if m.role == "user")
    assert [a.name for a in question.attachments] == [name]
    engine = app.host.engine
    read = b"".join(engine.piece(t) for t in engine._tokens).decode("utf-8", "replace")
    assert f"[file: {name}]" in read and text.strip() in read  # the model read the file
