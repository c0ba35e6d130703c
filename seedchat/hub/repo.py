"""What a hub repository offers: its GGUF files grouped into models, one per quantization.

The conventions are llama.cpp's ``-hf REPO:QUANT``: the quantization is read from the file
name (``Seed-OSS-36B-Instruct-Q4_K_M.gguf``, ``…-UD-Q4_K_XL.gguf``, any case), a split
model (``…-00001-of-00003.gguf``) is one model made of all its parts, and vision
projectors (``mmproj``) are not models. The listing comes from the hub's model-info
endpoint with each file's size and, for LFS files, its sha256.

Errors of ``huggingface_hub`` and the network become :mod:`seedchat.hub.errors` here
(:func:`hub_errors`, the one mapping: the converter's checkpoint download uses it too).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import PurePosixPath

from seedchat.hub.errors import (
    TOKEN_HINT,
    FileNotFound,
    GatedRepo,
    HubUnreachable,
    PullError,
    RepoNotFound,
)

log = logging.getLogger(__name__)

_SPEC = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+?)(?::(?P<quant>[\w.-]+))?$")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_QUANT = re.compile(
    r"(?:^|[-_.])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|MXFP4(?:_MOE)?|BF16|F16|F32))$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repository."""

    path: str
    size: int
    sha256: str | None  # of LFS files; None for small files kept in git

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class GgufOption:
    """One model a repository offers: a GGUF file, or every part of a split one."""

    quant: str
    files: tuple[RemoteFile, ...]

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def name(self) -> str:
        """The file to load (the first part of a split model)."""
        return self.files[0].name

    @property
    def split(self) -> bool:
        return len(self.files) > 1


@dataclass(frozen=True)
class RepoListing:
    repo: str
    revision: str  # the commit every file is fetched from
    options: tuple[GgufOption, ...]  # smallest first
    gated: bool = False

    def quants(self) -> list[str]:
        return [o.quant for o in self.options]


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``REPO[:QUANT]`` → (repo, quant or None); a :class:`PullError` if it is neither."""
    match = _SPEC.match(spec.strip())
    if not match:
        raise PullError(
            f"{spec!r} is not a hub repository: expected OWNER/NAME or OWNER/NAME:QUANT.",
            hint="For example: seedchat pull unsloth/Seed-OSS-36B-Instruct-GGUF:Q4_K_M",
        )
    return match["repo"], match["quant"]


def quant_of(filename: str) -> str:
    """The quantization a GGUF file's name carries (``"?"`` when it names none)."""
    stem = _SPLIT.sub("", PurePosixPath(filename).name)
    stem = re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    match = _QUANT.search(stem)
    return match.group(1).upper() if match else "?"


def group_options(files: list[RemoteFile]) -> list[GgufOption]:
    """The models among ``files``: single GGUFs and complete split sets, smallest first."""
    singles: list[GgufOption] = []
    splits: dict[tuple[str, int], dict[int, RemoteFile]] = {}
    for f in files:
        lower = f.name.lower()
        if not lower.endswith(".gguf") or "mmproj" in lower:
            continue
        part = _SPLIT.search(f.name)
        if part is None:
            singles.append(GgufOption(quant_of(f.path), (f,)))
            continue
        key = (f.path[: part.start()], int(part.group(2)))
        splits.setdefault(key, {})[int(part.group(1))] = f
    for (_, count), parts in splits.items():
        if sorted(parts) != list(range(1, count + 1)):
            first = next(iter(parts.values()))
            log.warning("%s: parts missing from its split set; skipped", first.path)
            continue
        ordered = tuple(parts[i] for i in range(1, count + 1))
        singles.append(GgufOption(quant_of(ordered[0].path), ordered))
    return sorted(singles, key=lambda o: (o.size_bytes, o.name))


def choose(listing: RepoListing, quant: str | None = None, file: str | None = None) -> GgufOption:
    """The option named by ``file`` (its path or name) or by ``quant``."""
    options = listing.options
    if not options:
        raise FileNotFound(
            f"{listing.repo} holds no GGUF file.",
            hint="seedchat runs GGUF files; convert the original weights with 'seedchat convert'.",
        )
    if file:
        found = [o for o in options if any(file in (f.path, f.name) for f in o.files)]
        if not found:
            raise FileNotFound(
                f"{listing.repo} has no GGUF file {file!r}.",
                hint=f"Its GGUF files: {', '.join(o.name for o in options)}.",
            )
        return found[0]
    assert quant is not None
    wanted = quant.upper()
    found = [o for o in options if o.quant == wanted]
    if not found:  # "Q4_K_M" also finds "UD-Q4_K_M"
        found = [o for o in options if o.quant.removeprefix("UD-") == wanted]
    if len(found) > 1:
        raise FileNotFound(
            f"{listing.repo} has {len(found)} files for {wanted}: "
            f"{', '.join(o.name for o in found)}.",
            hint="Name one with --file.",
        )
    if not found:
        raise FileNotFound(
            f"{listing.repo} has no {wanted} file.",
            hint=f"It offers: {', '.join(dict.fromkeys(listing.quants()))}.",
        )
    return found[0]


