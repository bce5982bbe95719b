"""18-digit root IDs (above 2**53, not representable as float64) survive every function."""

from __future__ import annotations

import numpy as np

import napari_crant as nc
from tiny import A0, A2, B2, X


def ints(values) -> set[int]:
    return {int(v) for v in values}


def test_ids_are_not_float_representable():
    for rid in (A0, A2, B2, X):
        assert len(str(int(rid))) == 18 and int(float(rid)) != int(rid)


def test_ids_survive_every_function(tiny_path):
    given = [str(A2), int(B2), np.uint64(X)]  # str, int, numpy: all accepted
    want = {int(A2), int(B2), int(X)}

    syn = nc.get_synapses(pre_ids=given, dataset=tiny_path)
    assert ints(syn["pre_pt_root_id"]) <= want and syn["pre_pt_root_id"].dtype == np.uint64
    for col in ("id", "pre_pt_root_id", "post_pt_root_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id"):
        assert syn[col].dtype == np.uint64, col

    cn = nc.get_connectivity(given, dataset=tiny_path)
    assert cn["pre"].dtype == np.uint64 and cn["post"].dtype == np.uint64
    assert want <= ints(cn["pre"]) | ints(cn["post"])

    adj = nc.get_adjacency(given, given, symmetric=True, dataset=tiny_path)
    assert ints(adj.index) == want and ints(adj.columns) == want

    counts = nc.get_synapse_counts(given, dataset=tiny_path)
    assert [int(i) for i in counts.index] == [int(A2), int(B2), int(X)]
    assert set(counts.attrs["root_ids"].values()) == want

    upd = nc.update_ids([A0, *given], dataset=tiny_path)
    assert [int(i) for i in upd["old_id"]] == [int(A0), int(A2), int(B2), int(X)]
    assert [int(i) for i in upd["new_id"]] == [int(A2), int(A2), int(B2), int(X)]

    skel = nc.get_l2_skeleton(given, dataset=tiny_path)
    assert [int(n.id) for n in skel] == [int(A2), int(B2), int(X)]
    nc.attach_synapses(skel, dataset=tiny_path)
    partners = set().union(*(ints(n.connectors["partner_id"]) for n in skel))
    assert partners and all(len(str(p)) == 18 for p in partners)

    crit = nc.NeuronCriteria(cell_type="PN_DA1", dataset=tiny_path)
    assert [int(r) for r in crit.get_roots()] == [int(A0)]
    ann = nc.get_annotations(dataset=tiny_path)
    assert int(ann["root_id"].iloc[0]) == int(A0)


def test_any_neuron_selection_resolves_itself(tiny_path):
    """``parse_ids`` takes anything with ``get_roots()`` (the NeuronSelection protocol)."""
    import pytest

    from napari_crant.ids import InvalidIDError, NeuronSelection, parse_ids

    class Picked:
        def __init__(self, roots):
            self.roots = roots

        def get_roots(self):
            return self.roots

    assert isinstance(nc.NeuronCriteria(cell_type="x", dataset=tiny_path), NeuronSelection)
    got = parse_ids(Picked([str(A2), int(B2)]))
    assert got.dtype == np.uint64 and ints(got) == {int(A2), int(B2)}
    with pytest.raises(InvalidIDError, match="float"):
        parse_ids(Picked(np.array([float(A2)])))
    by_selection = nc.get_connectivity(Picked(np.array([A2], np.uint64)), dataset=tiny_path)
    assert len(by_selection)
    assert by_selection.equals(nc.get_connectivity([int(A2)], dataset=tiny_path))


def test_in_sorted_gives_isin_on_every_path():
    """The binary search, the hash of a smaller reference, and the hash of two halves of the
    values on two threads give ``np.isin``'s answer on 18-digit IDs (some above 2**63)."""
    from napari_crant import ids as ids_module

    rng = np.random.default_rng(7)
    pool = np.unique(np.concatenate([
        np.uint64(720575940600000000) + rng.integers(0, 10**6, 20_000).astype(np.uint64),
        np.uint64(2**63) + rng.integers(0, 10**6, 2_000).astype(np.uint64),
    ]))
    for n_ref, n_values in [(3, 100), (500, 50_000), (500, ids_module._HALVED_MEMBERSHIP + 3)]:
        ref = np.sort(rng.choice(pool, n_ref, replace=False))
        values = np.concatenate([rng.choice(pool, n_values), ref, ref + np.uint64(1)])
        got = ids_module.in_sorted(values, ref)
        np.testing.assert_array_equal(got, np.isin(values, ref), err_msg=f"{n_ref} refs, {len(values)} IDs")
        assert got[n_values:n_values + n_ref].all()
