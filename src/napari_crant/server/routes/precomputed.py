"""The demo's EM and supervoxels as Neuroglancer precomputed volumes, and the graphene info.

Routes (see ``docs/cave-server.md``):

- ``GET /tissue/{datastack}/{em|watershed}/info``: the precomputed ``info`` (mips 0..7,
  chunks of :data:`~napari_crant.tissue.synthetic.CHUNK_SIZE`, raw encoding);
- ``GET /tissue/{datastack}/{em|watershed}/{key}/{x0}-{x1}_{y0}-{y1}_{z0}-{z1}``: one chunk,
  raw little-endian (x fastest), gzip when the client accepts it. Like CRANTb's buckets,
  these are plain reads: no token (:data:`PUBLIC_PREFIX`);
- ``GET /segmentation/table/{pcg}/info``: the chunkedgraph's info (token required), the
  watershed layer's info plus ``data_dir`` (pointing at the watershed layer above), ``graph``
  (chunk size, layers, bits) and ``app``, as cloud-volume's graphene frontend reads it.

A snapshot without ``skeleton_nodes.arrow`` has no tissue: its tissue routes answer 404 saying
so, and its chunkedgraph info has an empty ``data_dir``.
"""

from __future__ import annotations

import gzip
import re
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from napari_crant.demo.chunks import CHUNK_VOXELS, LAYER_SHIFT
from napari_crant.server.context import ServerContext
from napari_crant.server.http import BadRequest, NotFound
from napari_crant.tissue.errors import TissueError
from napari_crant.tissue.synthetic import CHUNK_SIZE, SyntheticTissue, has_synthetic_tissue, synthetic_tissue

__all__ = ["PUBLIC_PREFIX", "image_source", "make_router", "watershed_dir"]

#: Paths under this prefix are served without a token (plain bucket reads in production).
PUBLIC_PREFIX = "/tissue/"
#: Layer name in the URL -> kind of the synthetic tissue.
LAYERS = {"em": "em", "watershed": "segmentation"}
_CHUNK_RE = re.compile(r"^(\d+)-(\d+)_(\d+)-(\d+)_(\d+)-(\d+)$")


def _tissue(ctx: ServerContext) -> SyntheticTissue:
    if not has_synthetic_tissue(ctx.source.path):
        raise NotFound(f"this server's snapshot ({ctx.source.name}) has no tissue: no EM or "
                       "segmentation is served (it has no skeleton_nodes.arrow)")
    return synthetic_tissue(ctx.source.path)


def image_source(ctx: ServerContext, base: str) -> str:
    """The datastack's ``image_source``: the served EM, else the URL a cut snapshot recorded."""
    if has_synthetic_tissue(ctx.source.path):
        return f"precomputed://{base}{PUBLIC_PREFIX}{ctx.datastack}/em"
    return str(ctx.source.info.get("image_source") or "")


def watershed_dir(ctx: ServerContext, base: str) -> str:
    """The graphene info's ``data_dir``: the served supervoxel layer (empty without tissue)."""
    if has_synthetic_tissue(ctx.source.path):
        return f"{base}{PUBLIC_PREFIX}{ctx.datastack}/watershed"
    return ""


def _scale_key(res: np.ndarray) -> str:
    return "_".join(str(int(np.rint(r))) for r in res)


def precomputed_info(tissue: SyntheticTissue, kind: str) -> dict[str, Any]:
    """The precomputed ``info`` of the ``"em"`` or ``"segmentation"`` layer."""
    layer = tissue.layer(kind)
    scales = [{"key": _scale_key(res), "resolution": [float(r) for r in res],
               "size": [int(s) for s in size], "voxel_offset": [int(o) for o in off],
               "chunk_sizes": [list(CHUNK_SIZE)], "encoding": "raw"}
              for res, size, off in zip(layer.resolutions, layer.sizes, layer.offsets, strict=True)]
    return {"type": "image" if kind == "em" else "segmentation",
            "data_type": "uint8" if kind == "em" else "uint64",
            "num_channels": 1, "scales": scales}


