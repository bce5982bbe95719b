"""Query results as napari layer data (the :class:`Scene`), without Qt.

Everything the napari widgets draw is computed here, so that it can be tested (and used
from scripts, e.g. ``viewer.add_vectors(*scene.skeleton_layer()[:2])``) without a display.
The neurons come from :func:`napari_crant.scene.loading.load_neurons`.

Axis convention
---------------
Every layer uses **napari order (z, y, x), in nanometres**, with ``scale = (1, 1, 1)`` and
``units = 'nm'``. Skeleton nodes, somata and synapse positions all come from the query core
in nm (CAVE's ``x, y, z``), and are reordered to ``(z, y, x)`` here, so that napari shows x
horizontally and y vertically (as neuroglancer does) and z as the slider axis.

Layers
------
- ``CRANT skeletons``: ONE Vectors layer, one vector per parent -> child edge (start +
  direction, ``vector_style='line'``), feature ``root_id`` (str) and a colour per neuron.
- ``CRANT somata``: Points, one per neuron with a soma, feature ``root_id``.
- ``CRANT presynapses`` / ``CRANT postsynapses``: Points, features ``root_id``, ``synapse_id``,
  ``partner_id`` (str), ``size``, ``distance`` (nm to the skeleton).
- ``CRANT highlight``: Points, the synapses currently picked in the partner table or the
  adjacency view.

IDs never pass through float: in layer features they are strings (napari stores
features in a DataFrame and colour-mapping code may cast numeric columns to float).
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from napari_crant.scene.tables import join_annotations

#: napari axis order of every layer, and its units.
AXES = ("z", "y", "x")
UNITS = "nm"
SCALE = (1.0, 1.0, 1.0)
#: key in ``layer.metadata`` marking the layers this package owns (value: the layer kind).
METADATA_KEY = "napari_crant"
LAYER_NAMES = {
    "skeletons": "CRANT skeletons",
    "somata": "CRANT somata",
    "pre": "CRANT presynapses",
    "post": "CRANT postsynapses",
    "highlight": "CRANT highlight",
}
#: colour of synapses when coloured by type (RGBA).
TYPE_COLORS = {"pre": (0.95, 0.25, 0.2, 1.0), "post": (0.2, 0.75, 0.95, 1.0)}
COLOR_MODES = ("type", "partner", "neuron")
#: a palette of distinct colours for neurons (loaded order); partners get hashed colours.
_PALETTE = np.array([
    (0.122, 0.467, 0.706), (1.0, 0.498, 0.055), (0.173, 0.627, 0.173), (0.839, 0.153, 0.157),
    (0.580, 0.404, 0.741), (0.549, 0.337, 0.294), (0.890, 0.467, 0.761), (0.737, 0.741, 0.133),
    (0.090, 0.745, 0.812), (0.98, 0.9, 0.25), (0.6, 0.9, 0.5), (0.95, 0.6, 0.6),
])


def neuron_color(index: int) -> np.ndarray:
    """RGBA colour of the ``index``-th loaded neuron (palette first, then golden-ratio hues)."""
    if index < len(_PALETTE):
        return np.array([*_PALETTE[index], 1.0])
    h = (index * 0.618033988749895) % 1.0
    return np.array([*colorsys.hsv_to_rgb(h, 0.75, 0.95), 1.0])


def id_colors(ids: Sequence[Any] | np.ndarray) -> np.ndarray:
    """A stable RGBA colour per ID (same ID, same colour, in any session), ``(n, 4)``."""
    ids = np.asarray(ids, dtype=np.uint64)
    # splitmix64-style hash in uint64 arithmetic (wraps, no float on the ID itself)
    with np.errstate(over="ignore"):
        h = ids * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
    hue = (h % np.uint64(3600)).astype(np.float64) / 3600.0
    sat = 0.55 + ((h >> np.uint64(20)) % np.uint64(40)).astype(np.float64) / 100.0
    out = np.ones((len(ids), 4))
    for i, (hh, ss) in enumerate(zip(hue, sat, strict=True)):
        out[i, :3] = colorsys.hsv_to_rgb(hh, ss, 0.95)
    return out


def id_strings(ids: Any) -> np.ndarray:
    """uint64 IDs as an object array of decimal strings (for features and tables)."""
    return np.array([str(int(i)) for i in np.asarray(ids, dtype=np.uint64)], dtype=object)


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


def neuron_data(neuron: Any, query_id: int | None = None) -> NeuronData:
    """:class:`NeuronData` from a navis TreeNeuron (nm) with optional ``connectors``.

    Parameters
    ----------
    neuron
        ``navis.TreeNeuron`` as returned by :func:`~napari_crant.get_l2_skeleton` (and
        :func:`~napari_crant.attach_synapses`).
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


class SceneUpdate(Protocol):
    """What :meth:`Scene.add` takes: a :class:`~napari_crant.scene.loading.LoadResult`."""

    neurons: list[NeuronData]
    partners: pd.DataFrame
    annotations: pd.DataFrame
    provenance: dict[str, Any]


