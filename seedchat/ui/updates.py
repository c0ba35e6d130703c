"""Gradio updates shared by the parts of the page."""

from __future__ import annotations

from typing import Any

import gradio as gr


def error_update(err: BaseException | str | None) -> Any:
    """The page's error box: hidden when ``err`` is empty, else "**Error:** …"."""
    if not err:
        return gr.update(value="", visible=False)
    return gr.update(value=f"**Error:** {err}", visible=True)
