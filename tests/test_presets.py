"""Presets: the built-ins from the Seed model cards, the user's own (save, rename, delete, a
corrupt file), what applying one changes, and how the command line, the API and the export
see them."""

from __future__ import annotations

import json
import subprocess
import sys

import openai
import pytest

from seedchat import presets
from seedchat.api.requests import ChatRequest, chat_settings
from seedchat.errors import RequestError
from seedchat.paths import get_paths
from seedchat.presets import PresetError, load_presets
from seedchat.settings import ChatSettings
from seedchat.store import Store, export_json, export_markdown

REVIEW = ChatSettings(
    budget=2048,
    enforcement="soft",
    temperature=0.4,
    top_p=0.9,
    top_k=20,
    max_tokens=900,
    system_prompt="Review the code you are given.",
    seed=7,
)


# -- the built-ins ----------------------------------------------------------------------


def test_the_builtins_carry_the_model_cards_figures_and_their_sources():
    found = {p.name: p for p in load_presets().all}
    assert list(found) == ["chat", "agent", "quick", "deep", "code"]
    assert all(
        p.builtin and p.source.startswith("https://github.com/ByteDance-Seed/")
        for p in found.values()
    )
    assert found["chat"].settings == {"budget": -1, "temperature": 1.1, "top_p": 0.95, "top_k": 0}
    assert (found["agent"].settings["temperature"], found["agent"].settings["top_p"]) == (1.0, 0.7)
    assert found["quick"].settings["budget"] == 0
    deep = found["deep"].settings
    assert deep["budget"] == 16384 and deep["enforcement"] == "hard"
    assert deep["max_tokens"] > deep["budget"]  # room for the answer after the thinking
    assert found["code"].settings == {"temperature": 0.6, "top_p": 0.8, "top_k": 0}
    assert "Seed-Coder" in found["code"].source


def test_a_preset_sets_what_it_names_and_leaves_the_rest():
    mine = ChatSettings(budget=4096, system_prompt="Be brief.", seed=3, max_tokens=500)
    quick = presets.apply("quick", mine)
    assert (quick.budget, quick.temperature, quick.top_p, quick.preset) == (0, 1.1, 0.95, "quick")
    assert (quick.system_prompt, quick.seed, quick.max_tokens) == ("Be brief.", 3, 500)
    code = presets.apply("CODE", mine)  # names compare without case
    assert (code.budget, code.temperature, code.top_p, code.preset) == (4096, 0.6, 0.8, "code")


def test_an_unknown_preset_is_an_error_listing_the_presets():
    with pytest.raises(PresetError) as info:
        presets.apply("nope", ChatSettings())
    assert "'nope'" in info.value.message and "quick" in info.value.hint


def test_the_preset_travels_in_the_stored_record():
    chosen = presets.apply("deep", ChatSettings())
    record = json.loads(json.dumps(chosen.to_record()))
    assert record["preset"] == "deep"
    assert ChatSettings.from_record(record) == chosen
    assert ChatSettings.from_record({"temperature": 0.5}).preset is None  # an older record


# -- the user's own ---------------------------------------------------------------------


def test_save_rename_delete_are_kept_in_the_config_folder():
    mine = load_presets()
    saved = mine.save("  Code review ", REVIEW, description="my setup")
    assert saved.name == "Code review" and "seed" not in saved.settings  # the seed stays per chat
    path = get_paths().presets_file
    assert json.loads(path.read_text())["presets"][0]["settings"]["system_prompt"] == (
        REVIEW.system_prompt
    )
    again = load_presets()  # read from the file
    assert again.get("code review").apply(ChatSettings(seed=1)) == REVIEW.replace(
        seed=1, preset="Code review"
    )
    again.save("Code review", REVIEW.replace(budget=512))  # the same name replaces it
    assert load_presets().get("Code review").settings["budget"] == 512
    assert load_presets().names().count("Code review") == 1

    again.rename("Code review", "review")
    assert load_presets().find("Code review") is None
    assert load_presets().get("review").settings["budget"] == 512
    again.delete("review")
    assert load_presets().names() == ["chat", "agent", "quick", "deep", "code"]
    assert not list(path.parent.glob(".presets.json.*"))  # written through a rename


@pytest.mark.parametrize("change", ["save", "rename", "delete"])
def test_builtins_keep_their_names(change):
    mine = load_presets()
    mine.save("mine", REVIEW)
    with pytest.raises(PresetError) as info:
        {
            "save": lambda: mine.save("Quick", REVIEW),
            "rename": lambda: mine.rename("mine", "deep"),
            "delete": lambda: mine.delete("chat"),
        }[change]()
    assert "built-in" in info.value.message or "already a preset" in info.value.message
    assert load_presets().get("quick").builtin and load_presets().get("mine").settings


