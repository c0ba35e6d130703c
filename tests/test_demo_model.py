"""The bundled demo model: a tiny real Seed-OSS GGUF that thinks with reflect lines.

Runs the shipped file through the real llama.cpp (llama-cpp-python), prompted with the
chat template embedded in the file, greedy decoding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from seedchat.models import DEMO_DIR, demo_model, read_gguf_info
from seedchat.seed.template import ChatTemplate, Message
from seedchat.seed.thinking import ThinkingParser

DEMO = DEMO_DIR / "seedchat-demo-seed-oss.gguf"
REFLECT = re.compile(
    r"<seed:cot_budget_reflect>I have used (\d+) tokens, and there are (\d+) tokens "
    r"remaining for use\.</seed:cot_budget_reflect>"
)
EXHAUSTED = (
    "<seed:cot_budget_reflect>I have exhausted my token budget, and now I will start "
    "answering the question.</seed:cot_budget_reflect>"
)
TAG = re.compile(r"</?seed:[a-z_]+>")


@pytest.fixture(scope="module")
def llm() -> Iterator[object]:
    import llama_cpp

    model = llama_cpp.Llama(str(DEMO), n_ctx=2048, n_threads=2, seed=0, verbose=False)
    yield model
    model.close()


def generate(llm, budget: int, question: str, limit: int = 1400) -> tuple[str, bool, list[str]]:
    """Greedy reply to ``question``: (text without the eos, whether eos ended it, pieces)."""
    template = ChatTemplate(llm.metadata["tokenizer.chat_template"])
    prompt = template.render([Message("user", question)], thinking_budget=budget)
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    pieces: list[str] = []
    out: list[int] = []
    for tok in llm.generate(tokens, temp=0.0, reset=True):
        if tok == llm.token_eos():
            return llm.detokenize(out, special=True).decode(), True, pieces
        out.append(tok)
        pieces.append(llm.detokenize([tok], special=True).decode("utf-8", "ignore"))
        if len(out) >= limit:
            break
    return llm.detokenize(out, special=True).decode(), False, pieces


def test_demo_file_is_a_small_seed_oss_gguf_with_its_template() -> None:
    assert DEMO.is_file()
    assert demo_model() == DEMO
    assert DEMO.stat().st_size <= 20 * 2**20
    info = read_gguf_info(DEMO, source="demo")
    assert info.ok, info.error
    assert info.architecture == "seed_oss"
    assert info.name is not None and "demo" in info.name.lower()
    assert info.has_chat_template
    assert "thinking_budget" in info.metadata["tokenizer.chat_template"]
    assert "demo" in info.display_name.lower() and "demo) (demo" not in info.display_name


def test_budget_512_thinks_with_reflect_lines_then_answers(llm) -> None:
    text, ended, pieces = generate(llm, 512, "What is 12 + 30?")
    assert ended, text[-200:]
    m = re.fullmatch(r"<seed:think>(.*?)</seed:think>(.*)", text, re.S)
    assert m, text[:200]
    thinking, answer = m.groups()
    reports = REFLECT.findall(thinking)
    assert reports, thinking
    for used, left in reports:  # the model's own estimates, as with the real model
        assert 0 < int(used) < 1024 and 0 <= int(left) <= 512
    assert not TAG.search(REFLECT.sub("", thinking).replace(EXHAUSTED, ""))
    assert answer.strip() and not TAG.search(answer)

    # the thinking is long enough for a UI's counter to move, and seedchat's own parser
    # reads the stream as thinking, reflect reports, the end of thinking and an answer
    parser = ThinkingParser()
    events = [e for piece in pieces for e in parser.feed(piece, tokens=1)]
    events += parser.finish()
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("Reflect") == len(reports) + (EXHAUSTED in thinking)
    assert "ThinkingEnd" in kinds and "AnswerDelta" in kinds
    assert kinds.index("ThinkingEnd") < kinds.index("AnswerDelta")
    end = next(e for e in events if type(e).__name__ == "ThinkingEnd")
    assert end.tokens >= 128


def test_budget_0_answers_without_thinking(llm) -> None:
    text, ended, _ = generate(llm, 0, "What is 3 + 4?")
    assert ended, text
    assert not TAG.search(text), text


def test_unlimited_budget_thinks_without_reflect_lines(llm) -> None:
    text, ended, _ = generate(llm, -1, "Hello!")
    assert ended, text[-200:]
    m = re.fullmatch(r"<seed:think>(.*?)</seed:think>(.*)", text, re.S)
    assert m, text[:200]
    thinking, answer = m.groups()
    assert thinking.strip()
    assert "cot_budget_reflect" not in thinking
    assert answer.strip() and not TAG.search(answer)


def test_budget_1024_reports_against_1024(llm) -> None:
    text, ended, _ = generate(llm, 1024, "Add 7 and 25.")
    assert ended, text[-200:]
    thinking, _, answer = text.partition("</seed:think>")
    reports = REFLECT.findall(thinking)
    assert reports
    assert all(0 < int(u) < 2048 and 0 <= int(r) <= 1024 for u, r in reports)
    assert answer.strip() and not TAG.search(answer)


def test_build_script_and_template_are_in_the_repo() -> None:
    here = Path(__file__).resolve().parents[1] / "packaging" / "demo_model"
    assert (here / "build.py").is_file()
    embedded = read_gguf_info(DEMO, source="demo").metadata["tokenizer.chat_template"]
    template = here.parents[1] / "seedchat" / "data" / "templates" / "seed-oss.jinja"
    assert embedded == template.read_text(encoding="utf-8")
