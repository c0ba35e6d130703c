"""Fetch a checkpoint from the Hugging Face Hub into seedchat's cache (only needed files)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from seedchat.errors import ConversionError
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
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    cache = get_paths().downloads
    cache.mkdir(parents=True, exist_ok=True)
    try:
        return Path(
            snapshot_download(
                repo_id, revision=revision, allow_patterns=ALLOW_PATTERNS, cache_dir=cache
            )
        )
    except LocalEntryNotFoundError as exc:
        raise ConversionError(
            f"Cannot download {repo_id}: the Hugging Face Hub is not reachable (offline?) "
            "and the files are not in seedchat's cache.",
            hint="Connect to the internet, or download the checkpoint folder elsewhere and "
            "pass its path.",
        ) from exc
    except GatedRepoError as exc:
        raise ConversionError(
            f"{repo_id} is gated on the Hugging Face Hub.",
            hint="Accept its license on huggingface.co and log in with 'hf auth login'.",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ConversionError(
            f"No repository {repo_id} on the Hugging Face Hub.", hint="Check the name."
        ) from exc
    except OSError as exc:
        raise ConversionError(f"Downloading {repo_id} failed: {exc}") from exc
