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
    """A soft step: 0 for q < -2, 1 for q > 2, linear between."""
    return np.clip(0.5 + 0.25 * q, 0.0, 1.0)


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


def _norm3(v: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row of an ``(n, 3)`` array, summed in the order ``np.linalg.norm``
    sums it (so the same bits), without its generic reduction."""
    return np.sqrt(v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1] + v[:, 2] * v[:, 2])


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
    for i in boutons:
        row = int(pr.key[i])
        P, Q, n, R = geom.syn_pre[row], geom.syn_post[row], pr.normal[i], pr.ra[i]
        ext = R + 80.0
        sx = slice(np.searchsorted(xs, P[0] - ext), np.searchsorted(xs, P[0] + ext))
        sy = slice(np.searchsorted(ys, P[1] - ext), np.searchsorted(ys, P[1] + ext))
        sz = slice(np.searchsorted(zs, P[2] - ext), np.searchsorted(zs, P[2] + ext))
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
        j = spine_of.get(row)
        # Outside the presynaptic cell only the cleft and the postsynaptic density are
        # drawn, both inside a short cylinder around the synapse's axis: every other voxel
        # of the box is left exactly as it is, so only these voxels are shaded.
        reach = max(face, 0.9 * pr.ra[j] if j is not None else 0.0) + 21.0
        h_lo = -dpq - 37.0
        h_hi = max(-CLEFT_INSET_NM + 5.0, -dpq + CLEFT_INSET_NM + 7.0)
        near_axis = (r2 < np.float32(reach * reach)) & (h > h_lo) & (h < h_hi)
        idx = np.nonzero(pre_box | near_axis)
        if len(idx[0]) == 0:
            continue
        h = h[idx]
        rho = np.sqrt(np.maximum(r2[idx], 0.0))
        vx, vy, vz = vx[idx[0]], vy[idx[1]], vz[idx[2]]
        view = img[sx, sy, sz]
        sub = view[idx]
        cell = cell_box[idx]
        pre = pre_box[idx]
        # cleft: between the two flattened faces, a faint dark line mid-way
        hmid = -0.5 * dpq
        cleft = (~pre) & (h < -CLEFT_INSET_NM + 4) & (h > -dpq + CLEFT_INSET_NM - 4)
        cl = cleft * _smooth((face - rho) / 10.0)
        sub += (cl * (8.0 - 38.0 * _line(h - hmid, max(7.0, sigma)))).astype(np.float32)
        # presynaptic density along the active zone, T-bar pedestal and platform
        act = pre * _smooth((face - rho) / 10.0)
        sub -= (act * 38.0 * _g((h + CLEFT_INSET_NM - 6.0) / 8.0)).astype(np.float32)
        ped = _smooth((24.0 - rho) / 4.0) * _smooth((h + 8.0) / 4.0) * _smooth((48.0 - h) / 4.0)
        plat = _smooth((78.0 - rho) / 5.0) * _smooth((h - 42.0) / 4.0) * _smooth((70.0 - h) / 4.0)
        tbar = np.maximum(ped, plat) * pre
        sub = (sub * (1 - tbar) + 62.0 * tbar).astype(np.float32)
        # vesicle cloud around the T-bar (drawn below for all synapses at once)
        C = P + n * (0.4 * R)
        cloud_r = 0.85 * R
        dc = np.sqrt((vx - (C - P)[0]) ** 2 + (vy - (C - P)[1]) ** 2
                     + (vz - (C - P)[2]) ** 2) / cloud_r
        sel = pre & (tbar < 0.3) & (dc < 1.0 + 30.0 / cloud_r)
        if sel.any():
            claim_view, dist_view = cloud_of[sx, sy, sz], cloud_d[sx, sy, sz]
            dist = dist_view[idx]
            closer = sel & (dc < dist)
            won = tuple(k[closer] for k in idx)
            claim_view[won] = len(clouds)
            dist_view[won] = dc[closer]
            clouds.append(np.append(C, cloud_r))
        # postsynaptic density on the partner
        if j is not None:
            hq = -(h + dpq)  # distance from the post point into the postsynaptic side
            post = cell == pr.cell[j]
            psd = post * _smooth((0.9 * pr.ra[j] - rho) / 10.0) * _smooth(
                (26.0 - hq) / 5.0) * _smooth((hq + CLEFT_INSET_NM) / 3.0)
            sub -= (58.0 * psd).astype(np.float32)
        view[idx] = sub
    if clouds:
        vox = np.argwhere(cloud_of >= 0)
        _vesicles(img, vox, np.array(clouds)[cloud_of[tuple(vox.T)]], xs, ys, zs, seed,
                  SIGMA0 / sigma)


def _vesicles(img, vox: np.ndarray, cloud: np.ndarray, xs, ys, zs, seed: int,
              fine: float) -> None:
    """40-nm dark-rimmed vesicles on an absolute jittered lattice, dense near cloud centres.

    ``vox``: grid indices of the voxels in a cloud; ``cloud``: (centre x, y, z, radius) of
    the cloud each belongs to.
    """
    p = np.stack([xs[vox[:, 0]], ys[vox[:, 1]], zs[vox[:, 2]]], axis=1)
    # a lattice turned in the section plane, so no row of vesicles lines up with the axes
    c_, s_ = np.cos(0.61), np.sin(0.61)
    p = np.stack([c_ * p[:, 0] - s_ * p[:, 1], s_ * p[:, 0] + c_ * p[:, 1], p[:, 2]], axis=1)
    cloud = cloud.copy()
    cloud[:, :2] = np.stack([c_ * cloud[:, 0] - s_ * cloud[:, 1],
                             s_ * cloud[:, 0] + c_ * cloud[:, 1]], axis=1)
    sp = 44.0
    base = np.floor(p / sp - 0.5).astype(np.int64)
    rim = np.zeros(len(p))
    core = np.zeros(len(p))
    if not len(p):
        return
    # a lattice cell holds some 25 voxels: its hash and centre are computed once per cell
    lo = base.min(axis=0)
    span = base.max(axis=0) - lo + 2
    cell_key = ((base[:, 0] - lo[0]) * span[1] + (base[:, 1] - lo[1])) * span[2] + (base[:, 2] - lo[2])
    _, one_voxel, of_voxel = np.unique(cell_key, return_index=True, return_inverse=True)
    first = base[one_voxel]  # the base cell of each distinct key
    # centres stay in the middle half of their cell: only the 2 x 2 x 2 nearest cells reach
    for o in np.array(np.meshgrid([0, 1], [0, 1], [0, 1])).T.reshape(-1, 3):
        c = first + o
        h = uniforms4(seed, 60, c[:, 0], c[:, 1], c[:, 2])
        ctr = ((c + 0.25 + 0.5 * np.stack(h[:3], axis=1)) * sp)[of_voxel]
        dens = np.exp(-(_norm3(ctr - cloud[:, :3]) / cloud[:, 3]) ** 2)
        alive = h[3][of_voxel] < dens
        d = _norm3(p - ctr)
        rim = np.maximum(rim, alive * _g((d - 17.0) / 4.0))
        core = np.maximum(core, alive * (d < 13.0))
    img[vox[:, 0], vox[:, 1], vox[:, 2]] += fine * (10.0 * core - 85.0 * rim).astype(np.float32)


def draw_filler_mitochondria(img, fill_b, per_filler, X, Y, iz, seed: int, sigma: float) -> None:
    """Mitochondria filling some filler profiles (dark, with cristae, their own membrane).

    ``per_filler(salt)``: the uniform hash (salt) of every sample's filler profile."""
    has = (per_filler(33) < 0.09) & (fill_b > 20.0)
    if not has.any():
        return
    theta = np.float32(np.pi) * per_filler(34)
    wob = value_noise2d(seed, 35, X, Y, iz, 60.0)
    along = X * np.cos(theta) + Y * np.sin(theta)
    cristae = 0.5 + 0.5 * np.cos(2 * np.pi * (along / 50.0 + 0.4 * wob))
    dist = fill_b - np.float32(28.0)
    body = _smooth(dist / 3.0)
    val = 130.0 - 34.0 * cristae * _smooth((dist - 14.0) / 4.0)
    new = img * (1 - body) + val * body - 70.0 * _line(dist, sigma)
    img[has] = new[has].astype(np.float32)
