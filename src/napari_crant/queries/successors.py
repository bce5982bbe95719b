"""Which roots hold an outdated neuron now: all the pieces of a neuron split since its ID was copied.

:func:`~napari_crant.queries.update.resolve_ids` maps an outdated ID to *one* root (the one
holding its annotated supervoxel, or most of its level-2 chunks). When the neuron was split,
the other pieces are real parts of what the user meant; :func:`split_pieces` lists them from
the L2 chunks the old root had, so the viewer can say so and offer them. Qt-free.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.materialization import Materialization


def pieces_at(source: Any, old_ids: np.ndarray, at: Materialization) -> pd.DataFrame:
    """The roots at ``at`` holding the level-2 chunks of each old root.

    Parameters
    ----------
    source
        An open :class:`~napari_crant.sources.base.DataSource`.
    old_ids
        uint64 root IDs (outdated or not).
    at
        The moment asked about.

    Returns
    -------
    pandas.DataFrame
        ``old_id, piece_id`` (uint64), ``n_l2`` (chunks of the old root it holds) and
        ``fraction`` (of the old root's chunks); largest piece first per old ID. Chunks that
        no longer exist at ``at`` are left out.
    """
    old_ids = np.asarray(old_ids, np.uint64)
    l2, owner = source.l2_ids_many(old_ids)
    empty = pd.DataFrame({"old_id": np.array([], np.uint64), "piece_id": np.array([], np.uint64),
                          "n_l2": np.array([], np.int64), "fraction": np.array([], float)})
    if not len(l2):
        return empty
    total = np.bincount(owner, minlength=len(old_ids))
    holders = source.roots_of_l2(l2, at)
    keep = holders != 0
    if not keep.any():
        return empty
    counts = (pd.DataFrame({"owner": owner[keep], "piece": holders[keep]})
              .groupby(["owner", "piece"], sort=True).size().rename("n_l2").reset_index()
              .sort_values(["owner", "n_l2", "piece"], ascending=[True, False, True], kind="stable"))
    own = counts["owner"].to_numpy()
    return pd.DataFrame({
        "old_id": old_ids[own],
        "piece_id": counts["piece"].to_numpy(np.uint64),
        "n_l2": counts["n_l2"].to_numpy(np.int64),
        "fraction": counts["n_l2"].to_numpy() / total[own],
    }).reset_index(drop=True)


def other_pieces(source: Any, updated: dict[int, int], at: Materialization) -> dict[int, list[int]]:
    """For each updated ID that was split: the pieces other than the root it was mapped to.

    Parameters
    ----------
    source, at
        Dataset and moment.
    updated
        ``{given ID: root shown}`` (a query's ``updated()``).

    Returns
    -------
    dict
        ``{given ID: [other piece, ...]}`` (largest first), only for IDs with other pieces.
    """
    if not updated:
        return {}
    old = np.array(list(updated), np.uint64)
    pieces = pieces_at(source, old, at)
    out: dict[int, list[int]] = {}
    for given, shown in updated.items():
        mine = pieces.loc[pieces["old_id"].to_numpy(np.uint64) == np.uint64(given), "piece_id"]
        rest = [int(p) for p in mine.to_numpy(np.uint64) if int(p) != int(shown)]
        if rest:
            out[int(given)] = rest
    return out


def split_pieces(ids: Any, materialization: Any = "latest", dataset: Any = None) -> pd.DataFrame:
    """All the roots that hold parts of these neurons at ``materialization``.

    An ID that is still current has itself as its only piece; an ID split since has several.

    Parameters
    ----------
    ids
        Root IDs (anything :func:`~napari_crant.ids.parse_ids` takes).
    materialization
        ``'latest'``, ``'live'``, a version or a datetime.
    dataset
        Dataset name or path.

    Returns
    -------
    pandas.DataFrame
        As :func:`pieces_at`; ``attrs`` holds provenance.

    Raises
    ------
    UnknownIDError
        For IDs that were never roots of the dataset.
    """
    from napari_crant.ids import parse_ids, unique_in_order
    from napari_crant.queries.common import open_query
    from napari_crant.queries.update import resolve_ids

    source, at = open_query(dataset, materialization)
    arr = unique_in_order(parse_ids(ids, "ids"))
    resolve_ids(source, arr, at, update=True, name="ids")  # unknown IDs are an error here
    out = pieces_at(source, arr, at)
    out.attrs.update(source.describe(), **at.describe())
    return out
