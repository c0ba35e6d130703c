"""Where a sweep's questions come from: a built-in set's name, a JSONL file, or a Hugging
Face dataset (``hf:OWNER/NAME``, one JSONL file of it, with a column mapping), fetched
with huggingface_hub's own download when online (no ``datasets`` library)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from seedchat.budget_lab.builtin_sets import BUILTIN, builtin_set
from seedchat.budget_lab.questions import QuestionSet, QuestionSetError, from_rows, read_jsonl
from seedchat.hub.errors import PullError
from seedchat.hub.repo import hub_errors

log = logging.getLogger(__name__)

HF_PREFIX = "hf:"
DEFAULT_HF_FILE = "test.jsonl"


def parse_mapping(text: str | None) -> dict[str, str]:
    """``question=problem,answer=solution`` → {"question": "problem", "answer": "solution"}."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        ours, _, theirs = part.partition("=")
        if ours.strip() not in ("question", "answer", "check", "id") or not theirs.strip():
            raise QuestionSetError(
                f"A bad column mapping: {part!r}.",
                hint="Write question=COLUMN,answer=COLUMN (check=COLUMN, id=COLUMN optional).",
            )
        mapping[ours.strip()] = theirs.strip()
    return mapping


def load_questions(
    spec: str, columns: Mapping[str, str] | None = None, hf_file: str = DEFAULT_HF_FILE
) -> QuestionSet:
    """The set ``spec`` names: a built-in set, a JSONL file, or ``hf:OWNER/NAME``."""
    if spec in BUILTIN:
        return builtin_set(spec)
    if spec.startswith(HF_PREFIX):
        return hub_dataset(spec[len(HF_PREFIX) :], columns or {}, hf_file)
    path = Path(spec).expanduser()
    if path.is_file():
        return read_jsonl(path)
    raise QuestionSetError(
        f"{spec!r} is neither a file nor a built-in question set.",
        hint=f"Give a JSONL file, one of {', '.join(BUILTIN)}, or hf:OWNER/NAME.",
    )


def hub_dataset(repo: str, columns: Mapping[str, str], filename: str) -> QuestionSet:
    """A dataset's JSONL file from the hub, its columns renamed by ``columns``."""
    from huggingface_hub import hf_hub_download

    try:
        with hub_errors(repo, filename):
            local = hf_hub_download(repo, filename, repo_type="dataset")
    except PullError as err:  # unreachable or offline, not found, gated: name the set
        raise QuestionSetError(
            f"Cannot fetch the question set {repo} ({filename}) from the Hugging Face hub "
            f"(offline, or the hub cannot be reached): {err.message}",
            hint=err.hint or "Connect to the internet, or give a JSONL file of questions.",
        ) from err
    rows = []
    for line in Path(local).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append({ours: row.get(theirs) for ours, theirs in _mapping(columns).items()})
    return from_rows(rows, f"{repo}/{filename}")


def _mapping(columns: Mapping[str, str]) -> dict[str, str]:
    return {"question": "question", "answer": "answer", **columns}
