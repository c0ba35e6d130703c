"""The page's turns are ChatSession turns: the settings panel reaches the sampler, the page
and `seedchat chat` send the same prompt for the same saved conversation, its export shows
its settings, and regenerate and edit are branches of the store (real app, real Chromium,
the bundled demo model, the real `seedchat` command)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from seedchat.settings import ChatSettings
from seedchat.store import conversation_markdown, export_json
from seedchat.ui.chat_pane import make_session
from seedchat.ui.conversations import newest_conversation, open_conversation
from tests.browser import screenshot, send, set_budget, set_checked, wait_done

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def model_loaded(app):
    app.host.wait_loaded(120)
    assert app.host.engine is not None, f"the app has no model ({app.host.error})"


def open_sampling(page) -> None:
    accordion = page.get_by_text("Sampling", exact=True)
    if not page.locator("#top-k input").is_visible():
        accordion.click()
    page.locator("#top-k input").wait_for(state="visible")


def fill(page, selector: str, value: str) -> None:
    box = page.locator(selector)
    box.fill(value)
    box.press("Tab")


def settled(app, timeout: float = 60.0) -> None:
    """Wait until the model is idle and no answer is still being written."""
    deadline = time.monotonic() + timeout
    store = the_store(app)
    while time.monotonic() < deadline:
        conv_id = newest_conversation(store)
        partial = conv_id and any(
            m.status == "partial" for m in store.get_conversation(conv_id).messages
        )
        if not app.host.busy and not partial:
            return
        time.sleep(0.05)
    raise AssertionError("the app is still generating")


def the_store(app):
    return app.running.blocks.seedchat_store


def test_top_k_from_the_page_reaches_the_sampler(app, page):
    set_budget(page, 0)
    open_sampling(page)
    fill(page, "#top-k input", "7")
    send(page, "Say hello.")
    wait_done(page)
    settled(app)
    assert app.host.engine.last_turn.sampling.top_k == 7
    conv = the_store(app).get_conversation(newest_conversation(the_store(app)))
    assert ChatSettings.from_record(conv.messages[-1].settings).top_k == 7


def test_the_page_and_seedchat_chat_send_the_same_prompt(app, page):
    set_budget(page, 512)
    page.locator("#enforcement").get_by_text("soft").click()
    fill(page, "#system-prompt textarea", "Answer in one line.")
    send(page, "What is 2 plus 2?")
    stats = wait_done(page)
    settled(app)
    send(page, "And 3 plus 3?")
    wait_done(page, previous=stats)
    settled(app)
    store = the_store(app)
    conv_id = newest_conversation(store)
    opened = open_conversation(store, conv_id)
    settings = ChatSettings.from_record(opened.settings)
    assert (settings.budget, settings.enforcement) == (512, "soft")
    assert settings.system_prompt == "Answer in one line."
    # the page's session for this conversation, as its next turn would build it
    ui_session = make_session(app.host, store, settings, opened.turns, opened.thread)
    env = {**os.environ, "SEEDCHAT_HOME": str(app.home)}
    shown = subprocess.run(
        [sys.executable, "-m", "seedchat", "chat", "-c", conv_id, "--show-prompt", "And 4 plus 4?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == ui_session.prompt("And 4 plus 4?")  # byte for byte
    assert "Answer in one line." in shown.stdout and "What is 2 plus 2?" in shown.stdout
    # and its export says with which budget and enforcement it was made
    markdown = conversation_markdown(store.get_conversation(conv_id))
    assert "- settings: thinking budget 512 (soft)" in markdown


def test_regenerate_and_edit_in_the_page_are_branches_of_the_store(app, page):
    set_budget(page, 0)
    send(page, "What is 2 plus 2?")
    stats = wait_done(page)
    page.locator("#edit").click()
    page.wait_for_function(
        "document.querySelector('#message textarea').value === 'What is 2 plus 2?'"
    )
    page.locator("#message textarea").fill("What is 3 plus 3?")
    page.locator("#send").click()
    stats = wait_done(page, previous=stats)
    page.locator("#regenerate").click()
    wait_done(page, previous=stats)
    settled(app)
    store = the_store(app)
    conv_id = newest_conversation(store)
    messages = export_json(store, [conv_id])["conversations"][0]["messages"]
    questions = {m["content"]: m for m in messages if m["role"] == "user"}
    assert set(questions) == {"What is 2 plus 2?", "What is 3 plus 3?"}
    # the edited question is a sibling of the old one: both start the conversation
    assert {m["parent_id"] for m in questions.values()} == {None}
    old_answers = [m for m in messages if m["parent_id"] == questions["What is 2 plus 2?"]["id"]]
    new_answers = [m for m in messages if m["parent_id"] == questions["What is 3 plus 3?"]["id"]]
    assert len(old_answers) == 1  # the first answer stays, on its branch
    assert len(new_answers) == 2  # the answer and its regeneration, siblings
    shown = store.get_conversation(conv_id).messages
    assert shown[0].content == "What is 3 plus 3?"
    assert shown[-1].id == new_answers[-1]["id"]  # the page shows the newest branch
    screenshot(page, "session-branches")


def shows(page, text: str) -> None:
    script = f"document.querySelector('#chatbot').innerText.includes({text!r})"
    page.wait_for_function(script, timeout=20_000)


def test_branches_switch_in_the_page_and_stay_chosen_after_a_reload(app, page, new_page):
    set_budget(page, 0)
    send(page, "Name a fruit.")
    box = "document.querySelector('#message textarea').value === ''"
    page.wait_for_function(box, timeout=5_000)  # the box empties on send
    stats = wait_done(page)
    for _ in range(2):
        page.locator("#regenerate").click()
        stats = wait_done(page, previous=stats)
    shows(page, "3 / 3")
    settled(app)
    store = the_store(app)
    conv_id = newest_conversation(store)
    question = store.get_conversation(conv_id).messages[0]
    answers = [m for m in store.messages(conv_id) if m.parent_id == question.id]
    assert len(answers) == 3
    back = page.locator("#chatbot [data-testid=bot] a[href^='#branch-prev-']")
    forth = page.locator("#chatbot [data-testid=bot] a[href^='#branch-next-']")
    back.last.click()
    shows(page, "2 / 3")
    back.last.click()
    shows(page, "1 / 3")
    assert back.count() == 0  # the first answer's ‹ goes nowhere
    assert store.get_conversation(conv_id).current_leaf == answers[0].id
    forth.last.click()
    shows(page, "2 / 3")
    assert store.get_conversation(conv_id).current_leaf == answers[1].id
    assert not page.locator("#error-box").is_visible()
    screenshot(page, "branches-switched")
    # a reload shows the branch chosen, and the next question continues it
    again = new_page(fresh=False)
    shows(again, "2 / 3")
    send(again, "Another one?")
    again.wait_for_function(box, timeout=5_000)
    stats = wait_done(again)
    settled(app)
    branch = store.get_conversation(conv_id).messages
    assert [m.id for m in branch[:2]] == [question.id, answers[1].id]
    assert branch[2].content == "Another one?"
    # an edited question has its control too, and switches the same way
    again.locator("#edit").click()
    again.wait_for_function("document.querySelector('#message textarea').value === 'Another one?'")
    again.locator("#message textarea").fill("One more?")
    again.locator("#send").click()
    wait_done(again, previous=stats)
    shows(again, "2 / 2")
    again.locator("#chatbot [data-testid=user] a[href^='#branch-prev-']").click()
    shows(again, "Another one?")
    assert "One more?" not in again.locator("#chatbot").inner_text()
    screenshot(again, "branches-edited-question")


def test_unlimited_reads_as_unlimited(page):
    slider = page.locator("#budget")
    unlimited = page.locator("#unlimited input[type=checkbox]")
    set_checked(page, unlimited, True)
    page.wait_for_function("document.querySelector('#budget').innerText.includes('unlimited')")
    assert not page.locator("#budget input[type=number]").is_visible()
    assert slider.inner_text().split() == ["Budget:", "unlimited"]  # no number reads as a budget
    screenshot(page, "budget-unlimited-reads-unlimited")
    set_checked(page, unlimited, False)
    page.wait_for_function("!document.querySelector('#budget').innerText.includes('unlimited')")
    assert page.locator("#budget input[type=number]").is_visible()


def test_the_page_and_its_api_share_one_loaded_model(app, page):
    import openai

    page.get_by_role("tab", name="Models").click()
    note = page.locator("#api-address")
    note.get_by_text("/v1").wait_for(timeout=10_000)
    assert app.url + "v1" in note.inner_text()
    engine = app.host.engine
    client = openai.OpenAI(base_url=app.url + "v1", api_key="none", max_retries=0)
    model = client.models.list().data[0].id
    assert model == app.host.info.path.stem
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=30,
        extra_body={"thinking_budget": 0},
    )
    assert reply.choices[0].message.content
    page.get_by_role("tab", name="Chat").click()
    set_budget(page, 0)
    send(page, "Say hello.")
    wait_done(page)
    assert app.host.engine is engine and app.host.loads == 1  # one model, loaded once
    screenshot(page, "api-beside-the-page")
