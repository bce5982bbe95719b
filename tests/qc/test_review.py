"""The review model without Qt: stepping, sets and filters, verdicts into the store, undo, clear."""

from __future__ import annotations

import numpy as np
import pytest

from napari_crant.qc.review import ReviewError, ReviewModel
from napari_crant.qc.verdicts import VerdictError, VerdictStore
from napari_crant.qc.worklist import build_worklist
from tiny import A2, B2, SYN_BASE, synapse_id

ORDER = [4, 2, 1, 9, 11, 10, 12, 5, 3]  # the worklist of A2 (see test_worklist_and_edits)


@pytest.fixture(scope="module")
def worklist(tiny_path):
    return build_worklist(A2, small_fragment_l2=2, dataset=tiny_path)


@pytest.fixture
def store(tmp_path):
    with VerdictStore(tmp_path / "v.sqlite") as s:
        yield s


class Events:
    """Every signal of a model, in order."""

    def __init__(self, model: ReviewModel):
        self.seen: list[tuple] = []
        model.worklist_changed.connect(lambda: self.seen.append(("worklist",)))
        model.items_changed.connect(lambda: self.seen.append(("items",)))
        model.filter_changed.connect(lambda on: self.seen.append(("filter", on)))
        model.position_changed.connect(lambda i: self.seen.append(("position", i)))
        model.verdict_changed.connect(lambda i: self.seen.append(("verdict", i)))

    def pop(self) -> list[tuple]:
        out, self.seen = self.seen, []
        return out


def _model(store, worklist) -> ReviewModel:
    m = ReviewModel(store)
    m.set_worklist(worklist, "tiny")
    return m


def _shown(m: ReviewModel) -> int:
    return int(m.current_row()["synapse_id"]) - SYN_BASE


def test_set_worklist_and_step(store, worklist):
    m = ReviewModel(store)
    ev = Events(m)
    m.set_worklist(worklist, "tiny")
    assert ev.pop() == [("worklist",), ("items",), ("position", 0)]
    assert m.root == int(A2) and m.materialization == worklist.attrs["materialization_version"]
    assert [int(s) - SYN_BASE for s in m.items["synapse_id"]] == ORDER
    assert m.items["synapse_id"].dtype == np.uint64 and m.items["verdict"].isna().all()
    assert _shown(m) == 4 and m.position_text() == "1 of 9 shown"
    assert m.step(+1) and _shown(m) == 2
    assert m.step(-1) and _shown(m) == 4
    assert not m.step(-1) and _shown(m) == 4  # start of the list: stays
    m.go_to(8)
    assert not m.step(+1) and _shown(m) == 3
    assert ev.pop() == [("position", 1), ("position", 0), ("position", 8)]
    with pytest.raises(ReviewError, match="synapse index 9 is outside the review set"):
        m.go_to(9)
    m.go_to(None)
    assert m.step(-1) and _shown(m) == 3  # from nothing: backwards starts at the end


def test_review_sets(store, worklist):
    m = _model(store, worklist)
    m.choose("flagged")
    assert [int(s) - SYN_BASE for s in m.items["synapse_id"]] == ORDER[:6]
    m.choose("post")
    assert sorted(int(s) - SYN_BASE for s in m.items["synapse_id"]) == [11, 12]
    m.choose("partner", str(B2))
    assert sorted(int(s) - SYN_BASE for s in m.items["synapse_id"]) == [1, 2, 3, 5, 12]
    m.choose("partner", None)
    assert m.items.empty and m.current is None and not m.step(+1)
    with pytest.raises(ReviewError, match="'most' is not one of worklist"):
        m.choose("most")
    m.choose("worklist")
    assert len(m.items) == 9 and m.current == 0


