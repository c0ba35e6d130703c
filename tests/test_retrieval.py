"""Retrieval when attached files do not fit: the passage holding a planted sentence wins
over filler (a real SQLite FTS5 index, BM25), reaches the prompt with its place named, and
the answer's footer names it; in the terminal (the bundled demo model, trained for 8,192
tokens, on the real llama.cpp), in the API (the official openai SDK, and Ollama's /api)."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
from contract_text import (
    FOLLOW_UP,
    PLANTED,
    PLANTED_AT,
    QUESTION,
    SECOND,
    WORDS,
    filler,
    with_second,
)
from documents_helpers import make_pdf
from ports import worker_port

from seedchat.api.app import create_app
from seedchat.api.calls import ApiOptions
from seedchat.api.saving import ApiSaver
from seedchat.api.serve import ApiServer
from seedchat.chat.fitting import choose, context_needed, count_prompt, fit_request
from seedchat.chat.session import ChatSession, Turn
from seedchat.documents.read import Document, attach, read_document
from seedchat.documents.retrieval import MAX_CHARS, places, retrieve, split_passages
from seedchat.engine.host import ModelHost
from seedchat.engine.local import Engine
from seedchat.events import Notice, RetrievalNotice, event_from_dict
from seedchat.models import demo_model
from seedchat.network import find_free_port
from seedchat.planner import context_plans, read_shape
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings, GenerationOptions, LoadOptions
from seedchat.store import Store


def chars(text: str) -> int:
    """A stand-in token count (4 characters a token), for the tests that need no model."""
    return len(text) // 4 + 1


# -- the passages, the index and the message -------------------------------------------------


def test_passages_keep_the_text_and_name_their_lines():
    doc = read_document(filler(3000).encode(), "contract.txt")
    passages = split_passages(doc)
    assert len(passages) > 100 and all(len(p.text) <= MAX_CHARS for p in passages)
    for p in passages:  # each passage is the file's text exactly, at its offset and lines
        assert doc.text[p.start : p.start + len(p.text)] == p.text
        lines = doc.text.splitlines()[p.first_line - 1 : p.last_line]
        assert "\n".join(lines) == p.text
    joined = "".join(doc.text[p.start : p.start + len(p.text)] + "\n" for p in passages)
    assert joined == doc.text  # nothing lost, nothing twice


def test_the_planted_sentence_wins_over_filler():
    doc = read_document(filler(3000).encode(), "contract.txt")
    found = retrieve([doc], QUESTION, 3000, chars)
    assert len(found.passages) >= 1
    (best,) = [p for p in found.passages if PLANTED in p.text]
    assert best.first_line <= PLANTED_AT + 1 <= best.last_line
    assert found.text.startswith(
        f"[file: contract.txt, {len(found.passages)} of {found.totals[0]} passages "
        "(the whole file was not read)]\n"
    )
    assert f"[{best.where}]\n{best.text}\n" in found.text
    assert found.text.endswith(f"[end of file: contract.txt]\n\n{QUESTION}")
    assert chars(found.text) <= 3000
    notice = found.notice
    assert isinstance(notice, RetrievalNotice) and notice.kind == "retrieval"
    assert best.label in notice.passages
    assert notice.text == (
        f"Answered from 1 passage of contract.txt ({best.where}): the whole document was not read."
    )
    assert event_from_dict(notice.to_dict()) == notice


def test_passages_fill_the_room_best_first_and_stand_in_document_order():
    text = filler(3000, planted_at=None)
    doc = read_document(text.encode(), "terms.txt")
    found = retrieve([doc], "Which clause sets the payment notice within days?", 2000, chars)
    assert len(found.passages) > 1
    starts = [p.start for p in found.passages]
    assert starts == sorted(starts)  # in the document's order, whatever their rank
    assert chars(found.text) <= 2000
    bigger = retrieve([doc], "Which clause sets the payment notice within days?", 6000, chars)
    assert len(bigger.passages) > len(found.passages)


def test_a_pdf_passage_names_its_page():
    pages = [" ".join(random.Random(n).choice(WORDS) for _ in range(60)) for n in range(40)]
    pages[26] = "Budget review. " + PLANTED.replace("-", " ")
    doc = read_document(make_pdf(pages), "report.pdf")
    passages = split_passages(doc)
    assert [p.page for p in passages] == list(range(1, 41))  # no passage across pages
    assert not any(p.text.startswith("[page") for p in passages)
    found = retrieve([doc], QUESTION, 400, chars)
    assert [p.page for p in found.passages] == [27]
    assert "[page 27]\nBudget review. The secret launch code" in found.text
    assert found.notice.passages == ("report.pdf, page 27",)
    assert "1 passage of report.pdf (page 27)" in found.notice.text


def test_places_join_neighbouring_pages_and_lines():
    doc = read_document(make_pdf([f"page {n} text" for n in range(1, 14)]), "r.pdf")
    by_page = {p.page: p for p in split_passages(doc)}
    assert places([by_page[n] for n in (3, 4, 5, 12)]) == "pages 3–5, 12"
    text = read_document(filler(200, None).encode(), "a.txt")
    first, second, *_ = split_passages(text)
    assert places([first, second]) == f"lines 1–{second.last_line}"


def test_several_files_and_no_matching_word():
    a = Document("a.md", "markdown", "alpha beta\n\ngamma\n", 18, "a" * 64)
    b = Document("b.md", "markdown", "delta epsilon\n", 14, "b" * 64)
    found = retrieve([a, b], "Tell me about epsilon", 500, chars)
    assert [p.file for p in found.passages] == ["b.md"]
    assert "no passage of a.md; 1 passage of b.md (line 1)" in found.notice.text
    assert "documents were not read" in found.notice.text
    none = retrieve([a, b], "zzz", 500, chars)  # no word matches: the files' beginnings
    assert [p.file for p in none.passages] == ["a.md", "b.md"]


# -- the rule --------------------------------------------------------------------------------


def test_the_rule_whole_longer_context_or_retrieval():
    shape = read_shape(demo_model())  # trained for 8,192 tokens
    assert choose(3000, 4096, 512).way == "whole"
    assert choose(3000, 4096, 512, forced=True).way == "retrieval"
    fits = context_plans(shape, context_needed(5000, 512), 0, 64 * 2**30)
    chosen = choose(5000, 4096, 512, plans=fits)
    assert chosen.way == "reload" and chosen.plan.n_ctx == 8192
    assert chosen.reason == "does not fit in 4,096 tokens (5,000 needed)"
    beyond = context_plans(shape, context_needed(20_000, 512), 0, 64 * 2**30)
    far = choose(20_000, 4096, 512, plans=beyond)
    assert far.way == "retrieval"
    assert "beyond the model's trained context of 8,192 tokens" in far.reason
    no_ram = choose(5000, 4096, 512, plans=context_plans(shape, 5512, 0, 1024))
    assert no_ram.way == "retrieval" and "RAM" in no_ram.reason
    assert choose(5000, 4096, 512, plans=None).way == "retrieval"  # cannot load again


# -- the terminal ----------------------------------------------------------------------------


def _chat(cli_env, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "seedchat", "chat", "-m", str(demo_model())]
    done = subprocess.run(
        [*command, *args], capture_output=True, env=cli_env, timeout=300, text=True
    )
    assert done.returncode == 0, done.stderr
    return done


def test_one_shot_chat_retrieves_when_the_file_is_beyond_the_trained_context(tmp_path, cli_env):
    path = tmp_path / "contract.txt"
    path.write_text(filler(3000))
    shown = _chat(cli_env, "--context", "4096", "--file", str(path), "--show-prompt", QUESTION)
    said = " ".join(shown.stderr.split())
    assert "contract.txt does not fit in 4,096 tokens" in said
    assert "beyond the model's trained context of 8,192 tokens; using retrieval: " in said
    assert PLANTED in shown.stdout  # the passage holding it is in the prompt
    assert "(the whole file was not read)]\n[lines " in shown.stdout
    assert filler(3000) not in shown.stdout
    # an answer: its footer names the passage, and the question is saved with the file
    answered = _chat(
        cli_env, "--context", "4096", "-b", "0", "--max-tokens", "8", "--file", str(path), QUESTION
    )
    footer = answered.stdout.strip().splitlines()[-1]
    assert footer.startswith("Answered from 1 passage of contract.txt (lines ")
    assert footer.endswith("): the whole document was not read.")
    exported = tmp_path / "export.json"
    subprocess.run(
        [sys.executable, "-m", "seedchat", "history", "export", "-o", str(exported)],
        check=True,
        env=cli_env,
        timeout=120,
    )
    (conv,) = json.loads(exported.read_text())["conversations"]
    question, reply = conv["messages"]
    assert question["content"] == QUESTION
    assert [a["name"] for a in question["attachments"]] == ["contract.txt"]
    (notice,) = [n for n in reply["notices"] if n["kind"] == "retrieval"]
    assert notice["text"] == footer


def test_a_pdf_beyond_the_context_gives_its_page(tmp_path, cli_env):
    pages = [" ".join(random.Random(n).choice(WORDS) for _ in range(200)) for n in range(60)]
    pages[41] = "Appendix. " + PLANTED.replace("-", " ")
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(pages))
    shown = _chat(cli_env, "--context", "4096", "--file", str(path), "--show-prompt", QUESTION)
    assert "[page 42]\nAppendix. The secret launch code" in shown.stdout
    assert "using retrieval: 1 passage of report.pdf (page 42)" in " ".join(shown.stderr.split())
    as_json = _chat(
        cli_env,
        "--context",
        "4096",
        "-b",
        "0",
        "--max-tokens",
        "4",
        "--json",
        "--no-save",
        "--file",
        str(path),
        QUESTION,
    )
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    (notice,) = [e for e in events if e["type"] == "RetrievalNotice"]
    assert notice["passages"] == ["report.pdf, page 42"]


def test_retrieval_can_be_chosen_for_a_file_that_fits(tmp_path, cli_env):
    path = tmp_path / "contract.txt"
    path.write_text(filler(40, planted_at=20))
    whole = _chat(cli_env, "--context", "8192", "--file", str(path), "--show-prompt", QUESTION)
    assert "[file: contract.txt]\n" + filler(40, planted_at=20) in whole.stdout
    assert "retrieval" not in whole.stderr
    chosen = _chat(
        cli_env, "--retrieval", "--file", str(path), "--show-prompt", QUESTION, "--context", "8192"
    )
    assert "using retrieval (turned on): 1 passage of contract.txt" in chosen.stderr
    assert PLANTED in chosen.stdout and filler(40, planted_at=20) not in chosen.stdout


# -- the API ---------------------------------------------------------------------------------


@pytest.fixture
def host(demo_host: ModelHost) -> ModelHost:
    """The session's demo host (tests/conftest.py)."""
    return demo_host


