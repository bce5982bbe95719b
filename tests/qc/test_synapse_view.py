"""Looking across a synapse and clipping a slab around it (Qt-free geometry)."""

import numpy as np
import pytest

from napari_crant.qc.synapse_view import oblique_directions, slab_clipping_planes


@pytest.mark.parametrize("axis", [(0, 0, 1), (0, 1, 1), (1, 0, 0), (0.3, -2, 5)])
def test_oblique_directions_are_across_the_axis(axis):
    pre = np.array([4200.0, 10000.0, 10000.0])
    post = pre + 80 * np.asarray(axis, float)
    view, up = oblique_directions(pre, post)
    a = (post - pre) / np.linalg.norm(post - pre)
    assert abs(view @ a) < 1e-9 and abs(up @ a) < 1e-9 and abs(view @ up) < 1e-9
    assert np.isclose(np.linalg.norm(view), 1) and np.isclose(np.linalg.norm(up), 1)


def test_slab_planes_keep_a_slab():
    planes = slab_clipping_planes((100.0, 0.0, 0.0), (2.0, 0.0, 0.0), 500)
    def kept(p):
        return all(np.dot(np.subtract(p, pl["position"]), pl["normal"]) >= 0 for pl in planes)
    assert kept((100, 5, 5)) and kept((340, 0, 0)) and kept((-140, 0, 0))
    assert not kept((360, 0, 0)) and not kept((-160, 0, 0))
    with pytest.raises(ValueError, match="slab thickness"):
        slab_clipping_planes((0, 0, 0), (1, 0, 0), 0)
