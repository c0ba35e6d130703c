"""`seedchat chat` as a real command: the settings file and the flags reach the model, the
saved conversation records them, its export shows them, and a saved conversation can be
continued (the bundled demo model on the real llama.cpp)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from seedchat.settings import ChatSettings, load_settings
from seedchat.store import Store
from seedchat.tools.config import ToolsConfig
from tests.mcp_servers import own_copy, running, time_entry, time_server

CHOSEN = ChatSettings(
    budget=100,
    enforcement="soft",
    temperature=0.0,
    top_p=0.9,
    top_k=5,
    max_tokens=250,
    system_prompt="Answer briefly.",
    seed=11,
)


def run_chat(cli_env: dict[str, str], *args: str, stdin: str | None = None):
    """Run `seedchat chat ...`; the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "seedchat", "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )


def chat(cli_env: dict[str, str], *args: str, stdin: str | None = None) -> list[dict]:
    """Run `seedchat chat ... --json`; its events."""
    proc = run_chat(cli_env, *args, "--json", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def text_of(events: list[dict], kind: str) -> str:
    return "".join(e["text"] for e in events if e["type"] == kind)


def the_conversation() -> tuple[str, ChatSettings]:
    with Store() as store:
        (summary,) = store.list_conversations()
        conv = store.get_conversation(summary.id)
    return conv.id, ChatSettings.from_record(conv.settings)


@pytest.fixture
def chosen_settings() -> ChatSettings:
    """The settings file holds a non-default value for every generation setting."""
    CHOSEN.save_to(load_settings())
    return CHOSEN


def test_chat_honours_every_setting_of_the_settings_file(cli_env, chosen_settings):
    events = chat(cli_env, "What is 2 + 3?")
    _, recorded = the_conversation()
    assert recorded == chosen_settings  # the turn ran with the file's settings, all of them
    done = events[-1]
    assert done["type"] == "Done" and done["generated_tokens"] <= chosen_settings.max_tokens
    # soft enforcement: the model keeps its own budget, seedchat never cuts it...
    ends = [e for e in events if e["type"] == "ThinkingEnd"]
    assert ends and not ends[0]["forced"]
    # ...where hard enforcement (the flag over the file) cuts thinking at exactly 100
    hard = chat(cli_env, "What is 2 + 3?", "--enforce", "hard", "--no-save")
    end = next(e for e in hard if e["type"] == "ThinkingEnd")
    assert end["forced"] and end["tokens"] == 100
    # temperature 0 picks the likeliest token: another seed gives the same reply
    again = chat(cli_env, "What is 2 + 3?", "--seed", "12345", "--no-save")
    assert text_of(again, "AnswerDelta") == text_of(events, "AnswerDelta")
    assert text_of(again, "ThinkingDelta") == text_of(events, "ThinkingDelta")


def test_flags_override_the_settings_file(cli_env, chosen_settings):
    chat(cli_env, "Hi", "--budget", "0", "--top-k", "9", "--system", "Be kind.")
    _, recorded = the_conversation()
    want = chosen_settings.replace(budget=0, top_k=9, system_prompt="Be kind.")
    assert recorded == want


def test_the_export_of_a_chat_shows_its_budget_and_enforcement(
    cli_env, chosen_settings, tmp_path: Path
):
    chat(cli_env, "What is 2 + 3?")
    conv_id, _ = the_conversation()
    out = tmp_path / "chat.md"
    proc = subprocess.run(
        [sys.executable, "-m", "seedchat", "history", "export", conv_id[:8], "-o", str(out)],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    markdown = out.read_text(encoding="utf-8")
    assert "- settings: thinking budget 100 (soft), temperature 0.0, top_p 0.9, top_k 5" in markdown
    assert "- system prompt: Answer briefly." in markdown


def test_a_saved_conversation_continues_with_its_history(cli_env, chosen_settings):
    chat(cli_env, "What is 2 + 3?")
    conv_id, _ = the_conversation()
    shown = subprocess.run(
        [sys.executable, "-m", "seedchat", "chat", "-c", conv_id[:8], "--show-prompt", "And 4?"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    prompt = shown.stdout
    assert "Answer briefly." in prompt and "thinking budget, which is 100" in prompt
    assert prompt.index("What is 2 + 3?") < prompt.index("And 4?")
    assert prompt.endswith("And 4?<seed:eos><seed:bos>assistant\n")
    chat(cli_env, "And 4?", "-c", conv_id[:8])
    with Store() as store:
        assert store.count_conversations() == 1
        messages = store.get_conversation(conv_id).messages
    assert [m.content for m in messages if m.role == "user"] == ["What is 2 + 3?", "And 4?"]


def test_an_unknown_conversation_is_a_clear_error(cli_env):
    proc = subprocess.run(
        [sys.executable, "-m", "seedchat", "chat", "-c", "abcdef12", "hi"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "no conversation with id abcdef12" in proc.stderr
    assert "Traceback" not in proc.stderr


def user_turns(conv_id: str) -> list[str]:
    with Store() as store:
        return [m.content for m in store.get_conversation(conv_id).messages if m.role == "user"]


def test_c_alone_continues_the_most_recent_conversation(cli_env, chosen_settings):
    chat(cli_env, "What is 2 + 3?")
    first, _ = the_conversation()
    chat(cli_env, "Hi")
    with Store() as store:
        second = next(c.id for c in store.list_conversations() if c.id != first)
    # `-c` with no id: the most recently updated one, said on stderr
    proc = run_chat(cli_env, "And 4?", "-c", "--json")
    assert proc.returncode == 0, proc.stderr
    assert f"continuing “Hi” ({second[:8]}, the most recent conversation)" in proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["type"] == "Done"  # stdout: events only
    assert user_turns(second) == ["Hi", "And 4?"]
    # with an id, that one, which then is the most recent: `-c QUESTION` (as `llm -c`) goes on
    chat(cli_env, "And 5?", "-c", first[:8])
    proc = run_chat(cli_env, "-c", "And 6?", "--json")
    assert proc.returncode == 0, proc.stderr
    assert f"({first[:8]}, the most recent conversation)" in proc.stderr
    assert user_turns(first) == ["What is 2 + 3?", "And 5?", "And 6?"]
    assert user_turns(second) == ["Hi", "And 4?"]
    with Store() as store:
        assert store.count_conversations() == 2


def test_c_alone_with_nothing_saved_is_a_clear_error(cli_env):
    proc = run_chat(cli_env, "-c", "hi")
    assert proc.returncode == 1
    assert "There is no saved conversation to continue." in proc.stderr
    assert "seedchat chat' (without -c)" in proc.stderr and "Traceback" not in proc.stderr
    assert not proc.stdout  # found out before the model loads: nothing was answered


def test_the_terminal_shows_the_models_reports_in_the_pages_words(cli_env):
    question = ("What is 12 + 30?", "--budget", "512", "--temperature", "0", "--max-tokens", "200")
    proc = run_chat(cli_env, *question, "--no-save")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "None" not in out
    reports = re.findall(r"⟨⏱ model: used (\d+), (\d+) left \(true count (\d+)\)⟩", out)
    assert reports, out
    assert all(0 <= int(left) <= 512 for _, left, _ in reports)
    assert re.search(r"— Thought for .+ s · \d+ / 512 tokens( · unfinished)? —", out), out
    assert "· stopped at max tokens)" in out  # the page's status line


# -- attached files (--file, /file) ------------------------------------------------------


def write_files(tmp_path: Path) -> tuple[Path, Path]:
    from documents_helpers import make_pdf

    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\nThe meeting moved to Friday.\n", encoding="utf-8")
    report = tmp_path / "report.pdf"
    report.write_bytes(make_pdf(["Revenue grew.", "Costs fell."]))
    return notes, report


def test_files_go_into_the_question_are_saved_and_shown(cli_env, tmp_path: Path):
    notes, report = write_files(tmp_path)
    args = ("--file", str(notes), "--file", str(report), "--budget", "0", "--max-tokens", "4")
    chat(cli_env, "Summarize both.", *args)
    conv_id, _ = the_conversation()
    with Store() as store:
        question = store.get_conversation(conv_id).messages[0]
    assert question.content == "Summarize both."
    assert [(d.name, d.kind, d.page_count) for d in question.attachments] == [
        ("notes.md", "markdown", 0),
        ("report.pdf", "pdf", 2),
    ]
    # continued: the saved files go back into their question's place in the prompt
    shown = run_chat(cli_env, "-c", conv_id[:8], "--show-prompt", "And then?")
    assert shown.returncode == 0, shown.stderr
    block = (
        "[file: notes.md]\n# Notes\nThe meeting moved to Friday.\n[end of file: notes.md]\n\n"
        "[file: report.pdf]\n[page 1]\nRevenue grew.\n\n[page 2]\nCosts fell.\n"
        "[end of file: report.pdf]\n\nSummarize both."
    )
    assert block in shown.stdout
    assert shown.stdout.index(block) < shown.stdout.index("And then?")
    history = subprocess.run(
        [sys.executable, "-m", "seedchat", "history", "show", conv_id[:8]],
        capture_output=True,
        text=True,
        env={**cli_env, "COLUMNS": "200"},
        timeout=60,
    )
    assert history.returncode == 0, history.stderr
    size = notes.stat().st_size
    assert f"📎 notes.md (markdown, {size:,} bytes)" in history.stdout
    assert f"📎 report.pdf (PDF, 2 pages, {report.stat().st_size:,} bytes)" in history.stdout


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        (
            "photo.png",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01",
            "is an image that cannot be read",
        ),
        ("empty.txt", b"", "is empty"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Cat", "is a damaged PDF"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_and_nothing_changes(
    cli_env, tmp_path: Path, name, data, words
):
    bad = tmp_path / name
    bad.write_bytes(data)
    proc = run_chat(cli_env, "--file", str(bad), "Read it.")
    assert proc.returncode != 0
    assert f"{name} {words}" in proc.stderr and "Traceback" not in proc.stderr
    with Store() as store:
        assert store.count_conversations() == 0  # nothing saved, no model asked


def test_slash_file_attaches_to_the_next_question(cli_env, tmp_path: Path):
    notes, _ = write_files(tmp_path)
    stdin = f"/file {tmp_path / 'missing.txt'}\n/file {notes}\nWhat day?\nAnd now?\n\n"
    proc = run_chat(cli_env, "--budget", "0", "--max-tokens", "4", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    assert f"There is no file {tmp_path / 'missing.txt'}." in proc.stderr.replace("\n", "")
    assert "attached notes.md (markdown" in proc.stderr
    conv_id, _ = the_conversation()
    with Store() as store:
        questions = [m for m in store.get_conversation(conv_id).messages if m.role == "user"]
    assert [(q.content, [d.name for d in q.attachments]) for q in questions] == [
        ("What day?", ["notes.md"]),
        ("And now?", []),
    ]


# -- tools ----------------------------------------------------------------------------------

TOKYO_CALL = (
    "<seed:tool_call>\n<function=get_current_time>\n<parameter=timezone>Asia/Tokyo"
    "</parameter>\n</function>\n</seed:tool_call>"
)


@pytest.fixture
def time_server_on(seedchat_home: Path) -> None:
    """The real `mcp-server-time` set up as `seedchat tools add` would (mcp.json)."""
    config = ToolsConfig.load()
    config.add(time_entry())
    config.save()


def scripted_chat(cli_env: dict[str, str], replies: list[str], *args: str, stdin: str = ""):
    """`seedchat chat …` whose model writes ``replies`` (tests/scripted_chat.py)."""
    env = {**cli_env, "SCRIPTED_REPLIES": json.dumps(replies)}
    return subprocess.run(
        [sys.executable, "-m", "tests.scripted_chat", "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )


def test_chat_yes_runs_a_tool_and_answers_with_its_result(cli_env, time_server_on):
    replies = [TOKYO_CALL, "In Tokyo it is {datetime}."]
    proc = scripted_chat(cli_env, replies, "What time is it in Tokyo?", "--yes", "--budget", "0")
    assert proc.returncode == 0, proc.stderr
    shown = re.search(
        r'⚙ get_current_time\(timezone="Asia/Tokyo"\) · done in [\d.]+ s · (.+)', proc.stdout
    )
    assert shown, proc.stdout
    said = re.search(r'"datetime": "([^"]+)"', shown.group(1)).group(1)
    assert f"In Tokyo it is {said}." in proc.stdout  # the answer read the tool's result
    assert "[y]es" not in proc.stderr  # --yes: nothing asked
    assert proc.stdout.count("tokens ·") >= 2  # a footer for each reply
    with Store() as store:
        (summary,) = store.list_conversations()
        roles = [m.role for m in store.get_conversation(summary.id).messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    shown = subprocess.run(
        [sys.executable, "-m", "seedchat", "history", "show", summary.id[:8]],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert '⚙ get_current_time(timezone="Asia/Tokyo")' in shown.stdout, shown.stderr
    assert "Tool get_current_time" in shown.stdout and said in shown.stdout


def test_chat_asks_and_a_no_goes_back_to_the_model(cli_env, time_server_on):
    replies = [TOKYO_CALL, "You declined, so I cannot say."]
    proc = scripted_chat(cli_env, replies, "Time in Tokyo?", "--budget", "0", stdin="maybe\nn\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("[y]es / [a]lways / [n]o") == 2  # "maybe" is asked again
    assert 'get_current_time(timezone="Asia/Tokyo") · declined' in proc.stdout
    assert "You declined, so I cannot say." in proc.stdout
    with Store() as store:
        (summary,) = store.list_conversations()
        tool = store.get_conversation(summary.id).messages[2]
    assert (tool.role, tool.content) == ("tool", "The user declined this call.")


def test_tools_are_the_configured_servers_and_no_tools_leaves_them_out(cli_env, seedchat_home):
    none = run_chat(cli_env, "Hi", "--show-prompt")  # no server set up: no tools block
    assert none.returncode == 0 and "get_current_time" not in none.stdout, none.stderr
    config = ToolsConfig.load()
    server = own_copy(time_server(), seedchat_home)
    config.add(time_entry(command=server))
    config.save()
    with_tools = run_chat(cli_env, "Hi", "--show-prompt")
    without = run_chat(cli_env, "Hi", "--show-prompt", "--no-tools")
    assert with_tools.returncode == without.returncode == 0, with_tools.stderr + without.stderr
    assert "def get_current_time(timezone: str)" in with_tools.stdout
    assert "get_current_time" not in without.stdout and "<seed:tool_call>" not in without.stdout
    assert without.stdout == none.stdout
    assert running(str(server)) == []  # the server stopped with the chat
