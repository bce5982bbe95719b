"""A CAVE datastack's EM and segmentation, read with cloud-volume.

The URLs come from the datastack info (``client.info.image_source()`` and
``segmentation_source()``); graphene segmentation is read as supervoxels with the client's
token (``secrets=``), and agglomerated by the query layer at the query's timestamp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari_crant.tissue.remote import RemoteTissue

if TYPE_CHECKING:  # pragma: no cover
    from napari_crant.sources.cave.source import CaveSource

__all__ = ["cave_tissue", "tissue_urls"]


def tissue_urls(source: CaveSource) -> dict[str, str]:
    """``{"image_source": url, "segmentation_source": url}`` of the datastack ("" if none)."""
    info = source.client.info

    def ask() -> dict[str, str]:
        return {"image_source": info.image_source() or "",
                "segmentation_source": info.segmentation_source() or ""}

    return source._run("datastack info", ask)


def cave_tissue(source: CaveSource) -> RemoteTissue:
    """The :class:`RemoteTissue` of a CAVE source (token from its connection, never shown)."""
    urls = tissue_urls(source)
    secret = source.connection._secret()
    return RemoteTissue(source.name, {"em": urls["image_source"],
                                      "segmentation": urls["segmentation_source"]},
                        token=secret.reveal() if secret else None)
