"""The EM review's prefetch queue and bounded cache, and the tissue around a synapse (no Qt)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from napari_crant.qc.em_prefetch import EMPrefetch
from napari_crant.qc.em_review import SynapseTissue, keep_segments, synapse_key
from napari_crant.qc.review import ReviewModel
from napari_crant.qc.verdicts import VerdictStore
from napari_crant.qc.worklist import build_worklist
from tiny import A2, B2, SYN_BASE

ORDER = [4, 2, 1, 9, 11, 10, 12, 5, 3]  # the worklist of A2
BIG = 720_575_940_379_279_360  # 18 digits, > 2**59


@pytest.fixture(scope="module")
def worklist(tiny_path):
    return build_worklist(A2, small_fragment_l2=2, dataset=tiny_path)


@pytest.fixture
def review(tmp_path, worklist):
    with VerdictStore(tmp_path / "v.sqlite") as store:
        m = ReviewModel(store)
        m.set_worklist(worklist, "tiny")
        yield m


def tissue(sid: int, shape=(5, 16, 16), pre=BIG + 1, post=BIG + 2) -> SynapseTissue:
    em = SimpleNamespace(data=np.zeros(shape, np.uint8), scale=(42.0, 8.0, 8.0),
                         translate=(4200.0, 100.0, 200.0))
    seg = np.full(shape, BIG + 7, np.uint64)
    seg[:, :8] = pre
    seg[:, 8:12] = post
    return SynapseTissue(sid, pre, post, np.array([4284.0, 164.0, 264.0]), em,
                         SimpleNamespace(data=seg, scale=em.scale, translate=em.translate))


def _ids(rows) -> list[int]:
    return [int(r["synapse_id"]) - SYN_BASE for r in rows]


def test_wanted_is_the_shown_synapse_then_the_next_shown(review):
    pf = EMPrefetch(review, ahead=3)
    assert _ids(pf.wanted_rows()) == ORDER[:4]
    review.step(+1)
    assert _ids(pf.wanted_rows()) == ORDER[1:5]
    review.go_to(len(ORDER) - 2)
    assert _ids(pf.wanted_rows()) == ORDER[-2:]
    review.clear()
    assert pf.wanted_rows() == [] and pf.next_request() is None


def test_walking_backward_fetches_the_previous_synapses_ahead(review):
    pf = EMPrefetch(review, ahead=2)
    review.go_to(4)
    assert pf.direction == 1 and _ids(pf.wanted_rows()) == ORDER[4:7]
    review.step(-1)  # `p`: the previous ones are wanted next, nearest first
    assert pf.direction == -1 and _ids(pf.wanted_rows()) == [ORDER[3], ORDER[2], ORDER[1]]
    assert _ids([pf.next_request()]) == [ORDER[3]]
    review.go_to(0)  # nothing before the first: only it
    assert _ids(pf.wanted_rows()) == [ORDER[0]]
    review.step(+1)  # forward again
    assert pf.direction == 1 and _ids(pf.wanted_rows()) == ORDER[1:4]


def test_requests_follow_the_queue_and_skip_cached_failed_and_running(review):
    pf = EMPrefetch(review, ahead=2)
    row = pf.next_request()
    key, gen = pf.begin(row)
    assert key - SYN_BASE == ORDER[0] and pf.status(key) == "loading"
    assert pf.next_request() is None  # one at a time by default
    assert _ids([pf.next_request(limit_in_flight=2)]) == [ORDER[1]]
    seen = []
    pf.ready.connect(seen.append)
    assert pf.finish(key, tissue(key), gen)
    assert seen == [key] and pf.status(key) == "ready" and key in pf
    key2, gen2 = pf.begin(pf.next_request())
    pf.fail(key2, "cutout outside the volume", gen2)
    assert pf.status(key2) == "failed" and pf.failures[key2] == "cutout outside the volume"
    assert _ids([pf.next_request()]) == [ORDER[2]]
    pf.retry(key2)
    assert _ids([pf.next_request()]) == [ORDER[1]]


def test_a_fetch_that_works_forgets_earlier_failures(review):
    """A lost network: every synapse fetched meanwhile failed; the first fetch that works again
    (the server is back) makes them wanted again, without a retry per synapse."""
    pf = EMPrefetch(review, ahead=3)
    lost = []
    for _ in range(2):
        key, gen = pf.begin(pf.next_request())
        pf.fail(key, "the server could not be reached", gen)
        lost.append(key)
    assert all(pf.status(k) == "failed" for k in lost)
    key, gen = pf.begin(pf.next_request())
    assert key not in lost
    assert pf.finish(key, tissue(key), gen)
    assert pf.failures == {} and all(pf.status(k) == "queued" for k in lost)
    assert synapse_key(pf.next_request()) == lost[0]


def test_results_of_a_cleared_generation_are_dropped(review):
    pf = EMPrefetch(review)
    key, gen = pf.begin(pf.next_request())
    pf.clear()
    assert not pf.finish(key, tissue(key), gen)
    assert key not in pf and not pf.in_flight and pf.status(key) == "queued"
    pf.fail(key, "late", gen)
    assert pf.failures == {}


def test_hits_and_misses(review):
    pf = EMPrefetch(review)
    key = int(review.current_row()["synapse_id"])
    assert pf.show(key) is None and pf.misses == 1
    pf.finish(key, tissue(key))
    assert pf.show(key) is not None and pf.hits == 1


def test_cache_bounded_in_items_and_bytes_never_evicting_the_shown(review):
    pf = EMPrefetch(review, max_items=3)
    shown = int(review.current_row()["synapse_id"])
    pf.finish(shown, tissue(shown))
    for k in range(1, 6):
        pf.finish(BIG + k, tissue(BIG + k))
    assert len(pf) == 3 and shown in pf and BIG + 5 in pf and BIG + 1 not in pf
    one = tissue(1).nbytes
    pf = EMPrefetch(review, max_items=100, max_bytes=int(2.5 * one))
    pf.finish(shown, tissue(shown))
    for k in range(1, 50):
        pf.finish(BIG + k, tissue(BIG + k))
        assert pf.nbytes <= 2.5 * one
    assert shown in pf and len(pf) == 2
    pf.get(shown)
    with pytest.raises(ValueError, match="max_items"):
        EMPrefetch(review, max_items=0)


def test_tissue_outline_roots_and_world_positions():
    t = tissue(1)
    assert t.outline.dtype == np.uint64
    assert set(np.unique(t.outline).tolist()) == {0, BIG + 1, BIG + 2}
    # the outline's boundary, for the 3D plane: the segments' voxels beside another label only
    assert t.contours.dtype == np.uint64 and t.contours.shape == t.outline.shape
    assert set(np.unique(t.contours).tolist()) == {0, BIG + 1, BIG + 2}
    assert not t.contours[:, 0:6].any()  # pre's rows 2+ away from the post's first (and the edge)
    # the post's 4 rows all lie within 2 of the pre or of the unkept segment after them
    assert np.all(t.contours[:, 6:8] == BIG + 1) and np.all(t.contours[:, 8:12] == BIG + 2)
    assert not t.contours[:, 12:].any()
    assert t.nbytes == t.em.data.nbytes + 3 * t.outline.nbytes
    # voxel (2, 8, 8) has its centre at translate + index * scale
    assert t.index_of((4200 + 2 * 42, 100 + 8 * 8, 200 + 8 * 8)) == (2, 8, 8)
    assert t.root_at((4200 + 2 * 42, 100 + 3 * 8 + 3.9, 200)) == BIG + 1
    assert t.root_at((4200, 100 + 9 * 8, 200)) == BIG + 2
    assert t.root_at((4200, 100 + 13 * 8, 200)) == BIG + 7
    assert t.root_at((4200 - 42, 100, 200)) is None and t.root_at((4200, 100, 200 + 16 * 8)) is None
    assert np.allclose(t.section_z(), 4200 + 42 * np.arange(5))
    assert SynapseTissue(2, BIG, 0, np.zeros(3), t.em).root_at((4200, 100, 200)) is None


def test_keep_segments_never_keeps_zero_and_stays_uint64():
    labels = np.array([[0, int(B2), BIG + 3, BIG + 3]], np.uint64)
    out = keep_segments(labels, [0, BIG + 3])
    assert out.dtype == np.uint64 and out.tolist() == [[0, 0, BIG + 3, BIG + 3]]


class Clock:
    """A clock the test moves (seconds)."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _after_one_fetch(review, clock, seconds):
    """A prefetch (2 ahead) that has measured one fetch taking ``seconds`` on ``clock``."""
    pf = EMPrefetch(review, ahead=2, clock=clock)
    key, gen = pf.begin(pf.next_request())
    clock.now += seconds
    pf.finish(key, tissue(key), gen)
    return pf


