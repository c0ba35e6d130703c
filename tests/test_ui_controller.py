"""ui/controller.py without a browser: which model loads first, load errors, no model."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from seedchat.errors import EngineError, ModelFileError
from seedchat.models import demo_model
from seedchat.settings import load_settings
from seedchat.ui.controller import ChatSettings, ModelHost, initial_model


def test_initial_model_is_the_last_used_else_the_demo(tmp_path: Path):
    settings = load_settings()
    assert initial_model(settings) == demo_model()
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    settings.set("model", str(model))
    assert initial_model(settings) == model
    model.unlink()  # a last model that was deleted falls back to the demo
    assert initial_model(settings) == demo_model()


def test_chat_settings_build_the_engine_conversation():
    chat = ChatSettings(system_prompt="  Be brief.  ")
    turns = [{"role": "user", "content": "hi", "extra": 1}]
    assert chat.messages(turns) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert ChatSettings().messages(turns) == [{"role": "user", "content": "hi"}]


def test_a_bad_file_leaves_no_model_and_an_error(tmp_path: Path):
    host = ModelHost(load_settings())
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 40)  # the magic, then garbage
    with pytest.raises(ModelFileError):
        host.load(bad)
    assert host.engine is None and host.info is None
    assert "bad.gguf" in host.error
    assert host.status() == "○ No model loaded (load failed)"
    assert load_settings().get("model") is None  # a failed load is not remembered
    with pytest.raises(EngineError, match=r"No model is loaded \(bad\.gguf"):
        list(host.generate("tab", [{"role": "user", "content": "hi"}], ChatSettings()))


def test_no_model_at_all_says_what_to_do():
    host = ModelHost(load_settings())
    host.load_in_background(None)
    assert host.wait_loaded(5)
    with pytest.raises(EngineError) as info:
        list(host.generate("tab", [{"role": "user", "content": "hi"}], ChatSettings()))
    assert "Models tab" in str(info.value)


@pytest.fixture(scope="module")
def demo_host():
    host = ModelHost(load_settings())
    host.load(demo_model(), remember=False, n_gpu_layers=0)
    yield host
    host.unload()


def test_the_model_keeps_decoding_while_the_page_is_slow(demo_host):
    """A page that takes long to draw an update never holds the model up: the whole
    reply arrives in the next batch, and every event is handed on exactly once."""
    from seedchat.events import Done
    from seedchat.ui.controller import EventPump

    seen = []
    chat = ChatSettings(budget=512, max_tokens=300)
    pump = EventPump(demo_host, "tab", [{"role": "user", "content": "What is 12 plus 30?"}], chat,
                     on_event=seen.append)  # fmt: skip
    batches = []
    for batch in pump.batches():
        batches.append(batch)
        if len(batches) == 1:
            time.sleep(1.0)  # drawing the first update takes a second
    pump.close()
    events = [e for b in batches for e in b]
    assert events == seen  # the recorder and the page got the same events, in order
    assert isinstance(events[-1], Done) and events[-1].finish_reason in ("stop", "length")
    # the model finished during the page's second: the rest came as one more batch
    assert len(batches) == 2, [len(b) for b in batches]
    assert len(batches[1]) > 10 and isinstance(batches[1][-1], Done)
    assert not demo_host.busy


def test_closing_the_pump_stops_the_model(demo_host):
    from seedchat.events import Done
    from seedchat.ui.controller import EventPump

    chat = ChatSettings(budget=-1, max_tokens=4000)
    pump = EventPump(demo_host, "tab2", [{"role": "user", "content": "Count to 1000."}], chat)
    first = next(pump.batches())
    assert first
    started = time.perf_counter()
    pump.close()  # as when the page goes away mid-reply
    assert time.perf_counter() - started < 5
    assert not demo_host.busy
    # the engine is usable again at once
    done = [e for e in demo_host.generate("tab2", [{"role": "user", "content": "Hi"}],
                                          ChatSettings(budget=0, max_tokens=8))
            if isinstance(e, Done)]  # fmt: skip
    assert done and done[0].finish_reason in ("stop", "length")
