"""Turning what users pass or paste into uint64 root IDs, with errors that name the bad value."""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

_UINT64_MAX = 2**64 - 1
_SPLIT = re.compile(r"[\s,;]+")


class InvalidIDError(ValueError):
    """An ID that is not a non-negative integer that fits in uint64."""


@runtime_checkable
class NeuronSelection(Protocol):
    """Something that picks neurons itself and resolves to their root IDs.

    :class:`~napari_crant.NeuronCriteria` is one: wherever IDs are accepted, :func:`parse_ids`
    asks such an object for its roots (it knows its dataset; this module knows nothing of it).
    """

    def get_roots(self) -> np.ndarray:
        """The selected root IDs (uint64)."""


def _one(value: Any, where: str) -> int:
    if isinstance(value, bool | np.bool_):
        raise InvalidIDError(f"{where}: {value!r} is a boolean, not a neuron ID")
    if isinstance(value, int | np.integer):
        v = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\+?\d+", text):
            raise InvalidIDError(f"{where}: {value!r} is not a numeric neuron ID")
        v = int(text)
    elif isinstance(value, float | np.floating):
        raise InvalidIDError(
            f"{where}: {value!r} is a float; root IDs exceed 2**53 and lose digits as floats, "
            "pass them as int or str"
        )
    elif value is None:
        raise InvalidIDError(f"{where}: None is not a neuron ID")
    elif value is pd.NA or value is pd.NaT:
        raise InvalidIDError(f"{where}: a missing value ({value!r}) is not a neuron ID")
    elif isinstance(value, bytes | bytearray):
        raise InvalidIDError(f"{where}: {value!r} is bytes; pass IDs as int or str")
    else:
        raise InvalidIDError(
            f"{where}: {value!r} ({type(value).__name__}) is not a neuron ID "
            "(give an int, a numeric str, or a list of them)"
        )
    if v < 0:
        raise InvalidIDError(f"{where}: {v} is negative; neuron IDs are non-negative")
    if v > _UINT64_MAX:
        raise InvalidIDError(f"{where}: {v} does not fit in uint64")
    return v


def _plain_ints(values: list[Any]) -> np.ndarray | None:
    """``values`` as uint64 if every one is a plain ``int`` in range (one C loop), else None."""
    if not all(type(v) is int for v in values):
        return None
    try:
        return np.array(values, dtype=np.uint64)
    except OverflowError:  # negative or above 2**64 - 1: the slow path names the element
        return None


#: Exact types that are never a :class:`NeuronSelection` (skips the protocol check).
_PLAIN_TYPES = frozenset({list, tuple, set, int, str, np.ndarray, np.uint64, np.int64})


