"""ui/controller.py without a browser: which model loads first, load errors, no model."""

from __future__ import annotations

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