def test_a_walk_faster_than_the_fetches_is_met_ahead_then_the_shown_synapse_comes_first(review):
    clock = Clock()
    pf = _after_one_fetch(review, clock, 1.0)  # a fetch takes a second
    assert pf.walk.lead() == 0  # no walk yet
    for _ in range(3):  # `n` held: a step every 0.25 s
        clock.now += 0.25
        review.step(+1)
    assert review.current == 3 and pf.walk.lead() == 4
    # the shown synapse (3) would arrive after the walk passed it: aim where the walk will be
    # (4 steps on: row 7)
    assert _ids([pf.next_request()]) == [ORDER[7]]
    # the walk stops: the shown synapse first again
    clock.now += 0.6
    assert pf.walk.lead() == 0 and _ids([pf.next_request()]) == [ORDER[3]]
    # a walk slower than the fetches: the shown synapse first
    for _ in range(2):
        clock.now += 2.0
        review.step(-1)
    assert pf.walk.lead() == 0 and _ids([pf.next_request()]) == [ORDER[1]]
    # a reviewer walking backward fast is met behind
    review.go_to(8)
    for _ in range(3):
        clock.now += 0.5
        review.step(-1)
    assert review.current == 5 and pf.walk.lead() == 2
    assert _ids([pf.next_request()]) == [ORDER[3]]