def _file_part(name: str, data: bytes) -> dict:
    encoded = base64.b64encode(data).decode()
    return {"type": "file", "file": {"filename": name, "file_data": encoded}}


def test_an_api_file_part_that_does_not_fit_is_retrieved_and_saved_apart(host, tmp_path):
    text = filler(3000)
    content = [_file_part("contract.txt", text.encode()), {"type": "text", "text": QUESTION}]
    with Store(tmp_path / "api.db") as store:
        server = ApiServer(
            create_app(host, ApiOptions(saver=ApiSaver(store))),
            "127.0.0.1",
            find_free_port("127.0.0.1", worker_port(18380)),
        )
        server.start()
        try:
            client = openai.OpenAI(base_url=server.url + "v1", api_key="none", max_retries=0)
            reply = client.chat.completions.create(
                model=host.model_id,
                messages=[{"role": "user", "content": content}],
                max_tokens=8,
                extra_body={"thinking_budget": 0},
            )
            ollama = httpx.post(
                server.url + "api/chat",
                json={
                    "model": host.model_id,
                    "messages": [{"role": "user", "content": content}],
                    "stream": False,
                    "think": False,
                    "options": {"num_predict": 4},
                },
                timeout=300,
            )
        finally:
            server.close()
        notices = reply.choices[0].message.model_extra["seedchat_notices"]
        said, footer = [n for n in notices if n["kind"] != "info"]  # info: the model's own
        assert said["kind"] == "context" and "using retrieval" in said["text"]
        assert said["text"].startswith("contract.txt does not fit in 4,096 tokens")
        assert footer["kind"] == "retrieval"
        (label,) = footer["passages"]
        first, last = (int(n) for n in label.split("lines ")[1].split("–"))
        assert first <= PLANTED_AT + 1 <= last  # the passage holding the planted sentence
        assert footer["text"].endswith("the whole document was not read.")
        assert ollama.status_code == 200, ollama.text
        kinds = [n["kind"] for n in ollama.json()["message"]["seedchat_notices"]]
        assert kinds[:2] == ["context", "retrieval"]
        # saved: the question's text, the file apart as its attachment (as --file saves it)
        summaries = store.list_conversations()
        assert len(summaries) == 2  # one from each route
        for summary in summaries:
            question, answer = store.get_conversation(summary.id).messages
            assert question.content == QUESTION
            assert [(a.name, a.text) for a in question.attachments] == [("contract.txt", text)]
            assert [n["kind"] for n in answer.notices][:2] == ["context", "retrieval"]


