"""The Gradio Blocks of seedchat: chat pane, generation settings, models.

A thin adapter: what happens lives in :mod:`seedchat.ui.controller` (the engine) and
:mod:`seedchat.ui.render` (events → chat messages); this module only lays out
components and wires their events.

Per tab state: ``history`` (the plain user/assistant turns sent to the engine) and the
chat messages shown. The model is shared; one generation runs at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from seedchat.errors import SeedchatError
from seedchat.events import Done, Reflect, ThinkingEnd, ThinkingStart
from seedchat.models import list_models
from seedchat.settings import Settings
from seedchat.store import Store
from seedchat.store_turns import OpenThread, TurnSaver
from seedchat.ui.controller import ChatSettings, EventPump, ModelHost
from seedchat.ui.conversations import (
    newest_conversation,
    parent_of,
    settings_from_dict,
    settings_to_dict,
)
from seedchat.ui.convert_tab import ConvertTab
from seedchat.ui.render import TurnView, budget_label, done_footer, user_message
from seedchat.ui.sidebar import ChatTargets, Sidebar
from seedchat.ui.updates import error_update

log = logging.getLogger(__name__)

BUDGET_MAX = 16384
BUDGET_STEP = 512
# Generation handlers of several tabs may run at once: the model host lets one generate
# and tells the others, in their own chat, that the model is busy (see controller.py).
GENERATE_CONCURRENCY = 8
UPDATE_INTERVAL = 0.025  # seconds between streamed page updates (text is batched, never dropped)
BUDGET_HELP = (
    "The thinking budget caps how many tokens the model may think before it answers. "
    "**0 means answer directly**, without thinking. *Unlimited* lets the model decide. "
    "*Hard* cuts thinking at the budget; *soft* leaves it to the model's own reports."
)

History = list[dict[str, str]]
Chat = list[dict[str, Any]]


def _budget(value: float, unlimited: bool) -> int:
    return -1 if unlimited else int(value)


def build_app(
    host: ModelHost,
    settings: Settings,
    store: Store | None = None,
    store_problem: SeedchatError | None = None,
) -> gr.Blocks:
    """Lay out the page and wire it to ``host`` and the conversation ``store``.

    Without a store (it could not be opened: ``store_problem`` says why) the chat works
    and the sidebar says that nothing is being saved.
    """
    budget_default = settings.get("thinking_budget")
    unlimited_default = budget_default < 0
    slider_default = 0 if unlimited_default else min(BUDGET_MAX, budget_default)

    with gr.Blocks(title="seedchat", analytics_enabled=False) as demo:
        history = gr.State([])
        thread = gr.State(OpenThread())
        with gr.Row(elem_id="seedchat-header"):
            gr.Markdown("# seedchat")
            model_status = gr.Markdown(host.status(), elem_id="model-status")
        error_box = gr.Markdown("", visible=False, elem_id="error-box")

        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row():
                with gr.Column(scale=1, min_width=240, elem_id="sidebar"):
                    sidebar = Sidebar(store, store_problem)
                with gr.Column(scale=4):
                    chatbot = gr.Chatbot(
                        elem_id="chatbot",
                        height=560,
                        show_label=False,
                        buttons=["copy", "copy_all"],
                        latex_delimiters=[
                            {"left": "$$", "right": "$$", "display": True},
                            {"left": "\\(", "right": "\\)", "display": False},
                            {"left": "\\[", "right": "\\]", "display": True},
                        ],
                        placeholder="Ask anything. Thinking shows above each answer.",
                        feedback_options=None,
                    )
                    with gr.Row():
                        message = gr.Textbox(
                            placeholder="Message seedchat (Enter sends)",
                            show_label=False,
                            lines=1,
                            max_lines=8,
                            scale=6,
                            elem_id="message",
                            autofocus=True,
                        )
                        send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                        stop = gr.Button("Stop", variant="stop", scale=1, elem_id="stop")
                    with gr.Row():
                        regenerate = gr.Button("↻ Regenerate", size="sm", elem_id="regenerate")
                        edit_last = gr.Button("✎ Edit last message", size="sm", elem_id="edit")
                    stats = gr.Markdown("", elem_id="turn-stats")
                with gr.Column(scale=2, min_width=260):
                    gr.Markdown("### Thinking budget")
                    budget = gr.Slider(
                        0,
                        BUDGET_MAX,
                        value=slider_default,
                        step=BUDGET_STEP,
                        label="Budget (tokens)",
                        elem_id="budget",
                        interactive=not unlimited_default,
                    )
                    unlimited = gr.Checkbox(
                        value=unlimited_default, label="Unlimited", elem_id="unlimited"
                    )
                    budget_note = gr.Markdown(
                        f"Now: **{budget_label(budget_default)}**", elem_id="budget-now"
                    )
                    enforcement = gr.Radio(
                        ["hard", "soft"],
                        value=settings.get("enforce"),
                        label="Enforcement",
                        elem_id="enforcement",
                    )
                    gr.Markdown(BUDGET_HELP, elem_id="budget-help")
                    with gr.Accordion("Sampling", open=False):
                        temperature = gr.Slider(
                            0.0, 2.0, value=settings.get("temperature"), step=0.05,
                            label="Temperature", elem_id="temperature",
                        )  # fmt: skip
                        top_p = gr.Slider(
                            0.0, 1.0, value=settings.get("top_p"), step=0.01,
                            label="Top-p", elem_id="top-p",
                        )  # fmt: skip
                        max_tokens = gr.Number(
                            value=settings.get("max_tokens"), precision=0, minimum=1,
                            label="Max tokens", elem_id="max-tokens",
                        )  # fmt: skip
                    system_prompt = gr.Textbox(
                        value=settings.get("system_prompt"),
                        label="System prompt",
                        lines=3,
                        elem_id="system-prompt",
                    )
            with gr.Tab("Models", id="models") as models_tab:
                models_ui = _models_tab(host, settings)
            with gr.Tab("Convert", id="convert") as convert_tab:
                convert_ui = ConvertTab()

        # -- events ---------------------------------------------------------------

        def on_budget(value: float, is_unlimited: bool) -> tuple[Any, Any]:
            b = _budget(value, is_unlimited)
            return gr.update(interactive=not is_unlimited), f"Now: **{budget_label(b)}**"

        unlimited.change(on_budget, [budget, unlimited], [budget, budget_note], queue=False)
        budget.change(on_budget, [budget, unlimited], [budget, budget_note], queue=False)

        settings_inputs = [
            budget,
            unlimited,
            enforcement,
            temperature,
            top_p,
            max_tokens,
            system_prompt,
        ]
        settings_outputs = [budget, unlimited, budget_note, *settings_inputs[2:]]

        def settings_updates(saved: dict[str, Any] | None) -> tuple[Any, ...]:
            """Updates for ``settings_outputs``: a conversation's settings over the app's."""
            cs = settings_from_dict(saved, _chat_settings_from(settings))
            b = cs.budget
            return (
                gr.update(value=0 if b < 0 else min(BUDGET_MAX, b), interactive=b >= 0),
                b < 0,
                f"Now: **{budget_label(b)}**",
                cs.enforcement,
                cs.temperature,
                cs.top_p,
                cs.max_tokens,
                cs.system_prompt,
            )

        sidebar.wire(
            ChatTargets(
                chatbot=chatbot,
                history=history,
                thread=thread,
                stats=stats,
                error_box=error_box,
                settings=settings_outputs,
                settings_updates=settings_updates,
            )
        )

        def respond(
            text: str, chat: Chat, hist: History, thread_v: OpenThread, query: str,
            budget_v: float, unlimited_v: bool, enforcement_v: str, temperature_v: float,
            top_p_v: float, max_tokens_v: float, system_v: str, request: gr.Request,
        ) -> Iterator[tuple[Any, ...]]:  # fmt: skip
            text = (text or "").strip()
            if not text:
                yield (chat, hist, gr.update(), error_update(None), host.status(),
                       thread_v, gr.update())  # fmt: skip
                return
            values = (budget_v, unlimited_v, enforcement_v, temperature_v, top_p_v,
                      max_tokens_v, system_v)  # fmt: skip
            chat_settings = _chat_settings(*values)
            saver = TurnSaver(store, thread_v, settings_to_dict(chat_settings), host.model_name)
            question_id = saver.question(text)
            hist = [*hist, {"role": "user", "content": text, "id": question_id}]
            chat = [*chat, user_message(text)]
            yield from _stream(host, request, chat, hist, chat_settings, saver,
                               lambda t: sidebar.listing_update(t, query))  # fmt: skip

        def regen(
            chat: Chat, hist: History, thread_v: OpenThread, query: str, budget_v: float,
            unlimited_v: bool, enforcement_v: str, temperature_v: float, top_p_v: float,
            max_tokens_v: float, system_v: str, request: gr.Request,
        ) -> Iterator[tuple[Any, ...]]:  # fmt: skip
            values = (budget_v, unlimited_v, enforcement_v, temperature_v, top_p_v,
                      max_tokens_v, system_v)  # fmt: skip
            while hist and hist[-1]["role"] == "assistant":
                hist = hist[:-1]
            if not hist:
                yield (chat, hist, gr.update(), error_update("Nothing to regenerate yet."),
                       host.status(), thread_v, gr.update())  # fmt: skip
                return
            chat = _chat_through_last_user(chat)
            chat_settings = _chat_settings(*values)
            # the new answer is a sibling of the old one: it hangs from the question
            thread_v = thread_v.at(hist[-1].get("id"))
            saver = TurnSaver(store, thread_v, settings_to_dict(chat_settings), host.model_name)
            yield from _stream(host, request, chat, hist, chat_settings, saver,
                               lambda t: sidebar.listing_update(t, query))  # fmt: skip

        gen_outputs = [chatbot, history, stats, error_box, model_status, thread, sidebar.listing]
        gen_inputs = [message, chatbot, history, thread, sidebar.search, *settings_inputs]
        send.click(
            respond, gen_inputs, gen_outputs,
            concurrency_id="generate", concurrency_limit=GENERATE_CONCURRENCY,
        )  # fmt: skip
        message.submit(
            respond, gen_inputs, gen_outputs,
            concurrency_id="generate", concurrency_limit=GENERATE_CONCURRENCY,
        )  # fmt: skip
        # Clear the box as soon as the message is taken.
        send.click(lambda: "", None, message, queue=False)
        message.submit(lambda: "", None, message, queue=False)
        regenerate.click(
            regen, gen_inputs[1:], gen_outputs,
            concurrency_id="generate", concurrency_limit=GENERATE_CONCURRENCY,
        )  # fmt: skip

        def on_stop(request: gr.Request) -> None:
            host.stop(request.session_hash or "")

        stop.click(on_stop, None, None, queue=False)

        def on_edit(
            chat: Chat, hist: History, thread_v: OpenThread
        ) -> tuple[Chat, History, str, OpenThread]:
            idx = max((i for i, m in enumerate(hist) if m["role"] == "user"), default=None)
            if idx is None:
                return chat, hist, "", thread_v
            text = hist[idx]["content"]
            chat = _chat_through_last_user(chat)[:-1]
            # the edited question is sent as a sibling of the old one (a new branch)
            return chat, hist[:idx], text, thread_v.at(parent_of(store, hist[idx].get("id")))

        edit_last.click(
            on_edit, [chatbot, history, thread], [chatbot, history, message, thread], queue=False
        )
        chatbot.clear(lambda: ([], "", OpenThread()), None, [history, stats, thread], queue=False)

        models_ui.wire(model_status, error_box)
        convert_ui.wire(models_ui.picker, models_ui.choices, error_box)
        # The catalog (every GGUF's header read) and the converter's quantization list are
        # filled when their tab opens, not while the app starts.
        models_tab.select(
            lambda: gr.update(choices=models_ui.choices()), None, models_ui.picker, queue=False
        )
        convert_tab.select(convert_ui.fill, None, convert_ui.quant, queue=False)

        # While a model loads, refresh the header every second.
        poll = gr.Timer(1.0, active=True)

        def on_poll() -> tuple[Any, ...]:
            loading = host.loading is not None
            error = error_update(host.error) if host.error else gr.update()
            info = host.info
            picked = gr.update(value=str(info.path)) if info is not None else gr.update()
            return host.status(), gr.Timer(active=loading), error, picked

        poll_outputs = [model_status, poll, error_box, models_ui.picker]
        poll.tick(on_poll, None, poll_outputs, queue=False)
        demo.load(on_poll, None, poll_outputs, queue=False)

        # The generation settings are remembered twice: as the app's defaults (a new chat
        # starts with the values last chosen) and in the open conversation.
        def remember(thread_v: OpenThread, *values: Any) -> None:
            chat = _chat_settings(*values)
            pairs = {
                "thinking_budget": chat.budget,
                "enforce": chat.enforcement,
                "temperature": chat.temperature,
                "top_p": chat.top_p,
                "max_tokens": chat.max_tokens,
                "system_prompt": chat.system_prompt,
            }
            try:
                for key, value in pairs.items():
                    settings.set(key, value)
                settings.save()
                if store is not None and thread_v.conversation_id is not None:
                    store.update_settings(thread_v.conversation_id, settings_to_dict(chat))
            except (SeedchatError, OSError) as exc:
                log.warning("could not save the settings: %s", exc)

        for control in settings_inputs:
            control.change(remember, [thread, *settings_inputs], None, queue=False)

        # A page (a reload, a restart) opens the conversation used last, as it was;
        # ``?new=1`` in the address opens a new chat instead.
        def on_load(request: gr.Request) -> tuple[Any, ...]:
            params = getattr(request, "query_params", None) or {}
            conversation_id = None
            if store is not None and not params.get("new"):
                try:
                    conversation_id = newest_conversation(store)
                except SeedchatError as err:
                    log.warning("could not read the conversations: %s", err)
            shown = sidebar.open(conversation_id)
            if conversation_id is None:  # a new chat: the settings chosen last
                shown = (*shown[: -len(settings_outputs)], *settings_updates(None))
            return (*shown, sidebar.listing_update(shown[2]))

        demo.load(
            on_load,
            None,
            [chatbot, history, thread, stats, error_box, sidebar.title, *settings_outputs,
             sidebar.listing],
            queue=False,
        )  # fmt: skip
    return demo


def _chat_settings(
    budget: float,
    unlimited: bool,
    enforcement: str,
    temperature: float,
    top_p: float,
    max_tokens: float | None,
    system_prompt: str,
) -> ChatSettings:
    return ChatSettings(
        budget=_budget(budget, unlimited),
        enforcement=enforcement or "hard",
        temperature=float(temperature),
        top_p=float(top_p),
        max_tokens=int(max_tokens or 8192),
        system_prompt=system_prompt or "",
    )


def _chat_through_last_user(chat: Chat) -> Chat:
    last = max((i for i, m in enumerate(chat) if m.get("role") == "user"), default=-1)
    return chat[: last + 1]


def _chat_settings_from(settings: Settings) -> ChatSettings:
    """The app's remembered generation settings (the defaults of a new chat)."""
    return ChatSettings(
        budget=settings.get("thinking_budget"),
        enforcement=settings.get("enforce"),
        temperature=settings.get("temperature"),
        top_p=settings.get("top_p"),
        max_tokens=settings.get("max_tokens"),
        system_prompt=settings.get("system_prompt"),
    )