def parse_ids(ids: Any, name: str = "neuron_ids", allow_empty: bool = False) -> np.ndarray:
    """Parse IDs into a ``uint64`` array, keeping the order given (duplicates kept).

    Parameters
    ----------
    ids
        An int, a numeric str, any collection of those (list, tuple, set, generator,
        ndarray, Series, Index; a dict gives its keys), or a :class:`NeuronSelection` such
        as :class:`~napari_crant.NeuronCriteria` (resolved to its root IDs).
    name
        The parameter's name, used in error messages.
    allow_empty
        Accept an empty collection (otherwise it is an error).

    Returns
    -------
    numpy.ndarray
        ``uint64`` IDs.

    Raises
    ------
    InvalidIDError
        Naming the offending element: floats (which corrupt 18-digit IDs), negative or
        non-numeric values, booleans, ``None``, missing values (NA), bytes, 0-d arrays.
    """
    if type(ids) is int and 0 <= ids <= _UINT64_MAX:  # one plain ID (a single-neuron call)
        return np.array([ids], dtype=np.uint64)
    if type(ids) is list and ids:  # plain ints in range: one C loop (anything else below)
        out = _plain_ints(ids)
        if out is not None:
            return out
    if type(ids) not in _PLAIN_TYPES and isinstance(ids, NeuronSelection):  # a slow check: last
        return parse_ids(ids.get_roots(), name, allow_empty)
    if isinstance(ids, np.ndarray) and ids.ndim == 0:
        raise InvalidIDError(
            f"{name}: a 0-d array ({ids!r}); pass the ID itself or a 1-d array of IDs"
        )
    if isinstance(ids, bytes | bytearray | memoryview):
        raise InvalidIDError(
            f"{name}: {bytes(ids)[:40]!r} is bytes (it would be read as a list of character "
            "codes); pass IDs as int or str"
        )
    if isinstance(ids, dict):
        ids = list(ids)  # the keys, as for any other collection
    if isinstance(ids, np.ndarray) and ids.dtype == np.uint64:
        out = ids.ravel().copy()
    elif isinstance(ids, np.ndarray) and ids.dtype.kind == "i":
        flat = ids.ravel()
        if (flat < 0).any():
            bad = flat[flat < 0][0]
            raise InvalidIDError(f"{name}: {int(bad)} is negative; neuron IDs are non-negative")
        out = flat.astype(np.uint64)
    elif isinstance(ids, np.ndarray) and ids.dtype.kind == "f":
        raise InvalidIDError(
            f"{name}: a float array (dtype {ids.dtype}); root IDs exceed 2**53 and lose digits "
            "as floats, pass them as int64/uint64 or str"
        )
    elif isinstance(ids, str | int | np.integer | float | np.floating | bool) or ids is None:
        out = np.array([_one(ids, name)], dtype=np.uint64)
    elif isinstance(ids, pd.Series | pd.Index):
        missing = np.flatnonzero(pd.isna(ids.to_numpy(dtype=object)))
        if len(missing):
            raise InvalidIDError(
                f"{name}[{int(missing[0])}]: a missing value (NA) is not a neuron ID "
                f"({len(missing)} missing of {len(ids)})"
            )
        plain = isinstance(ids.dtype, np.dtype) and ids.dtype != object
        return parse_ids(ids.to_numpy() if plain else list(ids), name, allow_empty)
    elif isinstance(ids, Iterable):
        values = list(ids)
        out = _plain_ints(values)
        if out is None:  # anything but plain non-negative ints: element by element, errors named
            out = np.array(
                [_one(v, f"{name}[{i}]") for i, v in enumerate(values)], dtype=np.uint64
            )
    else:
        raise InvalidIDError(f"{name}: {ids!r} ({type(ids).__name__}) is not an ID or list of IDs")
    if not allow_empty and len(out) == 0:
        raise InvalidIDError(f"{name}: no IDs given")
    return out


def parse_id_text(text: str) -> np.ndarray:
    """Parse IDs pasted as text: separated by commas, spaces, tabs, newlines or semicolons.

    A column copied from a spreadsheet (with or without a header such as ``root_id`` alone
    on the first line, followed by IDs) and quoted values work too. Every token that is not
    a number is reported at once (a word alone, e.g. ``abc``, is named, not taken for a header).

    Raises
    ------
    InvalidIDError
        Listing the tokens that are not IDs.
    """
    tokens = [t.strip("'\"[]()") for t in _SPLIT.split(text.strip()) if t.strip("'\"[]()")]
    first_line = text.strip().splitlines()[0].strip().strip("'\"") if text.strip() else ""
    if (len(tokens) > 1 and tokens[0] == first_line
            and re.fullmatch(r"[A-Za-z_][A-Za-z_ ]*", tokens[0])):
        tokens = tokens[1:]  # a header cell such as "root_id", alone on the first line, then IDs
    bad = [t for t in tokens if not re.fullmatch(r"\+?\d+", t)]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise InvalidIDError(f"not neuron IDs: {shown}")
    values = [int(t) for t in tokens]
    too_big = [v for v in values if v > _UINT64_MAX]
    if too_big:
        raise InvalidIDError(f"{too_big[0]} does not fit in uint64")
    return np.array(values, dtype=np.uint64)


def unique_in_order(ids: np.ndarray) -> np.ndarray:
    """``ids`` with duplicates removed, first occurrences kept in order."""
    _, first = np.unique(ids, return_index=True)
    return ids[np.sort(first)]