def test_api_passages_match_the_requests_last_question_too(host):
    """A file sent with a first question, then asked about again later in the same request:
    the passages match both questions, not only the one the file came with."""
    doc = read_document(with_second(filler(3000)).encode(), "contract.txt")
    messages = [
        Message("user", attach(QUESTION, [doc]), attachments=(doc,)),
        Message("assistant", "AZURE-7."),
        Message("user", FOLLOW_UP),
    ]
    options = GenerationOptions(budget=0, max_tokens=8)
    fitted, notices = fit_request(host.engine, messages, options)
    assert [m.content for m in fitted[1:]] == ["AZURE-7.", FOLLOW_UP]
    assert PLANTED in fitted[0].content and SECOND in fitted[0].content
    assert fitted[0].content.endswith("\n" + QUESTION) and len(fitted[0].content) < 20_000
    assert notices[-1].text.startswith("Answered from 2 passages of contract.txt (lines ")


def test_api_files_in_two_messages_both_go_as_passages(host):
    """A client sends the whole conversation each time: a file with the first question and
    another with the last. Both go as passages (the earlier one's said), and the prompt fits
    without leaving the first turn out."""
    first = read_document(filler(3000).encode(), "contract.txt")
    second = read_document(with_second(filler(2000, planted_at=None), at=900).encode(), "lease.txt")
    messages = [
        Message("user", attach(QUESTION, [first]), attachments=(first,)),
        Message("assistant", "AZURE-7."),
        Message("user", attach(FOLLOW_UP, [second]), attachments=(second,)),
    ]
    options = GenerationOptions(budget=0, max_tokens=8)
    fitted, notices = fit_request(host.engine, messages, options)
    assert PLANTED in fitted[0].content and fitted[0].content.endswith("\n" + QUESTION)
    assert SECOND in fitted[2].content and fitted[2].content.endswith("\n" + FOLLOW_UP)
    assert fitted[1].content == "AZURE-7."
    assert count_prompt(host.engine, fitted, options) <= host.engine.n_ctx
    said = [n.text for n in notices]
    assert said[0].startswith("lease.txt does not fit in 4,096 tokens")
    assert said[1].startswith("contract.txt (attached to an earlier question) no longer fits")
    assert said[2].startswith("Answered from 1 passage of lease.txt (lines ")
    first_line, last_line = (int(n) for n in said[2].split("lines ")[1].split(")")[0].split("–"))
    assert first_line <= 901 <= last_line  # the passage holding the planted sentence


