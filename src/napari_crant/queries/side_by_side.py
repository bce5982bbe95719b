"""Two parts of one query on two threads, for sources that read from several threads at once.

``get_synapse_counts`` of many neurons spends its time in positioned reads of the snapshot and
in numpy sorts of each neuron's partners, which let go of the GIL: its two independent parts,
the outputs and the inputs, run side by side on two cores (1,000 neurons at 5M synapses: 54 →
37 ms wall on two cores), as the peers' engines (DuckDB, polars) use every core. Below
:data:`THREADED_ROOTS` neurons, or for a source without ``concurrent_reads`` (a CAVE server),
they run one after the other. (Splitting ``get_adjacency``'s read into two halves gained
nothing: its hundreds of short positioned reads hand the GIL back and forth; its membership test
is split instead, in :func:`~napari_crant.ids.in_sorted`.)
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from napari_crant.sources.base import DataSource

#: From this many neurons, a query's two parts run on two threads.
THREADED_ROOTS = 64

A = TypeVar("A")
B = TypeVar("B")


def side_by_side(source: DataSource, n_roots: int, first: Callable[[], A],
                 second: Callable[[], B]) -> tuple[A, B]:
    """``(first(), second())``, ``second`` on a thread of its own while ``first`` runs on the
    calling thread when ``source`` reads concurrently and ``n_roots`` reaches
    :data:`THREADED_ROOTS`; one after the other otherwise. An exception of either is raised.

    Parameters
    ----------
    source
        The query's source (its ``concurrent_reads`` decides).
    n_roots
        How many neurons the query reads.
    first, second
        The two parts (no arguments).
    """
    if n_roots < THREADED_ROOTS or not getattr(source, "concurrent_reads", False):
        return first(), second()
    with ThreadPoolExecutor(1, thread_name_prefix="napari-crant-query") as pool:
        later = pool.submit(second)
        return first(), later.result()

