"""seedchat.ui.skips: an update answers the outputs it leaves alone without gradio building
a component for each, and answers exactly what gradio would."""

from __future__ import annotations

import asyncio
import logging
import types

import gradio as gr
import pytest
from gradio.state_holder import SessionState

from seedchat.ui.skips import light_skips

REPLY = [{"role": "assistant", "content": "A fox learns to sail. " * 40}]


def _page() -> tuple[gr.Blocks, dict]:
    """A page shaped like the chat's send: the chat, two states, three Markdowns, a Radio,
    a message box; one event writes them all, one writes the chat alone."""
    with gr.Blocks() as page:
        parts = {
            "chat": gr.Chatbot(),
            "turns": gr.State([]),
            "stats": gr.Markdown("before"),
            "error": gr.Markdown(visible=False),
            "status": gr.Markdown("Ready"),
            "thread": gr.State(None),
            "listing": gr.Radio(choices=[("First", "1"), ("Second", "2")], value="1"),
            "message": gr.MultimodalTextbox(),
        }
        go = gr.Button("go")
        go.click(lambda: None, None, list(parts.values()))
        go.click(lambda: None, None, [parts["chat"]])
    page.config = page.get_config_file()
    return page, parts


def _updates(parts: dict) -> list:
    """What the chat's handlers return: a streamed update (the chat alone), one with a
    change of another output, a state's value, a list with ``gr.update()`` and
    ``gr.skip()``, everything left alone."""
    order = list(parts.values())
    return [
        {parts["chat"]: REPLY},
        {parts["chat"]: REPLY, parts["stats"]: "400 tokens · 110 tok/s"},
        {parts["chat"]: REPLY, parts["thread"]: {"id": 7}, parts["error"]: gr.update(visible=True)},
        [
            REPLY,
            gr.skip(),
            gr.update(),
            gr.update(value="**Error:** x"),
            gr.skip(),
            3,
            gr.update(),
            gr.update(value={"text": "", "files": []}),
        ],
        {parts["listing"]: gr.update(choices=[("Third", "3")], value="3")},
        [gr.skip()] * len(order),
    ]


def _answers(page: gr.Blocks, fn_index: int, updates: list) -> tuple[list, SessionState]:
    state = SessionState(page)
    fn = list(page.fns.values())[fn_index]
    answers = [asyncio.run(page.postprocess_data(fn, update, state)) for update in updates]
    return answers, state


def test_every_update_answers_what_gradio_answers():
    page, parts = _page()
    expected, gradio_state = _answers(page, 0, _updates(parts))
    light_skips(page)
    got, state = _answers(page, 0, _updates(parts))  # anew: gradio pops an update's value
    assert got == expected
    for block in parts.values():  # what the session holds afterwards: the same values
        if block.stateful:
            assert state[block._id] == gradio_state[block._id]
    listing = parts["listing"]._id
    assert state[listing].choices == gradio_state[listing].choices == [("Third", "3")]


def test_an_output_left_alone_builds_no_component(monkeypatch):
    """The measured cost: gradio rebuilt the three Markdowns, the Radio and the message box
    for every streamed update of the chat."""
    page, parts = _page()
    built: list[str] = []
    for kind in (gr.Markdown, gr.Radio, gr.MultimodalTextbox):
        init = kind.__init__

        def counted(self, *args, _init=init, _kind=kind, **kwargs):
            built.append(_kind.__name__)
            _init(self, *args, **kwargs)

        monkeypatch.setattr(kind, "__init__", counted)
    stream = [{parts["chat"]: REPLY}] * 3
    _answers(page, 0, stream)
    assert len(built) == 3 * 5  # gradio's own path: five components a streamed update
    built.clear()
    light_skips(page)
    light_skips(page)  # a second call changes nothing
    answers, _ = _answers(page, 0, stream)
    assert built == []
    assert answers[0][0] is not None and answers[0][2:] == [
        {"__type__": "update"},
        {"__type__": "update"},
        {"__type__": "update"},
        None,
        {"__type__": "update"},
        {"__type__": "update"},
    ]
    _answers(page, 0, [{parts["chat"]: REPLY, parts["stats"]: gr.update(value="done")}])
    assert built == ["Markdown"]  # an update with properties still goes through gradio


def test_what_gradio_rejects_it_still_rejects_with_its_own_message():
    page, _parts = _page()
    light_skips(page)
    fn = next(iter(page.fns.values()))
    with pytest.raises(ValueError, match="return enough output values"):
        asyncio.run(page.postprocess_data(fn, [REPLY, gr.skip()], SessionState(page)))
    single = list(page.fns.values())[1]  # one output: gradio's own path, unchanged
    answer = asyncio.run(page.postprocess_data(single, REPLY, SessionState(page)))
    assert len(answer) == 1 and answer[0] is not None


def test_a_gradio_whose_postprocessing_changed_is_left_as_it_is(caplog):
    async def postprocess_data(block_fn, outputs):  # another release's arguments
        return outputs

    page = types.SimpleNamespace(postprocess_data=postprocess_data)
    with caplog.at_level(logging.WARNING, logger="seedchat.ui.skips"):
        light_skips(page)
    assert page.postprocess_data is postprocess_data
    assert "postprocess_data has changed" in caplog.text
