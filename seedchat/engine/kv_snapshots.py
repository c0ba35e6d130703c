"""Saved KV states: a long conversation reopens without its prompt being read again.

The engine keeps one KV cache, so reusing a prompt's prefix helps only the conversation
that is in it. At the end of each reply the engine copies its KV state
(``llama_state_seq_get_data``: a memory copy under the engine's lock, after the ``Done``
event) and a background thread writes it to seedchat's cache (:mod:`seedchat.engine.kv_files`:
the format, the index, the budget). When a later prompt starts with the tokens of a saved
one (after a restart, after another conversation used the cache, from any front end:
matching is by tokens, not by conversation), :meth:`SnapshotCache.restore` puts the state
back (``llama_state_seq_set_data``) and only the rest is evaluated.

One folder per model file and KV layout: its path, size and modification time, the KV
cache type, and flash attention (it decides whether llama.cpp stores V transposed). GPU
offload does not matter: llama.cpp writes the state from its tensors in one host format.
Everything is bounded by one budget (``kv_cache_disk_gb``): the least recently used files
go first, across models. A snapshot is cache, not data: deleting a conversation deletes the
files made from it (:func:`seedchat.engine.kv_files.forget_conversation`).

A file that fails a check (:func:`seedchat.engine.kv_files.read_snapshot`: magic, CRCs, size,
llama.cpp's version, the model file, the KV type, the tokens) or that llama.cpp refuses is
ignored with a debug log and deleted, and the prompt is evaluated as usual; one longer than
the context is skipped, not deleted.

What is restored: only the reply's *prompt* (``exact`` tokens), not the tokens generated
one at a time after it, at a multiple of :data:`~seedchat.engine.kv_files.BLOCK` tokens, leaving
at least :data:`TAIL` to evaluate. llama.cpp's kernels depend on the batch size (on the
CPU, flash attention switches from one query row at a time to 64-row tiles at 64 tokens),
so a one-token step writes slightly different KV values than a batch does. Restoring only
what was evaluated in batches, and evaluating the rest in batches of the kinds a full
evaluation uses (:func:`restore_point`), makes the reply token for token the one a full
re-evaluation gives on the CPU when each earlier turn evaluated 64 tokens or more
(tested); GPU kernels have thresholds of their own.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import logging
import os
import struct
import sys
import threading
import time
import weakref
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedchat.backend import available_ram_bytes
from seedchat.engine.kv_files import (
    BLOCK,
    SUFFIX,
    Entry,
    Layout,
    Rejected,
    block_hashes,
    cache_root,
    covers,
    evict,
    expected_header,
    locked,
    matching_blocks,
    pack_tokens,
    read_index,
    read_snapshot,
    save_index,
    write_snapshot,
)

log = logging.getLogger(__name__)

TAIL = 64  # tokens always evaluated after a restore (see the module doc)
MIN_TOKENS = 2 * BLOCK  # a prompt shorter than this is not saved
MIN_GAIN = 2 * BLOCK  # a restore must give this many tokens more than the cache holds
MIN_SHARE = 8  # ...and at least 1/8 of the file's tokens (it is read whole)


@dataclass
class SaveStats:
    """The last saved state: its size, the copy under the engine's lock, the write."""

    tokens: int = 0
    bytes: int = 0
    capture_seconds: float = 0.0
    write_seconds: float = 0.0


def restore_point(matched: int, n_prompt: int, n_batch: int) -> int:
    """How many of ``matched`` saved tokens to restore for a prompt of ``n_prompt``: a
    multiple of BLOCK, leaving ≥ TAIL tokens, so that the rest is evaluated in batches of
    the kinds a full evaluation uses (no batch under TAIL tokens unless a full evaluation
    has one too: then the rest starts at a batch boundary, batched exactly as it)."""
    keep = max(0, min(matched, n_prompt - TAIL)) // BLOCK * BLOCK
    if 0 < n_prompt % n_batch < TAIL:
        return keep // n_batch * n_batch
    while keep > 0 and 0 < (n_prompt - keep) % n_batch < TAIL:
        keep -= BLOCK
    return keep


# -- llama.cpp's side ------------------------------------------------------------------


def capture_state(llama: Any, ctx: Any) -> ctypes.Array | None:
    """A copy of sequence 0's state (the engine's lock held)."""
    size = llama.llama_state_seq_get_size(ctx, 0)
    if size <= 0:
        return None
    buf = (ctypes.c_uint8 * size)()
    if llama.llama_state_seq_get_data(ctx, buf, size, 0) != size:
        return None
    return buf