def test_verdict_goes_to_the_store_and_advances(store, worklist):
    m = _model(store, worklist)
    ev = Events(m)
    m.give("correct", note=" two T-bars ", reviewer="ana")
    assert ev.pop() == [("verdict", 0), ("position", 1)]
    v = store.verdicts("tiny")
    assert v["verdict"].tolist() == ["correct"] and v["note"].tolist() == ["two T-bars"]
    assert int(v["synapse_id"].iloc[0]) == int(synapse_id(4)) and v["reviewer"].tolist() == ["ana"]
    assert v["pre_pt_root_id"].iloc[0] == m.worklist["pre_pt_root_id"].iloc[0]
    assert m.items["verdict"].iloc[0] == "correct" and m.worklist["verdict"].iloc[0] == "correct"
    m.give("unsure", advance=False)
    assert _shown(m) == 2 and m.counts() == {
        "correct": 1, "false_positive": 0, "wrong_partner": 0, "unsure": 1, "unreviewed": 7}
    assert m.progress_text() == "reviewed 2 of 9 (1 correct, 0 false positive, 0 wrong partner, 1 unsure)"
    with pytest.raises(ReviewError, match="'great' is not one of correct"):
        m.give("great")
    m.go_to(8)
    m.give("false_positive")  # the last one: stays there
    assert _shown(m) == 3
    # the verdicts are in the store whatever the chosen set
    m.choose("flagged")
    assert m.items["verdict"].tolist()[:2] == ["correct", "unsure"]


def test_unreviewed_only(store, worklist):
    m = _model(store, worklist)
    m.give("correct")  # 4
    m.give("correct")  # 2
    ev = Events(m)
    m.set_unreviewed_only(True)
    assert ev.pop() == [("filter", True), ("position", 2)]  # synapse 1: still shown
    assert m.visible_rows().tolist() == [2, 3, 4, 5, 6, 7, 8] and m.position_text() == "1 of 7 shown"
    m.give("wrong_partner")  # 1 -> gone from the shown rows, on to 9
    assert _shown(m) == 9 and m.visible_rows().tolist() == [3, 4, 5, 6, 7, 8]
    m.go_to(8)
    m.give("correct")  # the last shown: wraps to the first unreviewed
    assert _shown(m) == 9
    m.set_unreviewed_only(False)
    assert m.current == 3 and len(m.visible_rows()) == 9
    for _ in range(5):
        m.give("correct")
    m.set_unreviewed_only(True)
    assert m.current is None and not len(m.visible_rows())
    assert m.first_unreviewed() is None


def test_clear_and_undo_keep_the_history(store, worklist):
    m = _model(store, worklist)
    with pytest.raises(ReviewError, match="nothing to undo"):
        m.undo()
    with pytest.raises(ReviewError, match="has no verdict to clear"):
        m.clear_verdict()
    m.give("correct", reviewer="ana")  # 4
    m.give("false_positive", note="membrane", reviewer="ana")  # 2
    m.go_to(1)
    m.give("wrong_partner", reviewer="bo", advance=False)  # 2 again: overwrites
    assert store.verdicts("tiny").set_index("synapse_id").loc[synapse_id(2), "verdict"] == "wrong_partner"
    ev = Events(m)
    assert m.undo() == int(synapse_id(2))  # back to false positive, by ana, with its note
    assert ev.pop() == [("verdict", 1), ("position", 1)]
    got = store.verdicts("tiny").set_index("synapse_id")
    assert got.loc[synapse_id(2), ["verdict", "note", "reviewer"]].tolist() == [
        "false_positive", "membrane", "ana"]
    assert m.items["verdict"].iloc[1] == "false_positive" and m.items["note"].iloc[1] == "membrane"
    m.undo()  # 2 unreviewed again
    m.undo()  # 4 unreviewed again
    assert store.verdicts("tiny").empty and m.items["verdict"].isna().all() and m.current == 0
    assert not m.can_undo
    # clear: back to unreviewed; undo brings it back
    m.give("unsure", advance=False)
    m.clear_verdict()
    assert store.verdicts("tiny").empty and m.items["verdict"].iloc[0] is None and m.current == 0
    m.undo()
    assert store.verdicts("tiny")["verdict"].tolist() == ["unsure"]
    # nothing was lost: every step is in the history
    h = store.history()
    assert h["change"].tolist() == ["set", "set", "set", "undo", "undo", "undo", "set", "cleared", "undo"]
    assert h["verdict"].tolist() == ["correct", "false_positive", "wrong_partner", "false_positive",
                                     "false_positive", "correct", "unsure", "unsure", "unsure"]


def test_undo_is_bounded(store, worklist):
    m = ReviewModel(store, max_undo=2)
    m.set_worklist(worklist, "tiny")
    for _ in range(3):
        m.give("correct")
    m.undo()
    m.undo()
    with pytest.raises(ReviewError, match="nothing to undo"):
        m.undo()
    assert store.verdicts("tiny")["synapse_id"].tolist() == [synapse_id(4)]