def _layer_kwargs(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": LAYER_NAMES[kind],
        "scale": SCALE,
        "units": UNITS,
        "axis_labels": AXES,
        "metadata": {METADATA_KEY: kind},
        # in 2D, show everything projected onto the slice (a z-projection), not one 1 nm slab
        "projection_mode": "all",
        **extra,
    }


class Scene:
    """The neurons loaded into one viewer, and their layer data.

    Loading more neurons adds to the same layers; a neuron loaded twice is replaced.
    """

    def __init__(self) -> None:
        self.neurons: dict[int, NeuronData] = {}
        self.partners = pd.DataFrame()
        self.annotations = pd.DataFrame({"root_id": np.array([], np.uint64)})
        self.provenance: dict[str, Any] = {}
        self.color_by = "type"

    # -- state ---------------------------------------------------------------------------
    def add(self, result: SceneUpdate) -> None:
        """Add (or replace) the neurons and partner rows of ``result``."""
        new_roots = [n.root_id for n in result.neurons]
        for n in result.neurons:
            self.neurons[n.root_id] = n
        if not self.partners.empty:
            keep = ~np.isin(self.partners["neuron_id"].to_numpy(np.uint64),
                            np.array(new_roots, np.uint64))
            self.partners = pd.concat([self.partners[keep], result.partners], ignore_index=True)
        else:
            self.partners = result.partners.copy()
        for c in ("neuron_id", "partner_id"):
            if c in self.partners:
                self.partners[c] = self.partners[c].astype(np.uint64)
        if len(result.annotations):
            self.annotations = result.annotations
        self.provenance = dict(result.provenance)

    def remove(self, root_id: int) -> None:
        """Forget one neuron (and its partner rows)."""
        self.neurons.pop(int(root_id), None)
        if not self.partners.empty:
            keep = self.partners["neuron_id"].to_numpy(np.uint64) != np.uint64(int(root_id))
            self.partners = self.partners[keep].reset_index(drop=True)

    def clear(self) -> None:
        """Forget every neuron."""
        self.neurons.clear()
        self.partners = pd.DataFrame()
        self.provenance = {}

    @property
    def root_ids(self) -> np.ndarray:
        """Loaded roots (uint64), in loading order."""
        return np.array(list(self.neurons), dtype=np.uint64)

    def color_of(self, root_id: int) -> np.ndarray:
        """RGBA colour of a loaded neuron."""
        return neuron_color(list(self.neurons).index(int(root_id)))

    def label_of(self, root_id: int) -> str:
        """Cell type of a root if annotated, else its ID."""
        ann = join_annotations(pd.DataFrame({"root_id": np.array([root_id], np.uint64)}),
                               "root_id", self.annotations)
        ct = ann["cell_type"].iloc[0] if "cell_type" in ann else None
        return str(ct) if isinstance(ct, str) and ct else str(int(root_id))

    def synapses(self, kind: str | None = None) -> pd.DataFrame:
        """All synapses of loaded neurons with a ``root_id`` column (uint64)."""
        parts = []
        for n in self.neurons.values():
            s = n.synapses if kind is None else n.synapses[n.synapses["type"].to_numpy() == kind]
            s = s.copy()
            s.insert(0, "root_id", np.full(len(s), n.root_id, dtype=np.uint64))
            parts.append(s)
        if not parts:
            s = _empty_synapses()
            s.insert(0, "root_id", np.array([], np.uint64))
            return s
        out = pd.concat(parts, ignore_index=True)
        for c in ("root_id", "synapse_id", "partner_id"):
            out[c] = out[c].astype(np.uint64)
        return out

    # -- layer data ------------------------------------------------------------------------
    def skeleton_layer(self) -> tuple[np.ndarray, dict[str, Any], str]:
        """LayerData tuple of the skeletons' Vectors layer."""
        edges = [n.edges for n in self.neurons.values()]
        data = np.concatenate(edges) if edges else np.zeros((0, 2, 3))
        counts = [len(e) for e in edges]
        roots = np.repeat(np.array(list(self.neurons), dtype=np.uint64), counts)
        colors = (np.repeat(np.array([neuron_color(i) for i in range(len(counts))]), counts, axis=0)
                  if counts else np.zeros((0, 4)))
        features = pd.DataFrame({"root_id": id_strings(roots)})
        return data, _layer_kwargs("skeletons", features=features, edge_color=colors,
                                   vector_style="line", edge_width=300.0), "vectors"

    def soma_layer(self) -> tuple[np.ndarray, dict[str, Any], str]:
        """LayerData tuple of the somata Points layer."""
        rows = [(i, n) for i, n in enumerate(self.neurons.values()) if n.soma is not None]
        data = np.array([n.soma for _, n in rows]) if rows else np.zeros((0, 3))
        colors = np.array([neuron_color(i) for i, _ in rows]) if rows else np.zeros((0, 4))
        features = pd.DataFrame({"root_id": id_strings([n.root_id for _, n in rows])})
        return data, _layer_kwargs("somata", features=features, face_color=colors, size=2500.0,
                                   border_width=0.0, shading="spherical"), "points"

    def synapse_colors(self, syn: pd.DataFrame, color_by: str | None = None) -> np.ndarray:
        """RGBA per synapse row: by ``'type'``, ``'partner'`` or owning ``'neuron'``."""
        color_by = color_by or self.color_by
        if color_by not in COLOR_MODES:
            raise ValueError(f"color_by must be one of {COLOR_MODES}, not {color_by!r}")
        if len(syn) == 0:
            return np.zeros((0, 4))
        if color_by == "type":
            return np.array([TYPE_COLORS[t] for t in syn["type"]])
        if color_by == "partner":
            return id_colors(syn["partner_id"].to_numpy(np.uint64))
        order = {r: i for i, r in enumerate(self.neurons)}
        return np.array([neuron_color(order[int(r)]) for r in syn["root_id"].to_numpy(np.uint64)])

    def synapse_layer(self, kind: str, color_by: str | None = None) -> tuple[np.ndarray, dict[str, Any], str]:
        """LayerData tuple of the ``'pre'`` or ``'post'`` synapse Points layer."""
        if kind not in ("pre", "post"):
            raise ValueError(f"kind must be 'pre' or 'post', not {kind!r}")
        syn = self.synapses(kind)
        return self._points(syn, kind, self.synapse_colors(syn, color_by), size=400.0)

    def highlight_layer(self, synapse_ids: Any = ()) -> tuple[np.ndarray, dict[str, Any], str]:
        """LayerData tuple of the highlighted synapses (those with the given synapse IDs)."""
        syn = self.synapses()
        ids = np.asarray(list(synapse_ids) if not isinstance(synapse_ids, np.ndarray) else synapse_ids,
                         dtype=np.uint64)
        syn = syn[np.isin(syn["synapse_id"].to_numpy(np.uint64), ids)].drop_duplicates(
            ["synapse_id", "type"]).reset_index(drop=True)
        colors = np.tile([1.0, 1.0, 0.0, 1.0], (len(syn), 1))
        data, kwargs, ltype = self._points(syn, "highlight", colors, size=900.0)
        kwargs["blending"] = "translucent_no_depth"  # drawn on top of everything
        return data, kwargs, ltype

    def _points(self, syn: pd.DataFrame, kind: str, colors: np.ndarray, size: float
                ) -> tuple[np.ndarray, dict[str, Any], str]:
        data = syn[["z", "y", "x"]].to_numpy(np.float64).reshape(-1, 3)
        features = pd.DataFrame({
            "root_id": id_strings(syn["root_id"]),
            "type": syn["type"].astype(object).to_numpy(),
            "synapse_id": id_strings(syn["synapse_id"]),
            "partner_id": id_strings(syn["partner_id"]),
            "size": syn["size"].to_numpy(np.int64),
            "distance": syn["distance"].to_numpy(np.float64),
        })
        return data, _layer_kwargs(kind, features=features, face_color=colors, size=size,
                                   border_width=0.0), "points"

    def layers(self, color_by: str | None = None) -> list[tuple[np.ndarray, dict[str, Any], str]]:
        """All layer data tuples (skeletons, somata, pre, post), e.g. for sample data."""
        return [self.skeleton_layer(), self.soma_layer(), self.synapse_layer("pre", color_by),
                self.synapse_layer("post", color_by)]

    # -- picking synapses ------------------------------------------------------------------
    def synapses_between(self, pre: int, post: int) -> np.ndarray:
        """Synapse IDs from ``pre`` to ``post`` among the loaded neurons' synapses."""
        return self._synapses_of_pairs(np.array([pre], np.uint64), np.array([post], np.uint64))

    def synapses_with_partners(self, rows: pd.DataFrame) -> np.ndarray:
        """Synapse IDs of partner-table ``rows`` (``neuron_id``, ``direction``, ``partner_id``)."""
        n = rows["neuron_id"].to_numpy(np.uint64)
        p = rows["partner_id"].to_numpy(np.uint64)
        down = rows["direction"].to_numpy() == "downstream"
        return self._synapses_of_pairs(np.where(down, n, p), np.where(down, p, n))

    def _synapses_of_pairs(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        """Unique synapse IDs of the (pre, post) root pairs (vectorised, uint64-exact)."""
        if len(pre) == 0:
            return np.array([], np.uint64)
        syn = self.synapses()
        r = syn["root_id"].to_numpy(np.uint64)
        q = syn["partner_id"].to_numpy(np.uint64)
        is_pre = syn["type"].to_numpy() == "pre"
        syn_pre, syn_post = np.where(is_pre, r, q), np.where(is_pre, q, r)
        wanted = pd.MultiIndex.from_arrays([pre.astype(np.uint64), post.astype(np.uint64)])
        have = pd.MultiIndex.from_arrays([syn_pre.astype(np.uint64), syn_post.astype(np.uint64)])
        sel = have.isin(wanted)
        return np.unique(syn["synapse_id"].to_numpy(np.uint64)[sel])
