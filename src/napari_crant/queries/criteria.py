"""``NeuronCriteria``: find neurons by annotation (cell type, side, class, status...)."""

from __future__ import annotations

import difflib
import re
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.arguments import InvalidArgumentError, check_flags
from napari_crant.snapshot.format import ANNOTATION_FIELDS, LIST_ANNOTATION_FIELDS

#: Fields a NeuronCriteria can search.
SEARCHABLE_FIELDS = tuple(f for f in ANNOTATION_FIELDS if f != "supervoxel_id")


class NoMatchError(ValueError):
    """No neuron matches the criteria."""


class NeuronCriteria:
    """Select neurons by their annotations; usable wherever IDs are accepted.

    Parameters
    ----------
    regex
        Treat string values as regular expressions (``re.search``; with ``exact`` the whole
        value must match).
    case
        Case-sensitive matching of strings.
    exact
        Strings must equal the value (otherwise: contain it).
    match_all
        For list-valued fields (``status``, ``alternative_names``) with several query values:
        the neuron must have all of them (otherwise: any).
    dataset
        Dataset whose annotations are searched; ``None`` for the default.
    **criteria
        ``field=value`` or ``field=[value, ...]`` (any of the values). Fields combine
        with AND. Searchable fields: :data:`SEARCHABLE_FIELDS`.

    Examples
    --------
    >>> nc = NeuronCriteria(cell_type="PN_DA1", side="left")  # doctest: +SKIP
    >>> get_connectivity(nc)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        regex: bool = False,
        case: bool = False,
        exact: bool = True,
        match_all: bool = False,
        dataset: Any = None,
        **criteria: Any,
    ):
        check_flags(regex=regex, case=case, exact=exact, match_all=match_all)
        if not criteria:
            raise InvalidArgumentError("NeuronCriteria needs at least one field=value criterion")
        for name in criteria:
            if name not in SEARCHABLE_FIELDS:
                close = difflib.get_close_matches(name, SEARCHABLE_FIELDS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise InvalidArgumentError(
                    f"NeuronCriteria: unknown field {name!r}{hint} "
                    f"(searchable: {', '.join(SEARCHABLE_FIELDS)})"
                )
            _check_query_values(name, criteria[name])
        if regex:
            for name, value in criteria.items():
                for v in _as_list(value):
                    if isinstance(v, str):
                        try:
                            re.compile(v)
                        except re.error as e:
                            raise InvalidArgumentError(
                                f"NeuronCriteria: {name}={v!r} is not a valid regular "
                                f"expression ({e})"
                            ) from None
        self.criteria = criteria
        self.regex = regex
        self.case = case
        self.exact = exact
        self.match_all = match_all
        self.dataset = dataset

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.criteria.items())
        return f"NeuronCriteria({args})"

    def _match_str(self, values: pd.Series, query: str) -> np.ndarray:
        text = values.astype(object).where(values.notna(), None)
        flags = 0 if self.case else re.IGNORECASE
        if self.regex:
            pat = re.compile(query, flags)
            fn = pat.fullmatch if self.exact else pat.search
            return np.array([v is not None and fn(str(v)) is not None for v in text], bool)
        if self.exact:
            q = query if self.case else query.casefold()
            return np.array(
                [v is not None and (str(v) if self.case else str(v).casefold()) == q for v in text],
                bool,
            )
        q = query if self.case else query.casefold()
        return np.array(
            [v is not None and q in (str(v) if self.case else str(v).casefold()) for v in text],
            bool,
        )

    def _match_value(self, col: pd.Series, query: Any) -> np.ndarray:
        if isinstance(query, str):
            return self._match_str(col, query)
        if query is None:
            return col.isna().to_numpy()
        if isinstance(query, bool | np.bool_):
            return (col.astype(object) == bool(query)).to_numpy(bool)
        if isinstance(query, int | np.integer):
            return (pd.to_numeric(col, errors="coerce") == int(query)).to_numpy(bool)
        return self._match_str(col, str(query))

    def _match_field(self, ann: pd.DataFrame, name: str, value: Any) -> np.ndarray:
        if name not in ann.columns:
            return np.zeros(len(ann), bool)
        queries = _as_list(value)
        col = ann[name]
        if name in LIST_ANNOTATION_FIELDS:
            exploded = col.apply(_as_list).explode()
            per_query = []
            for q in queries:
                hit = pd.Series(self._match_value(exploded, q), index=exploded.index)
                per_query.append(hit.groupby(level=0).any().reindex(ann.index, fill_value=False))
            stacked = np.stack([p.to_numpy(bool) for p in per_query])
            return stacked.all(0) if self.match_all else stacked.any(0)
        hits = np.stack([self._match_value(col, q) for q in queries])
        return hits.any(0)

    def filter(self, annotations: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``annotations`` that match every criterion."""
        ann = annotations.reset_index(drop=True)
        keep = np.ones(len(ann), bool)
        for name, value in self.criteria.items():
            keep &= self._match_field(ann, name, value)
        return ann[keep]

    def get_annotations(self) -> pd.DataFrame:
        """Annotation rows of the matching neurons.

        Raises
        ------
        NoMatchError
            When nothing matches.
        """
        from napari_crant.datasets import get_source

        found = self.filter(get_source(self.dataset).annotations())
        if found.empty:
            raise NoMatchError(f"no neurons match {self!r}")
        return found

    def count(self) -> int:
        """How many distinct neurons match (0 if none)."""
        from napari_crant.datasets import get_source

        found = self.filter(get_source(self.dataset).annotations())
        return int(found["root_id"].nunique())

    def get_roots(self) -> np.ndarray:
        """Root IDs of the matching neurons (uint64, as recorded in the annotations).

        The recorded IDs may be outdated; the query functions update them to the queried
        moment when ``update_ids=True`` (the default).
        """
        roots = self.get_annotations()["root_id"].to_numpy().astype(np.uint64)
        return pd.unique(roots)

    def __iter__(self):
        return iter(self.get_roots())

    def __len__(self) -> int:
        return len(self.get_roots())


def _check_query_values(name: str, value: Any) -> None:
    """Refuse values a criterion cannot mean: empty lists, NaN, bytes, 0-d arrays, dicts."""
    what = "text, an integer, True/False, None, or a non-empty list of those"
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise InvalidArgumentError(
            f"NeuronCriteria: {name}={value!r} is a {value.ndim}-d array; give {what}"
        )
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series | pd.Index):
        values = list(value)
        if not values:
            raise InvalidArgumentError(
                f"NeuronCriteria: {name}={value!r} is empty (it would match nothing); give {what}"
            )
    elif isinstance(value, dict) or (not isinstance(value, str) and hasattr(value, "__iter__")):
        raise InvalidArgumentError(
            f"NeuronCriteria: {name}={value!r} ({type(value).__name__}) is not {what}"
        )
    else:
        values = [value]
    for v in values:
        if v is None or isinstance(v, str | bool | np.bool_ | int | np.integer):
            continue
        if isinstance(v, float | np.floating) and np.isnan(v):
            problem = "NaN; to find neurons without a value use None"
        elif isinstance(v, bytes | bytearray):
            problem = "bytes; give text (str)"
        else:
            problem = f"a {type(v).__name__}"
        raise InvalidArgumentError(f"NeuronCriteria: {name}={v!r} is {problem}; give {what}")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return [None]
    if isinstance(value, str | bytes):
        return [value]
    if isinstance(value, list | tuple | set | np.ndarray | pd.Series):
        return list(value)
    if isinstance(value, float) and np.isnan(value):
        return []
    return [value]
