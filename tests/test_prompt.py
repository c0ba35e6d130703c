from pathlib import Path

import jinja2
import pytest

from seedchat.errors import EngineError
from seedchat.prompt import ChatTemplate, Message

REPO = Path(__file__).resolve().parents[1]
DEMO_TEMPLATE = (REPO / "seedchat" / "data" / "templates" / "seed-oss.jinja").read_text()


def render(budget: int, messages: list[Message] | None = None) -> str:
    msgs = messages or [Message("user", "What is 2 + 2?")]
    return ChatTemplate(DEMO_TEMPLATE).render(msgs, thinking_budget=budget)


def test_seed_chat_format():
    text = render(-1, [Message("system", "Be brief."), Message("user", "Hi")])
    assert (
        text
        == "<seed:bos>system\nBe brief.<seed:eos><seed:bos>user\nHi<seed:eos><seed:bos>assistant\n"
    )


def test_budget_instructions_follow_the_documented_intervals():
    for budget, interval in (
        (512, 128),
        (1024, 256),
        (2048, 512),
        (4096, 512),
        (8192, 1024),
        (16384, 1024),
    ):
        text = render(budget)
        assert f"thinking budget, which is {budget}." in text
        assert f"every {interval} tokens" in text
    assert "budget" not in render(-1)


def test_budget_zero_prefills_a_closed_think_block():
    text = render(0)
    assert "your thinking budget is 0" in text
    assert text.endswith(
        "<seed:bos>assistant\n<seed:think>\n<seed:cot_budget_reflect>The current thinking budget "
        "is 0, so I will directly start answering the question.</seed:cot_budget_reflect>\n</seed:think>"
    )


def test_earlier_thinking_goes_back_inside_think_tags():
    msgs = [
        Message("user", "a"),
        Message("assistant", "b ", thinking=" why "),
        Message("user", "c"),
    ]
    assert "<seed:bos>assistant\n<seed:think>why</seed:think>\nb<seed:eos>" in render(-1, msgs)


def test_demo_model_was_trained_on_the_engine_s_rendering():
    # HF-style trim_blocks/lstrip_blocks change this template's output: the build script
    # must render prompts exactly as the engine does, or the demo learns the wrong prompt.
    import importlib.util

    spec = importlib.util.spec_from_file_location("build", REPO / "packaging/demo_model/build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    msgs = [Message("user", "x")]
    for budget in (-1, 0, 512, 1024):
        assert build.render(DEMO_TEMPLATE, [m.to_template() for m in msgs], budget) == render(
            budget, msgs
        )
    plain = (
        jinja2.Environment()
        .from_string(DEMO_TEMPLATE)
        .render(
            messages=[m.to_template() for m in msgs],
            add_generation_prompt=True,
            thinking_budget=512,
        )
    )
    assert plain != render(512, msgs)  # the difference the test above guards against


def test_sandbox_and_helpers():
    t = ChatTemplate("{{ raise_exception('no tools here') }}")
    with pytest.raises(EngineError, match="no tools here"):
        t.render([Message("user", "x")])
    t = ChatTemplate("{{ messages[0].content.__class__.__mro__ }}")
    with pytest.raises(EngineError):
        t.render([Message("user", "x")])
    assert ChatTemplate("{{ {'a': '中'} | tojson }}").render([]) == '{"a": "中"}'
    assert len(ChatTemplate("{{ strftime_now('%Y') }}").render([])) == 4
