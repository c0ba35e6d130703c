"""What the tool loop's tests share: a reply of calls, an approver that answers from a
list, the events of one kind."""

from seedchat.events import Done
from seedchat.tools.protocol import PendingCall
from tests.replay import tool_call


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def call_reply(*calls: tuple[str, dict]) -> list:
    return [*(tool_call(name, args) for name, args in calls), Done("stop", generated_tokens=20)]


class Asking:
    """An approver that answers from a list and keeps what it was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers, self.asked = list(answers), []

    def decide(self, call: PendingCall):
        self.asked.append(call)
        return self.answers.pop(0)
