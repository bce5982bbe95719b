"""How far ahead of a fast walk to fetch the EM, from the pace of the steps and of the fetches (Qt-free).

A reviewer holding ``n`` steps every ~30 ms; a cutout of the demo's tissue takes most of a second
to draw. Fetching the synapse shown first (what :class:`~napari_crant.qc.em_prefetch.EMPrefetch` does
when the reviewer is reading) is then futile during a walk: it arrives after the walk has passed
it, and so does every later one. :class:`WalkLead` measures the walk: while it is faster than a
fetch, a fetch started now should be for the synapse the walk will have reached when the fetch
ends (``ceil(fetch time / step interval)`` ahead), so that the walk meets cutouts on its way; once
the steps stop (none for twice the usual interval), the lead is 0 and the synapse shown comes first.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections import deque
from collections.abc import Callable

__all__ = ["MAX_LEAD", "WalkLead"]

#: the farthest ahead a fetch is aimed (synapses)
MAX_LEAD = 64


class WalkLead:
    """Recent step times and fetch durations, and the lead they give.

    Parameters
    ----------
    clock
        Seconds, monotonic (default :func:`time.monotonic`; tests pass their own).
    window
        How many recent steps and fetches are remembered.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: int = 5):
        self.clock = clock
        self.steps: deque[float] = deque(maxlen=window + 1)
        self.fetches: deque[float] = deque(maxlen=window)
        self._started: dict[int, float] = {}
        #: the latest fetch timed was cancelled before its end (its time is a lower bound)
        self.cut_short = False

    def stepped(self) -> None:
        """The review moved to another synapse now."""
        self.steps.append(self.clock())

    def fetch_started(self, key: int) -> None:
        """A fetch of ``key`` started now."""
        self._started[int(key)] = self.clock()

    def fetch_ended(self, key: int) -> None:
        """The fetch of ``key`` ended now (arrived or failed)."""
        start = self._started.pop(int(key), None)
        if start is not None:
            self.fetches.append(self.clock() - start)
            self.cut_short = False

    def fetch_abandoned(self, key: int) -> None:
        """The fetch of ``key`` was dropped or cancelled (the walk passed it) before its end.

        A fetch cancelled after it ran is evidence that fetches take longer than it ran: its
        time is remembered as a lower bound, and while the latest fetch ended that way the walk
        is met at least one synapse ahead (:meth:`lead`). Otherwise a walk just slower than the
        measured fetches would cancel every fetch of the shown synapse and never aim ahead. A
        fetch dropped before it started tells nothing.
        """
        start = self._started.pop(int(key), None)
        if start is None:
            return
        ran = self.clock() - start
        if ran > 0:
            self.fetches.append(ran)
            self.cut_short = True

    def forget_fetches(self) -> None:
        """Fetches started before are not timed (their results are dropped)."""
        self._started.clear()

    def lead(self) -> int:
        """How many synapses ahead of the shown one a fetch started now should aim (0: the shown one).

        0 unless the review is walking (at least three recent steps, the last one within twice
        their median interval) faster than a fetch takes (median of the recent fetches), or at
        least 1 while the walk cuts fetches short (:meth:`fetch_abandoned`).
        """
        if len(self.steps) < 3 or not self.fetches:
            return 0
        times = list(self.steps)
        pace = statistics.median(b - a for a, b in itertools.pairwise(times))
        fetch = statistics.median(self.fetches)
        if pace <= 0 or self.clock() - times[-1] > 2 * pace:
            return 0
        if fetch <= pace:  # fetches end before the next step, unless they are being cut short
            return 1 if self.cut_short else 0
        return min(math.ceil(fetch / pace), MAX_LEAD)
