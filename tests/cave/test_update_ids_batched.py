"""``update_ids`` over CAVE in bulk: the same answers as one ``leaves`` call per outdated ID, in
a few requests (counted with a requests response hook on caveclient's sessions; nothing mocked)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cave_helpers import cave_source

import napari_crant as nc
from napari_crant.queries.update import clear_update_cache
from napari_crant.sources.base import DataSource
from napari_crant.sources.cave import CaveSource
from napari_crant.sources.snapshot import SnapshotSource


class OneByOneCaveSource(CaveSource):
    """The CAVE source listing L2 chunks one ``get_leaves`` call per root (the unbatched route)."""

    l2_ids_many = DataSource.l2_ids_many


def _count_requests(src: CaveSource) -> list[str]:
    """A list that grows by the URL path of every request any of ``src``'s sessions answers."""
    seen: list[str] = []
    sessions = {id(s): s for s in (src.connection.service(n).session
                                   for n in ("materialize", "chunkedgraph", "l2cache", "info"))}
    for session in sessions.values():
        session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request.path_url.split("?")[0]))
    return seen


@pytest.fixture(scope="module")
def outdated(demo_path):
    roots = SnapshotSource(demo_path).roots_table()
    ids = roots.loc[roots["expired"].notna(), "root_id"].to_numpy(np.uint64)
    assert len(ids) >= 10
    return ids


def test_batched_equals_one_by_one_on_every_outdated_root(demo_server, demo_path, outdated):
    batched_src = cave_source(demo_server)
    single_src = OneByOneCaveSource(batched_src.config, auth_token="fake-test-token-3c1d9a")
    clear_update_cache()
    batched = nc.update_ids(outdated, dataset=batched_src, use_annotations=False)
    clear_update_cache()
    single = nc.update_ids(outdated, dataset=single_src, use_annotations=False)
    clear_update_cache()
    snap = nc.update_ids(outdated, dataset=SnapshotSource(demo_path), use_annotations=False)
    cols = ["old_id", "new_id", "confidence", "changed"]
    pd.testing.assert_frame_equal(batched[cols], single[cols])
    pd.testing.assert_frame_equal(batched[cols], snap[cols])
    assert batched["changed"].all()
    assert batched["new_id"].dtype == np.uint64


def test_update_ids_request_count(demo_server, outdated, monkeypatch):
    # counts what goes over the wire: no answers from the persistent cache
    monkeypatch.setenv("NAPARI_CRANT_CAVE_CACHE_MB", "0")
    src = cave_source(demo_server)
    src.annotations()  # annotation source: none here; keeps the count about update_ids alone
    seen = _count_requests(src)
    clear_update_cache()
    nc.update_ids(outdated, dataset=src, use_annotations=False)
    leaves = [p for p in seen if p.endswith("/leaves")]
    many = [p for p in seen if p.endswith("/leaves_many")]
    assert leaves == [] and len(many) == 1, seen
    # valid_nodes, root_timestamps, is_latest_roots, leaves_many and roots_binary (the roots of
    # those L2 chunks now): 5 requests for all IDs ('live' needs no version list)
    assert [p.rsplit("/", 1)[-1] for p in seen] == [
        "valid_nodes", "root_timestamps", "is_latest_roots", "leaves_many", "roots_binary"]
    seen.clear()
    nc.update_ids(outdated, dataset=src, use_annotations=False)  # a new 'now': the same requests
    assert [p.rsplit("/", 1)[-1] for p in seen] == [
        "valid_nodes", "root_timestamps", "is_latest_roots", "leaves_many", "roots_binary"]
