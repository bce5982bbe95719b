"""Info service routes: the datastack description caveclient reads first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from napari_crant.server.context import ServerContext
from napari_crant.server.routes.precomputed import image_source

#: Version reported by the info service.
INFO_VERSION = "4.3.1"


def segmentation_source(ctx: ServerContext, base: str) -> str:
    """The chunkedgraph as a graphene URL, named as CRANTb names it: over HTTPS
    ``graphene://middleauth+https://<server>/segmentation/table/<pcg>`` (cloud-files sends the
    token to ``middleauth+https`` addresses only); over plain HTTP ``graphene://http://...``
    (cloud-volume's path parser knows no ``middleauth+http``)."""
    scheme = "middleauth+" if base.startswith("https://") else ""
    return f"graphene://{scheme}{base}/segmentation/table/{ctx.pcg_table}"


def make_router(ctx: ServerContext) -> APIRouter:
    """Routes under ``/info``."""
    router = APIRouter(prefix="/info")
    mat = ctx.backend.materialize

    @router.get("/version")
    def info_version() -> str:
        return INFO_VERSION

    @router.get("/api/v2/datastack/full/{ds}")
    def datastack_info(ds: str, request: Request) -> dict[str, Any]:
        ctx.check_datastack(ds)
        base = ctx.own_url(request)
        res = ctx.voxel_resolution
        return {
            "datastack": ds, "aligned_volume": {"name": ds, "id": 1, "image_source": image_source(ctx, base),
                                                "description": "napari-crant local server"},
            "local_server": base, "segmentation_source": segmentation_source(ctx, base),
            "synapse_table": mat.synapse_table, "soma_table": mat.nucleus_table, "analysis_database": None,
            "viewer_site": None, "viewer_resolution_x": res[0], "viewer_resolution_y": res[1],
            "viewer_resolution_z": res[2], "skeleton_source": None, "description": ctx.source.name,
        }

    @router.get("/api/v2/datastacks")
    def datastacks() -> list[str]:
        return [ctx.datastack]

    return router
