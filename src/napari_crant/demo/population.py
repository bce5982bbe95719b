"""Stages 1 and 2 of the demo: where the neuropils lie and which cells there are.

:func:`draw_neuropils` places the paired and central neuropils of
:mod:`napari_crant.demo.anatomy` and the zones (glomeruli, compartments) inside them;
:func:`draw_population` draws the neurons of every cell type (left/right homologues), their
soma or entry point and their cable radii. Positions are in micrometres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_crant.demo import anatomy
from napari_crant.demo.arrays import largest_remainder


@dataclass
class Neuropils:
    """Neuropil boxes (centre and half-size, um) and the zone centres inside each."""

    names: list[str]
    center: np.ndarray  # (k, 3) um
    half: np.ndarray  # (k, 3) um
    zones: dict[str, np.ndarray]  # name -> (Z, 3) zone centres, um
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {n: i for i, n in enumerate(self.names)}


def draw_neuropils(rng: np.random.Generator) -> Neuropils:
    """Both sides of every paired neuropil, the central ones, and zones in each.

    Parameters
    ----------
    rng
        Random generator of this stage.

    Returns
    -------
    Neuropils
    """
    names, center, half, zones = [], [], [], {}
    for base, (c, h) in anatomy.PAIRED_NEUROPILS.items():
        c, h = np.array(c), np.array(h)
        z = c + rng.uniform(-0.6, 0.6, (anatomy.ZONES[base], 3)) * h
        for side in "LR":
            zc, cc = z.copy(), c.copy()
            if side == "R":
                zc[:, 0] = anatomy.mirror_x(zc[:, 0])
                cc[0] = anatomy.mirror_x(cc[0])
            names.append(f"{base}_{side}")
            center.append(cc)
            half.append(h)
            zones[f"{base}_{side}"] = zc
    for base, (c, h) in anatomy.CENTRAL_NEUROPILS.items():
        c, h = np.array(c), np.array(h)
        names.append(base)
        center.append(c)
        half.append(h)
        zones[base] = c + rng.uniform(-0.6, 0.6, (anatomy.ZONES[base], 3)) * h
    return Neuropils(names, np.array(center), np.array(half), zones)


def resolve_neuropil(ref: str, side: int) -> str:
    """Neuropil reference of a cell type (``"AL"``, ``"AL*"``, ``"FB"``) -> neuropil name."""
    base = ref.rstrip("*")
    if base in anatomy.CENTRAL_NEUROPILS:
        return base
    s = 0 if side == 2 else side
    if ref.endswith("*"):
        s = 1 - s
    return f"{base}_{'LR'[s]}"


@dataclass
class Cells:
    """Per-entity attributes: neurons ``0..n-1`` then fragments."""

    n_neurons: int
    ctype: np.ndarray  # cell type index; len(CELL_TYPES) for fragments
    side: np.ndarray  # 0 left, 1 right, 2 centre
    glom: np.ndarray
    subtype: np.ndarray
    root_pos: np.ndarray  # (E, 3) um: soma, or entry point of the axon (placeholder: fragments)
    has_soma: np.ndarray
    soma_r: np.ndarray  # um
    trunk_r: np.ndarray
    twig_r: np.ndarray


def draw_population(n_neurons: int, n_fragments: int, rng: np.random.Generator) -> Cells:
    """Cell type, side, zone, root position and radii of every neuron and fragment.

    Parameters
    ----------
    n_neurons
        Neurons, spread over the cell types by their weights (largest remainder).
    n_fragments
        Orphan fragments after the neurons. Where they lie is decided by
        :func:`~napari_crant.demo.morphology.grow_morphology` (their first node);
        ``root_pos`` holds a placeholder for them.
    rng
        Random generator of this stage.

    Returns
    -------
    Cells
    """
    types = anatomy.CELL_TYPES
    inst_type, inst_side, inst_w = [], [], []
    for i, t in enumerate(types):
        for s in ((0, 1) if t.paired else (2,)):
            inst_type.append(i)
            inst_side.append(s)
            inst_w.append(t.weight / (2 if t.paired else 1))
    counts = largest_remainder(np.array(inst_w), n_neurons)
    ctype = np.repeat(np.array(inst_type), counts)
    side = np.repeat(np.array(inst_side), counts)
    n = n_neurons
    glom = rng.integers(0, anatomy.ZONES["AL"], n)
    n_sub = np.array([t.n_subtypes for t in types])[ctype]
    subtype = np.where(n_sub > 0, rng.integers(0, np.maximum(n_sub, 1)), -1)
    glomerular = np.array([t.glomerular for t in types])[ctype]
    subtype[glomerular] = glom[glomerular]

    root = np.zeros((n, 3))
    has_soma = np.zeros(n, dtype=bool)
    for i, t in enumerate(types):
        for s in (0, 1, 2):
            m = (ctype == i) & (side == s)
            if not m.any():
                continue
            anchor = np.array(t.soma if t.soma is not None else t.entry, dtype=float)
            if s == 1:
                anchor[0] = anatomy.mirror_x(anchor[0])
            spread = np.array([5.0, 5.0, 3.0]) if t.soma is not None else np.array([2.0] * 3)
            root[m] = anchor + rng.normal(0.0, 1.0, (int(m.sum()), 3)) * spread
            has_soma[m] = t.soma is not None
    frag = np.zeros((n_fragments, 3))
    vol = np.array(anatomy.VOLUME_UM)
    root = np.clip(np.concatenate([root, frag]), 1.0, vol - 1.0)
    e = n + n_fragments
    is_kc = np.zeros(e, dtype=bool)
    is_kc[:n] = np.array([t.cell_class == "kenyon_cell" for t in types])[ctype]
    soma_r = np.where(is_kc, rng.uniform(1.3, 1.7, e), rng.uniform(1.8, 2.8, e))
    trunk_r = np.where(is_kc, rng.uniform(0.12, 0.18, e), rng.uniform(0.3, 0.6, e))
    twig_r = np.where(is_kc, rng.uniform(0.08, 0.12, e), rng.uniform(0.1, 0.25, e))
    return Cells(
        n_neurons=n,
        ctype=np.concatenate([ctype, np.full(n_fragments, len(types))]),
        side=np.concatenate([side, np.zeros(n_fragments, dtype=np.int64)]),
        glom=np.concatenate([glom, np.zeros(n_fragments, dtype=np.int64)]),
        subtype=np.concatenate([subtype, np.full(n_fragments, -1)]),
        root_pos=root,
        has_soma=np.concatenate([has_soma, np.zeros(n_fragments, dtype=bool)]),
        soma_r=soma_r, trunk_r=trunk_r, twig_r=twig_r,
    )
