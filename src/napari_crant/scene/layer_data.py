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
- ``CRANT skeletons``: a Vectors layer, one vector per parent -> child edge (start +
  direction, ``vector_style='line'``), feature ``root_id`` (str) and a colour per neuron.
- ``CRANT somata``: Points, one per neuron with a soma, feature ``root_id``.
- ``CRANT presynapses`` / ``CRANT postsynapses``: Points, features ``root_id``, ``synapse_id``,
  ``partner_id`` (str), ``size``, ``distance`` (nm to the skeleton).
- ``CRANT highlight``: Points, the synapses currently picked in the partner table or the
  adjacency view.

The viewer shows one set of the first four per batch of loaded neurons (``roots=`` below;
:mod:`napari_crant._qt.layer_batches`).

IDs never pass through float: in layer features they are strings (napari stores
features in a DataFrame and colour-mapping code may cast numeric columns to float).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from napari_crant.scene.colors import COLOR_MODES, TYPE_COLORS, id_colors, neuron_colors
from napari_crant.scene.layer_conventions import (
    AXES,
    DOT_ANTIALIAS,
    LAYER_NAMES,
    MAX_POINT_PIXELS,
    METADATA_KEY,
    MIN_POINT_PIXELS,
    SCALE,
    UNITS,
)
from napari_crant.scene.neuron_data import NeuronData, id_strings, synapse_id_text, synapse_table, uint64_ids


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
        #: every loaded synapse with its ``root_id`` (built once per change, see :meth:`synapses`)
        self._synapse_table: pd.DataFrame | None = None
        #: its ID columns as text, row for row (layer features; ``None``: built when needed)
        self._synapse_text: pd.DataFrame | None = None
        #: colours given to neurons (e.g. by a reopened session) instead of their palette colour
        self._colors: dict[int, tuple[float, float, float, float]] = {}
        #: (annotations frame, its sorted unique roots, their cell types): built once per frame
        self._cell_type_index: tuple[pd.DataFrame, np.ndarray, np.ndarray] | None = None

    # -- state ---------------------------------------------------------------------------
    def add(self, result: SceneUpdate) -> None:
        """Add (or replace) the neurons and partner rows of ``result``."""
        new_roots = [n.root_id for n in result.neurons]
        prebuilt = getattr(result, "synapses", None)
        text = getattr(result, "synapse_text", None)
        if not (isinstance(text, pd.DataFrame) and isinstance(prebuilt, pd.DataFrame)
                and len(text) == len(prebuilt)):
            text = None
        old, old_text = self._synapse_table, self._synapse_text
        for n in result.neurons:
            self.neurons[n.root_id] = n
        if isinstance(prebuilt, pd.DataFrame) and old is not None:
            # the worker built the new rows (one table): two frames to join, not one per neuron
            keep = ~np.isin(old["root_id"].to_numpy(np.uint64), np.array(new_roots, np.uint64))
            self._synapse_table = uint64_ids(pd.concat([old[keep], prebuilt], ignore_index=True))
            self._synapse_text = (None if text is None or old_text is None else
                                  pd.concat([old_text[keep], text], ignore_index=True))
        elif isinstance(prebuilt, pd.DataFrame) and len(self.neurons) == len(new_roots):
            self._synapse_table = uint64_ids(prebuilt.reset_index(drop=True))
            self._synapse_text = None if text is None else text.reset_index(drop=True)
        else:
            self._synapse_table = self._synapse_text = None
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
        self._colors.pop(int(root_id), None)
        self._synapse_table = self._synapse_text = None
        if not self.partners.empty:
            keep = self.partners["neuron_id"].to_numpy(np.uint64) != np.uint64(int(root_id))
            self.partners = self.partners[keep].reset_index(drop=True)

    def clear(self) -> None:
        """Forget every neuron."""
        self.neurons.clear()
        self._colors.clear()
        self._synapse_table = self._synapse_text = None
        self.partners = pd.DataFrame()
        self.provenance = {}

    @property
    def root_ids(self) -> np.ndarray:
        """Loaded roots (uint64), in loading order."""
        return np.array(list(self.neurons), dtype=np.uint64)

    def color_of(self, root_id: int) -> np.ndarray:
        """RGBA colour of a loaded neuron."""
        return self.neuron_rgba(np.array([int(root_id)], np.uint64))[0]

    def neuron_rgba(self, root_ids: Any = None) -> np.ndarray:
        """RGBA colours ``(n, 4)`` of loaded neurons (default: all, in loading order).

        A neuron's colour is its loading position's palette colour (:func:`neuron_colors`)
        unless :meth:`set_colors` gave it another (a reopened session keeps its colours).
        """
        loaded = self.root_ids
        roots = loaded if root_ids is None else np.asarray(root_ids, np.uint64).reshape(-1)
        if root_ids is None:
            pos = np.arange(len(loaded))
        else:
            order = np.argsort(loaded, kind="stable")
            at = np.minimum(np.searchsorted(loaded[order], roots), max(len(loaded) - 1, 0))
            if len(roots) and (len(loaded) == 0 or (loaded[order][at] != roots).any()):
                missing = roots if len(loaded) == 0 else roots[loaded[order][at] != roots]
                raise KeyError(f"neuron {int(missing[0])} is not loaded")
            pos = order[at]
        out = neuron_colors(pos)
        if self._colors:
            for i, r in enumerate(roots):
                given = self._colors.get(int(r))
                if given is not None:
                    out[i] = given
        return out

    def set_colors(self, colors: dict[int, Any]) -> None:
        """Give neurons these RGBA colours (``{root_id: (r, g, b, a)}``, values in 0..1).

        Raises
        ------
        ValueError
            A colour that is not 3 or 4 numbers in 0..1.
        """
        checked = {}
        for root, color in colors.items():
            c = np.asarray(color, dtype=np.float64).reshape(-1)
            if c.size == 3:
                c = np.append(c, 1.0)
            if c.size != 4 or not np.isfinite(c).all() or (c < 0).any() or (c > 1).any():
                raise ValueError(f"colour of neuron {int(root)} must be 3 or 4 numbers in 0..1, "
                                 f"not {color!r}")
            checked[int(root)] = tuple(float(v) for v in c)
        self._colors.update(checked)

    def cell_types(self, root_ids: Any) -> list[str]:
        """Annotated cell type of each root (``''`` when unannotated), vectorised."""
        roots = np.asarray(root_ids, dtype=np.uint64).reshape(-1)
        if "cell_type" not in self.annotations or len(roots) == 0:
            return [""] * len(roots)
        uniq, types = self._cell_type_lookup()
        if not len(uniq):
            return [""] * len(roots)
        pos = np.minimum(np.searchsorted(uniq, roots), len(uniq) - 1)
        found = uniq[pos] == roots
        return [v if ok and isinstance(v, str) else "" for v, ok in zip(types[pos], found, strict=True)]

    def _cell_type_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique annotated roots and the cell type of each (first annotation row wins, as in
        :func:`~napari_crant.scene.tables.join_annotations`); kept until the annotations change
        (a label is looked up at every QC step: no join of every annotation column each time)."""
        ann = self.annotations
        if self._cell_type_index is None or self._cell_type_index[0] is not ann:
            uniq, first = np.unique(ann["root_id"].to_numpy(np.uint64), return_index=True)
            self._cell_type_index = (ann, uniq, ann["cell_type"].to_numpy(object)[first])
        return self._cell_type_index[1], self._cell_type_index[2]

    def label_of(self, root_id: int) -> str:
        """Cell type of a root if annotated, else its ID."""
        ct = self.cell_types([root_id])[0]
        return ct or str(int(root_id))

    def synapses(self, kind: str | None = None) -> pd.DataFrame:
        """All synapses of loaded neurons with a ``root_id`` column (uint64), in loading order."""
        if self._synapse_table is None:
            self._synapse_table = synapse_table(self.neurons.values())
        table = self._synapse_table
        if kind is not None:
            table = table[table["type"].to_numpy() == kind].reset_index(drop=True)
        return table.copy()

    def _synapse_id_text(self) -> pd.DataFrame:
        """:func:`synapse_id_text` of :meth:`synapses`, row for row (kept from the loading workers)."""
        table = self.synapses() if self._synapse_table is None else self._synapse_table
        if self._synapse_text is None or len(self._synapse_text) != len(table):
            self._synapse_text = synapse_id_text(table)
        return self._synapse_text

    # -- layer data ------------------------------------------------------------------------
    def _batch(self, roots: Any) -> list[NeuronData]:
        """The loaded neurons among ``roots`` (default: all), in loading order."""
        if roots is None:
            return list(self.neurons.values())
        wanted = {int(r) for r in np.asarray(roots, dtype=np.uint64).reshape(-1)}
        return [n for n in self.neurons.values() if n.root_id in wanted]

    def skeleton_layer(self, roots: Any = None) -> tuple[np.ndarray, dict[str, Any], str]:
        """LayerData tuple of the skeletons' Vectors layer (of the loaded ``roots``; default: all)."""
        neurons = self._batch(roots)
        edges = [n.edges for n in neurons]
        data = np.concatenate(edges) if edges else np.zeros((0, 2, 3))
        counts = [len(e) for e in edges]
        ids = id_strings([n.root_id for n in neurons])
        features = pd.DataFrame({"root_id": np.repeat(ids, counts)})  # one string per neuron, repeated
        rgba = self.neuron_rgba([n.root_id for n in neurons]) if neurons else np.zeros((0, 4))
        colors = np.repeat(rgba.astype(np.float32), counts, axis=0)
        return data, _layer_kwargs("skeletons", features=features, edge_color=colors,
                                   vector_style="line", edge_width=300.0), "vectors"

    def soma_layer(self, roots: Any = None) -> tuple[np.ndarray, dict[str, Any], str]:
        """LayerData tuple of the somata Points layer (of the loaded ``roots``; default: all)."""
        neurons = [n for n in self._batch(roots) if n.soma is not None]
        data = np.array([n.soma for n in neurons]) if neurons else np.zeros((0, 3))
        colors = (self.neuron_rgba([n.root_id for n in neurons]) if neurons
                  else np.zeros((0, 4))).astype(np.float32)
        features = pd.DataFrame({"root_id": id_strings([n.root_id for n in neurons])})
        return data, _layer_kwargs("somata", features=features, face_color=colors, size=2500.0,
                                   border_width=0.0, border_color=colors, shading="spherical",
                                   canvas_size_limits=(3 * MIN_POINT_PIXELS, 10000.0)), "points"

    def synapse_colors(self, syn: pd.DataFrame, color_by: str | None = None) -> np.ndarray:
        """RGBA per synapse row: by ``'type'``, ``'partner'`` or owning ``'neuron'``."""
        color_by = color_by or self.color_by
        if color_by not in COLOR_MODES:
            raise ValueError(f"color_by must be one of {COLOR_MODES}, not {color_by!r}")
        if len(syn) == 0:
            return np.zeros((0, 4), np.float32)
        if color_by == "type":
            is_pre = (syn["type"].to_numpy() == "pre")[:, None]
            return np.where(is_pre, np.array(TYPE_COLORS["pre"], np.float32),
                            np.array(TYPE_COLORS["post"], np.float32))
        if color_by == "partner":
            return id_colors(syn["partner_id"].to_numpy(np.uint64)).astype(np.float32)
        loaded = self.root_ids
        order = np.argsort(loaded, kind="stable")
        pos = order[np.searchsorted(loaded[order], syn["root_id"].to_numpy(np.uint64))]
        return self.neuron_rgba().astype(np.float32)[pos]

    def synapse_layer(self, kind: str, color_by: str | None = None,
                      roots: Any = None) -> tuple[np.ndarray, dict[str, Any], str]:
        """LayerData tuple of the ``'pre'`` or ``'post'`` synapse Points layer (of the loaded
        ``roots``; default: all)."""
        if kind not in ("pre", "post"):
            raise ValueError(f"kind must be 'pre' or 'post', not {kind!r}")
        table = self.synapses() if self._synapse_table is None else self._synapse_table
        text = self._synapse_id_text()
        rows = table["type"].to_numpy() == kind
        if roots is not None:
            rows &= np.isin(table["root_id"].to_numpy(np.uint64), np.asarray(roots, np.uint64).reshape(-1))
        syn = table[rows].reset_index(drop=True)
        return self._points(syn, kind, self.synapse_colors(syn, color_by), size=400.0,
                            text=text[rows].reset_index(drop=True))

    def highlight_layer(self, synapse_ids: Any = ()) -> tuple[np.ndarray, dict[str, Any], str]:
        """LayerData tuple of the highlighted synapses (those with the given synapse IDs)."""
        syn = self.synapses()
        ids = np.asarray(list(synapse_ids) if not isinstance(synapse_ids, np.ndarray) else synapse_ids,
                         dtype=np.uint64)
        syn = syn[np.isin(syn["synapse_id"].to_numpy(np.uint64), ids)].drop_duplicates(
            ["synapse_id", "type"]).reset_index(drop=True)
        colors = np.tile(np.array([1.0, 1.0, 0.0, 1.0], np.float32), (len(syn), 1))
        data, kwargs, ltype = self._points(syn, "highlight", colors, size=900.0)
        kwargs["blending"] = "translucent_no_depth"  # drawn on top of everything
        return data, kwargs, ltype

    def _points(self, syn: pd.DataFrame, kind: str, colors: np.ndarray, size: float,
                text: pd.DataFrame | None = None) -> tuple[np.ndarray, dict[str, Any], str]:
        data = syn[["z", "y", "x"]].to_numpy(np.float64).reshape(-1, 3)
        if text is None:
            text = synapse_id_text(syn)
        features = pd.DataFrame({
            "root_id": text["root_id"].to_numpy(object),
            "type": syn["type"].astype(object).to_numpy(),
            "synapse_id": text["synapse_id"].to_numpy(object),
            "partner_id": text["partner_id"].to_numpy(object),
            "size": syn["size"].to_numpy(np.int64),
            "distance": syn["distance"].to_numpy(np.float64),
        })
        # the border takes the face colour: napari draws the part of a point enlarged to
        # ``canvas_size_limits`` in the border colour (grey by default: every synapse read grey)
        return data, _layer_kwargs(kind, features=features, face_color=colors, size=size,
                                   border_width=0.0, border_color=colors,
                                   canvas_size_limits=(MIN_POINT_PIXELS, MAX_POINT_PIXELS),
                                   antialiasing=DOT_ANTIALIAS), "points"

    def layers(self, color_by: str | None = None,
               roots: Any = None) -> list[tuple[np.ndarray, dict[str, Any], str]]:
        """All layer data tuples (skeletons, somata, pre, post) of the loaded ``roots`` (default:
        all), e.g. for sample data or one batch of the viewer's layers."""
        return [self.skeleton_layer(roots), self.soma_layer(roots),
                self.synapse_layer("pre", color_by, roots), self.synapse_layer("post", color_by, roots)]

    def z_range(self) -> tuple[float, float] | None:
        """Smallest and largest z (nm) of every loaded skeleton, soma and synapse (``None``: none)."""
        lows, highs = [], []
        for n in self.neurons.values():
            if len(n.edges):
                ends = n.edges[:, 0, 0], n.edges[:, 0, 0] + n.edges[:, 1, 0]
                lows += [float(e.min()) for e in ends]
                highs += [float(e.max()) for e in ends]
            if n.soma is not None:
                lows.append(float(n.soma[0]))
                highs.append(float(n.soma[0]))
        table = self.synapses() if self._synapse_table is None else self._synapse_table
        if len(table):
            z = table["z"].to_numpy(np.float64)
            lows.append(float(z.min()))
            highs.append(float(z.max()))
        return (min(lows), max(highs)) if lows else None

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
