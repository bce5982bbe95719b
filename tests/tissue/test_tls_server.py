"""The local server over HTTPS, authenticating as CRANTb's servers do, read by the real
caveclient and cloud-volume (trusting a throwaway CA through ``REQUESTS_CA_BUNDLE``):

- the datastack info names ``graphene://middleauth+https://...`` and ``precomputed://https://...``;
- chunkedgraph (info, roots), mesh manifest: the token is sent, and refused without it;
- EM and supervoxel chunks and mesh fragments: plain reads, the token is NOT sent to them
  (the server records which requests carried an ``Authorization`` header, never its value).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import requests
from cloudvolume import Bbox, CloudVolume
from mesh_data import edited_root
from tissue_data import snapshot
from tissue_server import TOKEN, isolated_home
from tls_certs import make_certificates

import napari_crant as nc
from napari_crant.cli import main as cli_main
from napari_crant.server.runner import serve_in_thread
from napari_crant.server.tls import ServerTlsError, TlsFiles
from napari_crant.sources.cave import CaveAuthError, CaveConnectionError, CaveDatasetConfig, CaveSource
from napari_crant.sources.snapshot import SnapshotSource

OTHER_TOKEN = "0123456789abcdef0123456789abcdef"  # a wrong, made-up hex token


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def home(tmp_path_factory, certs):
    with isolated_home(tmp_path_factory.mktemp("home")), pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", str(certs.bundle))  # requests: caveclient, cloud-volume/files
        mp.setenv("TENSORSTORE_CA_BUNDLE", str(certs.bundle))  # tensorstore: EM cutouts
        yield


@pytest.fixture(scope="module")
def source():
    return SnapshotSource(snapshot())


@pytest.fixture(scope="module")
def server(home, source, certs):
    with serve_in_thread(source, token=TOKEN, tls=TlsFiles(certs.cert, certs.key)) as srv:
        yield srv


@pytest.fixture()
def log(server):
    server.app.state.requests.reset()
    return server.app.state.requests


def cave(server, token: str = TOKEN) -> CaveSource:
    cfg = CaveDatasetConfig(name="local-tls", server_address=server.url, datastack=server.datastack,
                            timeout=20.0, retries=0)
    return CaveSource(cfg, auth_token=token)


def test_info_names_the_sources_as_production(server):
    assert server.url.startswith("https://127.0.0.1:")
    info = cave(server).client.info
    assert info.segmentation_source() == (
        f"graphene://middleauth+{server.url}/segmentation/table/{server.app.state.backend.chunkedgraph.pcg_table}")
    assert info.image_source() == f"precomputed://{server.url}/tissue/{server.datastack}/em"


def _is_public(path: str) -> bool:
    return path.startswith("/tissue/")


def test_segmentation_roots_and_mesh_carry_the_token_chunks_do_not(server, source, log):
    root, _ = edited_root(source)
    seg_url = cave(server).client.info.segmentation_source()
    log.reset()
    seg = CloudVolume(seg_url, progress=False, use_https=True, secrets={"token": TOKEN},
                      agglomerate=True, fill_missing=True)
    l2 = source.l2_attributes(source.l2_ids(root)).iloc[0]
    centre = (np.array([l2["x"], l2["y"], l2["z"]]) / seg.meta.resolution(0)).astype(int)
    half = np.array([16, 16, 1])
    box = Bbox(centre - half, centre + half)
    roots = np.asarray(seg.download(box, mip=0, agglomerate=True))
    supervoxels = np.asarray(seg.download(box, mip=0, agglomerate=False))
    mesh = seg.mesh.get(root)[root]
    assert root in set(roots.ravel().tolist())
    assert supervoxels.max() > 0 and not np.array_equal(roots, supervoxels)
    assert len(mesh.faces) > 0
    with_token, without = log.paths_with_token(), log.paths_without_token()
    pcg = server.app.state.backend.chunkedgraph.pcg_table
    assert f"/segmentation/table/{pcg}/info" in with_token
    assert f"/segmentation/api/v1/table/{pcg}/roots_binary" in with_token
    assert f"/meshing/api/v1/table/{pcg}/manifest/{root}:0" in with_token
    # chunks and mesh fragments were read, and none of them with the token
    assert any(p.startswith(f"/tissue/{server.datastack}/watershed/8_8_42/") for p in without)
    assert any("/graphene_meshes/" in p for p in without)
    assert not [p for p in with_token if _is_public(p)], with_token
    assert not [p for p in without if not _is_public(p)], without  # everything else had it


def test_em_needs_no_token_and_gets_none(server, source, log):
    em_url = cave(server).client.info.image_source()
    log.reset()
    em = CloudVolume(em_url, progress=False, use_https=True, fill_missing=True)  # no secrets at all
    node = source.skeleton_nodes().iloc[0]
    centre = (np.array([node["x"], node["y"], node["z"]]) / em.meta.resolution(0)).astype(int)
    half = np.array([32, 32, 1])
    img = np.asarray(em.download(Bbox(centre - half, centre + half), mip=0))
    assert img.dtype == np.uint8 and img.std() > 0
    assert log.count > 0 and log.paths_with_token() == {}
    assert all(_is_public(p) for p in log.paths())


_EM_CHILD = """
import hashlib, sys
import numpy as np
import napari_crant as nc
from napari_crant.sources.cave import CaveDatasetConfig, CaveSource
url, datastack, token, x, y, z = sys.argv[1:7]
src = CaveSource(CaveDatasetConfig(name="tls-child", server_address=url, datastack=datastack, retries=0),
                 auth_token=token)
