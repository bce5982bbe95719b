"""Skeleton service routes: napari-crant's L2 skeletons in SkeletonService's formats."""

from __future__ import annotations

import gzip
import json

from fastapi import APIRouter
from fastapi.responses import Response

from napari_crant.server.context import ServerContext
from napari_crant.server.http import BadRequest
from napari_crant.server.params import path_id

#: Version reported by the skeleton service (satisfies caveclient 8.2's checks).
SKELETON_VERSION = "0.22.40"
#: Skeleton formats served.
SKELETON_FORMATS = ("flatdict", "swccompressed")


def make_router(ctx: ServerContext) -> APIRouter:
    """Routes under ``/skeletoncache``."""
    router = APIRouter(prefix="/skeletoncache")
    l2 = ctx.backend.l2

    @router.get("/api/version")
    def sk_version() -> str:
        return SKELETON_VERSION

    @router.get("/api/versions")
    def sk_versions() -> list[int]:
        return [-1, 0, 1, 2, 3, 4]

    def skeleton_response(root_text: str, fmt: str) -> Response:
        if fmt not in SKELETON_FORMATS:
            raise BadRequest(f"format: unsupported skeleton format {fmt!r} ({', '.join(SKELETON_FORMATS)})")
        sk = l2.skeleton(path_id(root_text, "root_id"))
        if fmt == "flatdict":
            body = json.dumps(sk).encode()
        else:
            parent = {c: p for c, p in sk["edges"]}
            lines = [
                f"{i} {sk['compartment'][i]} {v[0]} {v[1]} {v[2]} {sk['radius'][i]} {parent.get(i, -1)}"
                for i, v in enumerate(sk["vertices"])
            ]
            body = ("\n".join(lines) + "\n").encode()
        return Response(content=gzip.compress(body), media_type="application/octet-stream")

    @router.get("/api/v1/{ds}/async/get_skeleton/{version}/{root_id}/{fmt}")
    def get_skeleton_async(ds: str, version: int, root_id: str, fmt: str) -> Response:
        ctx.check_datastack(ds)
        return skeleton_response(root_id, fmt)

    @router.get("/api/v1/{ds}/precomputed/skeleton/{version}/{root_id}/{fmt}")
    def get_skeleton(ds: str, version: int, root_id: str, fmt: str) -> Response:
        ctx.check_datastack(ds)
        return skeleton_response(root_id, fmt)

    return router
