"""Fetch a checkpoint from the Hugging Face Hub into seedchat's cache (only needed files).

The hub's errors are mapped as ``seedchat pull`` maps them (:func:`seedchat.hub.repo.hub_errors`:
one set of messages and hints), then raised as :class:`ConversionError`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from seedchat.errors import ConversionError
from seedchat.hub.errors import PullError
from seedchat.hub.repo import hub_endpoint, hub_errors, hub_token
from seedchat.paths import get_paths

log = logging.getLogger(__name__)

ALLOW_PATTERNS = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "*.safetensors",
    "model.safetensors.index.json",
]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_repo_id(src: str) -> bool:
    return bool(_REPO_ID.match(src)) and not Path(src).exists()


def download(repo_id: str, revision: str | None = None) -> Path:
    """Download (or reuse) the files a conversion needs; return the local folder."""
    from huggingface_hub import snapshot_download

    cache = get_paths().downloads
    cache.mkdir(parents=True, exist_ok=True)
    try:
        with hub_errors(repo_id):
            folder = snapshot_download(
                repo_id,
                revision=revision,
                allow_patterns=ALLOW_PATTERNS,
                cache_dir=cache,
                endpoint=hub_endpoint(),
                token=hub_token(),
            )
    except PullError as exc:
        raise ConversionError(exc.message, hint=exc.hint) from exc
    except OSError as exc:
        raise ConversionError(f"Downloading {repo_id} failed: {exc}") from exc
    return Path(folder)