def _graph(ctx: ServerContext, size0: list[int]) -> dict[str, Any]:
    n_layers = ctx.backend.chunkedgraph.n_layers
    bits = (LAYER_SHIFT - 26) // 3  # x << 46 | y << 36 | z << 26 (napari_crant.demo.chunks)
    return {"chunk_size": list(CHUNK_VOXELS), "bounding_box": size0, "n_layers": n_layers,
            "n_bits_for_layer_id": 64 - LAYER_SHIFT, "fan_out": 2, "cv_mip": 0,
            "spatial_bit_masks": {str(level): bits for level in range(1, n_layers + 1)}}


def _chunk_box(tissue: SyntheticTissue, kind: str, key: str, chunk: str) -> tuple[int, tuple]:
    info = precomputed_info(tissue, kind)
    keys = [s["key"] for s in info["scales"]]
    if key not in keys:
        raise NotFound(f"scale {key!r} not found; the scales are {keys}")
    mip = keys.index(key)
    m = _CHUNK_RE.match(chunk)
    if m is None:
        raise BadRequest(f"chunk {chunk!r} is not x0-x1_y0-y1_z0-z1")
    lo = np.array([int(m.group(i)) for i in (1, 3, 5)], dtype=np.int64)
    hi = np.array([int(m.group(i)) for i in (2, 4, 6)], dtype=np.int64)
    size = np.asarray(info["scales"][mip]["size"], dtype=np.int64)
    grid = np.asarray(CHUNK_SIZE, dtype=np.int64)
    if np.any(lo % grid) or np.any(hi != np.minimum(lo + grid, size)) or np.any(lo >= size):
        raise NotFound(f"chunk {chunk} is not a chunk of scale {key} (chunks of {list(CHUNK_SIZE)} "
                       f"voxels aligned at 0, volume {size.tolist()})")
    return mip, tuple(int(i) for i in lo // grid)


def make_router(ctx: ServerContext) -> APIRouter:
    """The tissue routes and the chunkedgraph ``info`` (include before the chunkedgraph router)."""
    router = APIRouter()

    def layer_kind(layer: str) -> str:
        if layer not in LAYERS:
            raise NotFound(f"layer {layer!r} not found; this server serves {sorted(LAYERS)}")
        return LAYERS[layer]

    @router.get(PUBLIC_PREFIX + "{ds}/{layer}/info")
    def tissue_info(ds: str, layer: str) -> dict[str, Any]:
        ctx.check_datastack(ds)
        return precomputed_info(_tissue(ctx), layer_kind(layer))

    @router.get(PUBLIC_PREFIX + "{ds}/{layer}/provenance")
    def tissue_provenance(ds: str, layer: str) -> dict[str, Any]:
        ctx.check_datastack(ds)
        layer_kind(layer)
        _tissue(ctx)
        return {"description": f"synthetic {layer} of {ctx.source.name} drawn by napari-crant",
                "owners": [], "processing": [], "sources": []}

    @router.get(PUBLIC_PREFIX + "{ds}/{layer}/{key}/{chunk}")
    async def tissue_chunk(ds: str, layer: str, key: str, chunk: str, request: Request) -> Response:
        ctx.check_datastack(ds)
        kind = layer_kind(layer)
        tissue = _tissue(ctx)
        mip, index = _chunk_box(tissue, kind, key, chunk)
        try:
            arr = await run_in_threadpool(tissue.volume.chunk, (kind, mip, index))
        except TissueError as e:
            raise BadRequest(str(e)) from None
        body = arr.tobytes(order="F")
        headers = {}
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return Response(content=body, media_type="application/octet-stream", headers=headers)

    @router.get("/segmentation/table/{table_id}/info")
    def graphene_info(table_id: str, request: Request) -> dict[str, Any]:
        ctx.check_pcg_table(table_id)
        base = ctx.own_url(request)
        if has_synthetic_tissue(ctx.source.path):
            info = precomputed_info(synthetic_tissue(ctx.source.path), "segmentation")
        else:
            res = ctx.voxel_resolution
            info = {"type": "segmentation", "data_type": "uint64", "num_channels": 1,
                    "scales": [{"key": _scale_key(np.asarray(res)), "resolution": res,
                                "size": [1, 1, 1], "voxel_offset": [0, 0, 0],
                                "chunk_sizes": [list(CHUNK_SIZE)], "encoding": "raw"}]}
        return {**info, "app": {"supported_api_versions": [0, 1]},
                "data_dir": watershed_dir(ctx, base), "graph": _graph(ctx, info["scales"][0]["size"]),
                "mesh": "graphene_meshes", "chunks_start_at_voxel_offset": False}

    return router