def test_a_prompt_counted_again_is_not_tokenized_again(host, monkeypatch):
    """The meter, the send's checks and the terminal count one prompt several times: a long
    document is tokenized once; another prompt, or another loaded model, is counted anew."""
    engine = host.engine
    calls: list[int] = []
    tokenize = engine.tokenize
    monkeypatch.setattr(
        engine,
        "tokenize",
        lambda text, parse_special=True: calls.append(1) or tokenize(text, parse_special),
    )
    doc = read_document(filler(300).encode(), "contract.txt")
    options = GenerationOptions(budget=0, max_tokens=8)
    ask = [Message("user", attach(QUESTION, [doc]), attachments=(doc,))]
    first = count_prompt(engine, ask, options)
    counted = len(calls)
    assert counted > 0 and count_prompt(engine, ask, options) == first and len(calls) == counted
    other = [Message("user", attach(FOLLOW_UP, [doc]), attachments=(doc,))]
    assert count_prompt(engine, other, options) != first and len(calls) > counted
    # the same prompt on another loaded model (here the same file): counted again
    load = LoadOptions(n_gpu_layers=0, context_length=4096, kv_cache_disk_gb=0)
    with Engine.load(demo_model(), load) as again:
        again_calls: list[int] = []
        again_tokenize = again.tokenize
        monkeypatch.setattr(
            again,
            "tokenize",
            lambda text, parse_special=True: (
                again_calls.append(1) or again_tokenize(text, parse_special)
            ),
        )
        assert count_prompt(again, ask, options) == first and again_calls


