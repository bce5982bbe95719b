"""Benchmark of the demo's synthetic tissue: EM and segmentation cutouts around synapses.

    python benchmarks/tissue.py                  # the default demo (1000 neurons)
    python benchmarks/tissue.py --neurons 200 --cutouts 10
    python benchmarks/tissue.py --images docs/images   # also the EM and segmentation PNGs
    python benchmarks/tissue.py --snapshot ~/.cache/napari-crant/demo-f2-r2-n1000-s0  # a built demo

Builds the demo snapshot (into benchmarks/data/, not committed) with its skeleton nodes,
then renders 256 x 256 x 8 mip-0 cutouts centred on synapses spread over the table, each
in a fresh process state for the cutout (no chunk cache; the geometry's primitives are
built once, timed separately), and prints a table of medians and maxima. It also counts
how often the consistency rules hold on those cutouts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from napari_crant.demo import make_demo
from napari_crant.tissue import TissueGeometry, render_em, render_segmentation
from napari_crant.tissue.geometry import SKELETON_NODES
from napari_crant.tissue.segmentation import model_of, volume_shape

DATA = Path(__file__).resolve().parent / "data"


def _snapshot(neurons: int, seed: int) -> Path:
    path = DATA / f"tissue-demo-n{neurons}-s{seed}"
    if not (path / SKELETON_NODES).is_file():
        make_demo(path, n_neurons=neurons, seed=seed, overwrite=True)
    return path


def _box(geom: TissueGeometry, p_nm: np.ndarray, mip: int, shape=(256, 256, 8)):
    f = np.array([1 << mip, 1 << mip, 1])
    v = np.round(p_nm / geom.voxel_resolution).astype(np.int64) // f
    half = np.array(shape) // 2
    lo = np.clip(v - half, 0, volume_shape(geom, mip) - shape)
    return lo, lo + shape


def pick_synapse(geom: TissueGeometry) -> int:
    """A synapse to show: few others near it, its cleft across the section (pre and post in
    one section), both sides segmented."""
    tree = cKDTree(geom.syn_ctr)
    crowd = np.array([len(x) for x in tree.query_ball_point(geom.syn_ctr, 1000.0)])
    d = geom.syn_pre - geom.syn_post
    flat = np.abs(d[:, 2]) < 1e-9
    ok = np.flatnonzero(flat & (crowd >= 3) & (crowd <= 6) & (geom.syn_post_sv > 0)
                        & (np.linalg.norm(d, axis=1) > 40.0))
    return int(ok[len(ok) // 2]) if len(ok) else 0


def save_images(geom: TissueGeometry, out: Path) -> None:
    """tissue-em.png and tissue-seg.png: a 2 x 2 um section through a synapse's pre point."""
    from PIL import Image, ImageDraw

    row = pick_synapse(geom)
    v = np.round(geom.syn_pre[row] / geom.voxel_resolution).astype(np.int64)
    half = np.array([125, 125, 0])
    lo, hi = v - half, v + half + [0, 0, 1]
    em = render_em(geom, (lo, hi), 0)[:, :, 0].T  # rows = y
    seg = render_segmentation(geom, (lo, hi), 0)[:, :, 0].T
    scale = 3
    img = Image.fromarray(em).resize((em.shape[1] * scale, em.shape[0] * scale),
                                     Image.Resampling.LANCZOS).convert("RGB")
    draw = ImageDraw.Draw(img)
    bar = int(500 / geom.voxel_resolution[0] * scale)  # 500 nm
    h = img.height
    draw.rectangle([20, h - 34, 20 + bar, h - 26], fill=(255, 255, 255))
    draw.text((20, h - 22), "500 nm", fill=(255, 255, 255))
    img.save(out / "tissue-em.png")
    ids, inv = np.unique(seg, return_inverse=True)
    colours = (np.stack([(ids * np.uint64(k)) % np.uint64(200) for k in (2654435761, 40503,
                         2246822519)], axis=1).astype(np.uint8) + 55)
    colours[ids == 0] = 0
    rgb = colours[inv.reshape(seg.shape)]
    # the synapse's pre and post supervoxels stand out: the others are dimmed
    mine = np.isin(seg, [geom.syn_pre_sv[row], geom.syn_post_sv[row]])
    rgb = np.where(mine[..., None], rgb, (rgb * 0.55).astype(np.uint8))
    Image.fromarray(rgb).resize((seg.shape[1] * scale, seg.shape[0] * scale),
                                Image.Resampling.NEAREST).save(out / "tissue-seg.png")
    print(f"images of synapse row {row} (pre sv {geom.syn_pre_sv[row]}, post sv "
          f"{geom.syn_post_sv[row]}) in {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cutouts", type=int, default=20)
    ap.add_argument("--images", type=Path, help="also save tissue-em.png, tissue-seg.png here")
    ap.add_argument("--snapshot", type=Path,
                    help="an existing demo snapshot directory (with skeleton_nodes.arrow) instead "
                         "of building one; --neurons and --seed are then ignored")
    args = ap.parse_args()

    path = args.snapshot.expanduser() if args.snapshot else _snapshot(args.neurons, args.seed)
    t0 = time.perf_counter()
    geom = TissueGeometry.from_snapshot(path)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    model_of(geom)
    t_model = time.perf_counter() - t0
    if args.images:
        save_images(geom, args.images)
    rows = np.linspace(0, len(geom.syn_pre) - 1, args.cutouts).astype(np.int64)

    timings: dict[str, list[float]] = {}
    held = broken = 0
    for row in rows:
        for mip in (0, 1, 2):
            box = _box(geom, geom.syn_pre[row], mip)
            for name, fn in (("EM", render_em), ("segmentation", render_segmentation)):
                t0, c0 = time.perf_counter(), time.process_time()
                out = fn(geom, box, mip)
                timings.setdefault(f"{name} 256x256x8 mip {mip}", []).append(
                    (time.perf_counter() - t0, time.process_time() - c0))
                if name == "segmentation" and mip == 0:
                    lo, hi = box
                    for pts, svs in ((geom.syn_pre, geom.syn_pre_sv),
                                     (geom.syn_post, geom.syn_post_sv)):
                        vox = np.round(pts / geom.voxel_resolution).astype(np.int64)
                        ins = np.flatnonzero(np.all((vox >= lo) & (vox < hi), axis=1))
                        got = out[tuple((vox[ins] - lo).T)]
                        held += int(np.sum(got == svs[ins]))
                        broken += int(np.sum(got != svs[ins]))

    print(f"demo: {args.neurons} neurons, {len(geom.node_pos)} nodes, "
          f"{len(geom.syn_pre)} synapses; {args.cutouts} cutouts centred on synapses")
    print(f"read geometry {t_read * 1000:.0f} ms; build primitives and index (once) "
          f"{t_model:.2f} s")
    print("times in ms; CPU = process time (one core; what the machine's load does not add)")
    print(f"{'case':<32}{'CPU median':>11}{'CPU p90':>9}{'CPU max':>9}{'wall median':>12}")
    for k, v in timings.items():
        a = np.array(v) * 1000
        print(f"{k:<32}{np.median(a[:, 1]):>11.0f}{np.percentile(a[:, 1], 90):>9.0f}"
              f"{a[:, 1].max():>9.0f}{np.median(a[:, 0]):>12.0f}")
    print(f"synapse points in the mip-0 cutouts holding their supervoxel: {held}; "
          f"not (two points of different supervoxels in one voxel): {broken}")


if __name__ == "__main__":
    main()
