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
#chatbot img[alt="tool image"] { max-width: min(100%, 320px); max-height: 320px; }
#chatbot .outside-image { display: inline-block; padding: 0.05em 0.5em; font-size: 0.85em;
  border: 1px dashed var(--border-color-primary); border-radius: 6px; opacity: 0.85; }
#chatbot a[href^="#tool-"] { display: inline-block; padding: 0.1em 0.7em; margin: 0 0.15em;
  border: 1px solid var(--color-accent); border-radius: 6px; text-decoration: none; }
#budget-help { font-size: 0.85rem; opacity: 0.8; }
#context-meter { font-size: 0.85rem; opacity: 0.8; min-height: 1.2em; }
#chatbot .file-chip { display: inline-block; padding: 0.1em 0.6em; margin: 0 0.3em 0.3em 0;
  border: 1px solid var(--border-color-primary); border-radius: 1em; font-size: 0.85em; }
/* Unlimited: the slider reads "Budget: unlimited", with no number and no position */
#budget.unlimited .tab-like-container, #budget.unlimited .slider_input_container { display: none; }
/* Nothing animates while a reply streams: an endless animation makes the browser draw
   every frame, and on a small machine that takes a core from the model */
#chatbot .loading-spinner, .wrap.generating { animation: none !important; }

/* A phone (390 x 844 and the like): one column, the drawers above and below the chat,
   nothing wider than the screen, controls big enough for a thumb */
@media (max-width: 700px) {
  #chat-row { flex-direction: column !important; gap: 8px !important; }
  #chat-row > .column { min-width: 0 !important; width: 100% !important; flex: none !important; }
  #chat-column { order: 1; }
  #sidebar { order: 0; }
  #settings-column { order: 2; }
  #chatbot { height: 56vh !important; max-height: 56vh !important; }
  #seedchat-header { flex-wrap: wrap !important; gap: 4px !important; }
  #seedchat-header > * { min-width: 0 !important; }
  #seedchat-header h1 { font-size: 1.15rem; }
  #chatbot pre, #chatbot table { max-width: 100%; overflow-x: auto; }
  #chatbot .message-wrap, #chatbot .message { max-width: 100% !important; min-width: 0; }
  /* the message on a line of its own, Send and Stop side by side under it */
  .row:has(> #send) { flex-wrap: wrap !important; gap: 6px !important; }
  .row:has(> #send) > .form:has(#message) { flex: 1 1 100% !important; }
  .row:has(> #send) > #send, .row:has(> #send) > #stop {
    flex: 1 1 40% !important; min-width: 0 !important; min-height: 44px; }
  /* the first-run offers: the model's words above its buttons */
  .first-run-model { flex-wrap: wrap !important; }
  .first-run-model > * { flex: 1 1 100% !important; min-width: 0 !important; }
  .tab-wrapper, .tab-container { overflow-x: auto; }
}
"""

# Runs once the page is up: on a narrow screen the conversations and the settings drawers
# start closed (a click on their label opens them); a wide one keeps them open beside the chat.
DRAWERS_JS = """
() => {
  if (!window.matchMedia('(max-width: 700px)').matches) return;
  for (const id of ['conversations-drawer', 'settings-drawer']) {
    const label = document.querySelector('#' + id + ' > button.label-wrap');
    if (label && label.classList.contains('open')) label.click();
  }
}
"""

# gradio scopes CSS= to the app's content; the page's own padding is set from the head
HEAD = (
    '<meta name="referrer" content="no-referrer">'
    "<style>@media (max-width: 700px) { .gradio-container > .main.app "
    "{ padding: 8px 8px !important; } }</style>"
)


def theme() -> Any:
    import gradio as gr

    return gr.themes.Soft(
        primary_hue="teal",
        neutral_hue="slate",
        font=SANS,
        font_mono=MONO,
    )