def hub_endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` as it is now, else huggingface_hub's default."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_token() -> str | None:
    """``HF_TOKEN`` as it is now (None: huggingface_hub's own login, if any)."""
    return os.environ.get("HF_TOKEN") or None


def network_errors() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):  # huggingface_hub's HTTP client, by version
        with suppress(ImportError, AttributeError):
            kinds.append(__import__(module).TransportError)
    return tuple(kinds)


def _offline_mode() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _offline(what: str) -> HubUnreachable:
    return HubUnreachable(
        f"Cannot download {what}: huggingface_hub's offline mode is on (HF_HUB_OFFLINE).",
        hint="Unset HF_HUB_OFFLINE to download.",
    )


def _unreachable(cause: BaseException) -> HubUnreachable:
    return HubUnreachable(
        f"Cannot reach the Hugging Face Hub at {hub_endpoint()} ({type(cause).__name__}: {cause}).",
        hint="Check your internet connection (or HF_ENDPOINT, if you set it), then run "
        "the same command again: a download continues where it stopped.",
    )


@contextmanager
def hub_errors(repo: str, filename: str | None = None) -> Iterator[None]:
    """Turn the hub's and the network's errors into :class:`PullError` with a way out.

    The one mapping of huggingface_hub's errors (:func:`hub_error`): ``seedchat pull`` and
    the converter's checkpoint download (:mod:`seedchat.converters.hub`) both use it.
    """
    try:
        yield
    except Exception as exc:
        mapped = hub_error(exc, repo, filename)
        if mapped is None:
            raise
        raise mapped from exc


def hub_error(exc: BaseException, repo: str, filename: str | None = None) -> PullError | None:
    """The :class:`PullError` an error of huggingface_hub or the network means (None: not one)."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"{repo}/{filename}" if filename else repo
    if isinstance(exc, OfflineModeIsEnabled):
        return _offline(what)
    if isinstance(exc, LocalEntryNotFoundError):  # snapshot_download: no answer, no copy
        if _offline_mode():
            return _offline(what)
        cause = exc.__cause__  # what the hub answered, or the network error
        return (hub_error(cause, repo, filename) if cause else None) or _unreachable(cause or exc)
    if isinstance(exc, GatedRepoError):
        return GatedRepo(f"{repo} is gated: its files need a token.", hint=TOKEN_HINT)
    if isinstance(exc, RepositoryNotFoundError):
        return RepoNotFound(
            f"No repository {repo} on the hub ({hub_endpoint()}).",
            hint="Check the name (OWNER/NAME, as on its huggingface.co page); a private "
            "repository also needs HF_TOKEN.",
        )
    if isinstance(exc, RevisionNotFoundError):
        return RepoNotFound(f"{repo} has no such revision.", hint="Check --revision.")
    if isinstance(exc, RemoteEntryNotFoundError):
        return FileNotFound(f"{what} is not on the hub.", hint=f"See: seedchat pull {repo} --list")
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        return PullError(
            f"The hub refused {what} (HTTP {status}): {str(exc).splitlines()[0]}",
            hint="Try again later; for a private or gated repository set HF_TOKEN.",
        )
    if isinstance(exc, network_errors()):
        return _unreachable(exc)
    return None


def list_repo(repo: str, revision: str | None = None) -> RepoListing:
    """The GGUF models ``repo`` offers, with sizes and sha256 (one model-info request)."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint(), token=hub_token())
    with hub_errors(repo):
        info = api.model_info(repo, revision=revision, files_metadata=True)
    files = [
        RemoteFile(
            path=s.rfilename,
            size=int(s.lfs.size if s.lfs else s.size or 0),
            sha256=(s.lfs.sha256 if s.lfs else None),
        )
        for s in info.siblings or []
    ]
    return RepoListing(
        repo=repo,
        revision=info.sha or revision or "main",
        options=tuple(group_options(files)),
        gated=bool(info.gated),
    )
