"""Meshes the way CRANTb's servers give them: the chunkedgraph's mesh manifest and fragments,
and static precomputed meshes of the brain and its neuropils.

Routes (see ``docs/cave-server.md``):

- ``GET /meshing/api/v1/table/{pcg}/manifest/{root}:{lod}`` (token required, as in
  production): ``{"fragments": [...]}`` (and ``"seg_ids"`` with ``return_seg_ids=1``), one
  fragment per level-2 chunk of the root. ``verify`` and ``start_layer`` are accepted;
  ``bounds`` is refused (400);
- ``GET /tissue/{datastack}/watershed/graphene_meshes/info`` and ``.../{l2}:0``: the
  fragments, in the legacy precomputed format (``uint32 n``, ``n x 3 float32`` vertices in
  nm, ``uint32`` triangles), unsharded, as cloud-volume's graphene mesh reader reads them
  from the segmentation's ``data_dir``/``mesh``. Plain bucket reads: no token
  (:data:`PUBLIC_PREFIX`);
- ``GET /tissue/{datastack}/tissue_mesh/mesh/...``: the brain (segment
  :data:`BRAIN_SEGMENT`), and ``/tissue/{datastack}/neuropils/mesh/...``: one segment per
  neuropil (``i + 1`` for the ``i``-th, names in ``segment_properties``), each a static
  precomputed legacy mesh (``info``, manifest ``{id}:0``, fragment ``{id}:0:{name}``).

A snapshot without meshes answers 404 saying so. Register this router before any router with
a catch-all route under ``/tissue/{ds}/{layer}/{key}/{chunk}``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from napari_crant.materialization import resolve_materialization
from napari_crant.server.context import ServerContext
from napari_crant.server.http import BadRequest, NotFound
from napari_crant.tissue.errors import TissueUnavailable

__all__ = ["BRAIN_SEGMENT", "MESH_DIR", "PUBLIC_PREFIX", "encode_precomputed", "make_router",
           "mesh_data_dir"]

#: Paths under this prefix are served without a token (plain bucket reads in production).
PUBLIC_PREFIX = "/tissue/"
#: The segmentation info's ``mesh`` (directory of the fragments under ``data_dir``).
MESH_DIR = "graphene_meshes"
#: Segment ID of the brain in the static ``tissue_mesh/mesh`` layer.
BRAIN_SEGMENT = 1
_FRAGMENT_RE = re.compile(r"^(\d+):0$")
_MANIFEST_RE = re.compile(r"^(\d+):(\d+)$")
_STATIC_LAYERS = ("tissue_mesh", "neuropils")


def mesh_data_dir(ctx: ServerContext, base: str) -> str:
    """The segmentation info's ``data_dir`` under which ``MESH_DIR`` holds the fragments."""
    return f"{base}{PUBLIC_PREFIX}{ctx.datastack}/watershed"


