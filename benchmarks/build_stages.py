"""Where in ``make_demo`` the memory goes: the stages of a build, marked from outside.

:func:`mark_stages` wraps the functions :mod:`napari_crant.demo.generator` calls (looked up
by name in that module at call time, so wrapping them changes nothing they do) and records
when each call starts and ends and the process's ``VmHWM`` (resident high-water mark) when it
ends; :func:`stage_table` joins those marks with the memory series ``demo_build.py`` samples:
the largest resident, heap (``RssAnon``) and mapped (``RssFile``) sizes seen during each call.
The call during which ``VmHWM`` reached its final value is where the resident peak sits.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

#: Functions of the generator module marked as stages (those missing in a version are skipped).
STAGE_FUNCTIONS = ("demo_geometry", "find_contacts", "plan_edits", "schedule_edits",
                   "build_chunks", "l2_edges_table", "replay_history", "write_skeleton_nodes",
                   "annotate", "write_synapse_files")


def hwm_kb() -> int:
    """The process's resident high-water mark (``VmHWM``), kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _wrap(label: Callable[..., str] | str, fn: Callable, marks: list[dict], t0: float,
          log: Path | None = None) -> Callable:
    @functools.wraps(fn)
    def marked(*args, **kwargs):
        name = label(*args, **kwargs) if callable(label) else label
        start = time.perf_counter() - t0
        try:
            return fn(*args, **kwargs)
        finally:
            marks.append({"stage": name, "start": round(start, 2),
                          "end": round(time.perf_counter() - t0, 2),
                          "hwm_mb": hwm_kb() // 1024})
            if log is not None:  # as they come, for a build stopped before its end
                with open(log, "a") as f:
                    f.write(json.dumps(marks[-1]) + "\n")
    return marked


def mark_stages(marks: list[dict], t0: float, log: Path | None = None) -> None:
    """Record every stage call of ``make_demo`` in this process into ``marks`` (and append
    each as a JSON line to ``log`` as it ends)."""
    from napari_crant.demo import generator
    from napari_crant.demo.synapse_stream import SynapseStream
    from napari_crant.snapshot.base_tables import BaseTablesWriter

    for name in STAGE_FUNCTIONS:
        fn = getattr(generator, name, None)
        if callable(fn):
            setattr(generator, name, _wrap(name, fn, marks, t0, log))
    SynapseStream.contact_synapses = staticmethod(
        _wrap("contact_synapses", SynapseStream.contact_synapses, marks, t0, log))
    SynapseStream.__init__ = _wrap("draw synapses (SynapseStream)", SynapseStream.__init__,
                                   marks, t0, log)
    BaseTablesWriter.put = _wrap(
        lambda self, **tables: "put " + ", ".join(tables), BaseTablesWriter.put, marks, t0, log)


def stage_table(marks: list[dict], series: list[tuple[float, int, int, int]]) -> list[dict]:
    """The marks (in end order) with the largest sampled ``VmRSS``, ``RssAnon`` and
    ``RssFile`` (MiB) between the mark's start and end (``series``: time, the three sizes),
    and the time between the end of the previous mark and this one's start as a stage
    ``between``."""
    out = []
    previous_end = 0.0
    for m in sorted(marks, key=lambda m: m["end"]):
        for stage, lo, hi in ((f"(before {m['stage']})", previous_end, m["start"]),
                              (m["stage"], m["start"], m["end"])):
            inside = [s for s in series if lo <= s[0] <= hi]
            if stage.startswith("(") and not inside:
                continue
            out.append({"stage": stage, "start": lo, "end": hi,
                        "max_rss_mb": max((s[1] for s in inside), default=None),
                        "max_anon_mb": max((s[2] for s in inside), default=None),
                        "max_file_mb": max((s[3] for s in inside), default=None),
                        "hwm_mb": m["hwm_mb"] if stage == m["stage"] else None})
        previous_end = max(previous_end, m["end"])
    return out


def format_stages(rows: list[dict], final_hwm_mb: int) -> str:
    """The stage table as text; ``*`` marks the stage where ``VmHWM`` reached its final value."""
    lines = [f"{'stage':48s} {'start':>8s} {'end':>8s} {'rss':>6s} {'heap':>6s} {'mapped':>6s}"
             f" {'VmHWM':>6s}"]
    hit = False
    for r in rows:
        star = ""
        if not hit and r["hwm_mb"] is not None and r["hwm_mb"] >= final_hwm_mb:
            star, hit = " *", True
        lines.append(f"{r['stage'][:48]:48s} {r['start']:8.1f} {r['end']:8.1f} "
                     + " ".join(f"{r[k] if r[k] is not None else '-':>6}"
                                for k in ("max_rss_mb", "max_anon_mb", "max_file_mb", "hwm_mb"))
                     + star)
    return "\n".join(lines)