def apply_state(llama: Any, ctx: Any, buf: ctypes.Array, keep: int) -> bool:
    """Replace sequence 0 by ``buf``'s state cut to its first ``keep`` tokens; on failure
    the cache is left empty."""
    mem = llama.llama_get_memory(ctx)
    llama.llama_memory_clear(mem, True)
    ok = bool(llama.llama_state_seq_set_data(ctx, buf, len(buf), 0))
    ok = ok and bool(llama.llama_memory_seq_rm(mem, 0, keep, -1))
    ok = ok and llama.llama_memory_seq_pos_max(mem, 0) == keep - 1
    if not ok:
        llama.llama_memory_clear(mem, True)
    return ok


def lower_priority() -> None:
    """The calling thread runs at the lowest CPU priority (Linux: threads have their own):
    writing a saved state never slows the next prompt's evaluation, which needs every core."""
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


# -- the engine's cache ------------------------------------------------------------------


@dataclass
class _Job:
    tokens: list[int]
    exact: int
    blocks: list[str]
    payload: ctypes.Array
    conversation: str | None
    n_ctx: int
    capture_seconds: float


_LIVE: weakref.WeakSet[SnapshotCache] = weakref.WeakSet()


class SnapshotCache:
    """One engine's saved states: found and restored at a prompt, saved after a reply."""

    def __init__(self, layout: Layout, budget_bytes: int, root: Path | None = None) -> None:
        self.layout = layout
        self.budget = int(budget_bytes)
        self.root = root or cache_root()
        self.folder = self.root / layout.folder
        self.last = SaveStats()
        self._pending: _Job | None = None
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        _LIVE.add(self)

    @classmethod
    def open(
        cls, path: Path, kv_type: str, flash_attn: bool, budget_gb: float, llama_cpp: str
    ) -> SnapshotCache | None:
        """The cache of a model loaded with these options (None: turned off)."""
        if budget_gb <= 0:
            return None
        layout = Layout.of(path, kv_type, flash_attn, llama_cpp)
        return cls(layout, int(budget_gb * 2**30))

    # -- restoring ---------------------------------------------------------------------

    def find(
        self, prompt: Sequence[int], common: int, n_ctx: int, n_batch: int
    ) -> tuple[Entry, int] | None:
        """The saved state giving ``prompt`` the longest restore (and how many tokens),
        if it beats the ``common`` tokens the KV cache holds already."""
        floor = max(MIN_TOKENS, common + MIN_GAIN)
        if len(prompt) - TAIL < floor:
            return None
        hashes = block_hashes(prompt, (len(prompt) - TAIL) // BLOCK)
        best: tuple[Entry, int] | None = None
        for entry in read_index(self.folder).values():
            if entry.llama_cpp != self.layout.llama_cpp:
                self.discard(entry, f"made with llama-cpp-python {entry.llama_cpp}")
                continue
            if entry.tokens > n_ctx:
                continue  # kept for a longer context
            matched = matching_blocks(entry.blocks, hashes) * BLOCK
            keep = restore_point(matched, len(prompt), n_batch)
            if keep < floor or keep * MIN_SHARE < entry.tokens:
                continue
            if best is None or (keep, entry.used) > (best[1], best[0].used):
                best = (entry, keep)
        return best

    def restore(
        self, llama: Any, ctx: Any, prompt: Sequence[int], common: int, n_ctx: int, n_batch: int
    ) -> int | None:
        """Put back the best saved state for ``prompt`` (the engine's lock held). Returns
        the tokens restored; None when the KV cache was not touched (nothing better was
        saved, or the file was rejected before); 0 when llama.cpp refused the state and
        the cache was emptied."""
        try:
            found = self.find(prompt, common, n_ctx, n_batch)
        except OSError as exc:  # an unreadable cache: the prompt is evaluated
            log.warning("could not read the saved KV states: %s", exc)
            return None
        if found is None:
            return None
        entry, keep = found
        started = time.monotonic()
        try:
            buf = read_snapshot(self.folder / entry.name, self.layout, prompt, keep)
        except FileNotFoundError:
            self.discard(entry, "its file is gone")
            return None
        except (Rejected, OSError, ValueError, KeyError, TypeError, struct.error) as why:
            self.discard(entry, str(why) or type(why).__name__)
            return None
        if not apply_state(llama, ctx, buf, keep):
            self.discard(entry, "llama.cpp refused its state")
            return 0
        with contextlib.suppress(OSError):
            self._touch(entry.name)
        log.debug(
            "restored %d of %d prompt tokens from %s (%d bytes) in %.3f s",
            keep,
            len(prompt),
            entry.name,
            len(buf),
            time.monotonic() - started,
        )
        return keep

    def discard(self, entry: Entry, why: str) -> None:
        """Delete a snapshot that cannot be used, saying why in a debug log."""
        log.debug("ignoring and deleting the KV snapshot %s: %s", entry.name, why)
        try:
            with locked(self.root):
                entries = read_index(self.folder)
                (self.folder / entry.name).unlink(missing_ok=True)
                if entries.pop(entry.name, None) is not None:
                    save_index(self.folder, entries)
        except OSError as exc:
            log.warning("could not delete the KV snapshot %s: %s", entry.name, exc)

    def _touch(self, name: str) -> None:
        with locked(self.root):
            entries = read_index(self.folder)
            if name in entries:
                entries[name].used = time.time()
                save_index(self.folder, entries)

    # -- saving --------------------------------------------------------------------------

    def after_reply(
        self,
        llama: Any,
        ctx: Any,
        tokens: Sequence[int],
        exact: int,
        n_ctx: int,
        conversation: str | None = None,
    ) -> None:
        """Copy the state of a finished reply whose prompt is ``tokens[:exact]`` (the
        engine's lock held) and queue its write; the caller goes on at once. Never
        raises: a state that cannot be saved is only logged."""
        if self._closed or exact < MIN_TOKENS:
            return
        try:
            self._capture(llama, ctx, tokens, exact, n_ctx, conversation)
        except Exception as exc:  # a read-only or full disk, no memory: nothing is saved
            log.warning("could not save the conversation's KV state: %s", exc)

    def _capture(
        self,
        llama: Any,
        ctx: Any,
        tokens: Sequence[int],
        exact: int,
        n_ctx: int,
        conversation: str | None,
    ) -> None:
        blocks = block_hashes(tokens[:exact])
        if self._already_saved(blocks, conversation):
            return
        size = llama.llama_state_seq_get_size(ctx, 0)
        ram = available_ram_bytes()
        if size + 4 * len(tokens) > self.budget or (ram is not None and size > ram // 4):
            log.debug("not saving a KV state of %d bytes (over the budget or memory)", size)
            return
        started = time.monotonic()
        buf = capture_state(llama, ctx)
        if buf is None:
            log.debug("llama.cpp gave no KV state to save")
            return
        job = _Job(list(tokens), exact, blocks, buf, conversation, n_ctx, 0.0)
        job.capture_seconds = time.monotonic() - started
        with self._cond:
            if self._pending is not None:
                log.debug("a newer KV state replaces one not written yet")
            self._pending = job
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="seedchat-kv-snapshots", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _already_saved(self, blocks: list[str], conversation: str | None) -> bool:
        """Whether a saved state covers these blocks already (it is tagged with
        ``conversation`` then, and counts as used)."""
        with locked(self.root):
            entries = read_index(self.folder)
            for entry in entries.values():
                if (
                    entry.llama_cpp == self.layout.llama_cpp
                    and entry.blocks[: len(blocks)] == blocks
                    and len(blocks) * BLOCK * MIN_SHARE >= entry.tokens
                ):
                    entry.used = time.time()
                    if conversation and conversation not in entry.conversations:
                        entry.conversations.append(conversation)
                    save_index(self.folder, entries)
                    return True
        return False

    def _run(self) -> None:
        lower_priority()
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._pending is None:
                    return
                job, self._pending = self._pending, None
                self._busy = True
            try:
                self._write(job)
            except Exception as exc:  # a full disk must never stop the chat
                log.warning("could not save the conversation's KV state: %s", exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, job: _Job) -> None:
        tokens = pack_tokens(job.tokens)
        digest = hashlib.blake2b(tokens, digest_size=12)
        digest.update(str(job.exact).encode())
        name = digest.hexdigest() + SUFFIX
        header = expected_header(self.layout) | {
            "n_ctx": job.n_ctx,
            "n_tokens": len(job.tokens),
            "exact": job.exact,
            "tokens_crc": zlib.crc32(tokens),
            "payload_bytes": len(job.payload),
            "payload_crc": zlib.crc32(job.payload),
            "created": time.time(),
        }
        started = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True)
        size = write_snapshot(self.folder / name, header, tokens, job.payload)
        seconds = time.monotonic() - started
        now = time.time()
        tags = [job.conversation] if job.conversation else []
        new = Entry(name, len(job.tokens), job.exact, size, job.blocks, tags, now, now)
        new.llama_cpp = self.layout.llama_cpp
        with locked(self.root):
            entries = read_index(self.folder)
            for old in list(entries.values()):
                if old.name == name or covers(new.blocks, old.blocks):
                    new.conversations = sorted(set(new.conversations) | set(old.conversations))
                    if old.name != name:
                        log.debug("the new KV state replaces %s", old.name)
                        (self.folder / old.name).unlink(missing_ok=True)
                    del entries[old.name]
            entries[name] = new
            save_index(self.folder, entries)
        self.last = SaveStats(len(job.tokens), size, job.capture_seconds, seconds)
        log.debug(
            "saved a KV state of %d tokens (%d bytes) in %.3f s", len(job.tokens), size, seconds
        )
        evict(self.budget, self.root)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued state is written; False if ``timeout`` came first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        """Write what is queued (up to ``timeout``), then stop the writer."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@atexit.register
def _flush_all() -> None:
    """The app is closing: finish the writes under way (bounded)."""
    for cache in list(_LIVE):
        cache.flush(timeout=60.0)