cut = nc.get_em_cutout((float(x), float(y), float(z)), size_nm=(800, 800, 168), dataset=src)
print(cut.data.shape, hashlib.sha256(np.ascontiguousarray(cut.data).tobytes()).hexdigest())
"""


def test_cave_source_reads_everything_over_https(server, source, log, certs):
    root, _ = edited_root(source)
    remote = cave(server)
    version = int(source.versions()["version"].max())
    pd_remote = nc.get_connectivity(root, materialization=version, dataset=remote)
    pd_local = nc.get_connectivity(root, materialization=version, dataset=source)
    assert pd_remote["weight"].sum() == pd_local["weight"].sum() > 0
    assert pd_remote["pre"].dtype == np.uint64
    # EM cutouts are read with tensorstore, which reads TENSORSTORE_CA_BUNDLE once per process:
    # in a new process, as a user starting napari with both variables set
    node = source.skeleton_nodes().iloc[0]
    centre = [float(node[a]) for a in "xyz"]
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(certs.bundle), "TENSORSTORE_CA_BUNDLE": str(certs.bundle)}
    out = subprocess.run([sys.executable, "-c", _EM_CHILD, server.url, server.datastack, TOKEN,
                          *map(str, centre)], capture_output=True, text=True, env=env, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    ref = nc.get_em_cutout(centre, size_nm=(800, 800, 168), dataset=source)
    digest = hashlib.sha256(np.ascontiguousarray(ref.data).tobytes()).hexdigest()
    assert out.stdout.strip().splitlines()[-1] == f"{ref.data.shape} {digest}"
    assert any(p.startswith(f"/tissue/{server.datastack}/em/") for p in log.paths())
    assert not [p for p in log.paths_with_token() if _is_public(p)]


def test_refused_without_the_token(server, source):
    root, _ = edited_root(source)
    seg_url = cave(server).client.info.segmentation_source()
    with pytest.raises(requests.HTTPError, match="401"):
        CloudVolume(seg_url, progress=False, use_https=True, secrets={"token": OTHER_TOKEN})
    pcg = server.app.state.backend.chunkedgraph.pcg_table
    manifest = f"{server.url}/meshing/api/v1/table/{pcg}/manifest/{root}:0"
    def status(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(manifest, headers=headers, timeout=20).status_code

    assert (status(None), status(OTHER_TOKEN), status(TOKEN)) == (401, 401, 200)
    roots = f"{server.url}/segmentation/api/v1/table/{pcg}/roots_binary"
    body = np.array([root], dtype=np.uint64).tobytes()
    assert requests.post(roots, data=body, timeout=20).status_code == 401
    assert requests.post(roots, data=body, headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=20).status_code == 200
    with pytest.raises(CaveAuthError, match="401"):
        nc.get_connectivity(root, dataset=cave(server, token=OTHER_TOKEN))


def test_chunks_need_no_token(server, log):
    """A supervoxel chunk and the EM chunk at the same place, read with no token at all."""
    seg = CloudVolume(cave(server).client.info.segmentation_source(), progress=False, use_https=True,
                      secrets={"token": TOKEN})
    key = seg.meta.key(0)
    size = seg.meta.chunk_size(0)
    lo = np.asarray(seg.meta.voxel_offset(0)) + size * 2
    name = "_".join(f"{a}-{b}" for a, b in zip(lo, lo + size, strict=True))
    log.reset()
    for layer in ("watershed", "em"):
        got = requests.get(f"{server.url}/tissue/{server.datastack}/{layer}/{key}/{name}", timeout=20)
        assert got.status_code == 200 and len(got.content) > 0, (layer, got.status_code)
    assert log.paths_with_token() == {} and len(log.paths_without_token()) == 2


def test_an_untrusted_certificate_is_a_clear_error(server, source, monkeypatch):
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # without the test CA
    root, _ = edited_root(source)
    with pytest.raises(CaveConnectionError, match="certificate"):
        nc.get_connectivity(root, dataset=cave(server))


def test_bad_certificate_files_are_named(certs, tmp_path):
    with pytest.raises(ServerTlsError, match="both"):
        TlsFiles.from_args(certs.cert, None)
    with pytest.raises(ServerTlsError, match="does not exist"):
        TlsFiles.from_args(tmp_path / "missing.pem", certs.key)
    (tmp_path / "junk.pem").write_text("hello")
    with pytest.raises(ServerTlsError, match="not PEM"):
        TlsFiles.from_args(tmp_path / "junk.pem", certs.key)
    with pytest.raises(ServerTlsError, match="cannot be used together"):
        TlsFiles.from_args(certs.cert, certs.other_key)
    assert TlsFiles.from_args(None, None) is None


def test_serve_refuses_a_key_that_is_not_the_certificates(certs, capsys):
    code = cli_main(["serve", "--dataset", str(snapshot()), "--port", "0", "--tls-cert", str(certs.cert),
                     "--tls-key", str(certs.other_key)])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot be used together" in err and "Traceback" not in err
