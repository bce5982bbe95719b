"""The ``pre, post, weight`` frame of an edge list, built from its two blocks.

pandas keeps a frame's columns of one dtype in one 2-d block: an edge list is a ``(2, n)``
uint64 block (``pre``, ``post``) and a ``(1, n)`` int64 block (``weight``). Its public
constructor finds that out column by column and copies ``pre`` and ``post`` into a new
block: for a single neuron's edges that set-up cost more than counting the edges. Here the
query writes its answer into the blocks directly and the frame is put together from them
(pandas' internal ``BlockManager``, private but present in pandas 2.x and 3.x).

Whether this pandas builds the frame that way is checked once, on first use, against the
public constructor (dtypes, values, index, columns, blocks, writeability). If anything
differs or is missing, every frame is built with the public constructor: the same frame,
only slower.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pandas as pd

#: The columns of an edge list (each result gets its own view of them).
EDGE_COLUMNS = pd.Index(["pre", "post", "weight"])


def edge_frame(ids: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
    """``pd.DataFrame({"pre": ids[0], "post": ids[1], "weight": weight})`` without pandas'
    generic set-up and copy.

    Parameters
    ----------
    ids
        A fresh C-contiguous ``(2, n)`` uint64 array: row 0 ``pre``, row 1 ``post``. The
        result owns it from now on (it is not copied).
    weight
        A fresh ``(n,)`` int64 array (also owned by the result).

    Returns
    -------
    pandas.DataFrame
        The same frame as the public constructor gives: a ``RangeIndex``, columns ``pre,
        post`` (uint64) and ``weight`` (int64).
    """
    return _builder()(ids, weight)


def public_edge_frame(ids: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
    """:func:`edge_frame` through pandas' public constructor (the fallback and the check)."""
    return pd.DataFrame({"pre": ids[0], "post": ids[1], "weight": weight}, columns=EDGE_COLUMNS.view())


def _block_builder() -> Callable[[np.ndarray, np.ndarray], pd.DataFrame]:
    """:func:`edge_frame` from pandas' blocks (raises if this pandas has none of the parts)."""
    from pandas._libs.internals import BlockPlacement
    from pandas.core.internals import BlockManager
    from pandas.core.internals.blocks import new_block_2d

    from_mgr, range_index, columns = pd.DataFrame._from_mgr, pd.RangeIndex._simple_new, EDGE_COLUMNS._view
    ids_at, weight_at = BlockPlacement(slice(0, 2)), BlockPlacement(slice(2, 3))

    def build(ids: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
        blocks = (new_block_2d(ids, ids_at), new_block_2d(weight.reshape(1, -1), weight_at))
        manager = BlockManager(blocks, [columns(), range_index(range(ids.shape[1]))], verify_integrity=False)
        return from_mgr(manager, manager.axes)

    return build


def _same(got: pd.DataFrame, want: pd.DataFrame) -> bool:
    """Whether two edge frames are the same in everything a caller can see."""
    return (type(got) is type(want) and list(got.columns) == list(want.columns)
            and type(got.index) is type(want.index) and got.index.equals(want.index)
            and list(got.dtypes) == list(want.dtypes) and got.equals(want)
            and all(got[c].to_numpy().flags.writeable for c in got.columns)
            and got._mgr.is_consolidated() and len(got._mgr.blocks) == len(want._mgr.blocks))


def _checked_builder() -> Callable[[np.ndarray, np.ndarray], pd.DataFrame]:
    """The block builder if it gives the public constructor's frames here, else the public one."""
    try:
        build = _block_builder()
        for n in (0, 1, 5):
            ids = np.arange(2 * n, dtype=np.uint64).reshape(2, n) + np.uint64(2**63 + 1)
            weight = np.arange(n, dtype=np.int64)[::-1].copy()
            got = build(ids.copy(), weight.copy())
            if not _same(got, public_edge_frame(ids, weight)):
                return public_edge_frame
    except Exception:
        return public_edge_frame
    return build


_chosen: list[Callable[[np.ndarray, np.ndarray], pd.DataFrame]] = []
_lock = threading.Lock()


def _builder() -> Callable[[np.ndarray, np.ndarray], pd.DataFrame]:
    if not _chosen:
        with _lock:
            if not _chosen:
                _chosen.append(_checked_builder())
    return _chosen[0]


def uses_blocks() -> bool:
    """Whether :func:`edge_frame` builds frames from blocks in this pandas (else the public constructor)."""
    return _builder() is not public_edge_frame
