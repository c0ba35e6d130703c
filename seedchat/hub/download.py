"""One file from the hub: resumable, verified, never visible until it is whole.

A file is written to a hidden ``.NAME.part`` beside its final place, with a small
``.NAME.part.json`` saying what it is a part of (repository, file, size, sha256). A
later download of the same file continues from the part's length with an HTTP range
request, so an interrupted download (a closed laptop, Ctrl+C, a dropped connection, a
restart of the app) fetches only the rest. A connection that drops mid-way is resumed
at once, a few times. When the part is whole its sha256 is checked against the hub's
(the LFS object id); a mismatch deletes it. Only then is it renamed into place.

The HTTP is huggingface_hub's own: the file's URL (``hf_hub_url``), its metadata
(``get_hf_file_metadata``: size, ETag, the CDN location), the session with the user's
token and offline switch (``http_stream_backoff``), and its errors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from seedchat.hub.errors import ChecksumMismatch, HubUnreachable, PullCancelled, PullError
from seedchat.hub.repo import RemoteFile, hub_endpoint, hub_errors, hub_token, network_errors

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20  # the unit of progress reports and of cancelling
MAX_RESUMES = 5  # a dropped connection is resumed this many times in a row
RESUME_WAIT = 0.5  # seconds before the first resume; doubles each time

OnBytes = Callable[[int], None]


@dataclass(frozen=True)
class PartInfo:
    """What a ``.part`` file is a part of."""

    repo: str
    path: str
    size: int
    sha256: str | None
    revision: str

    def same_file(self, other: PartInfo) -> bool:
        if self.sha256 or other.sha256:
            return (self.sha256, self.size) == (other.sha256, other.size)
        return (self.repo, self.path, self.revision, self.size) == (
            other.repo,
            other.path,
            other.revision,
            other.size,
        )


def part_paths(final: Path) -> tuple[Path, Path]:
    """(the hidden part file, its description) of the file that will be ``final``."""
    return final.with_name(f".{final.name}.part"), final.with_name(f".{final.name}.part.json")


def read_part_info(meta: Path) -> PartInfo | None:
    try:
        return PartInfo(**json.loads(meta.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def remove_part(final: Path) -> None:
    for path in part_paths(final):
        path.unlink(missing_ok=True)


def resumable_bytes(final: Path, wanted: PartInfo) -> int:
    """Bytes of ``wanted`` an earlier download left beside ``final`` (0: none, or a part
    of some other file or version)."""
    part, meta = part_paths(final)
    kept = read_part_info(meta) if part.exists() else None
    if kept is None or not kept.same_file(wanted):
        return 0
    have = part.stat().st_size
    return have if have <= wanted.size else 0


def start_part(final: Path, wanted: PartInfo) -> int:
    """Get the part of ``wanted`` ready to be appended to; returns its length (a part
    of something else is discarded first)."""
    have = resumable_bytes(final, wanted)
    if not have:
        if part_paths(final)[0].exists():
            log.info("discarding %s: not a part of %s", part_paths(final)[0], wanted.path)
        remove_part(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    part_paths(final)[1].write_text(json.dumps(asdict(wanted)), encoding="utf-8")
    return have


def file_location(repo: str, remote: RemoteFile, revision: str) -> tuple[str, dict[str, str]]:
    """The URL to download ``remote`` from (the CDN's, after the hub's redirect) and the
    headers to send there (no token to a host that is not the hub)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    endpoint = hub_endpoint()
    url = hf_hub_url(repo, remote.path, revision=revision, endpoint=endpoint)
    token = hub_token()
    with hub_errors(repo, remote.path):
        meta = get_hf_file_metadata(url, token=token, endpoint=endpoint)
    if meta.size is not None and meta.size != remote.size:
        raise PullError(
            f"{repo}/{remote.path} changed on the hub while it was being listed "
            f"({meta.size} bytes, not {remote.size}).",
            hint="Run the same command again.",
        )
    headers = build_hf_headers(token=token)
    location = meta.location or url
    if urlparse(location).netloc != urlparse(url).netloc:
        headers.pop("authorization", None)  # a signed CDN address needs no token
    return location, headers


Locate = Callable[[], tuple[str, dict[str, str]]]


def fetch(
    locate: Locate,
    part: Path,
    size: int,
    on_bytes: OnBytes,
    cancel: threading.Event | None = None,
) -> None:
    """Append to ``part`` until it holds ``size`` bytes, resuming a dropped connection
    with a range request (``MAX_RESUMES`` times in a row). ``locate`` gives the address
    and headers for each attempt (a CDN's signed address may have expired meanwhile)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if have >= size:
            return
        try:
            url, headers = locate()
            ask = dict(headers, Range=f"bytes={have}-") if have else dict(headers)
            with http_stream_backoff(
                "GET",
                url,
                headers=ask,
                timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT,
                max_retries=2,
                retry_on_exceptions=(),  # resumed here, with a range request
            ) as response:
                hf_raise_for_status(response)
                mode = "ab"
                if have and response.status_code == 200:  # the range was ignored
                    mode = "wb"
                    on_bytes(-have)
                with part.open(mode) as fh:
                    for chunk in response.iter_bytes(CHUNK_BYTES):
                        if cancel is not None and cancel.is_set():
                            raise PullCancelled("The download was cancelled.")
                        fh.write(chunk)
                        on_bytes(len(chunk))
                        failures = 0
            if part.stat().st_size < size:  # the server ended early without an error
                raise ConnectionError("the connection closed before the end of the file")
        except (*network_errors(), HubUnreachable) as exc:
            failures += 1
            if failures > MAX_RESUMES:
                raise HubUnreachable(
                    f"The download of {part.name.removeprefix('.').removesuffix('.part')} "
                    f"keeps failing ({type(exc).__name__}: {exc}).",
                    hint="Check your connection and run the same command again: it "
                    "continues where it stopped.",
                ) from exc
            wait = RESUME_WAIT * 2 ** (failures - 1)
            log.warning("connection lost (%s); resuming in %.1f s", exc, wait)
            if cancel is not None and cancel.wait(wait):
                raise PullCancelled("The download was cancelled.") from exc
            if cancel is None:
                time.sleep(wait)


def sha256_of(
    path: Path, on_bytes: OnBytes | None = None, cancel: threading.Event | None = None
) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(4 * CHUNK_BYTES):
            if cancel is not None and cancel.is_set():
                raise PullCancelled("The check was cancelled; the download is kept.")
            digest.update(block)
            if on_bytes is not None:
                on_bytes(len(block))
    return digest.hexdigest()


def verify(
    final: Path,
    remote: RemoteFile,
    repo: str,
    on_bytes: OnBytes | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Check the finished part against the hub's size and sha256; delete it when wrong."""
    part, _ = part_paths(final)
    got = part.stat().st_size
    if got != remote.size:
        remove_part(final)
        raise ChecksumMismatch(
            f"{remote.name} from {repo} has {got} bytes, not the {remote.size} the hub lists; "
            "the file was deleted.",
            hint="Run the same command again to download it anew.",
        )
    if not remote.sha256:
        return  # a small file kept in git: the hub gives no sha256 for it
    digest = sha256_of(part, on_bytes, cancel)
    if digest != remote.sha256.lower():
        remove_part(final)
        raise ChecksumMismatch(
            f"{remote.name} from {repo} is damaged: its sha256 is {digest}, but the hub "
            f"says {remote.sha256}. The file was deleted.",
            hint="Run the same command again to download it anew; if it happens again, "
            "the connection (a proxy) or the repository may be at fault.",
        )