def _stream(
    host: ModelHost,
    request: gr.Request,
    chat: Chat,
    hist: History,
    chat_settings: ChatSettings,
    saver: TurnSaver,
    listing: Callable[[OpenThread], Any],
) -> Iterator[tuple[Any, ...]]:
    """Run one reply, saving it as it streams, and yield page updates:
    (chatbot, history, stats, error, status, thread, conversation list)."""
    view = TurnView(budget=chat_settings.budget)
    last = 0.0
    saver.answer()
    yield (chat + view.messages(), hist, "", error_update(saver.problem), host.status(),
           saver.thread, listing(saver.thread))  # fmt: skip
    # The model decodes in its own thread (saving as it goes); each page update takes
    # everything that arrived meanwhile, so drawing never slows the model down.
    pump = EventPump(host, request.session_hash or "", hist, chat_settings, saver.on_event)
    try:
        for events in pump.batches():
            for event in events:
                view.apply(event)
            now = time.perf_counter()
            structural = any(isinstance(e, ThinkingStart | ThinkingEnd | Reflect | Done)
                             for e in events)  # fmt: skip
            if structural or now - last >= UPDATE_INTERVAL:
                last = now
                footer = done_footer(view.done) if view.done is not None else gr.update()
                yield (chat + view.messages(), hist, footer, gr.update(), gr.update(),
                       gr.update(), gr.update())  # fmt: skip
    except SeedchatError as err:
        log.warning("generation failed: %s", err)
        view.fail(err.message)
        saver.finish("error", error=err.message)
        yield (chat + view.messages(), hist, "", error_update(err), host.status(),
               saver.thread, listing(saver.thread))  # fmt: skip
        return
    finally:
        pump.close()  # the page went away: stop the model, then save what it wrote
        saver.finish("cancelled")  # a no-op once the stream's Done has been saved
    if view.done is None:  # stopped while waiting for the model
        view.apply(Done("cancelled"))
    answer = view.answer.strip()
    if answer:
        hist = [*hist, {"role": "assistant", "content": answer, "id": saver.answer_id}]
    yield (chat + view.messages(), hist, gr.update(), error_update(saver.problem) if
           saver.problem else gr.update(), host.status(), saver.thread,
           listing(saver.thread))  # fmt: skip


