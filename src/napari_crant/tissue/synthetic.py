"""The demo's synthetic tissue of a snapshot, opened once per process and snapshot.

:func:`synthetic_tissue` returns the shared :class:`SyntheticTissue` of a snapshot directory
(thread-safe; the geometry is read and its shapes indexed at most once, on first use, never
per request). The snapshot source and the server both read through it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from napari_crant.tissue.cutout import TissueLayer
from napari_crant.tissue.errors import TissueUnavailable
from napari_crant.tissue.geometry import SKELETON_NODES, TissueGeometry
from napari_crant.tissue.remote import RemoteTissue
from napari_crant.tissue.segmentation import MAX_MIP, model_of, volume_shape
from napari_crant.tissue.volume import TissueVolume

__all__ = ["CHUNK_SIZE", "URL_KEYS", "NoTissue", "SyntheticTissue", "has_synthetic_tissue", "snapshot_tissue",
           "synthetic_tissue"]

#: Chunk size (voxels, x, y, z) of the cached chunks, and of the precomputed layers served.
CHUNK_SIZE = (128, 128, 8)
#: Byte budget of each snapshot's chunk cache. A QC review's cutout (2 x 2 um x 5 sections)
#: touches up to 18 chunks, about 20 MB (segmentation chunks are uint64): 64 MB keeps the
#: neighbourhood of the last few synapses (neighbours share chunks) without holding on to a
#: quarter of a gigabyte (``benchmarks/gui_em.py``: resident memory along a 500-synapse walk).
CACHE_BYTES = 64 * 1024 * 1024
#: URL recorded for the synthetic layers.
SYNTHETIC = "synthetic"


def has_synthetic_tissue(path: str | Path) -> bool:
    """Whether the snapshot directory carries the skeleton nodes the tissue is drawn from."""
    return (Path(path) / SKELETON_NODES).is_file()


class SyntheticTissue:
    """The EM and supervoxels of one snapshot, by chunks, cached.

    Parameters
    ----------
    path
        The snapshot directory (with ``skeleton_nodes.arrow``).
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._volume: TissueVolume | None = None

    @property
    def volume(self) -> TissueVolume:
        """The chunked volume; its geometry is read on first use."""
        with self._lock:
            if self._volume is None:
                if not has_synthetic_tissue(self.path):
                    raise TissueUnavailable(
                        f"snapshot {self.path} has no {SKELETON_NODES}, so it has no synthetic EM "
                        "or segmentation (rebuild the demo; a snapshot cut from CAVE reads the "
                        "real sources instead)")
                geom = TissueGeometry.from_snapshot(self.path)
                self._volume = TissueVolume(geom, chunk_size=CHUNK_SIZE, max_bytes=CACHE_BYTES)
            return self._volume

    def warm(self) -> None:
        """Read the geometry and build its shapes and index now (about 10 s for the default demo)."""
        model_of(self.volume.geom)

    def layer(self, kind: str) -> TissueLayer:
        """The :class:`TissueLayer` of ``"em"`` or ``"segmentation"``, mips 0 to ``MAX_MIP``."""
        geom = self.volume.geom
        res0 = np.asarray(geom.voxel_resolution, dtype=np.float64)
        mips = range(MAX_MIP + 1)
        return TissueLayer(
            kind=kind, url=SYNTHETIC,
            resolutions=np.array([res0 * (1 << m, 1 << m, 1) for m in mips]),
            sizes=np.array([volume_shape(geom, m) for m in mips], dtype=np.int64),
            offsets=np.zeros((MAX_MIP + 1, 3), dtype=np.int64),
            centred=kind == "em",
        )

    def cutout(self, kind: str, bbox_vox: np.ndarray, mip: int) -> np.ndarray:
        """``"em"`` (uint8) or ``"segmentation"`` (uint64) voxels (x, y, z) of a box of ``mip``."""
        return self.volume.cutout(kind, bbox_vox, mip)


class NoTissue:
    """A snapshot with neither skeleton nodes nor recorded EM/segmentation URLs."""

    def __init__(self, name: str, path: Path):
        self.name, self.path = name, path

    def layer(self, kind: str) -> TissueLayer:
        what = "image (EM)" if kind == "em" else "segmentation"
        raise TissueUnavailable(
            f"dataset {self.name!r} has no {what} source: the snapshot {self.path} has neither "
            f"{SKELETON_NODES} (the demo's synthetic tissue) nor an info.{URL_KEYS[kind]} URL "
            "(recorded when cut from CAVE)")

    def cutout(self, kind: str, bbox_vox: np.ndarray, mip: int) -> np.ndarray:
        self.layer(kind)
        raise AssertionError("unreachable")  # pragma: no cover


#: Manifest ``info`` keys of the real sources' URLs (recorded by ``napari-crant snapshot``).
URL_KEYS = {"em": "image_source", "segmentation": "segmentation_source"}


def snapshot_tissue(path: Path, name: str, info: dict) -> SyntheticTissue | RemoteTissue | NoTissue:
    """Where a snapshot's EM and segmentation come from: the demo's synthetic tissue if it has
    skeleton nodes, else the real sources whose URLs it recorded (read with cloud-volume), else
    none (every request raises :class:`TissueUnavailable`)."""
    if has_synthetic_tissue(path):
        return synthetic_tissue(path)
    urls = {kind: info.get(key) or "" for kind, key in URL_KEYS.items()}
    if any(urls.values()):
        return RemoteTissue(name, urls)
    return NoTissue(name, path)


_OPEN: dict[tuple[Path, int], SyntheticTissue] = {}
_OPEN_LOCK = threading.Lock()


def synthetic_tissue(path: str | Path) -> SyntheticTissue:
    """The shared :class:`SyntheticTissue` of a snapshot directory (one per process)."""
    root = Path(path).expanduser().resolve()
    try:  # a snapshot rebuilt in place (the demo cache) is a new one
        stamp = (root / "manifest.json").stat().st_mtime_ns
    except OSError:
        stamp = 0
    with _OPEN_LOCK:
        tissue = _OPEN.get((root, stamp))
        if tissue is None:
            tissue = _OPEN[(root, stamp)] = SyntheticTissue(root)
        return tissue
