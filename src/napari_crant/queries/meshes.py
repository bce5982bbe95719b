"""``get_mesh``, ``get_neuropil_meshes``, ``get_brain_mesh``: surfaces of neurons and of the brain.

A root's mesh is the union of its level-2 chunks' fragments, as CRANTb's chunkedgraph
serves it; IDs are resolved to the roots alive at ``materialization`` like every other
query, so an edited neuron's mesh shows the edit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_crant.arguments import InvalidArgumentError, check_flag
from napari_crant.datasets import get_source
from napari_crant.ids import parse_ids, unique_in_order
from napari_crant.queries.common import open_query, provenance
from napari_crant.queries.update import resolve_ids


def _cell_types(source: Any, roots: np.ndarray) -> dict[int, str]:
    """``{root: cell_type}`` for roots with a known cell type (annotation roots as given)."""
    try:
        ann = source.annotations()
    except Exception:
        return {}
    if "cell_type" not in ann or "root_id" not in ann or not len(ann):
        return {}
    ids = ann["root_id"].to_numpy(np.uint64)
    keep = np.isin(ids, roots)
    out: dict[int, str] = {}
    for rid, ct in zip(ids[keep], ann["cell_type"].to_numpy(object)[keep], strict=True):
        if isinstance(ct, str) and ct:
            out.setdefault(int(rid), ct)
    return out


def get_mesh(
    ids: Any,
    materialization: Any = "latest",
    dataset: Any = None,
    update_ids: bool = True,
) -> Any:
    """Meshes of neurons, as CRANTb's chunkedgraph serves them (one fragment per L2 chunk).

    Parameters
    ----------
    ids
        Root IDs: one (int or str) or a collection (list, tuple, set, generator, dict keys,
        array, Series or ``NeuronCriteria``).
    materialization
        ``"latest"`` (default), ``"live"``, a version number or a timestamp: the moment
        whose roots are meshed.
    dataset
        Dataset name or snapshot path; ``None`` for the default.
    update_ids
        Map each ID to its root at ``materialization`` first (an outdated ID gets the
        neuron's mesh at that moment). With ``False`` exactly the given roots are meshed
        (roots never change, so an outdated root keeps its old shape).

    Returns
    -------
    navis.MeshNeuron or navis.NeuronList
        A MeshNeuron (units nm, ``id`` = root ID as int, ``name`` = ``"cell_type (id)"``
        where the cell type is known, else the ID) for one ID; a NeuronList for a
        collection (even of one ID). Each neuron has ``root_id``, ``query_id`` (uint64)
        and ``provenance`` (dict: dataset, materialization, updated IDs).

    Raises
    ------
    InvalidIDError, UnknownIDError
        For IDs that are malformed or were never roots of the dataset.
    TissueUnavailable
        If the dataset has no meshes (e.g. a snapshot without skeleton nodes).
    """
    import navis

    check_flag(update_ids, "update_ids")
    single = isinstance(ids, str | int | np.integer)
    source, at = open_query(dataset, materialization)
    given = parse_ids(ids, "ids")
    mapping = resolve_ids(source, unique_in_order(given), at, update=True, name="ids")
    if not update_ids:
        mapping["new_id"] = mapping["old_id"]
    roots = mapping["new_id"].to_numpy(np.uint64)
    names = _cell_types(source, roots)
    updated = {
        int(o): int(n)
        for o, n in zip(mapping["old_id"], mapping["new_id"], strict=True)
        if int(o) != int(n)
    }
    prov = {**provenance(source, at), "updated_ids": updated}
    neurons = []
    for old, root in zip(mapping["old_id"].to_numpy(np.uint64), roots, strict=True):
        mesh = source.root_mesh(int(root), at)
        ct = names.get(int(root))
        name = f"{ct} ({int(root)})" if ct else str(int(root))
        n = navis.MeshNeuron(mesh, units="1 nm", id=int(root), name=name, process=False)
        n.root_id = np.uint64(root)
        n.query_id = np.uint64(old)
        n.dataset = source.name
        n.provenance = dict(prov)
        neurons.append(n)
    return neurons[0] if single else navis.NeuronList(neurons)


def get_neuropil_meshes(names: Any = None, dataset: Any = None) -> dict:
    """Surfaces of the brain's neuropils (for translucent context).

    Parameters
    ----------
    names
        A neuropil name or a collection of names; ``None`` for all.
    dataset
        Dataset name or snapshot path; ``None`` for the default.

    Returns
    -------
    dict of str to trimesh.Trimesh
        By neuropil name (in the order asked for), vertices in nm.

    Raises
    ------
    InvalidArgumentError
        For names the dataset does not have (the known ones are listed).
    TissueUnavailable
        If the dataset has no neuropil meshes.
    """
    source = get_source(dataset)
    meshes = source.neuropil_meshes()
    if names is None:
        return dict(meshes)
    wanted = [names] if isinstance(names, str) else list(names) if _iterable(names) else None
    if wanted is None or not all(isinstance(n, str) for n in wanted):
        raise InvalidArgumentError(f"names must be a neuropil name or a collection of names, not {names!r}")
    unknown = [n for n in wanted if n not in meshes]
    if unknown:
        raise InvalidArgumentError(
            f"unknown neuropil(s) {unknown} in dataset {source.name!r}; known: {sorted(meshes)}"
        )
    return {n: meshes[n] for n in wanted}


def _iterable(value: Any) -> bool:
    return isinstance(value, list | tuple | set | frozenset | np.ndarray) or hasattr(value, "__iter__")


def get_brain_mesh(dataset: Any = None) -> Any:
    """The whole brain's surface (CRANTb's tissue mesh; for translucent context).

    Parameters
    ----------
    dataset
        Dataset name or snapshot path; ``None`` for the default.

    Returns
    -------
    trimesh.Trimesh
        Vertices in nm; it encloses every neuropil and soma.

    Raises
    ------
    TissueUnavailable
        If the dataset has no brain mesh.
    """
    return get_source(dataset).brain_mesh()
