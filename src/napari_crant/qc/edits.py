"""Keeping up with edits: which loaded roots are outdated, and what changed (synapses, partners)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.materialization import Materialization


def check_current(root_ids: Any, dataset: Any = None) -> pd.DataFrame:
    """Whether each root is still current, and its successor if not.

    Returns
    -------
    pandas.DataFrame
        ``root_id, current`` (bool), ``new_id`` (the successor now, = root_id if current),
        ``confidence``, in input order.
    """
    import napari_crant as nc

    upd = nc.update_ids(root_ids, timestamp="live", dataset=dataset)
    return pd.DataFrame({
        "root_id": upd["old_id"].to_numpy(np.uint64),
        "current": ~upd["changed"].to_numpy(bool),
        "new_id": upd["new_id"].to_numpy(np.uint64),
        "confidence": upd["confidence"].to_numpy(float),
    })


def _synapses_of(root: int, at: Any, dataset: Any) -> pd.DataFrame:
    import napari_crant as nc

    kw = dict(materialization=at, return_pixels=False, split_positions=True, update_ids=False,
              dataset=dataset)
    out_syn = nc.get_synapses(pre_ids=root, **kw).assign(direction="downstream")
    in_syn = nc.get_synapses(post_ids=root, **kw).assign(direction="upstream")
    out_syn["partner_id"] = out_syn["post_pt_root_id"]
    in_syn["partner_id"] = in_syn["pre_pt_root_id"]
    return pd.concat([out_syn, in_syn], ignore_index=True)


def synapse_diff(old_id: Any, new_id: Any = None, dataset: Any = None) -> pd.DataFrame:
    """Synapses gained and lost by an edit: the old root (as it was) against the new one (now).

    Parameters
    ----------
    old_id
        The outdated root ID.
    new_id
        Its successor; by default the one :func:`check_current` finds.
    dataset
        Dataset name or path.

    Returns
    -------
    pandas.DataFrame
        One row per synapse of either: ``synapse_id, status`` ('gained', 'lost', 'kept'),
        ``direction`` ('downstream'/'upstream'), ``partner_id`` (as seen by the side that has
        it; the new side's for kept synapses), ``size`` and the neuron's site ``x, y, z`` (nm).
        Sorted by status (gained, lost, kept), then synapse id.
    """
    from napari_crant.datasets import get_source
    from napari_crant.ids import parse_ids

    source = get_source(dataset)
    old = int(parse_ids(old_id, "old_id")[0])
    if new_id is None:
        new_id = int(check_current(old, dataset=source)["new_id"].iloc[0])
    new = int(parse_ids(new_id, "new_id")[0])
    created = source.root_created(np.array([old], np.uint64)).iloc[0]
    if pd.isna(created):
        raise ValueError(f"old_id {old} is not a root of dataset {source.name!r}")
    then = Materialization(created, None, f"creation of {old}")
    before = _synapses_of(old, then, source)
    after = _synapses_of(new, "live", source)

    def site(df: pd.DataFrame) -> pd.DataFrame:
        side = np.where(df["direction"] == "downstream", "pre", "post")
        return pd.DataFrame({
            "synapse_id": df["id"].to_numpy(np.uint64),
            "direction": df["direction"].to_numpy(),
            "partner_id": df["partner_id"].to_numpy(np.uint64),
            "size": df["size"].to_numpy(np.int64),
            **{a: np.where(side == "pre", df[f"pre_pt_position_{a}"], df[f"post_pt_position_{a}"])
               for a in "xyz"},
        })

    b, a = site(before), site(after)
    key = ["synapse_id", "direction"]
    kept = a.merge(b[key], on=key)
    gained = a.merge(b[key], on=key, how="left", indicator=True)
    gained = gained[gained["_merge"] == "left_only"].drop(columns="_merge")
    lost = b.merge(a[key], on=key, how="left", indicator=True)
    lost = lost[lost["_merge"] == "left_only"].drop(columns="_merge")
    out = pd.concat([gained.assign(status="gained"), lost.assign(status="lost"), kept.assign(status="kept")],
                    ignore_index=True)
    out["synapse_id"] = out["synapse_id"].astype(np.uint64)
    out["partner_id"] = out["partner_id"].astype(np.uint64)
    out = out[["synapse_id", "status", "direction", "partner_id", "size", "x", "y", "z"]]
    out.attrs = {"old_id": old, "new_id": new, "old_created": created.isoformat(), "dataset": source.name}
    return out.reset_index(drop=True)


def partner_diff(root_id: Any, materialization_a: Any, materialization_b: Any = "live",
                 threshold: int = 1, dataset: Any = None) -> pd.DataFrame:
    """Compare a neuron's partners between two materializations (or a version and live).

    The neuron and its partners at ``a`` are mapped to their IDs at ``b`` before comparing,
    so an edited partner is matched with its successor.

    Returns
    -------
    pandas.DataFrame
        ``direction, partner_id`` (as at ``b``), ``weight_a, weight_b`` (int64, 0 where
        absent) and ``change`` (``weight_b - weight_a``), largest absolute change first.
    """
    import napari_crant as nc

    kw = dict(threshold=threshold, dataset=dataset)
    ca = nc.get_connectivity(root_id, materialization=materialization_a, **kw)
    cb = nc.get_connectivity(root_id, materialization=materialization_b, **kw)
    src = nc.get_source(dataset)
    from napari_crant.materialization import resolve_materialization
    from napari_crant.queries.update import resolve_ids

    at_b = resolve_materialization(src, materialization_b)
    ids_a = np.unique(np.concatenate([ca["pre"].to_numpy(np.uint64), ca["post"].to_numpy(np.uint64)]))
    ids_a = ids_a[ids_a != 0]
    mapping = resolve_ids(src, ids_a, at_b) if len(ids_a) else pd.DataFrame(
        {"old_id": np.array([], np.uint64), "new_id": np.array([], np.uint64)})
    from napari_crant.ids import lookup_uint64

    def fwd(x: np.ndarray) -> np.ndarray:
        mapped = lookup_uint64(mapping["old_id"], mapping["new_id"], x)
        return np.where(x == 0, np.uint64(0), mapped).astype(np.uint64)

    root_a = set(fwd(np.array(list(ca.attrs.get("updated_ids", {}).values()) or
                              [int(nc.ids.parse_ids(root_id)[0])], np.uint64)).tolist())
    root_b = int(nc.update_ids(root_id, timestamp=materialization_b, dataset=dataset)["new_id"].iloc[0])
    root_a.add(root_b)

    def table(cn: pd.DataFrame, pre: np.ndarray, post: np.ndarray, name: str) -> pd.DataFrame:
        down = np.isin(pre, list(root_a))
        return pd.DataFrame({
            "direction": np.where(down, "downstream", "upstream"),
            "partner_id": np.where(down, post, pre).astype(np.uint64),
            name: cn["weight"].to_numpy(np.int64),
        }).groupby(["direction", "partner_id"], as_index=False)[name].sum()

    ta = table(ca, fwd(ca["pre"].to_numpy(np.uint64)), fwd(ca["post"].to_numpy(np.uint64)), "weight_a")
    tb = table(cb, cb["pre"].to_numpy(np.uint64), cb["post"].to_numpy(np.uint64), "weight_b")
    out = ta.merge(tb, on=["direction", "partner_id"], how="outer")
    out["weight_a"] = out["weight_a"].fillna(0).astype(np.int64)
    out["weight_b"] = out["weight_b"].fillna(0).astype(np.int64)
    out["partner_id"] = out["partner_id"].astype(np.uint64)
    out["change"] = out["weight_b"] - out["weight_a"]
    out["_abs"] = out["change"].abs()
    out = out.sort_values(["_abs", "direction", "partner_id"], ascending=[False, True, True], kind="stable")
    out = out.drop(columns="_abs").reset_index(drop=True)
    out.attrs = {"a": ca.attrs, "b": cb.attrs}
    return out
