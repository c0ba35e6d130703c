"""The conversations sidebar: new, list, search, rename, delete with undo, export, import.

A thin gradio layer over :mod:`seedchat.ui.conversations` and the store. The chat pane
(:mod:`seedchat.ui.app`) owns the per tab state (``thread``, ``history``) and the chat;
the sidebar's events update them through :class:`ChatTargets`.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from seedchat.chat.session import OpenThread, delete_conversation
from seedchat.errors import SeedchatError, StoreError
from seedchat.store import DatabaseCorruptError, Store, import_json, move_aside, write_export
from seedchat.ui.conversations import (
    conversation_choices,
    open_conversation,
    search_choices,
)
from seedchat.ui.updates import error_update

log = logging.getLogger(__name__)


@dataclass
class ChatTargets:
    """The chat pane's components a sidebar event fills when it opens a conversation."""

    chatbot: Any
    turns: Any
    thread: Any
    editing: Any
    stats: Any
    error_box: Any
    settings: list[Any]  # the settings controls, in the order ``settings_updates`` returns
    # a stored settings record (or None: the app's defaults) → updates for ``settings``
    settings_updates: Callable[[dict[str, Any] | None], tuple[Any, ...]]


def _listed(choices: list[tuple[str, str]], thread: OpenThread | None) -> Any:
    """The list showing ``choices``, the open conversation selected if it is among them."""
    current = thread.conversation_id if thread is not None else None
    listed = current in {value for _, value in choices}
    return gr.update(choices=choices, value=current if listed else None)


def _safe_name(title: str) -> str:
    name = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip().replace(" ", "-")
    return name[:60] or "conversation"


