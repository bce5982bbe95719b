"""A deterministic, realistic demo dataset: a made-up ant central brain in the snapshot format.

Examples
--------
>>> from napari_crant.demo import make_demo
>>> make_demo("demo-snapshot", n_neurons=1000, seed=0)  # doctest: +SKIP
"""

from napari_crant.demo.generator import (
    DEFAULT_SYNAPSES_PER_NEURON,
    DEMO_NEURON,
    TINY_NEURONS,
    build_demo_tables,
    make_demo,
)

__all__ = [
    "DEFAULT_SYNAPSES_PER_NEURON",
    "DEMO_NEURON",
    "TINY_NEURONS",
    "build_demo_tables",
    "make_demo",
]
