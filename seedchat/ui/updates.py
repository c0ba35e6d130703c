"""What the parts of the page share: the error box's update, the tab a request came from."""

from __future__ import annotations

from typing import Any

import gradio as gr


def error_update(err: BaseException | str | None) -> Any:
    """The page's error box: hidden when ``err`` is empty, else "**Error:** …"."""
    if not err:
        return gr.update(value="", visible=False)
    return gr.update(value=f"**Error:** {err}", visible=True)


def tab_key(request: gr.Request) -> str:
    """The browser tab a request came from (gradio's session): a tab's turn, its Stop, its
    approvals and its cancels are keyed by it."""
    return request.session_hash or ""