def test_a_reopened_question_regenerated_or_edited_goes_as_passages(host):
    """Reopened (no passages saved), a question whose file does not fit is regenerated and
    edited from the passages matching it, not refused as too long."""
    doc = read_document(with_second(filler(3000)).encode(), "contract.txt")
    turns = [Turn("user", QUESTION, attachments=(doc,)), Turn("assistant", "AZURE-7.")]
    session = ChatSession(host, None, ChatSettings(budget=0, max_tokens=8), turns)
    events = list(session.regenerate())
    said = [e.text for e in events if isinstance(e, Notice)]
    assert said[0].startswith("Answered from 1 passage of contract.txt (lines ")
    assert not [text for text in said if "left out" in text or "no longer fits" in text]
    prompt = host.engine._last_reply.head
    assert PLANTED in prompt and SECOND not in prompt and prompt.count(QUESTION) == 1
    list(session.edit_last(FOLLOW_UP))  # the edited question keeps its file
    prompt = host.engine._last_reply.head
    assert SECOND in prompt and QUESTION not in prompt and prompt.count(FOLLOW_UP) == 1


def test_an_api_file_part_that_fits_goes_whole_and_is_saved_apart(host, tmp_path):
    text = "The meeting moved to Thursday.\n"
    content = [{"type": "text", "text": "When is the meeting?"}, _file_part("n.md", text.encode())]
    with Store(tmp_path / "api.db") as store:
        server = ApiServer(
            create_app(host, ApiOptions(saver=ApiSaver(store))),
            "127.0.0.1",
            find_free_port("127.0.0.1", worker_port(18390)),
        )
        server.start()
        try:
            client = openai.OpenAI(base_url=server.url + "v1", api_key="none", max_retries=0)
            messages = [{"role": "user", "content": content}]
            for follow_up in ("Where?", None):  # then continued, not doubled
                reply = client.chat.completions.create(
                    model=host.model_id,
                    messages=messages,
                    max_tokens=4,
                    extra_body={"thinking_budget": 0},
                )
                said = reply.choices[0].message.content or ""
                messages += [
                    {"role": "assistant", "content": said},
                    {"role": "user", "content": follow_up},
                ]
        finally:
            server.close()
        notices = (reply.choices[0].message.model_extra or {}).get("seedchat_notices", [])
        assert not [n for n in notices if n["kind"] in ("context", "retrieval")]
        (summary,) = store.list_conversations()
        saved = store.get_conversation(summary.id).messages
        assert [m.role for m in saved] == ["user", "assistant", "user", "assistant"]
        question = saved[0]
        assert question.content == "When is the meeting?"
        assert saved[2].content == "Where?" and saved[2].attachments == []
        assert [(a.name, a.kind, a.text) for a in question.attachments] == [
            ("n.md", "markdown", text)
        ]


