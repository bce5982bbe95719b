"""The viewer's load draws skeletons without importing navis (~1.5 s): its node tables, somata and
synapses are those of ``get_l2_skeleton`` + ``attach_synapses`` (navis TreeNeurons)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import tiny
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.scene.loading import load_neurons, run_to_end
from napari_crant.scene.neuron_data import neuron_data


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return str(make_demo(tmp_path_factory.mktemp("nonavis") / "demo", n_neurons=TINY_NEURONS, seed=11))


def _same_as_navis(result, dataset, materialization="latest", **filters):
    import napari_crant as nc

    assert result.neurons
    for n in result.neurons:
        sk = nc.get_l2_skeleton(n.root_id, dataset=dataset)
        nc.attach_synapses(sk, materialization=materialization, update_ids=False, dataset=dataset, **filters)
        ref = neuron_data(sk, n.query_id)
        assert (n.root_id, n.query_id) == (ref.root_id, ref.query_id)
        np.testing.assert_array_equal(n.edges, ref.edges)
        assert (n.soma is None) == (ref.soma is None)
        if n.soma is not None:
            np.testing.assert_array_equal(n.soma, ref.soma)
        pd.testing.assert_frame_equal(n.synapses, ref.synapses)


def test_tiny_load_equals_navis_skeletons(tiny_path):
    result = run_to_end(load_neurons([str(tiny.A0), int(tiny.B2)], dataset=tiny_path))
    _same_as_navis(result, tiny_path)


def test_demo_load_equals_navis_skeletons(demo_path):
    from napari_crant.scene.loading import pick_demo_neuron

    root = pick_demo_neuron(demo_path)
    result = run_to_end(load_neurons([root], dataset=demo_path, top_partners=3, threshold=2,
                                     max_distance=3000.0))
    assert len(result.neurons) >= 2 and any(n.soma is not None for n in result.neurons)
    assert sum(len(n.synapses) for n in result.neurons) > 0
    _same_as_navis(result, demo_path, threshold=2, max_distance=3000.0)


_FRESH = """
import sys
from napari_crant.scene.loading import load_neurons, run_to_end
result = run_to_end(load_neurons([{root}], dataset={path!r}))
assert len(result.neurons) == 1 and len(result.neurons[0].edges) > 0
assert "navis" not in sys.modules, "the load imported navis"
print("ok")
"""


def test_a_load_does_not_import_navis(tiny_path):
    """(A fresh interpreter: this test process imported navis.)"""
    code = _FRESH.format(root=int(tiny.B2), path=tiny_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
