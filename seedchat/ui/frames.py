"""The page draws only when it has something to draw, and does no work for progress it
does not show.

Gradio 6 keeps two frame loops running on every page, idle or not, so the browser draws 60
frames a second: its status trackers' elapsed-time loop (for as long as one is "pending",
and on every page one is), and the spring animation of its loader, which goes on after the
loader has left the page (Svelte's loop, ``tick``). On a small machine those frames take a
core from the model, whose llama.cpp threads wait on each other (docs/benchmarks.md, "The
page at the engine's speed"). :data:`FRAMES_JS` gives the trackers' loop a frame four times a
second (:data:`STATUS_FRAME_MS`), and Svelte's loop too while no status tracker shows
anything (a loader on screen animates at the browser's own rate); every other caller keeps
the browser's own frames. The trackers take ``requestAnimationFrame`` when their module
loads, before gradio adds the app's ``head``, so :class:`EarlyScript` (an ASGI middleware)
writes the script into the page's HTML itself, first in its ``<head>``.

Gradio also keeps a loading status for the inputs of every event that has finished, and
refreshes all of them on every message of any event (each streamed update of a reply): for
each it takes a snapshot of the component's state and hands it a new status, which its
status tracker draws again — after a page's first events, the settings' eleven controls,
the search box, the message box and the chat, on every update. :data:`STATUSES_JS` lets a
finished event's inputs have their last status once, then drops them from that registry
(an input shows no status of its own here: every event's progress is hidden, see
:func:`untracked`). It patches gradio's status registry (``LoadingStatus`` in its status
tracker module, found by the module's address when the page loads it); where a gradio
release no longer has it, the page says so in the browser's console and works as before,
only slower (``window.seedchatStatuses`` is ``"not found"``; a test checks it is found).

And a thinking block the stream opens appears at once (:data:`OPENINGS_JS`): gradio's chat
slid it open over 0.4 s as a reply's thinking began, the browser laying out and painting 60
frames a second in the moments the model is busiest. One the user opens (a click or a key
in the chat) still slides open, and every block still slides shut as before.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import MutableHeaders

#: How often a status tracker's loop gets a frame (milliseconds).
STATUS_FRAME_MS = 250

FRAMES_JS = f"""(() => {{
  const frame = window.requestAnimationFrame.bind(window);
  const cancel = window.cancelAnimationFrame.bind(window);
  const shown = () => document.querySelector('[data-testid=status-tracker]:not(.hide) *');
  const slow = (stack) => stack.includes('statustracker') || (stack.includes('Object.tick') && !shown());
  window.requestAnimationFrame = (callback) => {{
    if (!slow(new Error().stack || '')) return frame(callback);
    return -window.setTimeout(() => callback(performance.now()), {STATUS_FRAME_MS});
  }};
  window.cancelAnimationFrame = (id) => (id < 0 ? window.clearTimeout(-id) : cancel(id));
}})();"""

#: ``window.seedchatStatuses`` is gradio's status registry once patched ("not found" if not).
STATUSES_JS = r"""(() => {
  const missing = (why) => {
    window.seedchatStatuses = 'not found';
    console.warn("seedchat: gradio's loading statuses not found, the page is slower", why || '');
  };
  const patch = (module) => {
    const registry = Object.values(module).map((value) => (value && value.LoadingStatus) || value)
      .find((value) => typeof value?.prototype?.resolve_args === 'function');
    const update = registry?.prototype.update;
    if (typeof update !== 'function') return missing();
    registry.prototype.update = function (status) {
      update.call(this, status);
      window.seedchatStatuses = this;
      for (const [id, shown] of Object.entries(this.current || {})) {
        const done = shown?.type === 'input' && shown.status === 'complete';
        if (done && shown.fn_index !== status.fn_index) delete this.current[id];
      }
    };
  };
  const watch = new PerformanceObserver((list) => {
    const found = list.getEntries().find((entry) => /\/statustracker-[^/]*\.js(\?|$)/.test(entry.name));
    if (!found) return;
    watch.disconnect();
    import(found.name).then(patch, missing);
  });
  watch.observe({ type: 'resource', buffered: true });
})();"""

#: How long after a click or key in the chat an opening is the user's (milliseconds).
ASKED_MS = 600

#: A block the stream opens (Svelte's ``slide`` in, its first keyframe 0 high) takes no time
#: unless the user just clicked or pressed a key in the chat; closings are left alone.
OPENINGS_JS = f"""(() => {{
  let asked = -Infinity;
  const note = (event) => {{ if (event.target?.closest?.('#chatbot')) asked = performance.now(); }};
  for (const kind of ['pointerdown', 'keydown', 'click']) document.addEventListener(kind, note, true);
  const animate = Element.prototype.animate;
  Element.prototype.animate = function (keyframes, options) {{
    const opening = Array.isArray(keyframes) && keyframes.length > 2
      && parseFloat(keyframes[0]?.height) === 0;
    if (opening && performance.now() - asked > {ASKED_MS} && this.closest?.('#chatbot'))
      options = typeof options === 'number' ? 0 : {{ ...(options || {{}}), duration: 0, delay: 0 }};
    return animate.call(this, keyframes, options);
  }};
}})();"""

SCRIPT = f"<script>{FRAMES_JS}\n{STATUSES_JS}\n{OPENINGS_JS}</script>".encode()
_HEAD = re.compile(rb"<head(?:\s[^>]*)?>", re.IGNORECASE)  # not <header>


def with_early_script(html: bytes) -> bytes:
    """``html`` with :data:`SCRIPT` first in its ``<head>`` (unchanged without one)."""
    found = _HEAD.search(html)
    if found is None:
        return html
    return html[: found.end()] + SCRIPT + html[found.end() :]


class EarlyScript:
    """ASGI middleware: :data:`SCRIPT` first in the ``<head>`` of every HTML page served
    (a GET answered with uncompressed ``text/html``); everything else passes untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        body: list[bytes] = []

        async def rewrite(message: Any) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and _is_page(message):
                start = message  # held until the whole page is here
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            html = with_early_script(b"".join(body))
            MutableHeaders(scope=start)["content-length"] = str(len(html))
            await send(start)
            await send({"type": "http.response.body", "body": html})

        await self.app(scope, receive, rewrite)


def _is_page(start: dict[str, Any]) -> bool:
    headers = MutableHeaders(scope=start)
    html = headers.get("content-type", "").startswith("text/html")
    return html and "content-encoding" not in headers


def untracked(demo: Any) -> None:
    """No event of ``demo`` shows gradio's own progress on its outputs (the page shows its
    own: the chat's "…" and Stop, the converter's bar, the model's status line).

    Gradio's frontend keeps a loading status for every output of every event that has run,
    and on every message of any event (each streamed update of a reply) it refreshes all of
    them: it snapshots each one's whole value, and of a layout every component inside it —
    the chat with all its messages, the settings, the sidebar — a third of Chromium's work
    while a reply streams. ``show_progress_on=[]`` keeps an event's outputs out of it."""
    for fn in demo.fns.values():
        if fn.show_progress_on is None:
            fn.show_progress_on = []
