"""The scalar paths of a single-neuron query: one root's status and one plain ID parsed,
each equal to the array path it shortcuts."""

from __future__ import annotations

import numpy as np
import pytest

import tiny
from napari_crant.ids import InvalidIDError, parse_ids
from napari_crant.materialization import resolve_materialization
from napari_crant.queries.update import resolve_id_arrays
from napari_crant.sources.base import DataSource
from napari_crant.sources.snapshot import SnapshotSource

ROOTS = [tiny.A0, tiny.F0, tiny.A2, tiny.B0, tiny.B2, tiny.X, tiny.C0, tiny.D0, tiny.CD, tiny.UNKNOWN]


@pytest.mark.parametrize("materialization", ["latest", 2, 3, "live"])
def test_one_root_status_equals_root_status(tiny_path, materialization):
    src = SnapshotSource(tiny_path)
    at = resolve_materialization(src, materialization)
    ids = np.array(ROOTS, np.uint64)
    known, alive = src._root_status(ids, at)  # the array path, no single-root shortcut
    seen = set()
    for _ in range(2):  # the second time from the snapshot's memo
        for root, k, a in zip(ROOTS, known.tolist(), alive.tolist(), strict=True):
            got = src.one_root_status(int(root), at)
            assert got == (k, a) and type(got[0]) is bool and type(got[1]) is bool
            assert DataSource.one_root_status(src, int(root), at) == (k, a)
            seen.add((k, a))
    assert seen == {(True, True), (True, False), (False, False)}


def test_one_alive_root_resolves_to_itself_and_others_are_mapped(tiny_path):
    src = SnapshotSource(tiny_path)
    at = resolve_materialization(src, "latest")
    old, new, conf = resolve_id_arrays(src, np.array([tiny.A2], np.uint64), at)
    assert old.tolist() == new.tolist() == [int(tiny.A2)] and conf.tolist() == [1.0]
    assert new is not old  # the caller may change one without the other
    _, new, _ = resolve_id_arrays(src, np.array([tiny.A0], np.uint64), at)  # merged into A2
    assert new.tolist() == [int(tiny.A2)]


@pytest.mark.parametrize("given", [int(tiny.A2), [int(tiny.A2)], [int(tiny.A2), int(tiny.B2), int(tiny.A2)],
                                   [2**64 - 1], [0]])
def test_plain_ids_parse_like_any_other_collection(given):
    got = parse_ids(given)
    want = parse_ids(tuple(given) if isinstance(given, list) else str(given))  # the general path
    np.testing.assert_array_equal(got, want, strict=True)
    assert got.dtype == np.uint64


@pytest.mark.parametrize(("given", "named"), [
    ([-1], r"neuron_ids\[0\]: -1 is negative"),
    ([2**64], r"neuron_ids\[0\]: 18446744073709551616 does not fit"),
    ([5, True], r"neuron_ids\[1\]"),
    (-3, "-3 is negative"),
    (2**64, "does not fit"),
    ([], "no IDs given"),
])
def test_bad_plain_ids_are_named(given, named):
    with pytest.raises(InvalidIDError, match=named):
        parse_ids(given)


class _CountingSource(SnapshotSource):
    """A snapshot source that counts its status look-ups (a CAVE source pays a request for each)."""

    def __init__(self, path):
        super().__init__(path)
        self.asked = []

    def root_status(self, ids, at):
        self.asked.append(("root_status", len(ids)))
        return super().root_status(ids, at)

    def one_root_status(self, root, at):
        self.asked.append(("one_root_status", 1))
        return super().one_root_status(root, at)


@pytest.mark.parametrize("root", [tiny.A2, tiny.A0])  # alive; outdated (mapped to A2)
def test_one_id_status_is_asked_once(tiny_path, root):
    src = _CountingSource(tiny_path)
    at = resolve_materialization(src, "latest")
    src.asked.clear()
    resolve_id_arrays(src, np.array([root], np.uint64), at)
    assert src.asked[:1] == [("one_root_status", 1)]
    assert ("root_status", 1) not in src.asked
