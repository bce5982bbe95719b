"""One neuron's canvas data (:class:`NeuronData`) and the synapse tables built from it, without Qt.

Built in the loading worker (:mod:`~napari_crant.scene.loading`); the
:class:`~napari_crant.scene.layer_data.Scene` turns them into layer data. Coordinates are
napari order (z, y, x) in nm; IDs stay uint64 (as text only in layer features).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def id_strings(ids: Any) -> np.ndarray:
    """uint64 IDs as an object array of decimal strings (for features and tables; exact, vectorised)."""
    return np.asarray(ids, dtype=np.uint64).astype(str).astype(object)


#: the ID columns of a synapse table that layer features show as text
ID_TEXT_COLUMNS = ("root_id", "synapse_id", "partner_id")


def synapse_id_text(table: pd.DataFrame) -> pd.DataFrame:
    """The ID columns of a synapse table as decimal strings, row for row (built in the loading
    worker: formatting 100,000s of uint64 IDs takes a noticeable time on the main thread)."""
    return pd.DataFrame({c: id_strings(table[c].to_numpy(np.uint64)) for c in ID_TEXT_COLUMNS})


def skeleton_vectors(nodes: pd.DataFrame) -> np.ndarray:
    """Vectors ``(N, 2, 3)`` (start, direction) of a skeleton's parent -> child edges, in (z, y, x) nm.

    Parameters
    ----------
    nodes
        Node table with ``node_id``, ``parent_id`` (-1 or negative at roots) and ``x, y, z`` (nm).
    """
    node_ids = nodes["node_id"].to_numpy(np.int64)
    parent = nodes["parent_id"].to_numpy(np.int64)
    zyx = nodes[["z", "y", "x"]].to_numpy(np.float64)
    order = np.argsort(node_ids, kind="stable")
    has_parent = parent >= 0
    pos = np.searchsorted(node_ids[order], parent[has_parent])
    pos = np.minimum(pos, len(order) - 1)
    found = node_ids[order][pos] == parent[has_parent]
    child = zyx[has_parent][found]
    par = zyx[order[pos[found]]]
    out = np.empty((len(child), 2, 3))
    out[:, 0] = par
    out[:, 1] = child - par
    return out


@dataclass
class NeuronData:
    """One neuron's canvas data.

    Attributes
    ----------
    root_id
        The root shown (as resolved at the query's materialization).
    query_id
        The ID the user asked for (differs from ``root_id`` when it was updated).
    edges
        ``(N, 2, 3)`` skeleton vectors in (z, y, x) nm.
    soma
        ``(3,)`` soma position in (z, y, x) nm, or ``None``.
    synapses
        One row per synapse: ``type`` ('pre'/'post'), ``synapse_id``, ``partner_id`` (uint64),
        ``size``, ``distance`` (nm to the skeleton) and ``z, y, x`` (nm).
    """

    root_id: int
    query_id: int
    edges: np.ndarray
    soma: np.ndarray | None
    synapses: pd.DataFrame


@dataclass
class NodeSkeleton:
    """A neuron's skeleton as the viewer's load holds it: what a navis TreeNeuron from
    :func:`~napari_crant.get_l2_skeleton` holds (navis is not imported to draw: ~1.5 s), given
    ``connectors`` by :func:`~napari_crant.queries.attach.attach_to_skeletons`.

    Attributes
    ----------
    id
        The root ID.
    nodes
        :func:`~napari_crant.queries.skeleton.skeleton_nodes` (nm).
    soma
        The soma's node ID, or ``None``.
    """

    id: int
    nodes: pd.DataFrame
    soma: int | None = None
    connectors: pd.DataFrame | None = None
    connectors_provenance: dict[str, Any] | None = None


def neuron_data(neuron: Any, query_id: int | None = None) -> NeuronData:
    """:class:`NeuronData` from a navis TreeNeuron (nm) or a :class:`NodeSkeleton`, with optional
    ``connectors``.

    Parameters
    ----------
    neuron
        ``navis.TreeNeuron`` as returned by :func:`~napari_crant.get_l2_skeleton` (and
        :func:`~napari_crant.attach_synapses`), or a :class:`NodeSkeleton`.
    query_id
        The ID asked for; defaults to ``neuron.query_id`` or the root.
    """
    root = int(getattr(neuron, "root_id", neuron.id))
    nodes = neuron.nodes
    soma = None
    soma_id = getattr(neuron, "soma", None)
    if soma_id is not None and not (isinstance(soma_id, list | np.ndarray) and len(soma_id) == 0):
        sid = int(np.ravel(soma_id)[0])
        row = nodes[nodes["node_id"].to_numpy() == sid]
        if len(row):
            soma = row[["z", "y", "x"]].to_numpy(np.float64)[0]
    cn = getattr(neuron, "connectors", None)
    if cn is None or len(cn) == 0:
        syn = _empty_synapses()
    else:
        syn = pd.DataFrame({
            "type": cn["type"].astype(str).to_numpy(),
            "synapse_id": cn["synapse_id"].to_numpy(np.uint64),
            "partner_id": cn["partner_id"].to_numpy(np.uint64),
            "size": cn["size"].to_numpy(np.int64),
            "distance": cn["distance"].to_numpy(np.float64),
            "z": cn["z"].to_numpy(np.float64),
            "y": cn["y"].to_numpy(np.float64),
            "x": cn["x"].to_numpy(np.float64),
        })
    if query_id is None:
        query_id = int(getattr(neuron, "query_id", root))
    return NeuronData(root, int(query_id), skeleton_vectors(nodes), soma, syn)


def _empty_synapses() -> pd.DataFrame:
    return pd.DataFrame({
        "type": np.array([], object),
        "synapse_id": np.array([], np.uint64),
        "partner_id": np.array([], np.uint64),
        "size": np.array([], np.int64),
        "distance": np.array([], np.float64),
        "z": np.array([], np.float64),
        "y": np.array([], np.float64),
        "x": np.array([], np.float64),
    })


def uint64_ids(table: pd.DataFrame) -> pd.DataFrame:
    """The ID columns of a synapse table as uint64 (in place; returns the table)."""
    for c in ("root_id", "synapse_id", "partner_id"):
        if table[c].dtype != np.uint64:
            table[c] = table[c].to_numpy().astype(np.uint64)
    return table


def synapse_table(neurons: Any) -> pd.DataFrame:
    """The synapses of these :class:`NeuronData` as one table with a ``root_id`` column (uint64).

    Built in the loading worker for each load, so that the main thread joins two tables.
    """
    neurons = list(neurons)
    if not neurons:
        s = _empty_synapses()
        s.insert(0, "root_id", np.array([], np.uint64))
        return s
    counts = [len(n.synapses) for n in neurons]
    out = pd.concat([n.synapses for n in neurons], ignore_index=True)
    out.insert(0, "root_id", np.repeat(np.array([n.root_id for n in neurons], np.uint64), counts))
    return uint64_ids(out)
