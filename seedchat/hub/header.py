"""A remote GGUF's architecture, read from the start of the file without downloading it.

For a repository the catalog does not know, what fits this machine needs the model's
layer count and attention shape. A GGUF states them in its key/value header, which comes
first in the file: it is read from the start of one download stream (a few MB with the
tokenizer's vocabulary), and the stream is closed as soon as the last key is read. Only
the header's layout is parsed here (gguf-py reads whole files); the value types are
gguf-py's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from seedchat.hub.catalog import Architecture
from seedchat.hub.errors import PullError
from seedchat.hub.repo import GgufOption, RepoListing, hub_endpoint, hub_errors, hub_token

READ_SIZES = (2 * 2**20, 16 * 2**20, 64 * 2**20)  # bytes asked for, until the header fits
# gguf-py's GGUFValueType → struct format (8 is a string, 9 an array)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?"}
_SCALARS.update({10: "<Q", 11: "<q", 12: "<d"})
_STRING, _ARRAY = 8, 9


class HeaderTruncated(PullError):
    """The bytes read end inside the header (read more of the file)."""


class _Stream:
    """Reads exact byte counts from an iterator of chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buf = bytearray()
        self.pos = 0
        self.consumed = 0

    def read(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n:
            chunk = next(self.chunks, None)
            if chunk is None:
                raise HeaderTruncated("The GGUF data ends inside its header.")
            del self.buf[: self.pos]
            self.pos = 0
            self.buf += chunk
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        self.consumed += n
        return out

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.read(self.unpack("<Q")).decode("utf-8", errors="replace")


def _value(stream: _Stream, kind: int) -> Any:
    """A value; an array comes back as its length (no key needed here holds more)."""
    if kind in _SCALARS:
        return stream.unpack(_SCALARS[kind])
    if kind == _STRING:
        return stream.string()
    if kind == _ARRAY:
        item, count = stream.unpack("<I"), stream.unpack("<Q")
        if item in _SCALARS:
            stream.read(count * struct.calcsize(_SCALARS[item]))
        else:
            for _ in range(count):
                _value(stream, item)
        return count
    raise PullError(f"The GGUF header has a value of unknown type {kind}.")


def read_header(chunks: Iterator[bytes]) -> dict[str, Any]:
    """The key/value metadata at the start of a GGUF (arrays as their lengths)."""
    stream = _Stream(chunks)
    if stream.read(4) != b"GGUF":
        raise PullError("The file is not a GGUF file (it does not start with 'GGUF').")
    version = stream.unpack("<I")
    if version not in (2, 3):
        raise PullError(f"GGUF version {version} is not supported.")
    stream.unpack("<Q")  # tensor count
    fields: dict[str, Any] = {}
    for _ in range(stream.unpack("<Q")):
        key = stream.string()
        fields[key] = _value(stream, stream.unpack("<I"))
    return fields


def architecture_of(fields: dict[str, Any]) -> Architecture:
    """The planner's inputs from a GGUF header's metadata."""
    arch = fields.get("general.architecture")
    if not arch:
        raise PullError("The GGUF header names no architecture.")

    def val(key: str, default: int = 0) -> int:
        return int(fields.get(f"{arch}.{key}", default))

    n_embd = val("embedding_length")
    n_head = max(val("attention.head_count", 1), 1)
    return Architecture(
        n_layers=val("block_count"),
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=val("attention.head_count_kv", n_head),
        head_dim=val("attention.key_length", n_embd // n_head),
        n_ff=val("feed_forward_length"),
        n_vocab=int(fields.get("tokenizer.ggml.tokens", 0)),
        n_ctx_train=val("context_length", 4096),
    )


_read: dict[tuple[str, str, str], Architecture] = {}


def remote_architecture(listing: RepoListing, option: GgufOption) -> Architecture:
    """The architecture of ``option`` read from the start of its (first) file: the first
    2 MB, or more when the header (the tokenizer's vocabulary) is longer."""
    first = option.files[0]
    key = (listing.repo, listing.revision, first.path)
    if key not in _read:
        _read[key] = architecture_of(_remote_fields(listing, first.path, first.size))
    return _read[key]


def _remote_fields(listing: RepoListing, path: str, size: int) -> dict[str, Any]:
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_stream_backoff

    url = hf_hub_url(listing.repo, path, revision=listing.revision, endpoint=hub_endpoint())
    for wanted in READ_SIZES:
        headers = build_hf_headers(token=hub_token(), headers={"Range": f"bytes=0-{wanted - 1}"})
        with (
            hub_errors(listing.repo, path),
            http_stream_backoff(
                "GET", url, headers=headers, timeout=30, retry_on_exceptions=()
            ) as response,
        ):
            hf_raise_for_status(response)
            try:
                return read_header(response.iter_bytes(1 << 20))
            except HeaderTruncated:
                if wanted >= size:
                    raise
    raise PullError(f"{path}'s GGUF header is larger than {READ_SIZES[-1]} bytes; unreadable.")
