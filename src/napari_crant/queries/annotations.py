"""``get_annotations`` and ``list_versions``: the dataset's annotation table and versions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.datasets import get_source
from napari_crant.ids import parse_ids
from napari_crant.queries.criteria import NeuronCriteria


def get_annotations(neurons: Any = None, dataset: Any = None) -> pd.DataFrame:
    """Annotation rows (CRANTb fields: cell_type, side, status, ...).

    Parameters
    ----------
    neurons
        ``None`` for the whole table; root IDs (rows whose recorded ``root_id`` is one of
        them); or a :class:`~napari_crant.NeuronCriteria`.
    dataset
        Dataset name or snapshot path; ``None`` for the default (or the criteria's).

    Returns
    -------
    pandas.DataFrame
        One row per annotated neuron; ``root_id`` and ``supervoxel_id`` are uint64.
        ``root_id`` is as recorded, which may predate later edits.
    """
    if isinstance(neurons, NeuronCriteria):
        ann = neurons.get_annotations()
    else:
        ann = get_source(dataset).annotations()
        if neurons is not None:
            ids = parse_ids(neurons, "neurons")
            ann = ann[np.isin(ann["root_id"].to_numpy().astype(np.uint64), ids)]
    ann = ann.reset_index(drop=True)
    for col in ("root_id", "supervoxel_id", "nucleus_id"):
        if col in ann and ann[col].notna().all():
            ann[col] = ann[col].astype(np.uint64)
    return ann


def list_versions(dataset: Any = None) -> pd.DataFrame:
    """The dataset's materialization versions.

    Returns
    -------
    pandas.DataFrame
        ``version`` (int64), ``timestamp`` (UTC) and ``valid`` (bool), oldest first.
    """
    return get_source(dataset).versions().sort_values("version").reset_index(drop=True)
