"""What is drawn inside cells: microtubules, mitochondria, nuclei, and synapses.

Every function darkens or lightens ``img`` (float32, the grid's shape) in place. Positions
come from the grid axes (``X``, ``Y`` broadcast, ``zs`` nm) and textures are keyed by
absolute coordinates or by a primitive's stable key, never by the cutout.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from napari_crant.tissue.fields import LabelField
from napari_crant.tissue.geometry import SOMA, TissueGeometry
from napari_crant.tissue.interrupt import checkpoint
from napari_crant.tissue.noise import uniform3, uniforms4, value_noise2d
from napari_crant.tissue.primitives import BOUTON, CLEFT_INSET_NM, NEURITE, SOMA_SPHERE, SPINE

#: Width (nm) of a membrane's dark line at mip 0.
SIGMA0 = 5.5


def _g(q):
    return np.exp(-q * q)


def _line(dist, sigma: float):
    """A thin dark line at ``dist == 0``, widened to ``sigma`` with its area kept (so a
    coarse mip shows it fainter, as averaging would)."""
    return (SIGMA0 / sigma) * _g(dist / sigma)


def _smooth(q):
    """A soft step: 0 for q < -2, 1 for q > 2, linear between (``np.clip``'s values, without
    its overhead on the many small arrays of the synapses)."""
    return np.minimum(np.maximum(0.5 + 0.25 * q, 0.0), 1.0)


def _local(f: LabelField, prim: np.ndarray, p: np.ndarray):
    """Axial coordinate, two perpendicular coordinates and radius of the primitive there."""
    pr = f.prims
    a, b = pr.a[prim], pr.b[prim]
    ab = b - a
    L = np.linalg.norm(ab, axis=1)
    e = np.where(L[:, None] > 1e-6, ab / np.maximum(L, 1e-6)[:, None], [0.0, 0.0, 1.0])
    ref = np.where(np.abs(e[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u1 = np.cross(e, ref)
    u1 /= np.linalg.norm(u1, axis=1, keepdims=True)
    u2 = np.cross(e, u1)
    v = p - a
    s = np.einsum("ij,ij->i", v, e)
    r = pr.ra[prim] + np.clip(s / np.maximum(L, 1e-6), 0, 1) * (pr.rb[prim] - pr.ra[prim])
    return s, np.einsum("ij,ij->i", v, u1), np.einsum("ij,ij->i", v, u2), r, L


def _points(mask: np.ndarray, xs, ys, zs) -> tuple[tuple, np.ndarray]:
    idx = np.nonzero(mask)
    return idx, np.stack([xs[idx[0]], ys[idx[1]], zs[idx[2]]], axis=1)


def draw_microtubules(img, f: LabelField, mask, X, Y, zs, seed: int, sigma: float) -> None:
    """Microtubules: 24-nm tubes along each neurite (dots in cross-section)."""
    if not mask.any():
        return
    xs, ys = X[:, 0, 0].astype(np.float64), Y[0, :, 0].astype(np.float64)
    idx, p = _points(mask, xs, ys, zs)
    prim = f.prim[idx]
    _, pu, pv, r, _ = _local(f, prim, p)
    sp = 62.0
    ci, cj = np.floor(pu / sp).astype(np.int64), np.floor(pv / sp).astype(np.int64)
    key = f.prims.key[prim] * 8 + f.prims.kind[prim]
    jx = uniform3(seed, 21, key, ci, cj)
    jy = uniform3(seed, 22, key, ci, cj)
    alive = uniform3(seed, 23, key, ci, cj) < 0.5
    dx = pu - (ci + 0.25 + 0.5 * jx) * sp
    dy = pv - (cj + 0.25 + 0.5 * jy) * sp
    rho = np.hypot(pu, pv)
    dark = 42.0 * (SIGMA0 / sigma) * _g(np.hypot(dx, dy) / 9.0) * alive * (rho < r - 30.0)
    img[idx] -= dark.astype(np.float32)


def draw_mitochondria(img, f: LabelField, mask, X, Y, zs, iz, seed: int, sigma: float) -> None:
    """Mitochondria: dark ovals with cristae in some neurite segments."""
    pr = f.prims
    has = ((pr.kind == NEURITE) & (np.maximum(pr.ra, pr.rb) > 100.0)
           & (uniform3(seed, 30, pr.key, 0, 0) < 0.3))
    m = mask & np.append(has, False)[f.prim]
    if not m.any():
        return
    xs, ys = X[:, 0, 0].astype(np.float64), Y[0, :, 0].astype(np.float64)
    idx, p = _points(m, xs, ys, zs)
    prim = f.prim[idx]
    s, pu, pv, _, L = _local(f, prim, p)
    along = np.maximum(0.32 * L, 90.0)
    radial = np.minimum(0.5 * np.maximum(pr.ra[prim], pr.rb[prim]), 170.0)
    q = np.sqrt(((s - 0.5 * L) / along) ** 2 + (pu * pu + pv * pv) / radial ** 2)
    dist = (1.0 - q) * radial  # nm inside the outer membrane
    body = _smooth(dist / 4.0)
    wob = value_noise2d(seed, 31, p[:, 0], p[:, 1], iz.ravel()[idx[2]], 70.0)
    cristae = 0.5 + 0.5 * np.cos(2 * np.pi * (s / 52.0 + 0.35 * wob))
    val = 128.0 - 34.0 * cristae * _smooth((dist - 14.0) / 4.0) - 70.0 * _line(dist, sigma)
    cur = img[idx]
    img[idx] = (cur * (1 - body) + val * body - 60.0 * _line(dist, sigma) * (1 - body)).astype(
        np.float32)


def _nucleus_cells(geom: TissueGeometry) -> np.ndarray:
    cache = geom.__dict__.setdefault("_nucleus_cell", {})
    if "cell" not in cache:
        soma = np.flatnonzero(geom.node_compartment == SOMA)
        cell = np.full(len(geom.nucleus_pos), -1, np.int64)
        if len(soma) and len(cell):
            _, j = cKDTree(geom.node_pos[soma]).query(geom.nucleus_pos)
            cell = geom.node_cell[soma[j]]
        cache["cell"] = cell
    return cache["cell"]


def draw_soma(img, f: LabelField, geom: TissueGeometry, X, Y, zs, iz, seed: int,
              sigma: float) -> None:
    """Somata: rough ER in the soma's cytoplasm; the nucleus with envelope and chromatin."""
    xs, ys = X[:, 0, 0].astype(np.float64), Y[0, :, 0].astype(np.float64)
    lo = np.array([xs[0], ys[0], zs[0]])
    hi = np.array([xs[-1], ys[-1], zs[-1]])
    cells = _nucleus_cells(geom)
    # the nuclei near the box, and those of every soma in it: the rough ER fills the soma's
    # sphere however far from its nucleus (it was drawn only in boxes near the nucleus, in the
    # whole cell there: a seam between chunks)
    near = np.flatnonzero(np.all((geom.nucleus_pos + geom.nucleus_radius[:, None] + 40 >= lo)
                                 & (geom.nucleus_pos - geom.nucleus_radius[:, None] - 40 <= hi),
                                 axis=1)
                          | np.isin(cells, f.prims.cell[f.prims.kind == SOMA_SPHERE]))
    if len(near) == 0:
        return
    Xf, Yf = X.astype(np.float64), Y.astype(np.float64)
    in_soma = np.append(f.prims.kind == SOMA_SPHERE, False)[f.prim]
    for k in near:
        c, rn = geom.nucleus_pos[k], geom.nucleus_radius[k]
        d = np.sqrt((Xf - c[0]) ** 2 + (Yf - c[1]) ** 2 + (zs[None, None, :] - c[2]) ** 2) - rn
        own = f.cell == cells[k]
        er = own & in_soma & (d > 20) & (value_noise2d(seed, 50, X, Y, iz, 24.0) > 0.5)
        img -= np.where(er, np.float32(22.0), 0)
        inside = own & (d < 0)
        chrom = value_noise2d(seed, 51, X, Y, iz, 75.0) + 0.5 * value_noise2d(seed, 52, X, Y,
                                                                             iz, 30.0)
        nuc = (172.0 - 40.0 * _smooth((chrom - 0.25) / 0.12) - 35.0 * _smooth((d + 45.0) / 8.0))
        img[inside] = nuc[inside].astype(np.float32)
        env = own & (np.abs(d) < 60)
        dark = 85.0 * np.maximum(_line(d, sigma), _line((d - 22.0), sigma))
        img[env] -= dark[env].astype(np.float32)


