"""Benchmark: EM cutouts from the local server, cold and warm; cloud-volume vs tensorstore.

    python benchmarks/tissue_io.py                      # a 200-neuron demo, 12 cutouts
    python benchmarks/tissue_io.py --neurons 1000 --cutouts 20
    python benchmarks/tissue_io.py --write docs/benchmarks-tissue.md

Builds a demo snapshot (benchmarks/data/, not committed), serves it with
``serve_in_thread`` and reads 2 x 2 um x 5-section EM cutouts (256 x 256 x 5 voxels, mip 0)
centred on synapses spread over the table, over HTTP as precomputed:

- **cold**: the first read of each cutout with cloud-volume (the server renders its chunks);
- **warm**: the same cutout again with cloud-volume (the server's chunk cache is hot), and
  with tensorstore (``neuroglancer_precomputed`` over the ``http`` kvstore), alternating
  which goes first, on the very same boxes in the same run;
- ``get_em_cutout`` through a ``CaveSource`` on the server (warm), the public path (it reads
  EM with tensorstore since this benchmark showed it faster than cloud-volume).

The geometry's shapes and index are built once before timing (reported separately). The
table of medians is printed and, with ``--write``, written as Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from napari_crant.demo import make_demo
from napari_crant.server.runner import serve_in_thread
from napari_crant.sources.snapshot import SnapshotSource
from napari_crant.tissue.geometry import SKELETON_NODES
from napari_crant.tissue.synthetic import synthetic_tissue

DATA = Path(__file__).resolve().parent / "data"
SHAPE = np.array((256, 256, 5))
NOTE = ("Cold reads are dominated by drawing the demo's synthetic chunks on the server "
        "(`docs/tissue.md`, `benchmarks/tissue.py`); warm reads by HTTP and decoding. The machine is "
        "shared, so absolute times vary from run to run; the comparison is within one run.")
TOKEN = "0b5e1f3a9c7d2e4f6a8b0c1d2e3f4a5b"  # a made-up hex token for the local server


def _snapshot(neurons: int, seed: int) -> Path:
    path = DATA / f"tissue-demo-n{neurons}-s{seed}"
    if not (path / SKELETON_NODES).is_file():
        make_demo(path, n_neurons=neurons, seed=seed, overwrite=True)
    return path


def _boxes(source: SnapshotSource, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    syn = source._synapses
    rows = np.linspace(0, len(syn) - 1, n).astype(np.int64)
    res = source.voxel_resolution
    out = []
    for r in rows:
        p = np.array([syn[f"pre_pt_position_{a}"][r] for a in "xyz"], np.float64) * res
        lo = np.round(p / res).astype(np.int64) - SHAPE // 2
        out.append((lo, lo + SHAPE))
    return out


def _ms(fn) -> tuple[float, object]:
    t = time.perf_counter()
    value = fn()
    return (time.perf_counter() - t) * 1000.0, value


def run(neurons: int, seed: int, cutouts: int) -> tuple[list[tuple[str, float, float]], dict]:
    import tensorstore as ts
    from cloudvolume import Bbox, CloudVolume

    import napari_crant as nc
    from napari_crant.sources.cave import CaveDatasetConfig, CaveSource

    path = _snapshot(neurons, seed)
    source = SnapshotSource(path)
    t = time.perf_counter()
    synthetic_tissue(path).warm()
    build_s = time.perf_counter() - t
    boxes = _boxes(source, cutouts)
    timings: dict[str, list[float]] = {k: [] for k in ("cold", "cv", "ts", "api")}
    with serve_in_thread(source, token=TOKEN) as server:
        url = f"{server.url}/tissue/{server.datastack}/em"
        cv = CloudVolume(f"precomputed://{url}", progress=False, use_https=True, fill_missing=True)
        store = ts.open({"driver": "neuroglancer_precomputed", "scale_index": 0,
                         "kvstore": {"driver": "http", "base_url": url + "/"}}, read=True).result()
        cfg = CaveDatasetConfig(name="bench", server_address=server.url, datastack=server.datastack,
                                timeout=60.0)
        cave = CaveSource(cfg, auth_token=TOKEN)
        for i, (lo, hi) in enumerate(boxes):
            ms, a = _ms(lambda lo=lo, hi=hi: np.asarray(cv.download(Bbox(lo, hi), mip=0))[..., 0])
            timings["cold"].append(ms)

            def by_cv(lo=lo, hi=hi):
                return np.asarray(cv.download(Bbox(lo, hi), mip=0))[..., 0]

            def by_ts(lo=lo, hi=hi):
                return store[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2], 0].read().result()

            order = (("cv", by_cv), ("ts", by_ts)) if i % 2 == 0 else (("ts", by_ts), ("cv", by_cv))
            for key, fn in order:
                ms, b = _ms(fn)
                timings[key].append(ms)
                if not np.array_equal(a, np.asarray(b)):
                    raise AssertionError(f"{key} read a different block at {lo.tolist()}")
            centre = (lo + SHAPE // 2) * source.voxel_resolution
            ms, c = _ms(lambda centre=centre: nc.get_em_cutout(centre, dataset=cave))
            timings["api"].append(ms)
            if not np.array_equal(c.data, a.transpose(2, 1, 0)):
                raise AssertionError(f"get_em_cutout read a different block at {lo.tolist()}")
    names = {"cold": "cloud-volume, cold (server renders the chunks)",
             "cv": "cloud-volume, warm", "ts": "tensorstore, warm",
             "api": "get_em_cutout via CaveSource (tensorstore), warm"}
    rows = [(names[k], statistics.median(v), max(v)) for k, v in timings.items()]
    meta = {"neurons": neurons, "seed": seed, "cutouts": cutouts, "build_s": build_s,
            "cpus": os.cpu_count(), "load": os.getloadavg()[0], "python": platform.python_version()}
    return rows, meta


def table(rows: list[tuple[str, float, float]], meta: dict) -> str:
    lines = [
        f"EM cutouts of 256 x 256 x 5 voxels (2 x 2 um x 5 sections, mip 0, {256 * 256 * 5:,} bytes) "
        f"around {meta['cutouts']} synapses of a {meta['neurons']}-neuron demo, from the local server "
        f"over HTTP (precomputed, raw chunks of 128 x 128 x 8). Geometry built once before timing: "
        f"{meta['build_s']:.1f} s. Machine: {meta['cpus']} cores, load {meta['load']:.1f}, "
        f"Python {meta['python']}.",
        "",
        "| read | median (ms) | max (ms) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {med:.0f} | {mx:.0f} |" for name, med, mx in rows]
    med = {name: m for name, m, _ in rows}
    cv, tstore = med["cloud-volume, warm"], med["tensorstore, warm"]
    faster = "tensorstore" if tstore < cv else "cloud-volume"
    lines += ["", f"Same cutouts, same run: tensorstore {tstore:.0f} ms vs cloud-volume {cv:.0f} ms "
              f"(median, warm): {faster} is faster by {max(cv, tstore) / min(cv, tstore):.1f}x. "
              "napari-crant reads EM over HTTP with tensorstore (`tissue/remote.py`); segmentation "
              "(graphene) and every volume's info with cloud-volume."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cutouts", type=int, default=12)
    parser.add_argument("--write", type=Path, help="also write the table (Markdown) to this file")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    rows, meta = run(args.neurons, args.seed, args.cutouts)
    text = table(rows, meta)
    print(text)
    if args.write:
        body = ("# Benchmark: EM cutouts from the local server\n\n"
                "Written by `python benchmarks/tissue_io.py --write docs/benchmarks-tissue.md`. "
                + NOTE + "\n\n" + text)
        args.write.write_text(body)


if __name__ == "__main__":
    main()
