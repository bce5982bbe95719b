"""Vectorised array helpers shared by the demo stages: per-stage generators, hashing, ranks.

Nothing here depends on the wall clock or on hash order, so the stages stay deterministic.
"""

from __future__ import annotations

import numpy as np


def stage_rng(seed: int, stage: int) -> np.random.Generator:
    """An independent generator per stage, so stages can change without disturbing others."""
    return np.random.default_rng([int(seed), stage])


def splitmix(x: np.ndarray) -> np.ndarray:
    """A vectorised 64-bit mixing hash (splitmix64 finaliser)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hash_normal(key: np.ndarray, salt: int) -> np.ndarray:
    """Standard normal numbers that depend only on ``key`` (and ``salt``)."""
    h1 = splitmix(key ^ np.uint64(salt))
    h2 = splitmix(h1)
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = ((h2 >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def dense_ranks(x: np.ndarray) -> np.ndarray:
    """Replace values by their rank among the distinct values (``np.unique`` inverse)."""
    order = np.argsort(x, kind="stable")
    sx = x[order]
    first = np.ones(len(sx), dtype=bool)
    first[1:] = sx[1:] != sx[:-1]
    out = np.empty(len(x), dtype=np.int64)
    out[order] = np.cumsum(first) - 1
    return out


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    raw = weights / weights.sum() * total
    out = np.floor(raw).astype(np.int64)
    short = total - int(out.sum())
    order = np.argsort(-(raw - out), kind="stable")
    out[order[:short]] += 1
    return out


def runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Boolean mask of the first element of every run of equal values."""
    first = np.empty(len(sorted_keys), dtype=bool)
    first[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    return first


def rank_in_run(first: np.ndarray) -> np.ndarray:
    """Position of every element within its run (runs start where ``first``)."""
    idx = np.arange(len(first), dtype=np.int64)
    return idx - np.maximum.accumulate(np.where(first, idx, 0))
