"""The pre and post segments' outlines drawn into the labels themselves, section by section (Qt-free).

napari draws a Labels layer's contours (``contour > 0``) only in 2D; in 3D, on the plane through a
synapse, it draws the labels filled, or nothing (it warns that "Contours are not displayed during
3D rendering"). :func:`segment_contours` makes the outline part of the data: in each z section, a
voxel keeps its label when a voxel of another label (or of none) lies within ``thickness`` voxels
along y or x, and is 0 otherwise. Shown filled, that array is the outline of each segment, drawn
as napari draws a 2D contour, in every section and at any camera angle.
"""

import numpy as np

#: the outline's width in voxels (napari's ``contour=2`` of the 2D view)
CONTOUR_THICKNESS = 2


def segment_contours(labels: np.ndarray, thickness: int = CONTOUR_THICKNESS) -> np.ndarray:
    """Each segment's outline, section by section: ``labels`` at its boundary voxels, 0 elsewhere.

    Parameters
    ----------
    labels
        A (z, y, x) array of labels (root IDs; 0 is no segment).
    thickness
        Width of the outline in voxels (>= 1): a voxel is on it when a voxel holding another label
        lies within ``thickness`` voxels along y or x in its section. The cutout's edge is not a
        boundary (a segment cut by it stays open there).

    Returns
    -------
    numpy.ndarray
        uint64, the shape of ``labels``.

    Raises
    ------
    ValueError
        ``labels`` is not 3-D, or ``thickness`` < 1.
    """
    arr = np.asarray(labels, dtype=np.uint64)
    if arr.ndim != 3:
        raise ValueError(f"labels must be (z, y, x), not {arr.ndim}-D")
    if int(thickness) < 1:
        raise ValueError(f"thickness must be >= 1, not {thickness}")
    edge = np.zeros(arr.shape, bool)
    for axis in (1, 2):
        n = arr.shape[axis]
        for shift in range(1, min(int(thickness), n - 1) + 1):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis] = slice(0, n - shift)
            hi[axis] = slice(shift, n)
            differs = arr[tuple(lo)] != arr[tuple(hi)]
            edge[tuple(lo)] |= differs  # the neighbour ``shift`` voxels after differs
            edge[tuple(hi)] |= differs  # ... and the one ``shift`` voxels before
    return np.where(edge, arr, np.uint64(0))