@pytest.mark.parametrize(
    "text, said",
    [
        ("{not json", "not valid JSON"),
        ('{"presets": {}}', "'presets' list"),
        ('{"presets": [{"name": "x", "settings": {"budget": -7}}]}', "'budget'"),
        ('{"presets": [{"name": "x", "settings": {"colour": 1}}]}', "'colour'"),
        ('{"presets": [{"name": "Chat", "settings": {}}]}', "built-in preset's name"),
    ],
)
def test_a_corrupt_file_is_said_left_alone_and_the_builtins_still_work(text, said):
    path = get_paths().presets_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    mine = load_presets()
    assert mine.problem is not None and said in mine.problem.message
    assert str(path) in mine.problem.message and "delete it" in mine.problem.hint
    assert presets.apply("quick", ChatSettings()).budget == 0
    with pytest.raises(PresetError) as info:
        mine.get("x")
    assert said in info.value.message
    with pytest.raises(PresetError):
        mine.save("new", REVIEW)
    assert path.read_text() == text  # never overwritten


def test_names_must_be_printable_and_short():
    for bad in ("", "   ", "tab\there", "x" * 41):
        with pytest.raises(PresetError):
            load_presets().save(bad, REVIEW)


# -- the command line -------------------------------------------------------------------


def run_cli(env, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "seedchat", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_seedchat_presets_lists_renames_and_deletes(cli_env):
    load_presets().save("review", REVIEW)
    listed = run_cli(cli_env, "presets", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert list(rows) == ["chat", "agent", "quick", "deep", "code", "review"]
    assert rows["quick"]["summary"].startswith("budget 0 (answer directly)")
    assert rows["review"]["builtin"] is False and rows["review"]["settings"]["top_k"] == 20

    table = run_cli(cli_env, "presets")
    assert table.returncode == 0
    for words in ("quick", "budget 0 (answer", "temperature 0.6", "review", "yours"):
        assert words in table.stdout

    assert run_cli(cli_env, "presets", "rename", "review", "cr").returncode == 0
    refused = run_cli(cli_env, "presets", "delete", "deep")
    assert refused.returncode == 1 and "built-in" in refused.stderr
    assert run_cli(cli_env, "presets", "delete", "cr").returncode == 0
    assert load_presets().user == []


def test_chat_preset_sets_the_prompt_and_flags_go_over_it(cli_env):
    load_presets().save("review", REVIEW)
    shown = run_cli(cli_env, "chat", "--preset", "quick", "--show-prompt", "Hi")
    assert shown.returncode == 0, shown.stderr
    assert "thinking budget is 0" in shown.stdout
    over = run_cli(cli_env, "chat", "--preset", "review", "-b", "512", "--show-prompt", "Hi")
    assert "Review the code you are given." in over.stdout and "which is 512" in over.stdout
    wrong = run_cli(cli_env, "chat", "--preset", "nope", "Hi")
    assert wrong.returncode == 1 and "no preset named 'nope'" in wrong.stderr
    assert "quick" in wrong.stderr and "Loading" not in wrong.stderr


def test_serve_refuses_an_unknown_preset_before_loading(cli_env):
    wrong = run_cli(cli_env, "serve", "--preset", "nope", "--port", "1")
    assert wrong.returncode == 1 and "no preset named 'nope'" in wrong.stderr
    assert "loading" not in wrong.stdout


# -- the API ----------------------------------------------------------------------------


def request(**body) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": "Hi"}], **body)


def test_the_api_applies_a_preset_under_the_requests_own_fields():
    load_presets().save("review", REVIEW)
    base = ChatSettings(temperature=1.5, seed=9)
    body = request(seedchat={"preset": "review"}, temperature=0.2)
    got = chat_settings(body, base)
    assert got == REVIEW.replace(temperature=0.2, seed=9, preset="review")
    assert body.messages[0] == {"role": "system", "content": REVIEW.system_prompt}
    soft = chat_settings(request(seedchat={"preset": "quick", "enforce": "soft"}), base)
    assert (soft.budget, soft.enforcement, soft.preset) == (0, "soft", "quick")
    # a client's own system message stays the only one
    own = ChatRequest(
        model="m",
        messages=[{"role": "system", "content": "Mine."}, {"role": "user", "content": "Hi"}],
        seedchat={"preset": "review"},
    )
    chat_settings(own, base)
    assert [m["content"] for m in own.messages] == ["Mine.", "Hi"]
    with pytest.raises(RequestError) as info:
        chat_settings(request(seedchat={"preset": "nope"}), base)
    assert info.value.param == "seedchat.preset" and "quick" in info.value.hint


@pytest.mark.slow
def test_an_unknown_preset_is_a_400_through_the_openai_sdk(demo_server, demo_host):
    client = openai.OpenAI(base_url=demo_server.url + "v1", api_key="-", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=demo_host.model_id,
            messages=[{"role": "user", "content": "Hi"}],
            extra_body={"seedchat": {"preset": "nope"}},
        )
    error = info.value.body
    assert error["param"] == "seedchat.preset" and "nope" in error["message"]


# -- the export -------------------------------------------------------------------------


def test_the_export_shows_the_preset(tmp_path):
    store = Store(tmp_path / "c.db")
    chosen = presets.apply("quick", ChatSettings())
    conv = store.create_conversation(settings=chosen.to_record()).id
    store.add_message(conv, role="user", content="Hi")
    assert "- preset: quick" in export_markdown(store, [conv])
    assert export_json(store, [conv])["conversations"][0]["settings"]["preset"] == "quick"
    plain = store.create_conversation(settings=ChatSettings().to_record()).id
    assert "preset" not in export_markdown(store, [plain])