def test_a_fetch_the_walk_passed_is_no_longer_wanted_and_ends_without_tissue(review):
    pf = EMPrefetch(review)
    shown = synapse_key(review.current_row())
    key, gen = pf.begin(pf.next_request())
    assert key == shown and pf.still_wanted(key)
    review.step(+1)  # the walk passed it while it was fetched
    assert not pf.still_wanted(key) and pf.passed == {key}
    assert not pf.finish(key, None, gen)  # dropped or cancelled: no tissue
    assert key not in pf and pf.failures == {} and not pf.in_flight and pf.passed == set()
    assert pf.abandoned == 1 and pf.status(key) == "queued"
    assert synapse_key(pf.next_request()) == synapse_key(review.current_row())


def test_a_fetch_ahead_stays_wanted_until_passed_or_the_walk_turns(review):
    pf = EMPrefetch(review)
    rows = review.items
    ahead = rows.iloc[3]
    key, _ = pf.begin(ahead)  # aimed ahead of a fast walk
    review.step(+1)
    review.step(+1)
    assert pf.still_wanted(key)  # not reached yet
    review.step(+1)
    assert pf.still_wanted(key)  # reached: it is the shown one
    review.step(-1)  # the walk turns back: behind it now
    assert not pf.still_wanted(key)
    pf.clear()
    assert pf.passed == set() and pf.still_wanted(key)
    # a fetch of a synapse that passed and arrived anyway is kept (the walk may come back)
    key2, gen2 = pf.begin(rows.iloc[1])
    review.go_to(3)  # forward, from 2: row 1 is behind
    assert not pf.still_wanted(key2)
    assert pf.finish(key2, tissue(key2), gen2) and key2 in pf and pf.passed == set()


def test_fetches_cancelled_after_running_longer_than_measured_make_the_walk_aim_ahead(review):
    clock = Clock()
    pf = _after_one_fetch(review, clock, 0.5)  # fetches took half a second
    # now they take 1.5 s and the reviewer steps every second: the fetch of the shown synapse is
    # passed and cancelled before its end, again and again
    clock.now += 1.0
    review.step(+1)
    assert pf.walk.lead() == 0
    for _ in range(3):
        key, gen = pf.begin(review.current_row())
        clock.now += 1.0
        review.step(+1)
        assert not pf.still_wanted(key)
        pf.finish(key, None, gen)
    # the cancelled fetches ran longer than measured: the walk is met one synapse ahead
    assert pf.walk.lead() == 1
    assert synapse_key(pf.next_request()) != synapse_key(review.current_row())
    # a fetch dropped at once tells nothing
    before = list(pf.walk.fetches)
    key, gen = pf.begin(pf.next_request())
    review.step(+1)
    pf.finish(key, None, gen)
    assert list(pf.walk.fetches) == before
