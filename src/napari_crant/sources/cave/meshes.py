"""A CAVE datastack's meshes, read with cloud-volume as CRANTb's tools do.

A root's mesh comes through the chunkedgraph's mesh manifest (graphene segmentation source,
the client's token sent as ``secrets=``) and its fragments; the brain and neuropil surfaces
from static precomputed mesh layers named in the dataset's configuration
(``brain_mesh_source``, ``neuropil_mesh_source``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_crant.tissue.errors import TissueUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from napari_crant.sources.cave.source import CaveSource

__all__ = ["DEFAULT_BRAIN_SEGMENT", "CaveMeshes"]

#: Segment ID of the brain in a static brain mesh layer (the one napari-crant's server uses).
DEFAULT_BRAIN_SEGMENT = 1
_MISSING = object()


def _trimesh(vertices: np.ndarray, faces: np.ndarray) -> Any:
    import trimesh

    return trimesh.Trimesh(np.asarray(vertices, np.float32), np.asarray(faces, np.int64), process=False)


def _strip_precomputed(url: str) -> str:
    return url[len("precomputed://"):] if url.startswith("precomputed://") else url


class CaveMeshes:
    """Root, neuropil and brain meshes of one :class:`CaveSource` (built lazily)."""

    def __init__(self, source: CaveSource):
        self._source = source
        self._lock = threading.Lock()
        self._cv: Any = None
        self._static: dict[str, Any] = {}

    def _token(self) -> str | None:
        secret = self._source.connection._secret()
        return secret.reveal() if secret else None

    def _graphene(self) -> Any:
        from cloudvolume import CloudVolume

        with self._lock:
            if self._cv is None:
                seg = self._source._run(
                    "datastack info", lambda: self._source.client.info.segmentation_source() or "")
                if not seg.startswith("graphene://"):
                    raise TissueUnavailable(
                        f"dataset {self._source.name!r} has no graphene segmentation (its "
                        f"segmentation_source is {seg!r}), so no neuron meshes")
                token = self._token()
                self._cv = self._source._run("opening the segmentation", lambda: CloudVolume(
                    seg, progress=False, use_https=True,
                    secrets={"token": token} if token else None))
            return self._cv

    def root_mesh(self, root_id: int) -> Any:
        """The mesh of ``root_id`` (``trimesh.Trimesh``, nm) from the manifest and fragments."""
        import requests

        cv = self._graphene()

        def fetch() -> Any:
            try:
                return cv.mesh.get(int(root_id), fuse=False)
            except requests.HTTPError as e:
                if e.response is not None and e.response.status_code == 404:
                    return _MISSING
                raise
            except IndexError:  # cloud-volume: "No mesh fragments found"
                return _MISSING

        got = self._source._run(f"mesh of root {int(root_id)}", fetch)
        if got is _MISSING or not got:
            raise TissueUnavailable(
                f"dataset {self._source.name!r} has no mesh for root {int(root_id)} (its mesh "
                "manifest or fragments were not found)")
        mesh = got.get(int(root_id)) or next(iter(got.values()))
        return _trimesh(mesh.vertices, mesh.faces)

    def _static_files(self, url: str | None, what: str) -> Any:
        """CloudFiles over a static precomputed mesh layer (cloud-volume 12's
        ``PrecomputedMeshSource.from_cloudpath`` cannot be built, so the legacy format is read
        with its parts: manifests ``{id}:0`` and fragments via cloud-files, decoded by
        ``cloudvolume.Mesh.from_precomputed``)."""
        from cloudfiles import CloudFiles

        if not url:
            raise TissueUnavailable(
                f"dataset {self._source.name!r} has no {what} meshes (set {what}_mesh_source in "
                "its configuration to a precomputed mesh layer)")
        path = _strip_precomputed(url)
        if path.startswith("gs://"):
            path = "https://storage.googleapis.com/" + path[len("gs://"):]
        return CloudFiles(path)

    def _read(self, url: str | None, what: str, segids: list[int]) -> dict[int, Any]:
        from cloudvolume import Mesh

        files = self._static_files(url, what)

        def fetch() -> Any:
            manifests = files.get_json([f"{s}:0" for s in segids])
            if any(m is None or "fragments" not in m for m in manifests):
                return _MISSING
            out = {}
            for seg, man in zip(segids, manifests, strict=True):
                blobs = files.get(man["fragments"])
                if any(b["content"] is None for b in blobs):
                    return _MISSING
                parts = [Mesh.from_precomputed(b["content"]) for b in blobs]
                out[seg] = Mesh.concatenate(*parts) if len(parts) > 1 else parts[0]
            return out

        got = self._source._run(f"reading the {what} meshes", fetch)
        if got is _MISSING or not got:
            raise TissueUnavailable(f"dataset {self._source.name!r}: no {what} mesh at {url}")
        return {int(k): _trimesh(m.vertices, m.faces) for k, m in got.items()}

    def brain_mesh(self, url: str | None, segment: int = DEFAULT_BRAIN_SEGMENT) -> Any:
        """The brain's surface from the static layer at ``url``."""
        return self._read(url, "brain", [segment])[segment]

    def neuropil_meshes(self, url: str | None) -> dict[str, Any]:
        """``{name: mesh}`` of every segment listed in the layer's segment properties."""
        files = self._static_files(url, "neuropil")

        def labels() -> Any:
            return files.get_json("segment_properties/info")  # a missing file reads as None

        props = self._source._run("reading the neuropil names", labels)
        if props is _MISSING or not props:
            raise TissueUnavailable(
                f"dataset {self._source.name!r}: the neuropil meshes at {url} list no segments")
        inline = props["inline"]
        names = next(p["values"] for p in inline["properties"] if p.get("type") == "label")
        ids = [int(i) for i in inline["ids"]]
        meshes = self._read(url, "neuropil", ids)
        return {str(name): meshes[i] for i, name in zip(ids, names, strict=True)}