class _ModelsTab:
    """The Models tab: pick a catalog model or open a file, load and unload it."""

    def __init__(self, host: ModelHost, settings: Settings) -> None:
        self.host = host
        self.settings = settings
        gr.Markdown("### Models")
        self.picker = gr.Dropdown(
            choices=[],  # filled when the tab opens (see build_app)
            value=str(host.info.path) if host.info else None,
            label="Model catalog",
            elem_id="model-picker",
            allow_custom_value=True,
        )
        self.path = gr.Textbox(
            label="…or open a GGUF file (path on this machine)",
            placeholder="/path/to/model.gguf",
            elem_id="model-path",
        )
        with gr.Row():
            self.gpu_layers = gr.Textbox(
                value=str(settings.get("n_gpu_layers")),
                label="GPU layers ('auto' plans from free GPU memory, 0 = CPU only)",
                elem_id="gpu-layers",
            )
            self.context = gr.Number(
                value=settings.get("context_length"), precision=0, minimum=0,
                label="Context length (0 = the model's own)", elem_id="context-length",
            )  # fmt: skip
        with gr.Row():
            self.load_btn = gr.Button("Load", variant="primary", elem_id="load-model")
            self.unload_btn = gr.Button("Unload", elem_id="unload-model")
            self.refresh_btn = gr.Button("Refresh list", elem_id="refresh-models")
        self.details = gr.Markdown("", elem_id="model-details")

    def choices(self) -> list[tuple[str, str]]:
        out = []
        for info in list_models(self.settings.get("model_paths")):
            label = info.display_name if info.ok else f"{info.path.name} (unreadable: {info.error})"
            out.append((label, str(info.path)))
        return out

    def wire(self, model_status: Any, error_box: Any) -> None:
        host = self.host

        def do_load(
            picked: str | None, typed: str, layers: str, context: float | None
        ) -> tuple[Any, ...]:
            target = (typed or "").strip() or (picked or "")
            if not target:
                return host.status(), error_update("Choose a model or type a path first."), ""
            layers = (layers or "auto").strip().lower()
            if layers != "auto" and not layers.isdigit():
                return (
                    host.status(),
                    error_update(f"GPU layers must be 'auto' or a whole number, not {layers!r}."),
                    "",
                )
            try:
                info = host.load(
                    target,
                    n_gpu_layers=layers if layers == "auto" else int(layers),
                    context_length=int(context) if context is not None else None,
                )
            except SeedchatError as err:
                return host.status(), error_update(err), ""
            return host.status(), error_update(None), _model_details(info, host.plan_text())

        self.load_btn.click(
            do_load, [self.picker, self.path, self.gpu_layers, self.context],
            [model_status, error_box, self.details],
            concurrency_id="load", concurrency_limit=1,
        )  # fmt: skip

        def do_unload() -> tuple[str, str]:
            host.unload()
            return host.status(), "Unloaded."

        self.unload_btn.click(do_unload, None, [model_status, self.details])
        self.refresh_btn.click(lambda: gr.update(choices=self.choices()), None, self.picker)


def _model_details(info: Any, plan: str) -> str:
    from seedchat.models import human_count, human_size

    lines = [
        f"**{info.display_name}** · {info.architecture} · {human_count(info.parameters)} "
        f"parameters · {info.quantization} · {human_size(info.size_bytes)}",
        f"Offload plan: {plan}" if plan else "",
    ]
    return "\n\n".join(line for line in lines if line)


def _models_tab(host: ModelHost, settings: Settings) -> _ModelsTab:
    return _ModelsTab(host, settings)
