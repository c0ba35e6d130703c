"""The one error family of seedchat.

Every error a user can meet is a :class:`SeedchatError` whose message says what
went wrong and, in ``hint``, what to do about it. The CLI prints ``str(err)``
without a traceback (``--debug`` shows one); the UI shows it in the page.
"""

from __future__ import annotations


class SeedchatError(Exception):
    """An error with a message a user can act on."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  → {self.hint}"
        return self.message


class SettingsError(SeedchatError):
    """A settings file or value is invalid."""


class PathsError(SeedchatError):
    """A seedchat directory cannot be created or written."""


class BackendError(SeedchatError):
    """The llama.cpp backend (llama-cpp-python) is missing or broken."""


class ModelFileError(SeedchatError):
    """A model file is missing, not a GGUF, truncated or unsupported."""


class ConversionError(SeedchatError):
    """A checkpoint cannot be converted."""


class EngineError(SeedchatError):
    """Loading or running a model failed."""


class StoreError(SeedchatError):
    """The conversation database cannot be used."""


class ContextLengthError(EngineError):
    """A prompt does not fit the model's context."""


class RequestError(SeedchatError):
    """A request to seedchat's API is invalid; ``param`` names the offending field
    (e.g. ``messages[2].tool_calls[0].function.arguments``), as OpenAI's errors do."""

    def __init__(self, message: str, param: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.param = param
