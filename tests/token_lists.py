"""Comparing the token lists of two prompts (what a KV cache can keep of the first)."""

from __future__ import annotations


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many tokens ``a`` and ``b`` share from their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
