"""A 100,000-token file reaches the prompt whole: a generated Seed-OSS-shaped model trained
for a 131,072-token context, its real tokenizer on the real llama.cpp (CPU)."""

from __future__ import annotations

import subprocess
import sys

from contract_text import contract_lines
from tiny_checkpoints import LONG_CONTEXT

from seedchat.documents.read import attach, read_document
from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.seed.template import Message

TRAINED = LONG_CONTEXT
DOC_TOKENS = 100_000


def document_text(engine: Engine, tokens: int) -> tuple[str, int]:
    """Lines of words, the fewest whose tokens reach ``tokens``; the text and its count."""
    lines = contract_lines(tokens // 10)
    lo, hi = 1, len(lines)
    while lo < hi:  # the fewest lines with at least ``tokens`` tokens
        mid = (lo + hi) // 2
        if len(engine.tokenize("".join(lines[:mid]), parse_special=False)) >= tokens:
            hi = mid
        else:
            lo = mid + 1
    text = "".join(lines[:lo])
    return text, len(engine.tokenize(text, parse_special=False))


def test_a_100000_token_file_reaches_the_prompt_whole(long_model, tmp_path, cli_env):
    options = LoadOptions(context_length=TRAINED, threads=2)
    with Engine.load(long_model, options) as engine:
        text, count = document_text(engine, DOC_TOKENS)
        assert DOC_TOKENS <= count < DOC_TOKENS + 40
        path = tmp_path / "contract.txt"
        path.write_bytes(text.encode("utf-8"))
        doc = read_document(path)
        assert doc.text == text
        question = attach("Which clause sets the notice period?", [doc])
        prompt, rendered, dropped = engine._prompt(
            [Message("user", question)], GenerationOptions(max_tokens=256)
        )
        assert dropped == []  # no message left out
        # every one of the file's tokens, in order, in one run inside the prompt
        doc_tokens = engine.tokenize(text, parse_special=False)
        start = next(i for i in range(len(prompt)) if prompt[i : i + 64] == doc_tokens[:64])
        assert prompt[start : start + count] == doc_tokens
        # the rest is exactly the tokens of the same prompt without the file's text
        rest = engine.tokenize(rendered.replace(text, ""))
        assert len(prompt) == count + len(rest) and len(rest) < 100
        expected = engine.render([Message("user", question)], GenerationOptions())
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "seedchat",
            "chat",
            "-m",
            str(long_model),
            "--context",
            str(TRAINED),
            "--file",
            str(path),
            "--show-prompt",
            "Which clause sets the notice period?",
        ],
        capture_output=True,
        env=cli_env,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr.decode(errors="replace")
    assert shown.stdout == expected.encode("utf-8") == rendered.encode("utf-8")
    assert text.encode("utf-8") in shown.stdout  # the file's bytes, byte for byte


def test_one_shot_chat_loads_a_longer_context_for_a_file_that_needs_it(
    long_model, tmp_path, cli_env
):
    """A 20,000-token file and a model loaded with 4,096: the planner's plan that fits (the
    model is trained for 131,072) loads it again with 32,768, and the file goes in whole."""
    question = "Which clause sets the notice period?"
    with Engine.load(long_model, LoadOptions(context_length=4096, threads=2)) as engine:
        text, _count = document_text(engine, 20_000)
        path = tmp_path / "contract.txt"
        path.write_bytes(text.encode("utf-8"))
        message = Message("user", attach(question, [read_document(path)]))
        expected = engine.render([message], GenerationOptions())
    shown = subprocess.run(
        [
            *(sys.executable, "-m", "seedchat", "chat", "-m", str(long_model)),
            *("--context", "4096", "--file", str(path), "--show-prompt", question),
        ],
        capture_output=True,
        env=cli_env,
        timeout=300,
    )
    said = " ".join(shown.stderr.decode(errors="replace").split())
    assert shown.returncode == 0, said
    assert "contract.txt does not fit in 4,096 tokens" in said
    assert "loading with 32,768 tokens (KV f16)" in said and "retrieval" not in said
    assert shown.stdout == expected.encode("utf-8")  # the whole file, as a longer context holds it
