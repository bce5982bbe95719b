"""Colours of the canvas, without Qt: synapse types, neurons in loading order, stable colours per ID.

Every palette is told apart on napari's black canvas; the type colours (Okabe-Ito) also with
every common colour-vision deficiency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _hex(code: str) -> tuple[float, float, float]:
    return tuple(int(code[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


#: colour of synapses when coloured by type (RGBA): Okabe-Ito vermillion (pre) and sky blue
#: (post), told apart with every common colour-vision deficiency.
TYPE_COLORS = {"pre": (*_hex("#D55E00"), 1.0), "post": (*_hex("#56B4E9"), 1.0)}
COLOR_MODES = ("type", "partner", "neuron")
#: neuron colours in loading order: Okabe-Ito (without black), then Paul Tol's muted scheme
#: (without its darkest colour, invisible on napari's black canvas); then golden-ratio hues.
_PALETTE = np.array([_hex(c) for c in (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#CC6677", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499",
)])


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB, ``(n, 3)``."""
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([
        np.stack([v, t, p], 1), np.stack([q, v, p], 1), np.stack([p, v, t], 1),
        np.stack([p, q, v], 1), np.stack([t, p, v], 1), np.stack([v, p, q], 1),
    ])
    return table[i, np.arange(len(h))]


def neuron_colors(indices: Any) -> np.ndarray:
    """RGBA colours ``(n, 4)`` of the neurons at these loading positions (vectorised)."""
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    out = np.ones((len(idx), 4))
    in_palette = idx < len(_PALETTE)
    out[in_palette, :3] = _PALETTE[idx[in_palette]]
    rest = idx[~in_palette]
    if len(rest):
        h = (rest * 0.618033988749895) % 1.0
        out[~in_palette, :3] = _hsv_to_rgb(h, np.full(len(h), 0.75), np.full(len(h), 0.95))
    return out


def neuron_color(index: int) -> np.ndarray:
    """RGBA colour of the ``index``-th loaded neuron (palette first, then golden-ratio hues)."""
    return neuron_colors([index])[0]


def id_colors(ids: Sequence[Any] | np.ndarray) -> np.ndarray:
    """A stable RGBA colour per ID (same ID, same colour, in any session), ``(n, 4)``."""
    ids = np.asarray(ids, dtype=np.uint64)
    # splitmix64-style hash in uint64 arithmetic (wraps, no float on the ID itself)
    with np.errstate(over="ignore"):
        h = ids * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
    hue = (h % np.uint64(3600)).astype(np.float64) / 3600.0
    sat = 0.55 + ((h >> np.uint64(20)) % np.uint64(40)).astype(np.float64) / 100.0
    out = np.ones((len(ids), 4))
    out[:, :3] = _hsv_to_rgb(hue, sat, np.full(len(ids), 0.95))
    return out

