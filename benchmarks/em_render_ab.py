"""Cold demo EM cutouts drawn by this tree and by an older revision, alternating, same bytes checked.

```bash
python benchmarks/em_render_ab.py --before 797f097            # tiny demo, 16 QC-sized cutouts
python benchmarks/em_render_ab.py --before 797f097 --dataset /path/to/demo-snapshot --cutouts 24
python benchmarks/em_render_ab.py --before main --cutouts 24 --mips 0,1,2   # digests at mips 0-2 too
```

Each tree renders in its own worker process (``PYTHONPATH`` = that tree's ``src``; the older one
is extracted with ``git archive``), started and warmed first (geometry read, shapes indexed).
Then, for cutouts centred on synapses spread over the table (``--width`` nm square,
``--sections`` sections, like the QC panel's cutout), both workers draw the same box with
``render_em_and_segmentation`` (what a cold QC fetch of the demo draws: no chunk cache), in
alternating order (this tree first on even rows). Each worker reports the CPU time of its
render (its thread's time) and the wall time, and a digest of the EM and supervoxel bytes;
the two digests must be equal. Prints the medians, the ratio and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench_setup import tiny_demo

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import hashlib, json, sys, time
import numpy as np
from napari_crant.tissue import TissueGeometry
from napari_crant.tissue.em import render_em, render_em_and_segmentation
from napari_crant.tissue.segmentation import model_of, render_segmentation
geom = TissueGeometry.from_snapshot(sys.argv[1]); model_of(geom)
print(json.dumps({"ready": len(geom.syn_pre)}), flush=True)
for line in sys.stdin:
    lo, hi, mip = json.loads(line)
    c0, w0 = time.thread_time(), time.perf_counter()
    if mip:
        em, seg = render_em(geom, (lo, hi), mip), render_segmentation(geom, (lo, hi), mip)
    else:
        em, seg = render_em_and_segmentation(geom, (lo, hi))
    cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
    digest = hashlib.sha256(em.tobytes() + seg.tobytes()).hexdigest()
    print(json.dumps({"cpu": cpu, "wall": wall, "digest": digest}), flush=True)
"""


class Worker:
    """One renderer process on one source tree."""

    def __init__(self, src: Path, snapshot: str):
        env = dict(os.environ, PYTHONPATH=str(src))
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, snapshot], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.synapses = json.loads(self.proc.stdout.readline())["ready"]

    def render(self, lo: list[int], hi: list[int], mip: int = 0) -> dict:
        self.proc.stdin.write(json.dumps([lo, hi, mip]) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def tree_of(rev: str, into: Path) -> Path:
    """The ``src`` folder of revision ``rev`` of this repository, extracted under ``into``."""
    archive = into / "src.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev, "src"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare with (e.g. main)")
    parser.add_argument("--dataset", default=None, help="demo snapshot path (default: the tiny demo)")
    parser.add_argument("--cutouts", type=int, default=16)
    parser.add_argument("--width", type=float, default=2048.0, help="cutout width (nm)")
    parser.add_argument("--sections", type=int, default=5)
    parser.add_argument("--mips", default="0",
                        help="mips drawn, e.g. 0,1,2 (timed: mip 0; above it, EM and supervoxels by "
                             "render_em and render_segmentation, a box of the same voxels, bytes compared)")
    args = parser.parse_args(argv)
    mips = sorted({int(m) for m in args.mips.split(",")})

    import numpy as np

    from napari_crant.tissue import TissueGeometry
    from napari_crant.tissue.segmentation import volume_shape

    snapshot = args.dataset or tiny_demo("em-render-ab-")
    geom = TissueGeometry.from_snapshot(snapshot)
    shape = np.array([round(args.width / geom.voxel_resolution[0]),
                      round(args.width / geom.voxel_resolution[1]), args.sections])
    rows = np.linspace(0, len(geom.syn_pre) - 1, args.cutouts).astype(int)
    with tempfile.TemporaryDirectory(prefix="em-render-ab-") as tmp:
        before = Worker(tree_of(args.before, Path(tmp)), snapshot)
        after = Worker(ROOT / "src", snapshot)
        load0 = os.getloadavg()[0]
        times: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
        same = compared = 0
        for mip in mips:
            factor = np.array([1 << mip, 1 << mip, 1])
            for k, r in enumerate(rows):
                v = np.round(geom.syn_pre[r] / geom.voxel_resolution / factor).astype(np.int64)
                lo = np.clip(v - shape // 2, 0, volume_shape(geom, mip) - shape)
                box = (lo.tolist(), (lo + shape).tolist())
                got = {}
                for name in (("after", "before") if k % 2 == 0 else ("before", "after")):
                    got[name] = (after if name == "after" else before).render(*box, mip)
                    if mip == 0:
                        times[name].append((1000 * got[name]["cpu"], 1000 * got[name]["wall"]))
                same += int(got["before"]["digest"] == got["after"]["digest"])
                compared += 1
        before.close()
        after.close()
    load1 = os.getloadavg()[0]
    print(f"\n{snapshot}: {len(rows)} cold cutouts of {args.width:.0f} nm x {args.sections} sections "
          f"({shape[0]} x {shape[1]} x {shape[2]} voxels); load {load0:.1f} -> {load1:.1f}")
    if not times["before"]:
        print(f"same bytes (EM and supervoxels, mips {args.mips}): {same} of {compared}")
        return 0 if same == compared else 1
    print("| tree | CPU median | CPU max | wall median |\n|---|---:|---:|---:|")
    for name, label in (("before", f"before ({args.before})"), ("after", "after (this tree)")):
        a = np.array(times[name])
        cpu, wall = a[:, 0], a[:, 1]
        print(f"| {label} | {np.median(cpu):.0f} ms | {cpu.max():.0f} ms | {np.median(wall):.0f} ms |")
    ratio = statistics.median(t[0] for t in times["before"]) / statistics.median(t[0] for t in times["after"])
    paired = statistics.median(b[0] / a[0] for b, a in zip(times["before"], times["after"], strict=True))
    print(f"CPU before / after: {ratio:.2f}x (median of the per-cutout ratios: {paired:.2f}x); same bytes "
          f"(EM and supervoxels, mips {args.mips}): {same} of {compared}")
    return 0 if same == compared else 1


if __name__ == "__main__":
    sys.exit(main())
