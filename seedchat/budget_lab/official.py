"""The official thinking-budget curves of Seed-OSS-36B (its model card's chart,
ByteDance-Seed/seed-oss ``figures/thinking_budget.png``), drawn beside a user's own sweep
when the loaded model has Seed-OSS-36B's shape."""

from __future__ import annotations

from seedchat.models import ModelInfo

#: the budgets of the chart; -1 is unlimited
BUDGETS = (512, 1024, 2048, 4096, 8192, 16384, -1)
#: accuracy (%) at each of BUDGETS
CURVES = {
    "AIME24": (25.7, 31.0, 34.3, 46.3, 65.3, 80.7, 91.7),
    "LiveCodeBench v6": (29.8, 32.9, 37.7, 44.5, 54.1, 64.3, 67.4),
    "IFEval": (84.3, 85.6, 87.1, 85.8, 86.1, 87.6, 85.8),
}
SOURCE = "Seed-OSS-36B model card"
#: Seed-OSS-36B's shape: its architecture, layers and hidden size
ARCHITECTURE, LAYERS, HIDDEN = "seed_oss", 64, 5120


def is_seed_oss_36b(info: ModelInfo | None) -> bool:
    """Whether ``info`` (the loaded GGUF) is a Seed-OSS-36B (any quantization)."""
    if info is None or info.architecture != ARCHITECTURE or info.block_count != LAYERS:
        return False
    return info.metadata.get(f"{ARCHITECTURE}.embedding_length") == HIDDEN


def official_points() -> dict[str, list[tuple[int, float]]]:
    """Each benchmark's (budget, accuracy as a share) points."""
    return {
        name: [(b, v / 100) for b, v in zip(BUDGETS, values, strict=True)]
        for name, values in CURVES.items()
    }
