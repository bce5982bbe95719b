"""The segments' outlines drawn into the labels, section by section, for the 3D plane (no Qt)."""

import numpy as np
import pytest

from napari_crant.qc.segment_contours import segment_contours

BIG = 720_575_940_379_279_360  # 18 digits, > 2**59


def _square(shape=(2, 12, 12), label=BIG + 1, lo=3, hi=9):
    labels = np.zeros(shape, np.uint64)
    labels[:, lo:hi, lo:hi] = label
    return labels


def test_a_square_keeps_its_boundary_of_the_given_width_and_its_uint64_id():
    labels = _square()
    one = segment_contours(labels, thickness=1)
    assert one.dtype == np.uint64 and one.shape == labels.shape
    ring = np.zeros((12, 12), bool)
    ring[3:9, 3:9] = True
    ring[4:8, 4:8] = False
    for z in range(2):
        assert np.array_equal(one[z] != 0, ring)
        assert set(np.unique(one[z]).tolist()) == {0, BIG + 1}
    two = segment_contours(labels, thickness=2)
    ring2 = np.zeros((12, 12), bool)
    ring2[3:9, 3:9] = True
    ring2[5:7, 5:7] = False
    assert np.array_equal(two[0] != 0, ring2)


def test_two_touching_segments_each_keep_their_own_side_of_the_border():
    labels = np.zeros((1, 8, 10), np.uint64)
    labels[0, :, :5] = BIG + 1
    labels[0, :, 5:] = BIG + 2
    out = segment_contours(labels, thickness=1)
    # the cutout's edge is no boundary: only the columns either side of the shared border
    assert np.array_equal(np.flatnonzero(out[0].any(axis=0)), [4, 5])
    assert set(out[0, :, 4].tolist()) == {BIG + 1} and set(out[0, :, 5].tolist()) == {BIG + 2}


def test_sections_are_outlined_apart_not_across_z():
    labels = _square(shape=(3, 12, 12))
    labels[1] = 0  # a section without the segment: no z boundary is drawn in the others
    out = segment_contours(labels, thickness=1)
    assert np.array_equal(out[0], out[2]) and not out[1].any()
    assert np.count_nonzero(out[0]) == 20  # the 6 x 6 square's 20 boundary voxels, not all 36


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="z, y, x"):
        segment_contours(np.zeros((4, 4), np.uint64))
    with pytest.raises(ValueError, match="thickness"):
        segment_contours(np.zeros((1, 4, 4), np.uint64), thickness=0)
