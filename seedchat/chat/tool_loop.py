"""The tool loop: an answer that may call tools, the same for the page and the terminal.

:func:`answer_with_tools` runs beside :func:`seedchat.chat.answer.answer` (which stays the one
reply) and is what :class:`~seedchat.chat.session.ChatSession` uses when tools are on::

    reply → its calls → approval → each call run in order → its result as a tool turn
          → the next reply … until a reply calls nothing, or ``max_tool_rounds``

Each reply is a whole :func:`~seedchat.chat.answer.answer`: its own recording (a message of
its own in the store), its own thinking budget, kept and enforced as for any reply, its
own reflect counters and its own ``Done`` with its statistics. Why a budget per reply
and not one for the loop: docs/tool-loop.md.

Each call is named by the id it got where it was parsed (``ToolCall.id``: the engine's
parser, :mod:`seedchat.seed.tool_blocks`), in its events, its saved result and its card,
and is told to the front end as :class:`~seedchat.events.ToolRun` events at each
change of state (waiting for approval, running, done / failed / declined), then its
:class:`~seedchat.events.ToolResult`: the tool turn the model reads next (the session
saves it as a ``tool`` message). Every call gets a result, so the saved conversation is
always well formed: a declined call's is "The user declined this call.", an unknown
tool's, a failure's or a timeout's says what went wrong, a call not run (the answer was
stopped, or the rounds ran out) says so. A result longer than ``tool_result_max_tokens``
is cut, counted as :func:`seedchat.engine.host.count_text` counts (the engine's tokenizer
when it has one), and marked as cut.

Approval (:class:`~seedchat.settings.ToolSettings`): with ``tool_approval = "auto"``, or
for a tool the user always allows (:mod:`seedchat.tools.approvals`: an MCP tool in its
server's ``alwaysAllow`` in ``mcp.json``), a call runs at once; else
it waits for the :class:`~seedchat.tools.protocol.Approver` (the terminal's ``[y]es /
[a]lways / [n]o``).

The messages a round adds to the prompt are made by :func:`reply_message` and
:func:`tool_message`, which the session uses for its saved turns too: a reopened
conversation continues with the same prompt, byte for byte. Within the loop, each reply
after the first asks the engine to read on from the calling reply as the model wrote it
(``continue_reply``: only the results are evaluated; docs/tool-loop.md).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from seedchat.chat.answer import AnswerRecording, ChatEngine, answer
from seedchat.engine.host import TokenCounter, count_text
from seedchat.errors import SeedchatError
from seedchat.events import AnswerDelta, Done, Event, Notice, ToolCall, ToolResult, ToolRun
from seedchat.seed.template import Message
from seedchat.seed.tool_calls import typed_arguments
from seedchat.settings import ChatSettings, ToolSettings
from seedchat.tools import approvals
from seedchat.tools.protocol import Approver, PendingCall, ToolOutcome, ToolRunner, tool_names

log = logging.getLogger(__name__)

DECLINED = "The user declined this call."
PREVIEW_CHARS = 200  # the start of a result shown on a card or a terminal line
LONGEST_TOKEN = 16  # characters; a cut never needs to look further than this per token

#: Makes the recording of each reply of the loop (its message in the store).
RecordingFactory = Callable[[], AnswerRecording]


def reply_message(content: str, calls: Sequence[dict[str, Any]] = ()) -> Message:
    """A reply of the model's as the next prompt holds it: its answer text (stripped) and
    its calls with the arguments as the model wrote them (no thinking: see
    :data:`seedchat.chat.session.HISTORY_THINKING`)."""
    tool_calls = [{"name": c["name"], "arguments": dict(c.get("arguments") or {})} for c in calls]
    return Message("assistant", content.strip(), tool_calls=tool_calls or None)


def tool_message(content: str) -> Message:
    """A tool turn as the next prompt holds it."""
    return Message("tool", content)


def answer_with_tools(
    engine: ChatEngine,
    messages: Sequence[Message],
    settings: ChatSettings,
    cancel: threading.Event | None,
    recording_factory: RecordingFactory,
    tools: ToolRunner,
    approver: Approver,
    tool_settings: ToolSettings | None = None,
    **options: object,
) -> Iterator[Event]:
    """The events of an answer that may call ``tools`` (see the module doc)."""
    loop = _Loop(engine, settings, cancel or threading.Event(), tools, approver, tool_settings)
    yield from loop.run(list(messages), recording_factory, options)


@dataclasses.dataclass
class _Loop:
    engine: ChatEngine
    settings: ChatSettings
    cancel: threading.Event
    tools: ToolRunner
    approver: Approver
    tool_settings: ToolSettings | None

    def run(
        self, history: list[Message], start: RecordingFactory, options: dict[str, object]
    ) -> Iterator[Event]:
        config = self.tool_settings or ToolSettings()
        specs = self.tools.specs()
        count = count_text(self.engine)
        rounds = 0
        while True:
            calls: list[ToolCall] = []
            text: list[str] = []
            done: Done | None = None
            for event in answer(
                self.engine,
                history,
                self.settings,
                self.cancel,
                start(),
                tools=specs,
                continue_reply=rounds > 0,
                **options,
            ):
                if isinstance(event, ToolCall):
                    calls.append(event)
                elif isinstance(event, AnswerDelta):
                    text.append(event.text)
                elif isinstance(event, Done):
                    done = event
                yield event
            if not calls:
                return
            history.append(reply_message("".join(text), [dataclasses.asdict(c) for c in calls]))
            stopped = done is None or done.finish_reason in ("cancelled", "error")
            if stopped or rounds >= config.max_rounds:
                why = (
                    "the answer was stopped"
                    if stopped
                    else f"the limit of {config.max_rounds} rounds of tool calls was reached"
                )
                for call in calls:
                    yield from self._not_run(call, why, specs, history)
                if not stopped:
                    yield Notice(
                        f"The model kept calling tools; it was stopped after "
                        f"{config.max_rounds} rounds (the setting max_tool_rounds).",
                        "tools",
                    )
                return
            rounds += 1
            for call in calls:
                if self.cancel.is_set():
                    yield from self._not_run(call, "the answer was stopped", specs, history)
                    continue
                result = yield from self._one(call, specs, config, count)
                history.append(tool_message(result.content))
            if self.cancel.is_set():
                return

    # -- one call ------------------------------------------------------------------

    def _one(
        self, call: ToolCall, specs: list[dict], config: ToolSettings, count: TokenCounter
    ) -> Iterator[Event]:
        server = self.tools.server_of(call.name)  # once per call: the pending call holds it
        pending = PendingCall(call.id, call.name, typed_arguments(call, specs), server)
        run = ToolRun(pending.call_id, pending.name, pending.arguments, server=server)
        if call.name not in tool_names(specs):
            known = ", ".join(tool_names(specs)) or "none"
            text = f"Error: there is no tool named {call.name!r}. The tools are: {known}."
            return (yield from self._ended(run, ToolOutcome(text, is_error=True), config, count))
        if not (config.approval == "auto" or approvals.is_always_allowed(call.name, server)):
            yield run  # waiting
            try:
                decision = self.approver.decide(pending)
            except KeyboardInterrupt:  # Ctrl+C at the terminal's question: stop the answer
                self.cancel.set()
                return (yield from self._not_run(call, "the answer was stopped", specs, []))
            if decision not in ("once", "always"):
                yield dataclasses.replace(run, status="declined", preview=DECLINED)
                result = ToolResult(run.call_id, run.name, DECLINED, server=server)
                yield result
                return result
            if decision == "always":
                try:
                    approvals.allow_always(call.name, server)
                except SeedchatError as err:
                    yield Notice(err.message, "tools")
        yield dataclasses.replace(run, status="running")
        outcome = self._call(pending)
        return (yield from self._ended(run, outcome, config, count))

    def _call(self, pending: PendingCall) -> ToolOutcome:
        started = time.monotonic()
        try:
            outcome = self.tools.call(pending, self.cancel)
        except SeedchatError as err:
            outcome = ToolOutcome(f"Error: {err.message}", is_error=True)
        except Exception as exc:  # a tool's failure is the model's to read, not a crash
            log.warning("the tool %s failed", pending.name, exc_info=True)
            outcome = ToolOutcome(f"Error: the tool failed: {type(exc).__name__}: {exc}", True)
        if not outcome.seconds:
            outcome = dataclasses.replace(outcome, seconds=time.monotonic() - started)
        return outcome

    def _ended(
        self, run: ToolRun, outcome: ToolOutcome, config: ToolSettings, count: TokenCounter
    ) -> Iterator[Event]:
        content, cut = cut_result(outcome.text, config.result_max_tokens, count)
        status = "failed" if outcome.is_error else "done"
        yield dataclasses.replace(
            run,
            status=status,
            seconds=outcome.seconds,
            preview=preview(outcome.text),
            is_error=outcome.is_error,
            server=outcome.server or run.server,
            media=outcome.media,
        )
        result = ToolResult(
            run.call_id,
            run.name,
            content,
            outcome.is_error,
            cut,
            outcome.seconds,
            outcome.server or run.server,
            outcome.media,
        )
        yield result
        return result

    def _not_run(
        self, call: ToolCall, why: str, specs: list[dict], history: list[Message]
    ) -> Iterator[Event]:
        text = f"Not run: {why}."
        arguments = typed_arguments(call, specs)
        server = self.tools.server_of(call.name)
        yield ToolRun(call.id, call.name, arguments, "failed", 0.0, text, True, server)
        result = ToolResult(call.id, call.name, text, is_error=True, server=server)
        yield result
        history.append(tool_message(text))
        return result


# -- long results -----------------------------------------------------------------------


def cut_result(text: str, max_tokens: int, count: TokenCounter) -> tuple[str, bool]:
    """``text``, or its longest start of at most ``max_tokens`` tokens with a note that it
    was cut; and whether it was."""
    total = count(text)
    if total <= max_tokens:
        return text, False
    lo, hi = 0, min(len(text), max_tokens * LONGEST_TOKEN)
    while lo < hi:  # the longest prefix that fits
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    note = (
        f"\n\n[cut by seedchat: the result was {total} tokens long; "
        f"only its first {max_tokens} are shown]"
    )
    return text[:lo] + note, True


def preview(text: str) -> str:
    """The start of a result, on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"
