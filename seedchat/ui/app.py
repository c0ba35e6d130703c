"""The Gradio Blocks of seedchat: the page composed of its parts.

A thin adapter: each part lays out its components and wires its own events —
:class:`~seedchat.ui.sidebar.Sidebar` (saved conversations),
:class:`~seedchat.ui.chat_pane.ChatPane` (the chat and its turns),
:class:`~seedchat.ui.settings_panel.SettingsPanel` (budget, sampling, system prompt),
:class:`~seedchat.ui.models_tab.ModelsTab`, :class:`~seedchat.ui.convert_tab.ConvertTab` and
:class:`~seedchat.ui.budget_tab.BudgetTab`.
What happens in a turn lives in :mod:`seedchat.chat.session`; the model in
:mod:`seedchat.engine.host`. This module only places the parts and connects them.

Per tab state (:class:`~seedchat.ui.chat_pane.TabState`): the turns on screen, where they
are in the store, and whether the last question is being edited. The model is shared;
one generation runs at a time.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from seedchat.engine.host import ModelHost
from seedchat.errors import SeedchatError
from seedchat.hub import Downloads
from seedchat.settings import Settings
from seedchat.store import Store
from seedchat.ui.attachments import PASTE_JS
from seedchat.ui.budget_tab import BudgetTab
from seedchat.ui.chat_pane import BRANCH_JS, ChatPane, ChatParts, PageTargets, TabState
from seedchat.ui.conversations import newest_conversation
from seedchat.ui.convert_tab import ConvertTab
from seedchat.ui.downloads import DownloadTargets, FirstRunPanel, HubBox
from seedchat.ui.frames import untracked
from seedchat.ui.models_tab import ModelsTab, api_note, phone_note, status_markdown
from seedchat.ui.page_tools import PageTools
from seedchat.ui.run_history import FORGET_JS
from seedchat.ui.settings_panel import SettingsPanel
from seedchat.ui.sidebar import ChatTargets, Sidebar
from seedchat.ui.theme import DRAWERS_JS
from seedchat.ui.tools_panel import APPROVAL_JS, ToolsPanel
from seedchat.ui.updates import error_update

log = logging.getLogger(__name__)


class _Page:
    """The laid-out page: every part, before wiring."""

    def __init__(
        self,
        host: ModelHost,
        settings: Settings,
        store: Store | None,
        store_problem: SeedchatError | None,
        tools: PageTools,
    ) -> None:
        self.tab = TabState.create()
        with gr.Row(elem_id="seedchat-header"):
            gr.Markdown("# seedchat")
            self.model_status = gr.Markdown(status_markdown(host), elem_id="model-status")
            self.cancel_load = gr.Button(
                "Cancel loading", size="sm", scale=0, visible=False, elem_id="cancel-load"
            )
        self.error_box = gr.Markdown("", visible=False, elem_id="error-box")
        downloads = Downloads()  # the app's model downloads, shown in both places
        with gr.Tabs() as self.tabs:
            with gr.Tab("Chat", id="chat"), gr.Row(elem_id="chat-row"):
                # the conversations and the settings are drawers: open beside the chat
                # on a wide screen, closed above and below it on a phone (DRAWERS_JS)
                with (
                    gr.Column(scale=1, min_width=240, elem_id="sidebar"),
                    gr.Accordion("Conversations", elem_id="conversations-drawer"),
                ):
                    self.sidebar = Sidebar(store, store_problem)
                with gr.Column(scale=4, elem_id="chat-column"):
                    self.first_run = FirstRunPanel(host, downloads)
                    self.chat = ChatPane(host)
                with gr.Column(scale=2, min_width=260, elem_id="settings-column"):
                    with gr.Accordion("Settings", elem_id="settings-drawer"):
                        self.panel = SettingsPanel(settings)
                    with gr.Accordion("Tools", open=False, elem_id="tools-drawer"):
                        self.tools_panel = ToolsPanel(tools)
                    self.tools_panel.place_decision_box()
            with gr.Tab("Models", id="models") as self.models_tab:
                self.models = ModelsTab(host, settings)
                self.hub = HubBox(host, downloads)
            with gr.Tab("Convert", id="convert") as self.convert_tab:
                self.convert = ConvertTab()
            with gr.Tab("Budget", id="budget"):
                self.budget = BudgetTab(host, settings, store)

    def chat_targets(self) -> ChatTargets:
        """What the sidebar fills when it opens a conversation."""
        return ChatTargets(
            chatbot=self.chat.chatbot,
            turns=self.tab.turns,
            thread=self.tab.thread,
            editing=self.tab.editing,
            stats=self.chat.stats,
            error_box=self.error_box,
            settings=self.panel.outputs,
            settings_updates=self.panel.updates,
        )

    def page_targets(self) -> PageTargets:
        """What a chat turn updates outside the chat pane."""
        return PageTargets(
            error_box=self.error_box,
            model_status=self.model_status,
            listing=self.sidebar.listing,
            search=self.sidebar.search,
            listing_update=self.sidebar.listing_update,
        )


def build_app(
    host: ModelHost,
    settings: Settings,
    store: Store | None = None,
    store_problem: SeedchatError | None = None,
    api: Any = None,
    phone: Any = None,
) -> gr.Blocks:
    """Lay out the page and wire it to ``host`` and the conversation ``store``.

    Without a store (it could not be opened: ``store_problem`` says why) the chat works
    and the sidebar says that nothing is being saved. ``api`` (a ``launch.ApiMount``) is
    the OpenAI-compatible API served beside the page: its address shows in the Models tab,
    as does ``phone``'s (a ``launch.PhoneAddress``: LAN mode) with its QR code.
    """
    tools = PageTools(settings)  # the MCP servers: stopped by launch.Running.close
    with gr.Blocks(title="seedchat", analytics_enabled=False) as demo:
        page = _Page(host, settings, store, store_problem, tools)
        page.sidebar.wire(page.chat_targets())
        chat = ChatParts(host, store, page.panel, page.tab, page.page_targets(), tools)
        page.chat.wire(chat)
        page.tools_panel.wire(page.panel.tools_off, host, page.error_box)
        page.panel.wire(page.tab.thread, store)
        page.models.wire(page.model_status, page.error_box)
        page.convert.wire(page.models.picker, page.models.choices, page.error_box)
        page.budget.wire(demo, page.error_box)
        downloads = DownloadTargets(
            page.model_status,
            page.error_box,
            page.models.picker,
            page.models.choices,
            page.tabs,
            page.convert.source,
        )
        page.first_run.wire(demo, downloads)
        page.hub.wire(downloads)
        _wire_lazy_tabs(page)
        _wire_model_poll(demo, page, host)
        _wire_page_load(demo, page, store)
        demo.load(lambda: api_note(api), None, page.models.api_note, queue=False)
        demo.load(lambda: phone_note(phone), None, page.models.phone_note, queue=False)
        demo.load(None, None, None, js=BRANCH_JS)  # the branch controls' arrows
        demo.load(None, None, None, js=DRAWERS_JS)  # a phone: the drawers start closed
        demo.load(None, None, None, js=APPROVAL_JS)  # a tool card's Allow / Deny links
        demo.load(None, None, None, js=PASTE_JS)  # a document pasted into the message box
        demo.load(None, None, None, js=FORGET_JS)  # gradio's run history an earlier one kept
    untracked(demo)
    demo.seedchat_tools = tools
    tools.start()  # in the background: the servers are ready by the first question
    return demo


def _wire_lazy_tabs(page: _Page) -> None:
    """The local models (every GGUF's header read) and the converter's quantization list are
    filled when their tab opens, not while the app starts."""
    picker = page.models.picker
    page.models_tab.select(
        lambda: gr.update(choices=page.models.choices()), None, picker, queue=False
    )
    page.convert_tab.select(page.convert.fill, None, page.convert.quant, queue=False)


def _wire_model_poll(demo: gr.Blocks, page: _Page, host: ModelHost) -> None:
    """While a model loads, refresh the header (its progress, and a Cancel button for a
    model file) every second; a load started from the Models tab starts the refresh."""
    poll = gr.Timer(1.0, active=True)

    def on_poll() -> tuple[Any, ...]:
        error = error_update(host.error) if host.error else gr.update()
        info = host.info
        picked = gr.update(value=str(info.path)) if info is not None else gr.update()
        loading = host.loading is not None
        # once cancelled the button stays away while llama.cpp comes to its next report
        cancel = gr.update(visible=host.load_cancellable)
        return status_markdown(host), gr.Timer(active=loading), error, picked, cancel

    outputs = [page.model_status, poll, page.error_box, page.models.picker, page.cancel_load]
    poll.tick(on_poll, None, outputs, queue=False)
    demo.load(on_poll, None, outputs, queue=False)
    for button in (page.models.load_btn, *page.chat.meter.buttons):  # a load shows its progress
        button.click(lambda: gr.Timer(active=True), None, poll, queue=False)

    def on_cancel() -> tuple[Any, Any]:
        host.cancel_load()
        return status_markdown(host), gr.update(visible=False)

    page.cancel_load.click(on_cancel, None, [page.model_status, page.cancel_load], queue=False)


READY_JS = "() => { document.body.dataset.seedchatReady = '1'; }"


def _wire_page_load(demo: gr.Blocks, page: _Page, store: Store | None) -> None:
    """A page (a reload, a restart) opens the conversation used last, as it was;
    ``?new=1`` in the address opens a new chat instead."""
    targets = page.chat_targets()

    def on_load(request: gr.Request) -> tuple[Any, ...]:
        params = getattr(request, "query_params", None) or {}
        conversation_id = None
        if store is not None and not params.get("new"):
            try:
                conversation_id = newest_conversation(store)
            except SeedchatError as err:
                log.warning("could not read the conversations: %s", err)
        shown = page.sidebar.open(conversation_id)
        if conversation_id is None:  # a new chat: the settings chosen last
            shown = (*shown[: -len(targets.settings)], *page.panel.updates(None))
        return (*shown, page.sidebar.listing_update(shown[2]))

    outputs = [
        targets.chatbot,
        targets.turns,
        targets.thread,
        targets.editing,
        targets.stats,
        targets.error_box,
        page.sidebar.title,
        *targets.settings,
        page.sidebar.listing,
    ]
    # the page says when its conversation and settings are in place (what is typed earlier
    # would be overwritten by them): body[data-seedchat-ready]
    demo.load(on_load, None, outputs, queue=False).then(None, None, None, js=READY_JS)