class Sidebar:
    """Lays out the sidebar (call inside a column) and wires it (``wire``)."""

    def __init__(self, store: Store | None, store_problem: SeedchatError | None = None) -> None:
        self.store = store
        self.chat: ChatTargets | None = None  # set by wire
        self.store_problem = store_problem
        self.move_aside: Any = None
        self.new = gr.Button("+ New chat", variant="secondary", elem_id="new-chat")
        self.search = gr.Textbox(
            placeholder="Search conversations",
            show_label=False,
            elem_id="conversation-search",
            lines=1,
            max_lines=1,
        )
        self.results = gr.Markdown("", visible=False, elem_id="search-results")
        self.listing = gr.Radio(
            choices=self.choices(),
            value=None,
            show_label=False,
            label="Conversations",
            elem_id="conversation-list",
            elem_classes=["conversation-list"],
        )
        if store is None:
            why = store_problem.message if store_problem else "there is no database"
            self.problem_note = gr.Markdown(
                f"⚠️ **Conversations are not being saved.** {why}", elem_id="store-problem"
            )
            if isinstance(store_problem, DatabaseCorruptError):
                self.move_aside = gr.Button(
                    "Move the damaged file aside", size="sm", elem_id="store-move-aside"
                )
        with gr.Accordion("This conversation", open=True, elem_id="conversation-actions"):
            self.title = gr.Textbox(label="Title", elem_id="conversation-title", max_lines=1)
            with gr.Row():
                self.rename = gr.Button("Rename", size="sm", elem_id="rename")
                self.delete = gr.Button("Delete", size="sm", variant="stop", elem_id="delete")
            self.undo_note = gr.Markdown("", visible=False, elem_id="undo-note")
            self.undo = gr.Button("Undo delete", size="sm", visible=False, elem_id="undo-delete")
            self.export_format = gr.Radio(
                ["Markdown", "JSON"], value="Markdown", label="Export as", elem_id="export-format"
            )
            self.export = gr.Button("Export", size="sm", elem_id="export")
            self.export_file = gr.File(
                visible=False, interactive=False, label="Download", elem_id="export-file"
            )
            self.import_ = gr.UploadButton(
                "Import JSON…", file_types=[".json"], size="sm", elem_id="import"
            )
        self.deleted = gr.State(None)
        self.titled = gr.State(None)  # the conversation whose title the box shows

    def _wire_move_aside(self, chat: ChatTargets) -> None:
        damaged = self.store_problem.path

        def on_move() -> tuple[Any, Any, Any]:
            try:
                moved = move_aside(damaged)
            except SeedchatError as err:
                return gr.update(), gr.update(), error_update(err)
            note = (
                f"The damaged database was renamed to `{moved}` (kept for recovery). "
                "**Restart seedchat** to start a fresh one."
            )
            return gr.update(value=note), gr.update(visible=False), error_update(None)

        outputs = [self.problem_note, self.move_aside, chat.error_box]
        self.move_aside.click(on_move, None, outputs, queue=False)

    # -- reading ---------------------------------------------------------------------

    def choices(self) -> list[tuple[str, str]]:
        if self.store is None:
            return []
        try:
            return conversation_choices(self.store)
        except StoreError as err:
            log.warning("could not list the conversations: %s", err)
            return []

    def listing_update(self, thread: OpenThread | None, query: str = "") -> Any:
        """The list (all, or the search's hits) with the open conversation selected."""
        if query.strip() and self.store is not None:
            try:
                choices, _ = search_choices(self.store, query.strip())
            except StoreError:
                choices = []
        else:
            choices = self.choices()
        return _listed(choices, thread)

    # -- wiring ----------------------------------------------------------------------

    def wire(self, chat: ChatTargets) -> None:
        """Connect the sidebar's events; they fill ``chat`` when a conversation opens."""
        self.chat = chat
        if self.move_aside is not None:
            self._wire_move_aside(chat)
        opened = self.opened_outputs = [
            chat.chatbot,
            chat.turns,
            chat.thread,
            chat.editing,
            chat.stats,
            chat.error_box,
            self.title,
            *chat.settings,
        ]
        listed = [*opened, self.listing]
        self.listing.input(self.open, [self.listing], opened, queue=False)
        self.new.click(self.on_new, [self.search], listed, queue=False)
        self.search.change(
            self.on_search, [self.search, chat.thread], [self.listing, self.results], queue=False
        )
        # whatever opens a conversation (a turn starts one, the list, a reload), its title
        chat.thread.change(
            self.on_thread, [chat.thread, self.titled], [self.title, self.titled], queue=False
        )
        renamed = [self.title, chat.error_box, self.listing]
        for trigger in (self.rename.click, self.title.submit):
            trigger(self.on_rename, [self.title, chat.thread, self.search], renamed, queue=False)
        deleted = [*listed, self.deleted, self.undo_note, self.undo]
        self.delete.click(self.on_delete, [chat.thread, self.search], deleted, queue=False)
        self.undo.click(self.on_undo, [self.deleted, self.search], deleted, queue=False)
        self.export.click(
            self.on_export,
            [self.export_format, chat.thread],
            [self.export_file, chat.error_box],
            queue=False,
        )
        self.import_.upload(self.on_import, [self.import_, self.search], listed)

    def empty(self, error: Any = None) -> tuple[Any, ...]:
        """Updates for ``opened_outputs`` showing a new, empty chat. It keeps the settings
        on screen: they are the ones last chosen."""
        keep = (gr.update() for _ in self.chat.settings)
        return ([], [], OpenThread(), False, "", error_update(error), "", *keep)

    def open(self, conversation_id: str | None) -> tuple[Any, ...]:
        """Updates for ``opened_outputs`` showing a saved conversation (the app opens the
        one used last when a page loads)."""
        if self.store is None or not conversation_id:
            return self.empty()
        try:
            conv = open_conversation(self.store, conversation_id)
        except SeedchatError as err:
            return self.empty(err)
        return (
            conv.chat,
            conv.turns,
            conv.thread,
            False,
            "",
            error_update(None),
            conv.title,
            *self.chat.settings_updates(conv.settings),
        )

    def on_new(self, query: str) -> tuple[Any, ...]:
        return (*self.empty(), self.listing_update(None, query))

    def on_search(self, query: str, thread: OpenThread) -> tuple[Any, Any]:
        if not query.strip() or self.store is None:
            return self.listing_update(thread), gr.update(value="", visible=False)
        try:
            choices, text = search_choices(self.store, query.strip())
        except StoreError as err:
            return gr.update(), error_update(err)
        return _listed(choices, thread), gr.update(value=text, visible=True)

    def on_thread(self, thread: OpenThread | None, titled: str | None) -> tuple[Any, str | None]:
        """The title box follows the conversation on screen: when the tab's thread is in
        another conversation than the one whose title the box shows (``titled``), the box
        shows that conversation's title (a new chat's first question names it as it is
        saved); within the same one it is left alone (a title being typed stays)."""
        current = thread.conversation_id if thread is not None else None
        if current == titled:
            return gr.update(), titled
        if current is None or self.store is None:
            return "", current
        try:
            return self.store.get_conversation(current).title, current
        except SeedchatError as err:
            log.warning("could not read the conversation's title: %s", err)
            return gr.update(), titled

    def on_rename(self, title: str, thread: OpenThread, query: str) -> tuple[Any, Any, Any]:
        store = self.store
        if store is None or thread.conversation_id is None:
            nothing = "Send a message first: there is nothing to rename."
            return gr.update(), error_update(nothing), gr.update()
        try:
            store.rename(thread.conversation_id, title)
            conv = store.get_conversation(thread.conversation_id)
        except SeedchatError as err:
            return gr.update(), error_update(err), gr.update()
        return conv.title, error_update(None), self.listing_update(thread, query)

    def on_delete(self, thread: OpenThread, query: str) -> tuple[Any, ...]:
        store = self.store
        unchanged = (gr.update(), None, gr.update(), gr.update())
        if store is None or thread.conversation_id is None:
            return (*self.empty("There is no saved conversation open to delete."), *unchanged)
        try:
            title = store.get_conversation(thread.conversation_id).title
            delete_conversation(store, thread.conversation_id)  # and its saved KV states
        except SeedchatError as err:
            return (*self.empty(err), *unchanged)
        note = f"Deleted “{title or 'New conversation'}”. It stays in the trash for 30 days."
        return (
            *self.empty(),
            self.listing_update(None, query),
            thread.conversation_id,
            gr.update(value=note, visible=True),
            gr.update(visible=True),
        )

    def on_undo(self, deleted: str | None, query: str) -> tuple[Any, ...]:
        hide = (None, gr.update(value="", visible=False), gr.update(visible=False))
        if self.store is None or not deleted:
            return (*self.empty(), gr.update(), *hide)
        try:
            self.store.restore(deleted)
        except SeedchatError as err:
            return (*self.empty(err), gr.update(), *hide)
        shown = self.open(deleted)
        return (*shown, self.listing_update(shown[2], query), *hide)

    def on_export(self, fmt: str, thread: OpenThread) -> tuple[Any, Any]:
        store = self.store
        if store is None or thread.conversation_id is None:
            return gr.update(visible=False), error_update("Open a saved conversation to export it.")
        try:
            title = store.get_conversation(thread.conversation_id).title
            suffix = ".md" if fmt == "Markdown" else ".json"
            # one folder, overwritten by title (gradio serves files from the temp dir and
            # copies them into its own cache): exports never pile up
            folder = Path(tempfile.gettempdir()) / "seedchat-exports"
            target = folder / (_safe_name(title) + suffix)
            path = write_export(store, target, ids=[thread.conversation_id])
        except SeedchatError as err:
            return gr.update(visible=False), error_update(err)
        return gr.update(value=str(path), visible=True), error_update(None)

    def on_import(self, upload: Any, query: str) -> tuple[Any, ...]:
        if self.store is None:
            nothing = "Conversations cannot be saved, so none can be imported."
            return (*self.empty(nothing), gr.update())
        path = getattr(upload, "name", upload)
        try:
            result = import_json(self.store, Path(str(path)))
        except SeedchatError as err:
            return (*self.empty(err), gr.update())
        first = result.imported[0] if result.imported else None
        if first is None:
            note = "Nothing new to import: those conversations are already here."
            return (*self.empty(note), self.listing_update(None, query))
        shown = self.open(first)
        return (*shown, self.listing_update(shown[2], query))
