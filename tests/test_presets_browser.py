"""Presets in the real page (Chromium): save, rename, delete, pick; and one preset gives the
same prompt, byte for byte, and the same settings in the page, ``seedchat chat`` and the API
(the official ``openai`` SDK) and the Ollama API (the official ``ollama`` client), on the
bundled demo model."""

from __future__ import annotations

import json
import subprocess
import sys

import ollama
import openai
import pytest
from ports import worker_port

from seedchat.api.app import create_app
from seedchat.api.calls import ApiOptions
from seedchat.api.saving import ApiSaver
from seedchat.api.serve import ApiServer
from seedchat.network import find_free_port
from seedchat.store import Store, export_markdown
from tests.browser import screenshot, send, set_budget, wait_done

pytestmark = pytest.mark.slow

SYSTEM = "Answer in one line."
QUESTION = "What is 2 plus 2?"


def status_says(page, words: str) -> None:
    page.wait_for_function(
        "w => document.querySelector('#preset-status').innerText.includes(w)", arg=words
    )


def pick(page, name: str) -> None:
    page.locator("#preset input").click()
    page.get_by_role("option", name=name, exact=True).click()


def set_field(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def test_save_rename_delete_in_the_page(app, page):
    page.get_by_text("Save, rename or delete a preset").click()
    set_field(page, "preset-name", "chat")
    page.locator("#preset-save").click()
    status_says(page, "built-in")  # a built-in's name is refused

    set_field(page, "preset-name", "scratch")
    page.locator("#preset-save").click()
    status_says(page, "Saved “scratch”")
    assert page.locator("#preset input").input_value() == "scratch"
    set_field(page, "preset-name", "scratch 2")
    page.locator("#preset-rename").click()
    status_says(page, "Renamed to “scratch 2”")
    saved = json.loads((app.home / "config" / "presets.json").read_text())
    assert [p["name"] for p in saved["presets"]] == ["scratch 2"]
    page.locator("#preset-delete").click()
    status_says(page, "Deleted “scratch 2”")
    saved = json.loads((app.home / "config" / "presets.json").read_text())
    assert saved["presets"] == []
    pick(page, "deep")
    # the pick's own reply empties the status line: wait for it, as a user sees the pick
    page.wait_for_function("document.querySelector('#preset-about').innerText.includes('Built in')")
    page.locator("#preset-delete").click()
    status_says(page, "cannot be deleted")


def test_one_preset_gives_the_same_prompt_and_settings_in_page_terminal_and_api(
    app, new_page, cli_env, tmp_path, monkeypatch
):
    # the page: make a setup and keep it as a preset
    page = new_page()
    set_field(page, "system-prompt", SYSTEM)
    set_budget(page, 512)
    page.get_by_text("Sampling", exact=True).click()
    set_field(page, "max-tokens", "600")
    page.get_by_text("Save, rename or delete a preset").click()
    set_field(page, "preset-name", "review")
    page.locator("#preset-save").click()
    status_says(page, "Saved “review”")
    kept = json.loads((app.home / "config" / "presets.json").read_text())["presets"][0]
    assert kept["settings"]["system_prompt"] == SYSTEM and kept["settings"]["budget"] == 512

    # a new chat: a built-in preset changes only what it names, then ours brings it all back
    page = new_page()
    pick(page, "quick")
    page.wait_for_function(
        "document.querySelector('#budget-now').innerText.includes('answer directly')"
    )
    assert page.locator("#system-prompt textarea").input_value() == SYSTEM  # not quick's
    # the line under the picker is Markdown, drawn a moment after the note of the same answer
    page.wait_for_function(
        "document.querySelector('#preset-about').innerText.includes('Built in')", timeout=10_000
    )
    pick(page, "review")
    page.wait_for_function("document.querySelector('#budget-now').innerText.includes('512')")
    page.get_by_text("Sampling", exact=True).click()
    assert page.locator("#max-tokens input").input_value() == "600"
    screenshot(page, "ui-preset-picked")

    host = app.host
    prompts: list[str] = []
    generate = host.generate

    def recording(messages, options, cancel=None):
        prompts.append(messages if isinstance(messages, str) else host.render(messages, options))
        return generate(messages, options, cancel)

    host.generate = recording
    defaults: dict = {}  # the settings file's values, once read: the host's are put back to them
    try:
        send(page, QUESTION)
        wait_done(page)
        page_prompt = prompts[-1]
        store = Store(app.home / "data" / "seedchat.db")
        page_conv = store.list_conversations(limit=1)[0].id
        page_record = store.get_conversation(page_conv).settings

        # the terminal: other defaults in the settings file, the preset over them
        settings_file = app.home / "config" / "settings.json"
        defaults = json.loads(settings_file.read_text())
        other = {**defaults, "temperature": 0.3, "thinking_budget": 4096, "system_prompt": "X"}
        settings_file.write_text(json.dumps(other))
        env = {**cli_env, "SEEDCHAT_HOME": str(app.home)}
        command = [sys.executable, "-m", "seedchat", "chat", "--preset", "review"]
        shown = subprocess.run(
            [*command, "--show-prompt", QUESTION], capture_output=True, text=True, env=env
        )
        assert shown.returncode == 0, shown.stderr
        ran = subprocess.run(
            [*command, "--json", QUESTION], capture_output=True, text=True, env=env
        )
        assert ran.returncode == 0, ran.stderr
        terminal_conv = store.list_conversations(limit=1)[0].id
        assert terminal_conv != page_conv
        terminal_record = store.get_conversation(terminal_conv).settings

        # the API (as `seedchat serve` over the app's home): the server's defaults changed
        # too; the request names the preset only
        monkeypatch.setenv("SEEDCHAT_HOME", str(app.home))
        for key, value in other.items():
            host.settings.set(key, value)
        api_store = Store(tmp_path / "api.db")
        options = ApiOptions(saver=ApiSaver(api_store))
        server = ApiServer(
            create_app(host, options), "127.0.0.1", find_free_port("127.0.0.1", worker_port(18500))
        )
        server.start()
        try:
            client = openai.OpenAI(base_url=server.url + "v1", api_key="-", max_retries=0)
            client.chat.completions.create(
                model=host.model_id,
                messages=[{"role": "user", "content": QUESTION}],
                extra_body={"seedchat": {"preset": "review"}},
            )
        finally:
            server.close()
        api_prompt = prompts[-1]
        api_record = api_store.get_conversation(
            api_store.list_conversations(limit=1)[0].id
        ).settings

        # the Ollama API: options.preset, through the official ollama client
        ollama_store = Store(tmp_path / "ollama.db")
        options = ApiOptions(saver=ApiSaver(ollama_store))
        server = ApiServer(
            create_app(host, options), "127.0.0.1", find_free_port("127.0.0.1", worker_port(18550))
        )
        server.start()
        try:
            ollama.Client(host=server.url.rstrip("/")).chat(
                model=host.model_id,
                messages=[{"role": "user", "content": QUESTION}],
                options={"preset": "review"},
            )
        finally:
            server.close()
        ollama_prompt = prompts[-1]
        ollama_record = ollama_store.get_conversation(
            ollama_store.list_conversations(limit=1)[0].id
        ).settings
    finally:
        host.generate = generate
        for key, value in defaults.items():
            host.settings.set(key, value)

    assert shown.stdout == page_prompt == api_prompt == ollama_prompt
    assert SYSTEM in page_prompt and "which is 512" in page_prompt
    assert page_record == terminal_record == api_record == ollama_record
    assert page_record["preset"] == "review" and page_record["max_tokens"] == 600
    assert "- preset: review" in export_markdown(store, [terminal_conv])