def encode_precomputed(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """A mesh in Neuroglancer's legacy precomputed format (little-endian)."""
    verts = np.ascontiguousarray(vertices, dtype="<f4").reshape(-1, 3)
    tris = np.ascontiguousarray(faces, dtype="<u4").reshape(-1, 3)
    return np.array([len(verts)], "<u4").tobytes() + verts.tobytes() + tris.tobytes()


def _binary(body: bytes) -> Response:
    return Response(content=body, media_type="application/octet-stream")


def make_router(ctx: ServerContext) -> APIRouter:
    """The mesh manifest, fragment and static mesh routes."""
    router = APIRouter()
    source = ctx.source

    def unavailable(e: TissueUnavailable) -> NotFound:
        return NotFound(f"this server has no such mesh: {e}")

    def mesher() -> Any:
        try:
            return source._meshes.mesher
        except TissueUnavailable as e:
            raise unavailable(e) from None

    def root_l2(root: int) -> np.ndarray:
        known, _ = source.root_status(np.array([root], np.uint64), resolve_materialization(source, "live"))
        if not known[0]:
            raise NotFound(f"root {root} is not a root of this chunkedgraph")
        return source.l2_ids(root)

    @router.get("/meshing/api/v1/table/{table_id}/manifest/{node}")
    async def manifest(table_id: str, node: str, request: Request) -> dict[str, Any]:
        ctx.check_pcg_table(table_id)
        m = _MANIFEST_RE.match(node)
        if m is None:
            raise BadRequest(f"manifest {node!r}: expected '<root_id>:<lod>'")
        if request.query_params.get("bounds"):
            raise BadRequest("bounds: bounding boxes are not supported by this server")
        root = int(m.group(1))
        if root >= 2**64:
            raise BadRequest(f"root_id {root} does not fit in uint64")
        gen = mesher()
        l2 = await run_in_threadpool(root_l2, root)
        l2 = l2[gen.known(l2)]
        out: dict[str, Any] = {"fragments": [f"{int(i)}:0" for i in l2]}
        if request.query_params.get("return_seg_ids") in ("1", "true", "True"):
            out["seg_ids"] = [int(i) for i in l2]
        return out

    def check_watershed(ds: str) -> None:
        ctx.check_datastack(ds)
        mesher()

    @router.get(PUBLIC_PREFIX + "{ds}/watershed/" + MESH_DIR + "/info")
    def fragments_info(ds: str) -> dict[str, Any]:
        check_watershed(ds)
        return {"@type": "neuroglancer_legacy_mesh"}

    @router.get(PUBLIC_PREFIX + "{ds}/watershed/" + MESH_DIR + "/{name}")
    async def fragment(ds: str, name: str) -> Response:
        check_watershed(ds)
        m = _FRAGMENT_RE.match(name)
        if m is None or int(m.group(1)) >= 2**64:
            raise NotFound(f"mesh fragment {name!r} not found (fragments are '<l2_id>:0')")
        l2 = np.array([int(m.group(1))], np.uint64)
        gen = mesher()
        if not gen.known(l2)[0]:
            raise NotFound(f"mesh fragment {name!r} not found: L2 chunk {int(l2[0])} has no mesh")
        verts, faces = (await run_in_threadpool(gen.fragments, l2))[int(l2[0])]
        return _binary(encode_precomputed(verts, faces))

    def static_meshes(ds: str, layer: str) -> dict[int, tuple[str, Any]]:
        ctx.check_datastack(ds)
        if layer not in _STATIC_LAYERS:
            raise NotFound(f"mesh layer {layer!r} not found; this server serves {list(_STATIC_LAYERS)}")
        try:
            if layer == "tissue_mesh":
                return {BRAIN_SEGMENT: ("brain", source.brain_mesh())}
            meshes = source.neuropil_meshes()
        except TissueUnavailable as e:
            raise unavailable(e) from None
        return {i + 1: (name, mesh) for i, (name, mesh) in enumerate(meshes.items())}

    @router.get(PUBLIC_PREFIX + "{ds}/{layer}/mesh/info")
    def static_info(ds: str, layer: str) -> dict[str, Any]:
        static_meshes(ds, layer)
        return {"@type": "neuroglancer_legacy_mesh", "segment_properties": "segment_properties"}

    @router.get(PUBLIC_PREFIX + "{ds}/{layer}/mesh/segment_properties/info")
    def static_properties(ds: str, layer: str) -> dict[str, Any]:
        meshes = static_meshes(ds, layer)
        return {"@type": "neuroglancer_segment_properties",
                "inline": {"ids": [str(i) for i in meshes],
                           "properties": [{"id": "label", "type": "label",
                                           "values": [name for name, _ in meshes.values()]}]}}

    @router.get(PUBLIC_PREFIX + "{ds}/{layer}/mesh/{name}")
    def static_file(ds: str, layer: str, name: str) -> Response:
        meshes = static_meshes(ds, layer)
        parts = name.split(":")
        if len(parts) < 2 or not parts[0].isdigit() or parts[1] != "0" or int(parts[0]) not in meshes:
            raise NotFound(f"mesh {name!r} not found in {layer}; segments are {sorted(meshes)}")
        seg = int(parts[0])
        label, mesh = meshes[seg]
        if len(parts) == 2:
            return Response(content=f'{{"fragments": ["{seg}:0:{label}"]}}', media_type="application/json")
        if parts[2:] != [label]:
            raise NotFound(f"mesh fragment {name!r} not found (segment {seg}'s is '{seg}:0:{label}')")
        return _binary(encode_precomputed(mesh.vertices, mesh.faces))

    return router
