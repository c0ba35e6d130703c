"""Getting a ready GGUF model from the Hugging Face hub (``seedchat pull``).

- :mod:`~seedchat.hub.repo`: what a repository offers (its GGUF files by quantization);
- :mod:`~seedchat.hub.recommend`: what fits this machine, by the offload planner;
- :mod:`~seedchat.hub.header`: a remote GGUF's architecture, from the start of the file;
- :mod:`~seedchat.hub.download`: one file, resumable and verified against its sha256;
- :mod:`~seedchat.hub.pulling`: the whole of ``seedchat pull``;
- :mod:`~seedchat.hub.jobs`: downloads in the background of the app.
"""

from seedchat.hub.errors import (
    ChecksumMismatch,
    FileNotFound,
    GatedRepo,
    HubUnreachable,
    NotEnoughDisk,
    NothingFits,
    PullCancelled,
    PullError,
    RepoNotFound,
)
from seedchat.hub.jobs import DownloadJob, Downloads, PartialDownload, partial_downloads
from seedchat.hub.pulling import (
    PullProgress,
    PullResult,
    download,
    pull,
    recommend_listing,
    select,
)
from seedchat.hub.recommend import DEFAULT_CONTEXT, Fit, Machine, Recommendation, Verdict, recommend
from seedchat.hub.repo import GgufOption, RemoteFile, RepoListing, choose, list_repo, parse_spec

__all__ = [
    "DEFAULT_CONTEXT",
    "ChecksumMismatch",
    "DownloadJob",
    "Downloads",
    "FileNotFound",
    "Fit",
    "GatedRepo",
    "GgufOption",
    "HubUnreachable",
    "Machine",
    "NotEnoughDisk",
    "NothingFits",
    "PartialDownload",
    "PullCancelled",
    "PullError",
    "PullProgress",
    "PullResult",
    "Recommendation",
    "RemoteFile",
    "RepoListing",
    "RepoNotFound",
    "Verdict",
    "choose",
    "download",
    "list_repo",
    "parse_spec",
    "partial_downloads",
    "pull",
    "recommend",
    "recommend_listing",
    "select",
]
