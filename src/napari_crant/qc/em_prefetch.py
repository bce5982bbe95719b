"""The tissue of a review's next synapses, fetched ahead and cached (Qt-free).

:class:`EMPrefetch` follows a :class:`~napari_crant.qc.review.ReviewModel`: it knows which
synapses are wanted next (the one shown, then the next ones shown), keeps fetched
:class:`~napari_crant.qc.em_review.SynapseTissue` in a least-recently-used cache bounded in items
*and* bytes, and remembers failures. It starts no thread: the dock asks
:meth:`EMPrefetch.next_request`, fetches in a worker, and hands the result back with
:meth:`EMPrefetch.finish` or :meth:`EMPrefetch.fail`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
from psygnal import Signal

from napari_crant.qc.em_lead import WalkLead
from napari_crant.qc.em_review import SynapseTissue, synapse_key
from napari_crant.qc.review import ReviewModel


class EMPrefetch:
    """Which synapses' tissue is wanted next, a bounded cache of fetched tissue, and failures.

    Parameters
    ----------
    review
        The review followed (its shown synapse and the ones shown after it, or before it while the
        review walks backward).
    ahead
        How many synapses after (before) the shown one are fetched ahead.
    max_items, max_bytes
        Bounds of the cache (least recently used first out; the shown synapse is never evicted).
    clock
        Seconds, monotonic, for the pace of the walk (default :func:`time.monotonic`).

    Signals
    -------
    ready(synapse_id)
        Tissue of ``synapse_id`` arrived (in the cache).
    failed(synapse_id, message)
        Fetching the tissue of ``synapse_id`` failed.
    """

    ready = Signal(int)
    failed = Signal(int, str)

    def __init__(self, review: ReviewModel, ahead: int = 4, max_items: int = 24,
                 max_bytes: int = 256 * 2**20, clock: Any = None):
        if ahead < 0 or max_items < 1 or max_bytes < 1:
            raise ValueError(f"ahead ({ahead}) must be >= 0, max_items ({max_items}) and "
                             f"max_bytes ({max_bytes}) >= 1")
        self.review = review
        self.ahead = int(ahead)
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)
        self._cache: OrderedDict[int, SynapseTissue] = OrderedDict()
        self._bytes = 0
        #: synapse IDs being fetched now
        self.in_flight: set[int] = set()
        #: synapse ID -> why its fetch failed (not fetched again until :meth:`retry` or a fetch
        #: of another synapse works)
        self.failures: dict[int, str] = {}
        #: synapses shown straight from the cache / shown before their tissue had arrived
        self.hits = 0
        self.misses = 0
        #: fetches in flight that the walk passed (or turned away from): no longer wanted
        self.passed: set[int] = set()
        #: fetches that ended without tissue because they were no longer wanted
        self.abandoned = 0
        #: bumped by :meth:`clear`: results of fetches started before are dropped
        self.generation = 0
        #: +1 while the review walks forward, -1 backward (``p``): the side fetched ahead
        self.direction = 1
        self._last_index: int | None = review.current
        #: the pace of the walk and of the fetches: how far ahead a fast walk is met
        self.walk = WalkLead() if clock is None else WalkLead(clock)
        review.position_changed.connect(self._on_position)

    def _on_position(self, index: int | None) -> None:
        if index is not None and self._last_index is not None and index != self._last_index:
            self.direction = 1 if index > self._last_index else -1
            self.walk.stepped()
        self._last_index = index
        self._mark_passed()

    def _mark_passed(self) -> None:
        """Add to :attr:`passed` the fetches in flight for synapses behind the shown one in the
        direction of the walk (or no longer in the list): the walk will not meet them."""
        running = self.in_flight - self.passed
        if not running:
            return
        cur = self.review.current
        ids = self.review.items["synapse_id"].to_numpy() if not self.review.items.empty else None
        for key in running:
            at = np.flatnonzero(ids == int(key)) if ids is not None and cur is not None else ()
            if not len(at) or (int(at[0]) - cur) * self.direction < 0:
                self.passed.add(key)

    def still_wanted(self, key: int) -> bool:
        """Whether the fetch of ``key`` is still wanted (not in :attr:`passed`). Cheap and safe to
        call from the fetching thread (:attr:`TissueProcess.still_wanted
        <napari_crant.qc.em_process.TissueProcess.still_wanted>`)."""
        return int(key) not in self.passed

    # -- what is wanted ----------------------------------------------------------------------
    def wanted_rows(self) -> list[pd.Series]:
        """Rows of the shown synapse and the :attr:`ahead` shown ones after it in the direction the
        review last moved (:attr:`direction`: the next ones, or the previous ones after ``p``), in
        that order."""
        review = self.review
        cur = review.current
        if cur is None or review.items.empty:
            return []
        rows = review.visible_rows()
        later = rows[rows > cur][: self.ahead] if self.direction > 0 else rows[rows < cur][::-1][: self.ahead]
        return [review.items.iloc[int(i)] for i in (cur, *later)]

    def next_request(self, limit_in_flight: int = 1) -> pd.Series | None:
        """The next row to fetch (``None``: nothing, or :attr:`in_flight` is at ``limit_in_flight``).

        The shown synapse, then the next ones; but while the review walks faster than a fetch takes
        (:class:`~napari_crant.qc.em_lead.WalkLead`), the synapse the walk will have reached when
        the fetch ends, if the shown one is not cached (a fetch of it would arrive after the walk
        passed it).
        """
        if len(self.in_flight) >= limit_in_flight:
            return None
        wanted = self.wanted_rows()
        lead = self.walk.lead()
        if lead and wanted and self._wants(wanted[0]):
            row = self._row_ahead(lead)
            if row is not None and self._wants(row):
                return row
        for row in wanted:
            if self._wants(row):
                return row
        return None

    def _wants(self, row: pd.Series) -> bool:
        key = synapse_key(row)
        return key not in self._cache and key not in self.in_flight and key not in self.failures

    def _row_ahead(self, lead: int) -> pd.Series | None:
        """The shown row ``lead`` steps ahead of the current one in :attr:`direction` (the last one
        before the end; ``None``: none after it)."""
        review = self.review
        rows = review.visible_rows()
        cur = review.current
        ahead = rows[rows > cur] if self.direction > 0 else rows[rows < cur][::-1]
        if not len(ahead):
            return None
        return review.items.iloc[int(ahead[min(lead, len(ahead)) - 1])]

    def begin(self, row: pd.Series) -> tuple[int, int]:
        """Mark ``row`` as being fetched; returns ``(synapse_id, generation)`` for :meth:`finish`."""
        key = synapse_key(row)
        self.in_flight.add(key)
        self.walk.fetch_started(key)
        return key, self.generation

    # -- results -----------------------------------------------------------------------------
    def finish(self, key: int, tissue: SynapseTissue | None, generation: int | None = None) -> bool:
        """Store fetched tissue; whether it was kept (not if :meth:`clear` came in between, nor
        ``tissue`` ``None``: the fetch was dropped or cancelled as no longer wanted)."""
        self.in_flight.discard(int(key))
        self.passed.discard(int(key))
        if tissue is None:
            self.walk.fetch_abandoned(key)
            self.abandoned += 1
            return False
        self.walk.fetch_ended(key)
        if generation is not None and generation != self.generation:
            return False
        # a fetch that worked: the source is reachable (again), so the synapses that failed
        # before (a lost network, say) are fetched again when they are wanted
        self.failures.clear()
        self._put(int(key), tissue)
        self.ready.emit(int(key))
        return True

    def fail(self, key: int, message: str, generation: int | None = None) -> None:
        """Record that fetching ``key`` failed (emits :attr:`failed`)."""
        self.in_flight.discard(int(key))
        self.passed.discard(int(key))
        self.walk.fetch_ended(key)
        if generation is not None and generation != self.generation:
            return
        self.failures[int(key)] = str(message)
        self.failed.emit(int(key), str(message))

    def retry(self, key: int | None = None) -> None:
        """Forget the failure of ``key`` (``None``: every failure), so it is fetched again."""
        if key is None:
            self.failures.clear()
        else:
            self.failures.pop(int(key), None)

    def get(self, key: int) -> SynapseTissue | None:
        """Cached tissue of ``key`` (marks it recently used), or ``None``."""
        tissue = self._cache.get(int(key))
        if tissue is not None:
            self._cache.move_to_end(int(key))
        return tissue

    def show(self, key: int) -> SynapseTissue | None:
        """Like :meth:`get` for the synapse about to be shown, counting a hit (cached) or a miss."""
        tissue = self.get(key)
        if tissue is None:
            self.misses += 1
        else:
            self.hits += 1
        return tissue

    def status(self, key: int) -> str:
        """``'ready'``, ``'loading'``, ``'failed'`` or ``'queued'`` for ``key``."""
        key = int(key)
        if key in self._cache:
            return "ready"
        if key in self.failures:
            return "failed"
        return "loading" if key in self.in_flight else "queued"

    def clear(self) -> None:
        """Forget everything (a new worklist, dataset or timestamp); running fetches are ignored."""
        self._cache.clear()
        self._bytes = 0
        self.failures.clear()
        self.in_flight.clear()
        self.passed.clear()
        self.walk.forget_fetches()
        self.generation += 1

    def __len__(self) -> int:
        return len(self._cache)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (int, np.integer)) and int(key) in self._cache

    @property
    def nbytes(self) -> int:
        """Bytes held by the cache."""
        return self._bytes

    def _put(self, key: int, tissue: SynapseTissue) -> None:
        old = self._cache.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._cache[key] = tissue
        self._bytes += tissue.nbytes
        row = self.review.current_row()
        shown = None if row is None else synapse_key(row)
        while len(self._cache) > 1 and (len(self._cache) > self.max_items or self._bytes > self.max_bytes):
            victim = next((k for k in self._cache if k != shown), None)
            if victim is None:
                break
            self._bytes -= self._cache.pop(victim).nbytes
