"""seedchat: a local, private chat app for ByteDance's open Seed models."""

from seedchat.errors import SeedchatError

__version__ = "0.1.0"

__all__ = ["SeedchatError", "__version__"]
