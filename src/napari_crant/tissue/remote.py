"""EM and supervoxels read with cloud-volume: precomputed EM, graphene (or precomputed) segmentation.

Used by the CAVE source (the datastack's ``image_source`` and ``segmentation_source``) and by
a snapshot cut from CAVE (the URLs recorded in its manifest). Segmentation is always read as
supervoxels (``agglomerate=False``); roots are taken by the query layer, at the timestamp of
the query, through the source's ``roots_of_supervoxels``.

EM over HTTP (and public ``gs://`` buckets) is read with tensorstore, measurably faster than
cloud-volume on the same cutouts (``benchmarks/tissue_io.py``, ``docs/benchmarks-tissue.md``);
the volume's description and everything else come from cloud-volume. A token is passed to
cloud-volume through ``secrets=`` and never appears in a message.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from napari_crant.tissue.cutout import TissueLayer
from napari_crant.tissue.errors import TissueUnavailable

__all__ = ["RemoteTissue", "tensorstore_base_url"]

_KINDS = {"em": "image (EM)", "segmentation": "segmentation"}


def _reason(error: Exception, token: str | None) -> str:
    text = f"{type(error).__name__}: {error}"
    if token:
        text = text.replace(token, "***")
    return text[:400]


def tensorstore_base_url(url: str) -> str | None:
    """The HTTP base URL tensorstore reads a ``precomputed://`` volume from (``gs://`` buckets
    through ``https://storage.googleapis.com``), or None for other protocols and formats."""
    if not url.startswith("precomputed://"):
        return None
    rest = url[len("precomputed://"):]
    if rest.startswith("gs://"):
        rest = "https://storage.googleapis.com/" + rest[len("gs://"):]
    if not rest.startswith(("http://", "https://")):
        return None
    return rest.rstrip("/") + "/"


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
        self._stores: dict[int, Any] = {}
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
            cv = CloudVolume(url, **options)
        except Exception as e:  # any failure of the reader is reported the same way
            raise TissueUnavailable(
                f"dataset {self.name!r}: the {_KINDS[kind]} source {url} cannot be opened "
                f"({_reason(e, self._token)})") from None
        if url.startswith("graphene://") and not cv.meta.info.get("data_dir"):
            raise TissueUnavailable(
                f"dataset {self.name!r} has no segmentation volume: its chunkedgraph {url} names no "
                "supervoxel layer (empty data_dir)")
        return cv

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

    def _tensorstore(self, mip: int) -> Any:
        """The EM at ``mip`` opened with tensorstore, if its URL is one tensorstore reads over
        HTTP (precomputed over http(s) or a public ``gs://`` bucket); else None."""
        base = tensorstore_base_url(self.urls["em"])
        if base is None:
            return None
        with self._lock:
            store = self._stores.get(mip)
            if store is None:
                import tensorstore as ts

                spec = {"driver": "neuroglancer_precomputed", "scale_index": int(mip),
                        "kvstore": {"driver": "http", "base_url": base},
                        "context": {"http_request_retries": {"max_retries": 2,
                                                             "initial_delay": "0.2s"}}}
                try:
                    store = ts.open(spec, read=True).result()
                except Exception as e:  # any failure of the reader is reported the same way
                    raise TissueUnavailable(
                        f"dataset {self.name!r}: the image (EM) source {self.urls['em']} could not "
                        f"be read ({_reason(e, self._token)})") from None
                self._stores[mip] = store
            return store

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
        store = self._tensorstore(int(mip)) if kind == "em" else None
        try:
            if store is not None:  # measurably faster for EM (benchmarks/tissue_io.py)
                block = store[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2], 0].read().result()
                return np.asarray(block).astype(np.uint8, copy=False)
            img = cv.download(Bbox(lo, hi), mip=int(mip))
        except Exception as e:
            raise TissueUnavailable(
                f"dataset {self.name!r}: the {_KINDS[kind]} source {self.urls[kind]} could not be "
                f"read ({_reason(e, self._token)})") from None
        arr = np.asarray(img)[..., 0]
        return arr.astype(np.uint8 if kind == "em" else np.uint64, copy=False)
