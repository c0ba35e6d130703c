"""The catalog: the Seed models seedchat offers to download, read from one data file.

``seedchat/data/catalog.json`` lists each model once: its name, the hub repository of
its original weights (for ``seedchat convert``), a GGUF repository known to hold it
(for ``seedchat pull``), its architecture and the estimated size of each quantization
(so what fits this machine can be said before anything is downloaded). Editing that
file is all it takes to add a model or move it to another repository.

Not to be confused with :mod:`seedchat.models`, the GGUF files already on this machine.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedchat.errors import SeedchatError
from seedchat.planner import ModelShape

CATALOG_FILE = Path(__file__).parent.parent / "data" / "catalog.json"


class CatalogError(SeedchatError):
    """The catalog file is missing or malformed (a broken installation or a bad edit)."""


@dataclass(frozen=True)
class Architecture:
    """What the offload planner needs of a model, known before its file is here."""

    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    n_ctx_train: int
    tied_embeddings: bool = False

    @property
    def layer_parameters(self) -> int:
        attention = 2 * self.n_embd * self.n_head * self.head_dim
        attention += 2 * self.n_embd * self.n_head_kv * self.head_dim
        return attention + 3 * self.n_embd * self.n_ff

    @property
    def other_parameters(self) -> int:
        """The token embeddings and the output head (one matrix when they are tied)."""
        return self.n_vocab * self.n_embd * (1 if self.tied_embeddings else 2)

    @property
    def parameters(self) -> int:
        return self.n_layers * self.layer_parameters + self.other_parameters

    def bits_per_weight(self, file_bytes: int) -> float:
        return file_bytes * 8 / max(self.parameters, 1)

    def shape(self, file_bytes: int) -> ModelShape:
        """The planner's view of a GGUF of this model that is ``file_bytes`` long: the
        bytes shared between the layers and the rest in proportion to their parameters."""
        per_param = file_bytes / max(self.parameters, 1)
        layer = int(self.layer_parameters * per_param)
        return ModelShape(
            n_layers=self.n_layers,
            layer_bytes=(layer,) * self.n_layers,
            other_bytes=max(0, file_bytes - layer * self.n_layers),
            n_embd=self.n_embd,
            n_head_kv=self.n_head_kv,
            head_dim_k=self.head_dim,
            head_dim_v=self.head_dim,
            n_vocab=self.n_vocab,
            n_ctx_train=self.n_ctx_train,
        )


@dataclass(frozen=True)
class CatalogModel:
    id: str
    name: str
    kind: str  # "chat" | "base"
    summary: str
    source_repo: str  # the original weights, for `seedchat convert`
    gguf_repo: str | None  # ready GGUF files, for `seedchat pull` (None: convert only)
    default_quant: str
    architecture: Architecture
    quant_bytes: dict[str, int] = field(default_factory=dict)
    other_gguf_repos: tuple[str, ...] = ()

    def holds(self, repo: str) -> bool:
        """Whether ``repo`` is one of this model's GGUF repositories."""
        known = {self.gguf_repo, *self.other_gguf_repos} - {None}
        return repo.lower() in {r.lower() for r in known}

    def pull_spec(self, quant: str | None = None) -> str | None:
        """``REPO:QUANT`` for ``seedchat pull`` (None when no GGUF repository is known)."""
        if not self.gguf_repo:
            return None
        return f"{self.gguf_repo}:{quant or self.default_quant}"


def _model(entry: dict[str, Any]) -> CatalogModel:
    return CatalogModel(
        id=entry["id"],
        name=entry["name"],
        kind=entry.get("kind", "chat"),
        summary=entry.get("summary", ""),
        source_repo=entry["source_repo"],
        gguf_repo=entry.get("gguf_repo"),
        default_quant=entry.get("default_quant", "Q4_K_M"),
        architecture=Architecture(**entry["architecture"]),
        quant_bytes={str(k): int(v) for k, v in entry.get("quant_bytes", {}).items()},
        other_gguf_repos=tuple(entry.get("other_gguf_repos", ())),
    )


def read_catalog(path: Path | str) -> list[CatalogModel]:
    """The models of a catalog file; :class:`CatalogError` when it cannot be read."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [_model(entry) for entry in data["models"]]
    except OSError as exc:
        raise CatalogError(
            f"The model catalog {path} cannot be read: {exc.strerror or exc}",
            hint="Reinstall seedchat.",
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CatalogError(
            f"The model catalog {path} is malformed: {type(exc).__name__}: {exc}",
            hint="Fix the entry named above (see the file's other entries), or reinstall.",
        ) from exc


@functools.lru_cache(maxsize=1)
def load_catalog() -> tuple[CatalogModel, ...]:
    """The catalog shipped with seedchat (read once)."""
    return tuple(read_catalog(CATALOG_FILE))


def find_model(name: str) -> CatalogModel | None:
    """The catalog model called ``name`` (its id or name), or whose original or GGUF
    repository ``name`` is (case does not matter)."""
    wanted = name.strip().lower()
    for model in load_catalog():
        if wanted in (model.id, model.name.lower(), model.source_repo.lower()):
            return model
        if model.holds(wanted):
            return model
    return None
