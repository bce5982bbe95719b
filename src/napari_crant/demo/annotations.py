"""Stage 10 of the demo: annotations (CRANTb fields) and nuclei.

Annotations are made at a per-neuron time, so some root IDs in them are outdated (their
``supervoxel_id`` is stable); edited neurons are annotated before, between or after their
edits. Somata get nuclei with IDs and volumes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_crant.demo import anatomy
from napari_crant.demo.chunks import Chunks
from napari_crant.demo.edits import Scenario
from napari_crant.demo.history import History, root_at
from napari_crant.demo.morphology import Nodes
from napari_crant.demo.population import Cells
from napari_crant.demo.timeline import EDITS_END, START, US_PER_DAY, VERSIONS, timestamp_us
from napari_crant.snapshot.format import ANNOTATION_FIELDS

_PROOFREADERS = ("akane", "bruno_k", "chiara.m", "dmitri", "esi_a", "farid", "greta_l",
                 "hoang", "ines.r", "jomo")
_NOTES = (
    "axon leaves volume, truncated", "soma damaged in EM", "check merge near calyx",
    "twin of contralateral cell looks different", "dendrite partially in dark region",
    "possible split needed at primary neurite", "matched to fly homologue by morphology",
    "arbor crosses missing section",
)
_FRAGMENT_NOTES = ("orphan, main cell not found", "orphan fragment, ignore",
                   "fragment near missing section")


def annotate(cells: Cells, nodes: Nodes, ch: Chunks, hist: History,
             scenarios: list[Scenario], rng: np.random.Generator
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``annotations`` and ``nuclei`` tables.

    Parameters
    ----------
    cells, nodes, ch, hist
        Results of the earlier stages.
    scenarios
        Timed edit episodes (annotation times are chosen around them).
    rng
        Random generator of this stage.

    Returns
    -------
    annotations, nuclei
        Every neuron and about one orphan fragment in eight is annotated.
    """
    types = anatomy.CELL_TYPES
    n = cells.n_neurons
    n_frag = len(cells.ctype) - n
    t_start, t_end = timestamp_us(START), timestamp_us(EDITS_END)
    last_version = timestamp_us(VERSIONS[-1][1])

    # annotation time per neuron: when the row was last written (= proofreading date)
    t_ann = rng.integers(t_start + 3 * US_PER_DAY, t_end - US_PER_DAY, n)
    for sc in scenarios:
        first, last = min(sc.times), max(sc.times)
        for e in sc.neurons:
            if last > last_version:  # annotated before a late edit: outdated root ID
                t_ann[e] = rng.integers(min(first, last_version) - 20 * US_PER_DAY, last)
            elif rng.random() < 0.6:
                t_ann[e] = rng.integers(last, t_end)
            else:
                t_ann[e] = rng.integers(t_start + US_PER_DAY, last)
    t_ann = np.maximum(t_ann, t_start + US_PER_DAY)

    n_ann_frag = max(1, n_frag // 8) if n_frag else 0
    frag_ann = (n + rng.choice(n_frag, n_ann_frag, replace=False)) if n_frag else []
    ents = np.concatenate([np.arange(n), np.sort(np.asarray(frag_ann, dtype=np.int64))])
    t_all = np.concatenate([t_ann, rng.integers(t_start + US_PER_DAY, t_end, len(ents) - n)])

    # stable supervoxel: first supervoxel of the L2 chunk of the root node (soma)
    root_node = nodes.start[ents]
    root_l2 = ch.l2_of_node[root_node]
    sv = ch.sv_first[root_l2]
    group = np.searchsorted(ch.group_key, ents * 4)
    root_idx = np.array([root_at(hist, int(g), int(t)) for g, t in zip(group, t_all,
                                                                         strict=True)])
    root_ids = hist.root_id[root_idx]

    # nuclei
    soma_ents = np.flatnonzero(cells.has_soma)
    nuc_id = np.zeros(len(cells.ctype), dtype=np.uint64)
    nuc_id[soma_ents] = (7_100_000 + np.cumsum(rng.integers(1, 60, len(soma_ents)))).astype(
        np.uint64)
    soma_nm = nodes.pos[nodes.start[soma_ents]].astype(np.float64) * 1000.0
    nuclei = pd.DataFrame({
        "nucleus_id": nuc_id[soma_ents],
        "supervoxel_id": ch.sv_first[ch.l2_of_node[nodes.start[soma_ents]]],
        "x": np.round(soma_nm[:, 0]), "y": np.round(soma_nm[:, 1]),
        "z": np.round(soma_nm[:, 2]),
        "volume_um3": np.round(4 / 3 * np.pi * (0.7 * cells.soma_r[soma_ents]) ** 3
                               * rng.uniform(0.85, 1.15, len(soma_ents)), 2),
    })

    rec: dict[str, list] = {f: [] for f in ANNOTATION_FIELDS}
    pos_nm = nodes.pos[root_node].astype(np.float64) * 1000.0
    u = rng.random((len(ents), 8))
    for row, e in enumerate(ents):
        e = int(e)
        is_frag = e >= n
        side_code = (int(cells.side[e]) if not is_frag
                     else int(pos_nm[row, 0] > anatomy.MIDLINE_X * 1000))
        side = ("left", "right", "center")[side_code]
        rec["root_id"].append(root_ids[row])
        rec["supervoxel_id"].append(sv[row])
        rec["nucleus_id"].append(nuc_id[e])
        rec["side"].append(side)
        if is_frag:
            rec["proofread"].append(False)
            rec["status"].append(["TRACING_ISSUE"] if u[row, 0] < 0.5 else None)
            for f in ("region",):
                rec[f].append("central_brain")
            for f in ("nerve", "tract", "hemilineage", "flow", "super_class", "cell_class",
                      "cell_type", "cell_subtype", "cell_instance", "known_nt",
                      "alternative_names", "user_proofreader", "date_proofread"):
                rec[f].append(None)
            rec["annotator_notes"].append(_FRAGMENT_NOTES[int(u[row, 1] * len(_FRAGMENT_NOTES))])
            continue
        t = types[int(cells.ctype[e])]
        p_proof = 0.35 if t.cell_class in ("kenyon_cell", "olfactory_receptor_neuron") else 0.7
        proofread = bool(u[row, 0] < p_proof)
        named = proofread or u[row, 1] < 0.8
        if proofread:
            status = ["BACKBONE_PROOFREAD"] if u[row, 2] < 0.85 else ["BACKBONE_PROOFREAD",
                                                                       "DAMAGED"]
        else:
            status = (["PRELIM_PROOFREAD"] if u[row, 2] < 0.4
                      else ["TRACING_ISSUE"] if u[row, 2] < 0.5 else None)
        sub = int(cells.subtype[e])
        subtype = None
        if named and sub >= 0:
            subtype = (f"{t.name}_G{sub + 1:02d}" if t.glomerular
                       else f"{t.name}_{chr(ord('a') + sub)}")
        rec["proofread"].append(proofread)
        rec["status"].append(status)
        rec["region"].append(t.region)
        rec["nerve"].append(t.nerve)
        rec["tract"].append(t.tract)
        rec["hemilineage"].append(t.hemilineage if u[row, 3] < 0.75 else None)
        rec["flow"].append(t.flow)
        rec["super_class"].append(t.super_class)
        rec["cell_class"].append(t.cell_class)
        rec["cell_type"].append(t.name if named else None)
        rec["cell_subtype"].append(subtype)
        rec["cell_instance"].append(
            None if not named else t.name if side == "center" else f"{t.name}_{side[0].upper()}")
        rec["known_nt"].append(t.known_nt if u[row, 4] < 0.9 else None)
        rec["alternative_names"].append(list(t.alternative_names) if t.alternative_names
                                        and named else None)
        rec["annotator_notes"].append(_NOTES[int(u[row, 6] * len(_NOTES))]
                                      if u[row, 5] < 0.08 else None)
        if proofread:
            rec["user_proofreader"].append(_PROOFREADERS[int(u[row, 7] * len(_PROOFREADERS))])
            rec["date_proofread"].append(
                str(np.datetime64(int(t_all[row]), "us").astype("datetime64[D]")))
        else:
            rec["user_proofreader"].append(None)
            rec["date_proofread"].append(None)
    ann = pd.DataFrame({f: pd.Series(rec[f], dtype=object) for f in ANNOTATION_FIELDS})
    for f in ("root_id", "supervoxel_id", "nucleus_id"):
        ann[f] = ann[f].to_numpy(np.uint64)
    ann["proofread"] = ann["proofread"].astype(bool)
    ann["x"] = np.round(pos_nm[:, 0])
    ann["y"] = np.round(pos_nm[:, 1])
    ann["z"] = np.round(pos_nm[:, 2])
    return ann, nuclei
