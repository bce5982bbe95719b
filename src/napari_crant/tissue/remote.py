"""EM and supervoxels read with cloud-volume: precomputed EM, graphene (or precomputed) segmentation.

Used by the CAVE source (the datastack's ``image_source`` and ``segmentation_source``) and by
a snapshot cut from CAVE (the URLs recorded in its manifest). Segmentation is always read as
supervoxels (``agglomerate=False``); roots are taken by the query layer, at the timestamp of
the query, through the source's ``roots_of_supervoxels``.

A token is passed to cloud-volume through ``secrets=`` and never appears in a message.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from napari_crant.tissue.cutout import TissueLayer
from napari_crant.tissue.errors import TissueUnavailable

__all__ = ["RemoteTissue"]

_KINDS = {"em": "image (EM)", "segmentation": "segmentation"}


def _reason(error: Exception, token: str | None) -> str:
    text = f"{type(error).__name__}: {error}"
    if token:
        text = text.replace(token, "***")
    return text[:400]


class RemoteTissue:
    """EM and segmentation volumes named by URL, opened on first use.

    Parameters
    ----------
    name
        The dataset's name (for messages).
    urls
        ``{"em": url, "segmentation": url}``; a missing or empty URL means the dataset has
        no such volume.
    token
        The CAVE token for graphene segmentation (hex or base64), or None.
    """

    def __init__(self, name: str, urls: dict[str, str | None], token: str | None = None):
        self.name = name
        self.urls = {k: (urls.get(k) or "") for k in _KINDS}
        self._token = token
        self._volumes: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteTissue({self.name!r}, {self.urls!r})"

    def _volume(self, kind: str) -> Any:
        url = self.urls.get(kind, "")
        if not url:
            raise TissueUnavailable(f"dataset {self.name!r} has no {_KINDS.get(kind, kind)} source")
        with self._lock:
            cv = self._volumes.get(kind)
            if cv is None:
                cv = self._volumes[kind] = self._open(kind, url)
            return cv

    def _open(self, kind: str, url: str) -> Any:
        from cloudvolume import CloudVolume

        options: dict[str, Any] = {"progress": False, "fill_missing": True, "use_https": True,
                                   "parallel": 1}
        if url.startswith("graphene://"):
            options["agglomerate"] = False
            if self._token:
                options["secrets"] = {"token": self._token}
        try:
            return CloudVolume(url, **options)
        except Exception as e:
            raise TissueUnavailable(
                f"dataset {self.name!r}: the {_KINDS[kind]} source {url} cannot be opened "
                f"({_reason(e, self._token)})") from None

    def layer(self, kind: str) -> TissueLayer:
        """The :class:`TissueLayer` of ``kind`` as the volume's info describes it."""
        cv = self._volume(kind)
        mips = range(len(cv.meta.scales))
        return TissueLayer(
            kind=kind, url=self.urls[kind],
            resolutions=np.array([cv.meta.resolution(m) for m in mips], dtype=np.float64),
            sizes=np.array([cv.meta.volume_size(m) for m in mips], dtype=np.int64),
            offsets=np.array([cv.meta.voxel_offset(m) for m in mips], dtype=np.int64),
            centred=kind == "em",
        )

    def cutout(self, kind: str, bbox_vox: np.ndarray, mip: int) -> np.ndarray:
        """Voxels (x, y, z) of ``bbox_vox`` (half-open, voxels of ``mip``): uint8 EM or uint64
        supervoxels.

        Raises
        ------
        TissueUnavailable
            If the volume cannot be read (network lost, server error).
        """
        from cloudvolume import Bbox

        cv = self._volume(kind)
        lo, hi = (np.asarray(b, dtype=np.int64) for b in bbox_vox)
        try:
            img = cv.download(Bbox(lo, hi), mip=int(mip))
        except Exception as e:
            raise TissueUnavailable(
                f"dataset {self.name!r}: the {_KINDS[kind]} source {self.urls[kind]} could not be "
                f"read ({_reason(e, self._token)})") from None
        arr = np.asarray(img)[..., 0]
        return arr.astype(np.uint8 if kind == "em" else np.uint64, copy=False)
