"""What can go wrong getting a model from the hub, each with what to do about it."""

from __future__ import annotations

from seedchat.errors import SeedchatError

TOKEN_HINT = (
    "Accept its terms on the repository's page at huggingface.co, then set HF_TOKEN to a "
    "token of yours (huggingface.co/settings/tokens) or log in with 'hf auth login'."
)


class PullError(SeedchatError):
    """Getting a model from the hub failed."""


class HubUnreachable(PullError):
    """The hub cannot be reached: offline, a firewall, a wrong HF_ENDPOINT."""


class RepoNotFound(PullError):
    """No such repository (or a private one without a token)."""


class GatedRepo(PullError):
    """The repository needs its terms accepted and a token."""


class FileNotFound(PullError):
    """No file of that name or quantization in the repository."""


class NothingFits(PullError):
    """None of a repository's files fits this machine."""


class NotEnoughDisk(PullError):
    """The download would not fit on the disk."""


class ChecksumMismatch(PullError):
    """A downloaded file is not what the hub says it should be (it was deleted)."""


class PullCancelled(PullError):
    """The download was cancelled; what was downloaded is kept to resume from."""
