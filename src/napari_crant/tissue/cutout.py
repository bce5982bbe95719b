"""What a source tells about its EM or segmentation volume, and a cutout of it for napari.

:class:`TissueLayer` describes one volume (its URL, resolution, size and offset per mip);
:class:`Cutout` is a block read from it, in napari order (z, y, x) with the ``scale`` and
``translate`` that put it in the same nm world coordinates as the skeleton and synapse layers
(``napari_crant.view.layer_data``: positions in nm, scale 1). Voxel ``i`` of mip 0 is centred
at ``i * resolution`` nm, as a CAVE position ``p`` (voxels) is at ``p * resolution`` nm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_crant.arguments import InvalidArgumentError

__all__ = ["Cutout", "TissueLayer"]


@dataclass(frozen=True)
class TissueLayer:
    """An EM or segmentation volume as a source serves it.

    Attributes
    ----------
    kind
        ``"em"`` or ``"segmentation"`` (supervoxels).
    url
        Where it is read from (a cloud-volume path), or ``"synthetic"`` for the demo's tissue.
    resolutions
        ``(n_mips, 3)`` float64: nm per voxel (x, y, z) of each mip.
    sizes
        ``(n_mips, 3)`` int64: size in voxels of each mip.
    offsets
        ``(n_mips, 3)`` int64: voxel offset (first voxel) of each mip.
    centred
        True if a voxel of mip ``m > 0`` stands for the centre of its footprint of mip-0
        voxels (averaged EM); False if it is the footprint's first voxel (strided labels).
    """

    kind: str
    url: str
    resolutions: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray
    centred: bool = True

    @property
    def n_mips(self) -> int:
        """Number of mip levels."""
        return len(self.resolutions)

    def check_mip(self, mip: Any) -> int:
        """``mip`` as an int, or :class:`InvalidArgumentError` naming it."""
        if isinstance(mip, bool | np.bool_) or not isinstance(mip, int | np.integer):
            raise InvalidArgumentError(f"mip must be an integer, not {mip!r} ({type(mip).__name__})")
        if not 0 <= int(mip) < self.n_mips:
            raise InvalidArgumentError(
                f"mip must be between 0 and {self.n_mips - 1} for this {self.kind} volume, not {mip!r}")
        return int(mip)

    def bounds_nm(self) -> tuple[np.ndarray, np.ndarray]:
        """The volume's extent in nm at mip 0: the centres of its first and last voxels."""
        res = self.resolutions[0]
        return self.offsets[0] * res, (self.offsets[0] + self.sizes[0] - 1) * res

    def shift_nm(self, mip: int) -> np.ndarray:
        """nm from ``voxel * resolution`` of ``mip`` to where that voxel is drawn (x, y, z)."""
        if not self.centred:
            return np.zeros(3)
        return (self.resolutions[mip] - self.resolutions[0]) / 2.0


@dataclass(frozen=True, eq=False)
class Cutout:
    """A block of EM or segmentation, ready for napari.

    ``viewer.add_image(c.data, scale=c.scale, translate=c.translate)`` (or ``add_labels``)
    puts it in the nm world coordinates of the skeleton and synapse layers.

    Attributes
    ----------
    data
        The voxels in napari order (z, y, x): uint8 EM, or uint64 segment IDs.
    scale
        nm per voxel (z, y, x).
    translate
        nm position (z, y, x) of voxel ``[0, 0, 0]``'s centre.
    mip
        The mip level read.
    bbox_vox
        ``((x0, y0, z0), (x1, y1, z1))``: the block in mip-0 voxels, half-open.
    attrs
        Provenance: ``dataset``, ``source``, ``layer`` (em/segmentation), ``url`` (or
        ``"synthetic"``), ``mip``, ``agglomerate``, and for segmentation the
        ``materialization``, ``materialization_version`` and ``timestamp`` of its roots.
    """

    data: np.ndarray
    scale: tuple[float, float, float]
    translate: tuple[float, float, float]
    mip: int
    bbox_vox: tuple[tuple[int, int, int], tuple[int, int, int]]
    attrs: dict[str, Any] = field(default_factory=dict)

    def index_of(self, world_zyx_nm: Any) -> tuple[int, int, int]:
        """The (z, y, x) index into :attr:`data` of the voxel drawn at ``world_zyx_nm``.

        Raises
        ------
        InvalidArgumentError
            If the point is not three finite numbers or lies outside the cutout.
        """
        try:
            p = np.asarray(world_zyx_nm, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"world_zyx_nm must be three numbers (z, y, x) in nm, not {world_zyx_nm!r}") from None
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise InvalidArgumentError(
                f"world_zyx_nm must be three finite numbers (z, y, x) in nm, not {world_zyx_nm!r}")
        idx = np.floor((p - np.asarray(self.translate)) / np.asarray(self.scale) + 0.5).astype(np.int64)
        if np.any(idx < 0) or np.any(idx >= np.asarray(self.data.shape)):
            raise InvalidArgumentError(
                f"world_zyx_nm {p.tolist()} is outside this cutout "
                f"(voxel {idx.tolist()} of a block of shape {list(self.data.shape)})")
        return int(idx[0]), int(idx[1]), int(idx[2])

    def value_at(self, world_zyx_nm: Any) -> Any:
        """The value (EM intensity or segment ID) of the voxel at ``world_zyx_nm`` (z, y, x nm).

        Parameters
        ----------
        world_zyx_nm
            A point in napari world coordinates, nm, (z, y, x): e.g. a synapse's position
            as the synapse layers hold it.

        Returns
        -------
        numpy.uint8 or numpy.uint64

        Raises
        ------
        InvalidArgumentError
            If the point lies outside the cutout.
        """
        return self.data[self.index_of(world_zyx_nm)]
