"""Annotations read from a CAVE table (``annotation_source="cave:<table>"``) answer like the snapshot.

The local server serves the snapshot's annotations as ``cell_annotations_v1`` with ``pt_root_id``
as of the queried version (from each row's supervoxel). So the CAVE source's ``root_id`` is the
root at the latest valid version, whereas the snapshot records the root at annotation time (which
may be outdated). The reference is therefore the snapshot with its annotation roots brought to the
latest version (:class:`LatestRootsSnapshot`); queries that update IDs (``NeuronCriteria`` with
``get_connectivity`` etc.) must agree with the plain snapshot too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cave_helpers import TOKEN, cave_source

import napari_crant as nc
from napari_crant.materialization import resolve_materialization
from napari_crant.server.runner import serve_in_thread
from napari_crant.snapshot.format import LIST_ANNOTATION_FIELDS
from napari_crant.sources.cave import CaveError, decode_list_field, encode_list_field
from napari_crant.sources.snapshot import SnapshotSource

TABLE = "cave:cell_annotations_v1"
MATERIALIZATIONS = ["latest", 2, "live"]


class LatestRootsSnapshot(SnapshotSource):
    """The snapshot, with annotation ``root_id`` = the supervoxel's root at the latest version."""

    def annotations(self) -> pd.DataFrame:
        ann = super().annotations()
        sv = ann["supervoxel_id"].to_numpy(np.uint64)
        ann["root_id"] = self.roots_of_supervoxels(sv, resolve_materialization(self, "latest"))
        return ann


def norm(df: pd.DataFrame) -> pd.DataFrame:
    """List-valued fields as tuples (the snapshot gives arrays, CAVE lists), index reset."""
    df = df.reset_index(drop=True).copy()
    for c in LIST_ANNOTATION_FIELDS:
        if c in df:
            df[c] = [None if v is None else tuple(str(x) for x in v) for v in df[c]]
    return df


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.fixture(scope="module", params=["tiny", "demo"])
def trio(request, tiny_path, demo_path):
    """(snapshot, snapshot with latest annotation roots, CAVE source reading the table)."""
    server = request.getfixturevalue("tiny_server" if request.param == "tiny" else "demo_server")
    path = tiny_path if request.param == "tiny" else demo_path
    snap = SnapshotSource(path)
    cave = cave_source(server, annotations=TABLE, name=snap.name)
    return snap, LatestRootsSnapshot(path), cave


def test_list_field_codec():
    for v in (None, [], ["A"], ["A", "B"], ["x,y", "z"], ["[weird"]):
        assert decode_list_field(encode_list_field(v)) == v
    assert encode_list_field(["A", "B"]) == "A,B"
    assert decode_list_field("A,B") == ["A", "B"]


def test_table_is_served(tiny_server):
    from caveclient import CAVEclient

    client = CAVEclient(tiny_server.datastack, server_address=tiny_server.url, auth_token=TOKEN,
                        write_server_cache=False)
    assert "cell_annotations_v1" in client.materialize.get_tables()
    md = client.materialize.get_table_metadata("cell_annotations_v1")
    assert md["voxel_resolution"] == [8.0, 8.0, 42.0]
    df = client.materialize.query_table("cell_annotations_v1", materialization_version=3,
                                        split_positions=True)
    assert {"id", "valid", "pt_supervoxel_id", "pt_root_id", "cell_type", "status"} <= set(df.columns)
    assert df["status"].iloc[0] == "BACKBONE_PROOFREAD,PRELIM_PROOFREAD"
    # pt_root_id is the supervoxel's root at the version, not the recorded (outdated) root
    import tiny

    assert [int(x) for x in df["pt_root_id"]] == [int(tiny.A2), int(tiny.B2)]
    v2 = client.materialize.query_table("cell_annotations_v1", materialization_version=2)
    assert [int(x) for x in v2["pt_root_id"]] == [int(tiny.A2), int(tiny.B0)]


def test_annotations_frame(trio):
    snap, latest, cave = trio
    a, b = latest.annotations(), cave.annotations()
    assert b["root_id"].dtype == np.uint64 and b["supervoxel_id"].dtype == np.uint64
    assert list(a.columns) == list(b.columns)
    same(norm(a), norm(b))
    for c in LIST_ANNOTATION_FIELDS:
        if c in b:
            assert all(v is None or isinstance(v, list) for v in b[c])
    # the recorded roots of the snapshot are outdated for some neurons (tiny: all of them)
    assert (snap.annotations()["root_id"].to_numpy() != b["root_id"].to_numpy()).any()


def test_get_annotations(trio):
    _, latest, cave = trio
    same(norm(nc.get_annotations(dataset=latest)), norm(nc.get_annotations(dataset=cave)))
    roots = [int(x) for x in latest.annotations()["root_id"][:2]]
    same(norm(nc.get_annotations(roots, dataset=latest)), norm(nc.get_annotations(roots, dataset=cave)))


