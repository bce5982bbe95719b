"""How long recording one QC verdict holds the caller (the main thread in the QC dock).

```bash
python benchmarks/verdict_commit.py --verdicts 200 --rounds 4
python benchmarks/verdict_commit.py --folder /path/on/a/busy/or/network/disk
```

``VerdictStore.set_verdict`` commits in SQLite's WAL mode. *before*: ``synchronous=FULL``, the
commit waits for the log's ``fsync`` (as up to session 6); *after*: as shipped,
``synchronous=NORMAL`` and the log flushed by :mod:`napari_crant.qc.wal_sync` in a background
thread. Both run alternately in one process on the same folder, so that other programs writing
the same disk (what makes ``fsync`` slow) fall on both alike. Prints median, 95th percentile and
worst time per verdict, and the time until the background flush of the last verdict ended.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from napari_crant.qc.verdicts import VerdictStore

#: a realistic 18-digit CRANTb synapse ID and supervoxel IDs to count from
SYNAPSE_0, SV_0 = 145_000_000_000_000_000, 76_000_000_000_000_000


def _round(store: VerdictStore, n: int, offset: int) -> tuple[list[float], float]:
    times = []
    for i in range(offset, offset + n):
        t = time.perf_counter()
        store.set_verdict("bench", SYNAPSE_0 + i, SV_0 + i, SV_0 + 10**6 + i,
                          ("correct", "false_positive")[i % 2])
        times.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    store._log_flush.wait(60)
    return times, (time.perf_counter() - t) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", type=int, default=200, help="verdicts per round and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--folder", type=Path, default=None, help="where the databases go (a temp folder)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="verdict-commit-", dir=args.folder))
    stores = {"before (synchronous=FULL)": VerdictStore(folder / "before.sqlite"),
              "after (NORMAL + background flush)": VerdictStore(folder / "after.sqlite")}
    stores["before (synchronous=FULL)"]._con.execute("PRAGMA synchronous=FULL")
    times: dict[str, list[float]] = {k: [] for k in stores}
    flush: dict[str, list[float]] = {k: [] for k in stores}
    for r in range(args.rounds):
        for name, store in stores.items():
            t, f = _round(store, args.verdicts, r * args.verdicts)
            times[name] += t
            flush[name].append(f)
    for store in stores.values():
        store.close()
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"One verdict recorded: {args.rounds} x {args.verdicts} per mode, alternating, in {folder} "
          f"(load {load})")
    print("| mode | median ms | p95 ms | worst ms | last flush after the round ms (median) |")
    print("|---|---:|---:|---:|---:|")
    for name, t in times.items():
        t = sorted(t)
        p95 = t[min(len(t) - 1, int(0.95 * len(t)))]
        print(f"| {name} | {statistics.median(t):.2f} | {p95:.2f} | {t[-1]:.1f} | "
              f"{statistics.median(flush[name]):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
