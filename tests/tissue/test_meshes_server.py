"""Meshes from the local server: the unmodified cloud-volume reads a root's mesh through the
mesh manifest; CaveSource's get_mesh, neuropils and brain equal the snapshot's; a server
without meshes; bad requests."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from cloudvolume import CloudVolume, Mesh
from mesh_data import edited_root
from tissue_data import snapshot
from tissue_server import TOKEN, isolated_home, served

import napari_crant as nc
from napari_crant import TissueUnavailable
from napari_crant.server.runner import serve_in_thread
from napari_crant.sources.cave import CaveDatasetConfig, CaveSource
from napari_crant.sources.snapshot import SnapshotSource


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with isolated_home(tmp_path_factory.mktemp("home")):
        yield


@pytest.fixture(scope="module")
def source():
    return SnapshotSource(snapshot())


@pytest.fixture(scope="module")
def server(home, source):
    with served(source) as srv:
        yield srv


def cave(server, name="local-meshes") -> CaveSource:
    tissue = f"precomputed://{server.url}/tissue/{server.datastack}"
    cfg = CaveDatasetConfig(name=name, server_address=server.url, datastack=server.datastack,
                            timeout=20.0, brain_mesh_source=f"{tissue}/tissue_mesh/mesh",
                            neuropil_mesh_source=f"{tissue}/neuropils/mesh")
    return CaveSource(cfg, auth_token=TOKEN)


def same_mesh(a_vertices, a_faces, b) -> None:
    """Same triangles (as sets of vertex positions, order-free) and same volume."""
    def tris(v, f):
        t = np.round(np.asarray(v, np.float64)[np.asarray(f, np.int64)], 2)
        t = np.sort(t.reshape(len(t), -1).view([("", t.dtype)] * 9).ravel())
        return t

    assert len(a_faces) == len(b.faces)
    np.testing.assert_array_equal(tris(a_vertices, a_faces), tris(b.vertices, b.faces))


def test_cloudvolume_reads_a_roots_mesh_through_the_manifest(server, source):
    root, _ = edited_root(source)
    seg = cave(server).client.info.segmentation_source()
    with pytest.raises(requests.HTTPError, match="401"):  # the manifest wants the token
        CloudVolume(seg, progress=False, use_https=True, secrets={"token": "00ff"}).mesh.get(root)
    cv = CloudVolume(seg, progress=False, use_https=True, secrets={"token": TOKEN})
    got = cv.mesh.get(root)[root]
    ref = source.root_mesh(root, None)
    same_mesh(got.vertices, got.faces, ref)
    assert len(cv.mesh.get_fragment_labels(root)) == len(source.l2_ids(root))


def test_manifest_and_fragments_over_http(server, source):
    root, _ = edited_root(source)
    url = f"{server.url}/meshing/api/v1/table/{source_pcg(server)}/manifest/{root}:0"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(url, timeout=20).status_code == 401
    man = requests.get(url, params={"verify": True, "return_seg_ids": 1}, headers=auth, timeout=20).json()
    assert sorted(man["seg_ids"]) == sorted(int(i) for i in source.l2_ids(root))
    assert man["fragments"] == [f"{i}:0" for i in man["seg_ids"]]
    # fragments are plain bucket reads: no token
    fragments = f"{server.url}/tissue/{server.datastack}/watershed/graphene_meshes"
    frag = requests.get(f"{fragments}/{man['fragments'][0]}", timeout=20)
    assert frag.status_code == 200
    n = int(np.frombuffer(frag.content[:4], "<u4")[0])
    assert len(frag.content) == 4 + 12 * n + 12 * ((len(frag.content) - 4 - 12 * n) // 12)
    # bad requests say what was wrong
    bad = requests.get(url.replace(f"{root}:0", "abc"), headers=auth, timeout=20)
    assert bad.status_code == 400 and "root_id" in bad.text
    unknown = requests.get(url.replace(str(root), "576460752303423999"), headers=auth, timeout=20)
    assert unknown.status_code == 404 and "576460752303423999" in unknown.text
    missing = requests.get(f"{fragments}/12:0", timeout=20)
    assert missing.status_code == 404 and "12" in missing.text


def source_pcg(server) -> str:
    return cave(server).client.info.segmentation_source().rsplit("/", 1)[-1]


@pytest.mark.parametrize("materialization", ["latest", 2])
def test_cave_source_equals_snapshot(server, source, materialization):
    root, _ = edited_root(source)
    remote = nc.get_mesh([root], materialization=materialization, dataset=cave(server))
    local = nc.get_mesh([root], materialization=materialization, dataset=snapshot())
    assert remote[0].id == local[0].id
    same_mesh(remote[0].vertices, remote[0].faces, local[0].trimesh)
    if materialization == 2:  # the edit shows: an older root, another shape
        assert local[0].id != root


def test_cave_source_neuropils_and_brain(server):
    remote = cave(server)
    neuropils = remote.neuropil_meshes()
    local = nc.get_neuropil_meshes(dataset=snapshot())
    assert list(neuropils) == list(local)
    for name, mesh in local.items():
        same_mesh(neuropils[name].vertices, neuropils[name].faces, mesh)
    brain = remote.brain_mesh()
    same_mesh(brain.vertices, brain.faces, nc.get_brain_mesh(dataset=snapshot()))
    # the static layer is legacy precomputed, as neuroglancer reads CRANTb's tissue mesh
    layer = f"{server.url}/tissue/{server.datastack}/tissue_mesh/mesh"
    assert requests.get(f"{layer}/info", timeout=20).json()["@type"] == "neuroglancer_legacy_mesh"
    frag = requests.get(f"{layer}/1:0", timeout=20).json()["fragments"][0]
    plain = Mesh.from_precomputed(requests.get(f"{layer}/{frag}", timeout=20).content)
    assert len(plain.faces) == len(brain.faces)


def test_a_dataset_without_mesh_urls(server):
    cfg = CaveDatasetConfig(name="no-urls", server_address=server.url, datastack=server.datastack,
                            timeout=20.0)
    remote = CaveSource(cfg, auth_token=TOKEN)
    with pytest.raises(TissueUnavailable, match="brain_mesh_source"):
        remote.brain_mesh()
    with pytest.raises(TissueUnavailable, match="neuropil_mesh_source"):
        remote.neuropil_meshes()


def test_a_server_without_meshes(home, tiny_path):
    import tiny

    with serve_in_thread(SnapshotSource(tiny_path), token=TOKEN) as srv:
        remote = cave(srv, name="no-meshes")
        with pytest.raises(TissueUnavailable, match=f"no mesh for root {int(tiny.B2)}"):
            nc.get_mesh(int(tiny.B2), dataset=remote)
        r = requests.get(f"{srv.url}/meshing/api/v1/table/{source_pcg(srv)}/manifest/{int(tiny.B2)}:0",
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20)
        assert r.status_code == 404 and "skeleton_nodes" in r.text
        # its neuropil boxes are still served as surfaces
        assert len(remote.neuropil_meshes()) == len(SnapshotSource(tiny_path).neuropils())