def _criteria(snap: SnapshotSource) -> list[dict]:
    ann = snap.annotations()
    out = [{"side": "left"}, {"status": "PRELIM_PROOFREAD"},
           {"status": ["BACKBONE_PROOFREAD", "PRELIM_PROOFREAD"], "match_all": True},
           {"cell_type": str(ann["cell_type"].dropna().iloc[0])},
           {"super_class": "c", "exact": False}, {"proofread": True}]
    if "alternative_names" in ann:
        out.append({"alternative_names": "OSN"})
    return out


def test_criteria_annotations(trio):
    snap, latest, cave = trio
    for crit in _criteria(snap):
        try:
            a = nc.NeuronCriteria(dataset=latest, **crit).get_annotations()
        except nc.NoMatchError:
            with pytest.raises(nc.NoMatchError):
                nc.NeuronCriteria(dataset=cave, **crit).get_annotations()
            continue
        b = nc.NeuronCriteria(dataset=cave, **crit).get_annotations()
        same(norm(a), norm(b))
        n_latest = nc.NeuronCriteria(dataset=latest, **crit).count()
        assert n_latest == nc.NeuronCriteria(dataset=cave, **crit).count()


@pytest.mark.parametrize("mat", MATERIALIZATIONS)
def test_criteria_queries(trio, mat):
    """Queries by NeuronCriteria (which update IDs) agree with the snapshot.

    Against the plain snapshot only where its recorded roots are unambiguous: in the demo one
    recorded root is annotated twice (its neurons were split since), which the recorded root can
    only map to one successor, while the CAVE table knows both current roots.
    """
    snap, latest, cave = trio
    refs = [latest] if snap.annotations()["root_id"].duplicated().any() else [latest, snap]

    def answers(src, crit):
        def crit_of():
            return nc.NeuronCriteria(dataset=src, **crit)

        nc.clear_update_cache()
        out = [nc.get_connectivity(crit_of(), materialization=mat, dataset=src),
               nc.get_synapses(crit_of(), materialization=mat, dataset=src),
               nc.get_adjacency(crit_of(), crit_of(), materialization=mat, dataset=src)]
        nc.clear_update_cache()
        return out, nc.update_ids(crit_of(), timestamp=mat, dataset=src)

    for crit in ({"side": "left"}, {"status": "PRELIM_PROOFREAD"}):
        b, b_upd = answers(cave, crit)
        assert len(b[0]) > 0 and len(b[1]) > 0
        for ref in refs:
            a, a_upd = answers(ref, crit)
            for x, y in zip(a, b, strict=True):
                same(x, y)
            if ref is latest:
                same(a_upd, b_upd)
            else:  # the old IDs are the recorded ones; they map to the same roots
                assert np.array_equal(a_upd["new_id"].to_numpy(), b_upd["new_id"].to_numpy())


@pytest.mark.parametrize("mat", MATERIALIZATIONS)
def test_update_ids(trio, mat):
    """update_ids looks up supervoxels by annotation root: same answers as the latest-roots snapshot."""
    snap, latest, cave = trio
    from test_parity import _edited_and_stable

    ids = _edited_and_stable(str(snap.path))
    ids += [int(x) for x in latest.annotations()["root_id"]] + [int(x) for x in snap.annotations()["root_id"]]
    ids = list(dict.fromkeys(ids))
    a = nc.update_ids(ids, timestamp=mat, dataset=latest)
    nc.clear_update_cache()
    b = nc.update_ids(ids, timestamp=mat, dataset=cave)
    nc.clear_update_cache()
    same(a, b)
    assert a["changed"].any()


def test_missing_table(tiny_server):
    cave = cave_source(tiny_server, annotations="cave:no_such_table")
    with pytest.raises(CaveError, match=r"no_such_table.*not found"):
        cave.annotations()
    with pytest.raises(CaveError, match="names no table"):
        cave_source(tiny_server, annotations="cave:").annotations()


def test_bad_columns(tiny_server):
    """A table without a bound point (here the synapse table) is refused, naming the table."""
    cave = cave_source(tiny_server, annotations="cave:synapses_v2")
    with pytest.raises(CaveError, match=r"synapses_v2.*pt_root_id"):
        cave.annotations()


def test_cached_then_expired(tiny_server, monkeypatch):
    import napari_crant.sources.cave.annotations as cave_annotations

    cave = cave_source(tiny_server, annotations=TABLE)
    calls = []
    real = cave._annotation_table
    monkeypatch.setattr(cave, "_annotation_table", lambda t: calls.append(t) or real(t))
    cave.annotations()
    cave.annotations()
    assert calls == ["cell_annotations_v1"]
    monkeypatch.setattr(cave_annotations, "ANNOTATION_CACHE_S", 0.0)
    cave.annotations()
    assert len(calls) == 2


@pytest.mark.parametrize("known_cap", [None, 3, 1000])
def test_row_cap(isolated_home, demo_path, known_cap):
    """A server capping every answer at 3 rows still yields the whole table (paged)."""
    latest = LatestRootsSnapshot(demo_path)
    with serve_in_thread(demo_path, token=TOKEN, row_cap=3) as server:
        cave = cave_source(server, annotations=TABLE, row_cap=known_cap)
        b = cave.annotations()
    a = latest.annotations()
    assert len(a) > 10 * 3
    same(norm(a), norm(b))
    assert cave._cap.exact == (None if known_cap == 3 else 3)