def test_persistence_across_a_new_model(store, worklist):
    m = _model(store, worklist)
    m.give("correct")
    m.give("false_positive")
    again = _model(store, worklist)  # e.g. the dock reopened: resumes at the first unreviewed
    assert _shown(again) == 1 and again.counts()["unreviewed"] == 7
    assert again.items["verdict"].tolist()[:2] == ["correct", "false_positive"]
    # reload_verdicts picks up changes made elsewhere (an import) and keeps the position
    store.set_verdict("tiny", synapse_id(1), again.current_row()["pre_pt_supervoxel_id"],
                      again.current_row()["post_pt_supervoxel_id"], "unsure")
    again.go_to(5)
    again.reload_verdicts()
    assert again.current == 5 and again.items["verdict"].iloc[2] == "unsure"


def test_no_store_no_list_and_refused_verdicts(tmp_path, worklist):
    m = ReviewModel(None)
    with pytest.raises(ReviewError, match="no synapse selected"):
        m.give("correct")
    assert not m.step(+1) and m.counts()["unreviewed"] == 0 and m.progress_text() == ""
    m.set_worklist(worklist, "tiny")
    assert m.items["verdict"].isna().all()
    with pytest.raises(ReviewError, match="no verdict database"):
        m.give("correct")
    with VerdictStore(tmp_path / "v.sqlite") as store:
        m = ReviewModel(store)
        m.set_worklist(worklist, "")  # a dataset name the store refuses: nothing changes
        with pytest.raises(VerdictError, match="dataset must be a non-empty name"):
            m.give("correct")
        assert m.items["verdict"].isna().all() and m.current == 0 and not m.can_undo


def test_large_ids_stay_exact(store, worklist):
    wl = worklist.copy()
    wl.attrs = dict(worklist.attrs)
    big = np.uint64(2**64 - 1000)
    wl["synapse_id"] = (big - np.arange(len(wl), dtype=np.uint64)).astype(np.uint64)
    m = _model(store, wl)
    m.give("correct")
    v = store.verdicts("tiny")
    assert int(v["synapse_id"].iloc[0]) == int(big)
    m.undo()
    assert store.verdicts("tiny").empty and m.items["verdict"].isna().all()


def test_clear_empties_the_review(store, worklist):
    m = _model(store, worklist)
    ev = Events(m)
    m.clear()
    assert ev.pop() == [("worklist",), ("items",), ("position", None)]
    assert m.items.empty and m.root is None and m.current_row() is None


def test_undo_after_switching_neurons(store, worklist, tiny_path):
    m = _model(store, worklist)
    m.give("false_positive")  # synapse 4 (A2 -> X since the split): not among B2's synapses
    other = build_worklist(B2, small_fragment_l2=2, dataset=tiny_path)
    assert synapse_id(4) not in set(other["synapse_id"].tolist())
    m.set_worklist(other, "tiny")
    ev = Events(m)
    assert m.undo() == int(synapse_id(4))
    assert store.verdicts("tiny").empty  # the store is restored even though the list moved on
    assert ev.pop() == [] and m.current == 0 and m.root == int(B2)
    assert store.history()["change"].tolist() == ["set", "undo"]


def test_verdict_for_a_busy_database_is_shown_pending_then_written(tmp_path, worklist):
    """Another process holds the database: the verdict is kept (pending), said so, and written later."""
    from test_verdict_store_faults import locked_by_another_process

    db = tmp_path / "busy.sqlite"
    with VerdictStore(db, busy_timeout=0.2) as store:
        m = _model(store, worklist)
        with locked_by_another_process(db):
            m.give("false_positive", reviewer="ana")
            assert m.pending == 1
            assert "1 change(s) wait for the verdict database" in m.progress_text()
            assert m.items["verdict"].iloc[0] == "false_positive"  # shown as given meanwhile
            assert m.retry_pending() == 0  # still busy: kept
        written = []
        m.items_changed.connect(lambda: written.append(True))
        assert m.retry_pending() == 1 and written and m.pending == 0
        assert "wait for the verdict database" not in m.progress_text()
    with VerdictStore(db) as again:
        assert again.verdicts("tiny")["verdict"].tolist() == ["false_positive"]
