"""The local server's EM (precomputed) and segmentation (graphene), read by the unmodified
cloud-volume and by CaveSource; a server without tissue; a lost network."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import requests
from cloudvolume import Bbox, CloudVolume
from test_cutout_api import SIZE, edited_synapse, point_nm
from tissue_data import snapshot
from tissue_server import TOKEN, isolated_home, served

import napari_crant as nc
from napari_crant import TissueUnavailable
from napari_crant.materialization import resolve_materialization
from napari_crant.server.runner import serve_in_thread
from napari_crant.snapshot.cut import cut_snapshot
from napari_crant.sources.cave import CaveConnectionError, CaveDatasetConfig, CaveSource
from napari_crant.sources.snapshot import SnapshotSource
from napari_crant.tissue.remote import tensorstore_base_url


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


def cave(server, name="local-tissue") -> CaveSource:
    cfg = CaveDatasetConfig(name=name, server_address=server.url, datastack=server.datastack, timeout=20.0)
    return CaveSource(cfg, auth_token=TOKEN)


def test_the_datastack_names_its_em_and_segmentation(server):
    info = cave(server).client.info
    assert info.image_source() == f"precomputed://{server.url}/tissue/{server.datastack}/em"
    assert info.segmentation_source().startswith(f"graphene://{server.url}/segmentation/table/")


def test_cloudvolume_reads_the_em_the_snapshot_renders(server, source):
    cv = CloudVolume(cave(server).client.info.image_source(), progress=False, use_https=True)
    assert cv.dtype == "uint8" and len(cv.meta.scales) == 8
    vox = np.round(point_nm(source, 4) / source.voxel_resolution).astype(np.int64)
    for mip, lo in ((0, vox - (100, 70, 5)), (1, vox // (2, 2, 1) - (30, 40, 3))):
        hi = lo + np.array((200, 150, 11))  # across chunk borders in x, y and z
        got = np.asarray(cv.download(Bbox(lo, hi), mip=mip))[..., 0]
        np.testing.assert_array_equal(got, source.em_cutout(np.stack([lo, hi]), mip))


@pytest.mark.parametrize(("early", "late", "side"), [(2, 3, "pre"), ("latest", "live", "post")])
def test_cloudvolume_graphene_roots_at_a_timestamp(server, source, early, late, side):
    seg = cave(server).client.info.segmentation_source()
    with pytest.raises(requests.HTTPError, match="401"):  # the chunkedgraph wants the token
        CloudVolume(seg, progress=False, secrets={"token": "00ff"})
    cv = CloudVolume(seg, progress=False, use_https=True, secrets={"token": TOKEN})
    row = edited_synapse(source, early, late, side)
    p = point_nm(source, row, side)
    vox = np.round(p / source.voxel_resolution).astype(np.int64)
    lo, hi = vox - np.array((64, 64, 1)), vox + np.array((64, 64, 2))
    sv = source.segmentation_cutout(np.stack([lo, hi]), 0)
    np.testing.assert_array_equal(np.asarray(cv.download(Bbox(lo, hi), agglomerate=False))[..., 0], sv)
    roots = []
    for m in (early, late):
        at = resolve_materialization(source, m)
        got = np.asarray(cv.download(Bbox(lo, hi), agglomerate=True,
                                     timestamp=at.timestamp.timestamp()))[..., 0]
        mine = nc.get_segmentation_cutout(bbox_nm=(lo * source.voxel_resolution,
                                                   hi * source.voxel_resolution - 1),
                                          materialization=m, dataset=source)
        np.testing.assert_array_equal(got, mine.data.transpose(2, 1, 0))
        roots.append(got[64, 64, 1])
    assert roots[0] != roots[1]


@pytest.mark.parametrize("materialization", ["latest", 3, "live"])
def test_cave_source_equals_snapshot_source(server, source, materialization):
    cs = cave(server)
    row = edited_synapse(source, 3, "live", "post")
    p = point_nm(source, row, "post")
    a = nc.get_em_cutout(p, size_nm=SIZE, dataset=cs)
    b = nc.get_em_cutout(p, size_nm=SIZE, dataset=source)
    np.testing.assert_array_equal(a.data, b.data)
    assert (a.scale, a.translate, a.bbox_vox) == (b.scale, b.translate, b.bbox_vox)
    assert a.attrs["url"].startswith("precomputed://http://127.0.0.1")
    assert cs._tissue._stores  # the EM was read with tensorstore (the faster reader)
    for agglomerate in (False, True):
        s = nc.get_segmentation_cutout(p, size_nm=SIZE, materialization=materialization,
                                       agglomerate=agglomerate, dataset=cs)
        t = nc.get_segmentation_cutout(p, size_nm=SIZE, materialization=materialization,
                                       agglomerate=agglomerate, dataset=source)
        np.testing.assert_array_equal(s.data, t.data)
        assert s.data.dtype == np.uint64 and s.translate == t.translate
    syn = nc.get_synapses(post_ids=[s.value_at(p[::-1])], materialization=materialization, dataset=cs,
                          clean=False)
    assert int(source._synapses["id"][row]) in set(syn["id"].tolist())


def test_chunks_are_plain_reads_and_gzip_on_request(server):
    base = f"{server.url}/tissue/{server.datastack}/em"
    info = requests.get(f"{base}/info", timeout=10).json()  # no token
    scale = info["scales"][0]
    assert scale["encoding"] == "raw" and scale["key"] == "8_8_42"
    url = f"{base}/{scale['key']}/128-256_256-384_16-24"
    raw = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=30)
    assert raw.status_code == 200 and "content-encoding" not in raw.headers
    assert len(raw.content) == 128 * 128 * 8
    gz = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30, stream=True)
    assert gz.headers["content-encoding"] == "gzip"
    assert gzip.decompress(gz.raw.read()) == raw.content
    # the chunkedgraph info needs the token and names the supervoxel layer
    table = f"{server.url}/segmentation/table/{SnapshotSource(snapshot()).info['pcg_table']}/info"
    assert requests.get(table, timeout=10).status_code == 401
    cg = requests.get(table, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    assert cg["data_dir"] == f"{server.url}/tissue/{server.datastack}/watershed"
    assert cg["graph"]["n_layers"] >= 2 and cg["data_type"] == "uint64"


@pytest.mark.parametrize(("path", "status"), [
    ("em/8_8_42/100-228_0-128_0-8", 404),       # not aligned to the chunk grid
    ("em/8_8_42/0-128_0-128", 400),             # malformed
    ("em/3_3_3/0-128_0-128_0-8", 404),          # no such scale
    ("em/8_8_42/99999872-100000000_0-128_0-8", 404),  # outside the volume
    ("mesh/8_8_42/0-128_0-128_0-8", 404),       # no such layer
])
def test_bad_chunk_requests_are_refused_clearly(server, path, status):
    r = requests.get(f"{server.url}/tissue/{server.datastack}/{path}", timeout=10)
    assert r.status_code == status
    assert r.json()["message"]


def test_a_server_without_tissue(home, tiny_path):
    with serve_in_thread(tiny_path, token=TOKEN) as srv:
        cs = cave(srv, name="no-tissue")
        with pytest.raises(TissueUnavailable, match=r"no-tissue.*has no image \(EM\) source"):
            nc.get_em_cutout((1000, 1000, 1000), dataset=cs)
        with pytest.raises(TissueUnavailable, match=r"no-tissue.*segmentation"):
            nc.get_segmentation_cutout((1000, 1000, 1000), dataset=cs)
        r = requests.get(f"{srv.url}/tissue/{srv.datastack}/em/info", timeout=10)
        assert r.status_code == 404 and "has no tissue" in r.json()["message"]


def test_a_lost_network_is_a_clear_error(home, source):
    with serve_in_thread(source, token=TOKEN) as srv:
        cs = cave(srv, name="lost")
        p = point_nm(source, 1)
        nc.get_em_cutout(p, size_nm=(256, 256, 42), dataset=cs)
    far = point_nm(source, 30)
    with pytest.raises(TissueUnavailable, match=r"lost.*could not be read") as err:
        nc.get_em_cutout(far, size_nm=(256, 256, 42), dataset=cs)
    assert TOKEN not in str(err.value)
    # the materialization is resolved first, through the (lost) CAVE services
    with pytest.raises(CaveConnectionError, match=r"lost.*cannot connect"):
        nc.get_segmentation_cutout(far, size_nm=(256, 256, 42), agglomerate=False, dataset=cs)


def test_a_cut_keeps_the_real_sources(server, source, tmp_path):
    cs = cave(server, name="cut-from")
    row = 5
    root = int(source.roots_of_supervoxels(source._synapses["pre_pt_supervoxel_id"][row:row + 1],
                                           resolve_materialization(source, "latest"))[0])
    out = cut_snapshot(cs, [root], tmp_path / "cut")
    info = json.loads((out / "manifest.json").read_text())["info"]
    assert info["image_source"] == cs.client.info.image_source()
    assert info["segmentation_source"] == cs.client.info.segmentation_source()
    cut = SnapshotSource(out)
    p = point_nm(source, row)
    a = nc.get_em_cutout(p, size_nm=SIZE, dataset=cut)  # the real EM, read over the network
    np.testing.assert_array_equal(a.data, nc.get_em_cutout(p, size_nm=SIZE, dataset=source).data)


def test_tensorstore_reads_precomputed_over_http_and_public_buckets():
    assert tensorstore_base_url("precomputed://gs://dkronauer-ant-001-alignment-final/aligned") == (
        "https://storage.googleapis.com/dkronauer-ant-001-alignment-final/aligned/")
    assert tensorstore_base_url("precomputed://http://127.0.0.1:9/tissue/x/em/") == (
        "http://127.0.0.1:9/tissue/x/em/")
    assert tensorstore_base_url("precomputed://file:///tmp/em") is None
    assert tensorstore_base_url("graphene://https://x/segmentation/table/t") is None