def lookup_uint64(
    keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: int = 0
) -> np.ndarray:
    """``values[keys == q]`` for each ``q`` in ``query`` (``default`` where absent), uint64-safe.

    pandas' ``reindex(...).fillna(...)`` goes through float64 and corrupts IDs above 2**53;
    this does not. Duplicate keys: the first occurrence wins.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    values = np.asarray(values, dtype=np.uint64)
    query = np.asarray(query, dtype=np.uint64)
    out = np.full(len(query), default, dtype=np.uint64)
    if not len(keys):
        return out
    uniq, first = np.unique(keys, return_index=True)
    pos = np.minimum(np.searchsorted(uniq, query), len(uniq) - 1)
    found = uniq[pos] == query
    out[found] = values[first[pos[found]]]
    return out


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` by sorting (faster than numpy 2's hash-based unique on large ID arrays).

    An ``a`` already in order (one side's rows, grouped by root) is not sorted again; otherwise
    numpy's default sort (vectorised quicksort: ten times a stable sort's speed on IDs in random
    order, and the distinct values do not depend on the order of equal ones).
    """
    if len(a) > 1 and not bool(np.all(a[1:] >= a[:-1])):
        a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if len(a) else a


def unique_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, return_inverse=True)`` by sorting (any sort: equal values get one code)."""
    order = np.argsort(a)
    s = a[order]
    first = np.concatenate(([True], s[1:] != s[:-1])) if len(s) else np.zeros(0, bool)
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return s[first], inverse


#: Initial hash table size of :func:`factorize`: the table grows with the distinct values.
_FACTORIZE_HINT = 1024


def factorize(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(a, sort=False)`` (dense codes, distinct values in first-seen order),
    uint64-exact, with a hash table sized by the distinct values instead of by ``len(a)``.

    pandas sizes the table for ``len(a)`` distinct values by default: for a million
    partner IDs of which thousands are distinct that is tens of MB allocated, zeroed and
    probed at random, several times slower than a table that grows as needed.
    """
    return pd.factorize(a, sort=False, size_hint=min(len(a), _FACTORIZE_HINT))


def unique_first(a: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct value, in ascending order of value."""
    order = np.argsort(a, kind="stable")
    s = a[order]
    first = np.concatenate(([True], s[1:] != s[:-1])) if len(s) else np.zeros(0, bool)
    return order[first]


#: Above this many values, :func:`in_sorted` hashes a (smaller) reference instead of searching.
_HASH_MEMBERSHIP = 4096
#: From this many values, :func:`in_sorted` looks up two halves on two threads.
_HALVED_MEMBERSHIP = 1 << 18


def in_sorted(values: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_ref)`` for an already sorted ``sorted_ref``, by binary search.

    Costs ``O(len(values) log len(sorted_ref))`` and never copies or re-sorts the reference,
    which may be a memory-mapped column of millions of rows.
    """
    values = np.asarray(values)
    if not len(sorted_ref) or not len(values):
        return np.zeros(len(values), dtype=bool)
    if len(values) > _HASH_MEMBERSHIP and len(sorted_ref) <= len(values):
        # many values against a smaller reference: a hash table of the reference is several
        # times faster than a binary search per value (cache misses)
        if len(values) < _HALVED_MEMBERSHIP:
            return pd.Series(values, copy=False).isin(sorted_ref).to_numpy()
        # pandas' lookup lets go of the GIL: half of the values on a second thread (1.7x faster
        # on two cores)
        half = len(values) // 2
        with ThreadPoolExecutor(1, thread_name_prefix="napari-crant-isin") as pool:
            second = pool.submit(lambda: pd.Series(values[half:], copy=False).isin(sorted_ref).to_numpy())
            first = pd.Series(values[:half], copy=False).isin(sorted_ref).to_numpy()
            return np.concatenate((first, second.result()))
    pos = np.minimum(np.searchsorted(sorted_ref, values), len(sorted_ref) - 1)
    return sorted_ref[pos] == values
