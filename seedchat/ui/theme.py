"""The look of the app: a gradio theme with local system fonts only, and a little CSS.

Gradio's default theme loads its fonts from Google; this one names only fonts that
are already on the machine, so the page makes no outside request. The page's own marks
(a file's chip, an outside image's link) are drawn as icons (:data:`ICONS`: SVG in
``data:`` addresses), not emoji: a machine without an emoji font would show an empty box.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

SANS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]

#: The page's icons, drawn in the text's colour (a CSS mask): the paperclip is the message
#: box's own upload button's (gradio's), the picture a frame with a hill and a sun.
ICONS = {
    "paperclip": (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1920 1920"><path fill-rule="evenodd" '
        'd="M1752.768 221.109C1532.646.986 1174.283.986 954.161 221.109l-838.588 838.588c-154.052 '
        "154.165-154.052 404.894 0 558.946 149.534 149.421 409.976 149.308 559.059 0l758.738-758.626"
        "c87.982-88.094 87.982-231.417 0-319.51-88.32-88.208-231.642-87.982-319.51 0l-638.796 "
        "638.908 79.85 79.849 638.795-638.908c43.934-43.821 115.539-43.934 159.812 0 43.934 44.047 "
        "43.934 115.877 0 159.812l-758.739 758.625c-110.23 110.118-289.355 110.005-399.36 0-110.118"
        "-110.117-110.005-289.242 0-399.247l838.588-838.588c175.963-175.962 462.382-176.188 638.909 "
        "0 176.075 176.188 176.075 462.833 0 638.908l-798.607 798.72 79.849 79.85 798.607-798.72"
        'c220.01-220.123 220.01-578.485 0-798.607"/></svg>'
    ),
    "picture": (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
        '<rect x="1.5" y="2.5" width="13" height="11" rx="1.5" fill="none" stroke="#000"/>'
        '<path d="M3 12l3.5-4 2.5 2.5 1.5-1.5 2.5 3z"/><circle cx="11" cy="5.5" r="1.3"/></svg>'
    ),
}


def icon_url(name: str) -> str:
    """The CSS ``url()`` of one of :data:`ICONS` (allowed by the page's CSP: ``data:``)."""
    return f'url("data:image/svg+xml,{quote(ICONS[name])}")'


CSS = (
    """
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
/* the marks before a file's chip and an outside image's link: icons, not emoji */
#chatbot .file-chip::before, #chatbot .outside-image::before { content: ""; display: inline-block;
  width: 1em; height: 1em; margin-right: 0.35em; vertical-align: -0.15em;
  background-color: currentColor; -webkit-mask: var(--seedchat-icon) center / contain no-repeat;
  mask: var(--seedchat-icon) center / contain no-repeat; }
#chatbot .file-chip { --seedchat-icon: """
    + icon_url("paperclip")
    + """; }
#chatbot .outside-image { --seedchat-icon: """
    + icon_url("picture")
    + """; }
#first-run-offers > button.label-wrap { font-weight: bold; text-align: left; }
/* the first-run panel's progress and buttons take no room until a download starts */
#first-run-progress:has(.prose:empty), #first-run > .row:not(:has(*)) { display: none !important; }
/* the message box spans the chat column; Send and Stop stay compact beside it */
.row:has(> #send) > .form:has(#message) { flex: 1 1 auto !important; min-width: 0 !important; }
.row:has(> #send) > #send, .row:has(> #send) > #stop {
  flex: 0 0 auto !important; min-width: 5.5em !important; width: auto !important; }
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
  #first-run { padding: 4px 6px !important; gap: 4px !important; }
  /* with the first-run panel's line above it, the chat gives up room: Send and Stop show */
  #chat-column:has(#first-run-offers) #chatbot { height: 50vh !important; max-height: 50vh !important; }
  .tab-wrapper, .tab-container { overflow-x: auto; }
}
"""
)

# Runs once the page is up: on a narrow screen the conversations and the settings drawers
# start closed (a click on their label opens them); a wide one keeps them open beside the chat.
# So do the first-run panel's offers, which show once the page knows the demo model is loaded
# (watched for until then, at most a minute): its one line, then the message box.
DRAWERS_JS = """
() => {
  if (!window.matchMedia('(max-width: 700px)').matches) return;
  const label = (id) => document.querySelector('#' + id + ' > button.label-wrap');
  for (const id of ['conversations-drawer', 'settings-drawer']) {
    if (label(id)?.classList.contains('open')) label(id).click();
  }
  // a label just drawn takes its click a moment later: click, then look again, until the
  // user touches the offers themselves (a later look would close what they opened)
  let touched = false;
  document.addEventListener('pointerdown', (e) => {
    if (e.isTrusted && e.target.closest?.('#first-run-offers')) touched = true;
  }, true);
  const closeOffers = (tries) => {
    if (touched) return;
    const offers = label('first-run-offers');
    if (offers?.classList.contains('open')) offers.click();
    if (tries > 0) setTimeout(() => closeOffers(tries - 1), 100);
  };
  const watch = new MutationObserver(() => {
    if (!label('first-run-offers')) return;
    watch.disconnect();
    setTimeout(() => closeOffers(30), 50);  // for three seconds: a slow page opens it late
  });
  watch.observe(document.body, { childList: true, subtree: true });
  setTimeout(() => watch.disconnect(), 60000);
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
