"""Loading a model with progress and cancel: llama.cpp's progress callback, through the
engine, the model host, the page's header line and ``seedchat chat``'s progress bar."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from seedchat.cli.chat import LoadBar
from seedchat.engine.host import ModelHost
from seedchat.engine.load_progress import LoadCancelled
from seedchat.engine.local import Engine, LoadOptions
from seedchat.models import demo_model
from seedchat.settings import Settings
from seedchat.ui.models_tab import status_markdown

OPTIONS = LoadOptions(context_length=1024, threads=2)


def test_progress_goes_from_zero_to_one():
    seen: list[float] = []
    with Engine.load(demo_model(), OPTIONS, progress=seen.append) as engine:
        assert engine.n_ctx >= 1024
    assert len(seen) >= 2 and seen == sorted(seen)
    assert 0.0 <= seen[0] < 1.0 and seen[-1] == 1.0


def test_a_cancelled_load_says_so_and_the_next_one_works():
    calls: list[float] = []

    def cancel(share: float) -> bool:
        calls.append(share)
        return False

    with pytest.raises(LoadCancelled, match="was cancelled") as caught:
        Engine.load(demo_model(), OPTIONS, progress=cancel)
    assert "damaged" not in str(caught.value) and caught.value.hint
    assert calls == [calls[0]]  # llama.cpp stopped at the first call
    with Engine.load(demo_model(), OPTIONS) as engine:  # nothing was left half-loaded
        assert engine.tokenize("hello")


def test_the_host_cancels_a_load_and_keeps_the_model_it_had():
    host = ModelHost(Settings())
    host.load(demo_model(), remember=False)
    first = host.engine
    lines: list[str] = []

    def watch(share: float) -> None:  # what the page's header shows meanwhile
        lines.append(status_markdown(host))
        host.cancel_load()

    with pytest.raises(LoadCancelled):
        host.load(demo_model(), remember=False, progress=watch)
    assert lines and "◌ Loading **seedchat-demo-seed-oss.gguf** ▱" in lines[0]
    assert lines[0].endswith("%")
    assert host.engine is first and host.loading is None and host.load_progress is None
    assert host.error is None and host.wait_loaded(1)
    assert not host.cancel_load()  # nothing loading now
    host.load(demo_model(), remember=False)  # a cancel does not stick to the next load
    assert host.engine is not first
    host.unload()


def test_seedchat_chat_shows_a_bar_on_a_slow_load():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with LoadBar("big.gguf", out=console) as bar:
        bar(0.1)  # the first second: no bar yet
        assert bar.bar is None
        bar.started -= 2  # as if two seconds went by
        bar(0.5)
        bar(1.0)
        assert bar.bar is not None
    assert "Loading big.gguf" in out.getvalue()
    quiet = LoadBar("big.gguf", out=Console(file=io.StringIO(), force_terminal=False))
    quiet.started -= 2
    quiet(0.5)  # not a terminal (a pipe, --json to a file): never a bar
    assert quiet.bar is None