def test_history_show_lists_an_api_attachment(tmp_path, cli_env, seedchat_home: Path):
    with Store() as store:
        saver = ApiSaver(store)
        from seedchat.seed.tool_calls import prompt_messages
        from seedchat.settings import ChatSettings

        part = _file_part("n.md", b"The meeting moved to Thursday.\n")
        messages = prompt_messages(
            [{"role": "user", "content": [part, {"type": "text", "text": "When?"}]}]
        )
        recording = saver.start(messages, ChatSettings(), "demo")
        recording.finish("complete")
        conv_id = store.list_conversations()[0].id
    shown = subprocess.run(
        [sys.executable, "-m", "seedchat", "history", "show", conv_id[:8]],
        capture_output=True,
        env=cli_env,
        timeout=120,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "📎 n.md" in shown.stdout and "When?" in shown.stdout
    assert "[file: n.md]" not in shown.stdout


def test_the_interactive_chat_retrieves_rather_than_loading_again(tmp_path, cli_env):
    """A file that a longer context would hold: the one-shot chat loads it, the interactive
    chat (the model is the user's to keep as loaded) uses retrieval."""
    path = tmp_path / "contract.txt"
    path.write_text(filler(90, planted_at=50))  # ~4,500 tokens: beyond 4,096, within 8,192
    one_shot = _chat(
        cli_env,
        "--context",
        "4096",
        "--max-tokens",
        "512",
        "--file",
        str(path),
        "--show-prompt",
        QUESTION,
    )
    assert "loading with 8,192 tokens (KV f16)" in " ".join(one_shot.stderr.split())
    assert "[file: contract.txt]\n" in one_shot.stdout
    command = [sys.executable, "-m", "seedchat", "chat", "-m", str(demo_model())]
    chat = subprocess.run(
        [*command, "--context", "4096", "-b", "0", "--max-tokens", "4", "--file", str(path)],
        input=QUESTION + "\n\n",
        capture_output=True,
        env=cli_env,
        timeout=300,
        text=True,
    )
    said = " ".join(chat.stderr.split())
    assert chat.returncode == 0, said
    assert "contract.txt does not fit in 4,096 tokens" in said and "loading with" not in said
    assert "using retrieval: 1 passage of contract.txt (lines " in said
    assert "Answered from 1 passage of contract.txt" in chat.stdout


def test_retrieval_is_turned_on_in_the_interactive_chat(tmp_path, cli_env):
    path = tmp_path / "notes.txt"
    path.write_text(filler(40, planted_at=20))
    command = [sys.executable, "-m", "seedchat", "chat", "-m", str(demo_model()), "--no-save"]
    chat = subprocess.run(
        [*command, "-b", "0", "--max-tokens", "4"],
        input=f"/file {path}\n/retrieval\n{QUESTION}\n\n",
        capture_output=True,
        env=cli_env,
        timeout=300,
        text=True,
    )
    said = " ".join(chat.stderr.split())
    assert chat.returncode == 0, said
    assert "retrieval on: files go with a question as passages that match it" in said
    assert "using retrieval (turned on): 1 passage of notes.txt" in said
    assert "Answered from 1 passage of notes.txt" in chat.stdout


def test_a_reopened_conversation_retrieves_its_earlier_file_for_both_questions(tmp_path, cli_env):
    """Which passages answered an earlier question is not saved: reopened, its file goes
    back as the passages matching that question and the new one (not whole, which would
    push the earlier turns out of the context)."""
    text = with_second(filler(3000))
    path = tmp_path / "contract.txt"
    path.write_text(text)
    first = ["--context", "4096", "-b", "0", "--max-tokens", "8"]
    _chat(cli_env, *first, "--file", str(path), QUESTION)
    shown = _chat(cli_env, "--context", "4096", "-c", "--show-prompt", FOLLOW_UP)
    prompt = shown.stdout
    assert prompt.count(QUESTION) == 1 and prompt.count(FOLLOW_UP) == 1  # both turns
    assert PLANTED in prompt and SECOND in prompt  # passages for each question
    assert prompt.count("[file: contract.txt, ") == 1
    assert "(the whole file was not read)]" in prompt and text not in prompt
    answered = _chat(cli_env, *first, "-c", FOLLOW_UP)
    said = " ".join((answered.stdout + answered.stderr).split())
    assert (
        "contract.txt (attached to an earlier question) no longer fits whole beside this "
        "one; using 2 passages of contract.txt (lines " in said
    )
    assert "matching both questions." in said and "left out" not in said