def _span(centre: np.ndarray, n: np.ndarray, h0: float, h1: float, radius: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box (nm) of the points within ``radius`` of the segment from
    ``centre + h0 n`` to ``centre + h1 n`` (``n`` a unit vector)."""
    ends = np.stack([centre + h0 * n, centre + h1 * n])
    return ends.min(axis=0) - radius, ends.max(axis=0) + radius


def _synapse_box(P: np.ndarray, Q: np.ndarray, n: np.ndarray, R: float, spine_r: float | None,
                 xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> tuple[slice, slice, slice]:
    """The samples :func:`draw_synapses` may change for the synapse whose pre point is ``P``
    (post ``Q``, axis ``n`` from post to pre, bouton radius ``R``, spine radius ``spine_r``).

    The box ``P +- (R + 80)``, cut to where a shade is not exactly zero: the active zone, T-bar
    and cleft (within ``0.8 R + 21`` of the axis, from 37 nm beyond the post point, and 98 nm
    either side of the pre point: the density's Gaussian is 0 in float32 beyond), the postsynaptic density
    (within ``0.9 spine_r + 21`` of the axis) and the vesicle cloud (a ball of ``0.85 R + 30``
    around ``P + 0.4 R n``), each grown by 2 nm. Outside it every voxel is left exactly as it
    is, so the smaller box changes no byte.
    """
    ext = R + 80.0
    dpq = float(np.linalg.norm(P - Q))
    reach = max(0.8 * R, 0.9 * spine_r if spine_r is not None else 0.0) + 23.0
    lo_a, hi_a = _span(P, n, min(-dpq - 39.0, -100.0), 100.0, reach)
    C = P + n * (0.4 * R)
    lo = np.maximum(np.minimum(lo_a, C - (0.85 * R + 32.0)), P - ext)
    hi = np.minimum(np.maximum(hi_a, C + (0.85 * R + 32.0)), P + ext)
    box = []
    for k, axis in enumerate((xs, ys, zs)):
        box.append(slice(int(np.searchsorted(axis, lo[k])), int(np.searchsorted(axis, hi[k]))))
    return tuple(box)


def draw_synapses(img, f: LabelField, geom: TissueGeometry, X, Y, zs, seed: int,
                  sigma: float) -> None:
    """T-bars, vesicle clouds, clefts and postsynaptic densities of the synapses in view."""
    pr = f.prims
    boutons = np.flatnonzero(pr.kind == BOUTON)
    spine_of = {int(pr.key[i]): i for i in np.flatnonzero(pr.kind == SPINE)}
    xs, ys = X[:, 0, 0].astype(np.float64), Y[0, :, 0].astype(np.float64)
    cloud_of = np.full(img.shape, -1, np.int32)  # the cloud whose centre is nearest
    cloud_d = np.full(img.shape, np.inf, np.float32)
    clouds: list[np.ndarray] = []
    grid = img.shape
    for i in boutons:
        checkpoint()  # the render may be abandoned here
        row = int(pr.key[i])
        P, Q, n, R = geom.syn_pre[row], geom.syn_post[row], pr.normal[i], pr.ra[i]
        j = spine_of.get(row)
        sx, sy, sz = _synapse_box(P, Q, n, R, pr.ra[j] if j is not None else None, xs, ys, zs)
        if sx.stop <= sx.start or sy.stop <= sy.start or sz.stop <= sz.start:
            continue
        vx = (xs[sx] - P[0]).astype(np.float32)
        vy = (ys[sy] - P[1]).astype(np.float32)
        vz = (zs[sz] - P[2]).astype(np.float32)
        n = n.astype(np.float32)
        h = (vx * n[0])[:, None, None] + (vy * n[1])[None, :, None] + (vz * n[2])[None, None, :]
        r2 = ((vx * vx)[:, None, None] + (vy * vy)[None, :, None] + (vz * vz)[None, None, :]
              - h * h)
        cell_box = f.cell[sx, sy, sz]
        pre_box = cell_box == pr.cell[i]
        face = 0.8 * R
        dpq = float(np.linalg.norm(P - Q))
        # Outside the presynaptic cell only the cleft and the postsynaptic density are
        # drawn, both inside a short cylinder around the synapse's axis: every other voxel
        # of the box is left exactly as it is, so only these voxels are shaded.
        reach = max(face, 0.9 * pr.ra[j] if j is not None else 0.0) + 21.0
        h_lo = -dpq - 37.0
        h_hi = max(-CLEFT_INSET_NM + 5.0, -dpq + CLEFT_INSET_NM + 7.0)
        near_axis = (r2 < np.float32(reach * reach)) & (h > h_lo) & (h < h_hi)
        flat = np.flatnonzero(pre_box | near_axis)
        if len(flat) == 0:
            continue
        # the box's voxels (C order, as np.nonzero gives them) and their flat index in the grid
        i0, rest = np.divmod(flat, h.shape[1] * h.shape[2])
        i1, i2 = np.divmod(rest, h.shape[2])
        at = ((i0 + sx.start) * grid[1] + (i1 + sy.start)) * grid[2] + (i2 + sz.start)
        h = h.reshape(-1)[flat]
        rho = np.sqrt(np.maximum(r2.reshape(-1)[flat], 0.0))
        sub = np.take(img, at)
        pre = pre_box.reshape(-1)[flat]
        # Every shade below is computed only where it is not exactly zero (elsewhere it would
        # add, subtract or blend 0: no change), with the same float operations per voxel.
        soft_face = _smooth((face - rho) / 10.0)
        # cleft: between the two flattened faces, a faint dark line mid-way
        hmid = -0.5 * dpq
        k = np.flatnonzero((~pre) & (h < -CLEFT_INSET_NM + 4) & (h > -dpq + CLEFT_INSET_NM - 4))
        if len(k):
            sub[k] += (soft_face[k] * (8.0 - 38.0 * _line(h[k] - hmid, max(7.0, sigma)))).astype(
                np.float32)
        # presynaptic density along the active zone (its Gaussian is 0 in float32 beyond 92 nm)
        k = np.flatnonzero(pre & (rho < face + 21.0) & (np.abs(h + np.float32(6.0)) < 92.0))
        if len(k):
            sub[k] -= (soft_face[k] * 38.0 * _g((h[k] + CLEFT_INSET_NM - 6.0) / 8.0)).astype(
                np.float32)
        # T-bar pedestal and platform
        tbar = np.zeros(len(h), np.float32)
        k = np.flatnonzero(pre & (rho < 90.0) & (h > -18.0) & (h < 80.0))
        if len(k):
            hk, rk = h[k], rho[k]
            ped = _smooth((24.0 - rk) / 4.0) * _smooth((hk + 8.0) / 4.0) * _smooth((48.0 - hk) / 4.0)
            plat = _smooth((78.0 - rk) / 5.0) * _smooth((hk - 42.0) / 4.0) * _smooth((70.0 - hk) / 4.0)
            tk = np.maximum(ped, plat)
            tbar[k] = tk
            sub[k] = (sub[k] * (1 - tk) + 62.0 * tk).astype(np.float32)
        # vesicle cloud around the T-bar (drawn below for all synapses at once)
        C = P + n * (0.4 * R)
        cloud_r = 0.85 * R
        # squared offsets per axis, summed per voxel in the order of the plain expression
        ax, ay, az = ((v - c) ** 2 for v, c in zip((vx, vy, vz), C - P, strict=True))
        dc = np.sqrt(ax[i0] + ay[i1] + az[i2]) / cloud_r
        sel = pre & (tbar < 0.3) & (dc < 1.0 + 30.0 / cloud_r)
        if sel.any():
            closer = sel & (dc < np.take(cloud_d, at))
            won = at[closer]
            np.put(cloud_of, won, len(clouds))
            np.put(cloud_d, won, dc[closer].astype(np.float32))
            clouds.append(np.append(C, cloud_r))
        # postsynaptic density on the partner (within the near-axis disc)
        if j is not None:
            rj = 0.9 * pr.ra[j]
            k = np.flatnonzero((rho < rj + 21.0) & (h > -dpq - 37.0) & (h < -dpq + 19.0))
            k = k[np.take(f.cell, at[k]) == pr.cell[j]]
            if len(k):
                hq = -(h[k] + dpq)  # distance from the post point into the postsynaptic side
                psd = _smooth((rj - rho[k]) / 10.0) * _smooth((26.0 - hq) / 5.0) * _smooth(
                    (hq + CLEFT_INSET_NM) / 3.0)
                sub[k] -= (58.0 * psd).astype(np.float32)
        np.put(img, at, sub)
    if clouds:
        vox = np.argwhere(cloud_of >= 0)
        _vesicles(img, vox, np.array(clouds), cloud_of[tuple(vox.T)], xs, ys, zs, seed,
                  SIGMA0 / sigma)


def _vesicles(img, vox: np.ndarray, clouds: np.ndarray, which: np.ndarray, xs, ys, zs, seed: int,
              fine: float) -> None:
    """40-nm dark-rimmed vesicles on an absolute jittered lattice, dense near cloud centres.

    ``vox``: grid indices of the voxels in a cloud; ``clouds``: (centre x, y, z, radius) of
    every cloud; ``which``: the cloud each voxel belongs to. A lattice cell holds some 25
    voxels of few clouds: what depends only on the cell (its hash and centre) is computed
    once per cell, what depends on the cell and the cloud (the density) once per pair.
    """
    if not len(vox):
        return
    x, y, z = xs[vox[:, 0]], ys[vox[:, 1]], zs[vox[:, 2]]
    # a lattice turned in the section plane, so no row of vesicles lines up with the axes
    c_, s_ = np.cos(0.61), np.sin(0.61)
    p = (c_ * x - s_ * y, s_ * x + c_ * y, z)
    cloud = clouds.copy()
    cloud[:, :2] = np.stack([c_ * cloud[:, 0] - s_ * cloud[:, 1],
                             s_ * cloud[:, 0] + c_ * cloud[:, 1]], axis=1)
    sp = 44.0
    base = np.stack([np.floor(q / sp - 0.5).astype(np.int64) for q in p], axis=1)
    rim = np.zeros(len(x))
    core = np.zeros(len(x))
    # a lattice cell holds some 25 voxels: its hash and centre are computed once per cell
    lo = base.min(axis=0)
    span = base.max(axis=0) - lo + 2
    cell_key = ((base[:, 0] - lo[0]) * span[1] + (base[:, 1] - lo[1])) * span[2] + (base[:, 2] - lo[2])
    _, one_voxel, of_voxel = np.unique(cell_key, return_index=True, return_inverse=True)
    first = base[one_voxel]  # the base cell of each distinct key
    # (cell, cloud) pairs: the density of a vesicle at a cell's centre in the voxel's cloud
    _, pair_voxel, of_pair = np.unique(of_voxel * len(cloud) + which, return_index=True,
                                       return_inverse=True)
    pair_cell, pair_cloud = of_voxel[pair_voxel], cloud[which[pair_voxel]]
    # centres stay in the middle half of their cell: only the 2 x 2 x 2 nearest cells reach
    for o in np.array(np.meshgrid([0, 1], [0, 1], [0, 1])).T.reshape(-1, 3):
        c = first + o
        h = uniforms4(seed, 60, c[:, 0], c[:, 1], c[:, 2])
        ctr = [(c[:, k] + 0.25 + 0.5 * h[k]) * sp for k in range(3)]  # per cell
        pc = [q[pair_cell] for q in ctr]
        off = [pc[k] - pair_cloud[:, k] for k in range(3)]
        dens = np.exp(-(np.sqrt(off[0] * off[0] + off[1] * off[1] + off[2] * off[2])
                        / pair_cloud[:, 3]) ** 2)
        alive = np.flatnonzero((h[3][pair_cell] < dens)[of_pair])
        if not len(alive):
            continue
        cell = of_voxel[alive]
        e = [p[k][alive] - ctr[k][cell] for k in range(3)]
        d = np.sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2])
        rim[alive] = np.maximum(rim[alive], _g((d - 17.0) / 4.0))
        core[alive] = np.maximum(core[alive], d < 13.0)
    img[vox[:, 0], vox[:, 1], vox[:, 2]] += fine * (10.0 * core - 85.0 * rim).astype(np.float32)


def draw_filler_mitochondria(img, fill_b, per_filler, X, Y, iz, seed: int, sigma: float) -> None:
    """Mitochondria filling some filler profiles (dark, with cristae, their own membrane).

    ``per_filler(salt, at)``: the uniform hash (salt) of the filler profile of every sample, or
    of the samples ``at`` (index arrays). Shaded only in the profiles that have one."""
    has = np.nonzero((per_filler(33) < 0.09) & (fill_b > 20.0))
    if not len(has[0]):
        return
    theta = np.float32(np.pi) * per_filler(34, has)
    wob = value_noise2d(seed, 35, X, Y, iz, 60.0)[has]
    along = X[has[0], 0, 0] * np.cos(theta) + Y[0, has[1], 0] * np.sin(theta)
    cristae = 0.5 + 0.5 * np.cos(2 * np.pi * (along / 50.0 + 0.4 * wob))
    dist = fill_b[has] - np.float32(28.0)
    body = _smooth(dist / 3.0)
    val = 130.0 - 34.0 * cristae * _smooth((dist - 14.0) / 4.0)
    new = img[has] * (1 - body) + val * body - 70.0 * _line(dist, sigma)
    img[has] = new.astype(np.float32)
