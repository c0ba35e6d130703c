"""The look of the app: a gradio theme with local system fonts only, and a little CSS.

Gradio's default theme loads its fonts from Google; this one names only fonts that
are already on the machine, so the page makes no outside request.
"""

from __future__ import annotations

from typing import Any

SANS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]

CSS = """
#seedchat-header { align-items: center; }
#seedchat-header h1 { margin: 0; font-size: 1.35rem; }
#model-status { font-size: 0.9rem; opacity: 0.85; }
#turn-stats { font-size: 0.85rem; opacity: 0.75; min-height: 1.4em; }
#chatbot blockquote { border-left: 3px solid var(--color-accent); margin: 0.4em 0;
  padding: 0.1em 0.6em; font-size: 0.88em; opacity: 0.9; }
#error-box, #error-box * { color: #b91c1c !important; }
#budget-help { font-size: 0.85rem; opacity: 0.8; }
/* Unlimited: the slider reads "Budget: unlimited", with no number and no position */
#budget.unlimited .tab-like-container, #budget.unlimited .slider_input_container { display: none; }
"""

HEAD = '<meta name="referrer" content="no-referrer">'


def theme() -> Any:
    import gradio as gr

    return gr.themes.Soft(
        primary_hue="teal",
        neutral_hue="slate",
        font=SANS,
        font_mono=MONO,
    )
