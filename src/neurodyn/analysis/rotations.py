"""Rotational planes of population dynamics: jPCA, eigen-planes of a linearisation, and the
principal angles between the two.

* :func:`jpca` — Churchland, Cunningham, Kaufman, Foster, Nuyujukian, Ryu & Shenoy 2012 (Nature 487,
  "Neural population dynamics during reaching"): project condition-averaged trajectories on their
  top k principal components (after removing the cross-condition mean at each time), then fit the
  derivative with a skew-symmetric matrix, Ẋ ≈ X M with M = −Mᵀ. M's eigenvalues are ±iω pairs;
  each pair's complex eigenvector spans a plane in which the data rotate at ω/(2π) Hz.
* :func:`eigen_planes` — the invariant plane span(Re r, Im r) of each complex eigenvalue pair of a
  discrete-time Jacobian (e.g. a JSLDS's J_h at an expansion point, Smith, Linderman & Sussillo 2021,
  NeurIPS, Fig. 4E and supplement A.5.2), with its frequency arg λ/(2π Δt) and decay
  τ = −Δt / ln|λ|.
* :func:`plane_angles` — principal angles between every pair of planes
  (``scipy.linalg.subspace_angles``); :func:`match_planes` pairs each plane of one set with the
  closest of the other. Two random planes in n dimensions sit near 90° for large n, so small
  angles mean the data rotate in the planes the linearisation predicts.

Arrays in, arrays out; planes are (P, n, 2) orthonormal bases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import subspace_angles

from neurodyn.errors import ConfigError


@dataclass
class JPCAResult:
    """jPCA of condition-averaged trajectories.

    components: (n, k) orthonormal top principal components of the centred trajectories;
    explained_variance_ratio: (k,); mean: (T, n) the cross-condition mean removed at each time;
    projections: (C, T, k) the centred trajectories on the components;
    skew: (k, k) the fitted M = −Mᵀ (per second) with Ẋ ≈ X M (row vectors);
    r2_skew / r2_unconstrained: fraction of ‖Ẋ‖² explained by the skew-symmetric and by the
    unconstrained least-squares fits (the ratio says how rotational the dynamics are);
    planes: (P, n, 2) orthonormal bases in the original space, one per ±iω pair (P = k // 2),
    fastest first; frequencies_hz: (P,) ω / 2π; plane_variance: (P,) fraction of the projected
    variance in each plane.
    """

    components: np.ndarray
    explained_variance_ratio: np.ndarray
    mean: np.ndarray
    projections: np.ndarray
    skew: np.ndarray
    r2_skew: float
    r2_unconstrained: float
    planes: np.ndarray
    frequencies_hz: np.ndarray
    plane_variance: np.ndarray


def _skew_fit(x: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """argmin over M = −Mᵀ of ‖dx − x M‖_F; x, dx (N, k) → M (k, k).

    M = Σ_{i<j} m_ij (E_ij − E_ji); column c of x M gets x[:, i] m_ij when c = j and −x[:, j] m_ij
    when c = i, so the k(k−1)/2 coefficients solve one linear least-squares problem.
    """
    n_rows, k = x.shape
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    design = np.zeros((k, n_rows, len(pairs)))
    for p, (i, j) in enumerate(pairs):
        design[j, :, p] = x[:, i]
        design[i, :, p] = -x[:, j]
    coef = np.linalg.lstsq(design.reshape(k * n_rows, -1), dx.T.reshape(-1), rcond=None)[0]
    m = np.zeros((k, k))
    for p, (i, j) in enumerate(pairs):
        m[i, j], m[j, i] = coef[p], -coef[p]
    return m


def _plane_basis(vector: np.ndarray) -> np.ndarray:
    """Orthonormal (n, 2) basis of span(Re v, Im v) for a complex vector v (n,)."""
    q, _ = np.linalg.qr(np.stack([vector.real, vector.imag], axis=1))
    return q


def jpca(trajectories: np.ndarray, dt: float, *, n_components: int = 6) -> JPCAResult:
    """jPCA (Churchland et al. 2012) of condition-averaged trajectories.

    trajectories: (C, T, n) — C ≥ 2 conditions, T ≥ 3 time steps of an n-dimensional state (firing
    rates, factors or latent states); dt: the time step in seconds; n_components: k, even, the
    principal components the rotation is fitted in (the paper's 6 gives 3 planes).

    The cross-condition mean at each time is removed first (it carries the condition-independent
    signal, not the rotations). The derivative is the forward difference (X_{t+1} − X_t)/dt,
    regressed on the midpoint (X_t + X_{t+1})/2: for an exact rotation e^{M dt} the fitted
    frequency is then (2/dt)·tan(ω dt/2), within (ω dt)²/12 of ω.
    """
    x = np.asarray(trajectories, dtype=np.float64)
    if x.ndim != 3:
        raise ConfigError("trajectories", f"expected (conditions, time, dims), got shape {x.shape}")
    n_cond, n_time, n_dim = x.shape
    if n_cond < 2 or n_time < 3:
        raise ConfigError("trajectories", f"jPCA needs ≥ 2 conditions and ≥ 3 time steps, got {n_cond} and {n_time}")
    if not np.isfinite(x).all():
        raise ConfigError("trajectories", "contain NaN or infinite values")
    if not (isinstance(n_components, int) and n_components >= 2 and n_components % 2 == 0):
        raise ConfigError("n_components", f"must be an even integer ≥ 2, got {n_components!r}")
    if n_components > min(n_dim, n_cond * n_time):
        raise ConfigError(
            "n_components", f"{n_components} exceeds the data's rank bound min(dims {n_dim}, samples {n_cond * n_time})"
        )
    if not (np.isfinite(dt) and dt > 0):
        raise ConfigError("dt", f"must be a positive number of seconds, got {dt!r}")
    mean = x.mean(axis=0)
    centred = x - mean
    flat = centred.reshape(-1, n_dim)
    _, s, vt = np.linalg.svd(flat, full_matrices=False)
    components = vt[:n_components].T
    var = s**2
    explained = var[:n_components] / var.sum() if var.sum() > 0 else np.zeros(n_components)
    proj = centred @ components  # (C, T, k)
    dx = (np.diff(proj, axis=1) / dt).reshape(-1, n_components)
    mid = (0.5 * (proj[:, 1:] + proj[:, :-1])).reshape(-1, n_components)
    skew = _skew_fit(mid, dx)
    full = np.linalg.lstsq(mid, dx, rcond=None)[0]
    total = float((dx**2).sum())

    def r2(m: np.ndarray) -> float:
        return 1.0 - float(((dx - mid @ m) ** 2).sum()) / total if total > 0 else float("nan")

    # M acts on row vectors (ẋ = x M), i.e. on columns as Mᵀ = −M: same planes, ω signs flipped
    eigvals, eigvecs = np.linalg.eig(skew.T)
    positive = np.flatnonzero(eigvals.imag > 0)
    order = positive[np.argsort(-eigvals.imag[positive], kind="stable")]
    planes_pc = [_plane_basis(eigvecs[:, i]) for i in order]
    planes = np.stack([components @ p for p in planes_pc]) if planes_pc else np.zeros((0, n_dim, 2))
    proj_var = float((proj**2).sum())
    plane_var = np.array([float(((proj @ p) ** 2).sum()) / proj_var if proj_var > 0 else np.nan for p in planes_pc])
    return JPCAResult(
        components=components,
        explained_variance_ratio=explained,
        mean=mean,
        projections=proj,
        skew=skew,
        r2_skew=r2(skew),
        r2_unconstrained=r2(full),
        planes=planes,
        frequencies_hz=eigvals.imag[order] / (2 * np.pi),
        plane_variance=plane_var,
    )


@dataclass
class EigenPlanes:
    """Invariant planes of a discrete-time linear map's complex eigenvalue pairs.

    planes: (P, n, 2) orthonormal bases, largest |λ| first; eigenvalues: (P,) complex, Im λ > 0;
    frequencies_hz: (P,) arg λ / (2π Δt); decay_s: (P,) τ = −Δt / ln|λ| (negative: a growing mode;
    inf: |λ| = 1).
    """

    planes: np.ndarray
    eigenvalues: np.ndarray
    frequencies_hz: np.ndarray
    decay_s: np.ndarray


def eigen_planes(
    eigenvalues: np.ndarray,
    right_eigenvectors: np.ndarray,
    dt: float,
    *,
    max_planes: int | None = None,
    imag_tol: float = 1e-9,
) -> EigenPlanes:
    """Planes span(Re r, Im r) of the complex eigenvalue pairs of a discrete-time Jacobian.

    eigenvalues: (n,) complex; right_eigenvectors: (n, n) complex, column i for eigenvalue i; dt: the
    map's time step in seconds. One plane per pair (the member with Im λ > ``imag_tol``), sorted by
    |λ| descending (the slowest-decaying rotations first), at most ``max_planes``.
    """
    lam = np.asarray(eigenvalues, dtype=np.complex128).reshape(-1)
    vecs = np.asarray(right_eigenvectors, dtype=np.complex128)
    if vecs.ndim != 2 or vecs.shape[1] != lam.size:
        raise ConfigError("right_eigenvectors", f"expected (n, {lam.size}) columns, got shape {vecs.shape}")
    if not (np.isfinite(dt) and dt > 0):
        raise ConfigError("dt", f"must be a positive number of seconds, got {dt!r}")
    pick = np.flatnonzero(lam.imag > imag_tol)
    pick = pick[np.argsort(-np.abs(lam[pick]), kind="stable")][:max_planes]
    planes = np.stack([_plane_basis(vecs[:, i]) for i in pick]) if pick.size else np.zeros((0, vecs.shape[0], 2))
    chosen = lam[pick]
    log_mod = np.log(np.abs(chosen))
    with np.errstate(divide="ignore"):
        decay = np.where(log_mod == 0, np.inf, -dt / log_mod)
    return EigenPlanes(
        planes=planes, eigenvalues=chosen, frequencies_hz=np.angle(chosen) / (2 * np.pi * dt), decay_s=decay
    )


def plane_angles(planes_a: np.ndarray, planes_b: np.ndarray) -> np.ndarray:
    """Principal angles in degrees between every plane of ``planes_a`` (A, n, 2) and of ``planes_b``
    (B, n, 2): (A, B, 2), the larger angle first (``scipy.linalg.subspace_angles`` order)."""
    a, b = np.asarray(planes_a, dtype=np.float64), np.asarray(planes_b, dtype=np.float64)
    if a.ndim != 3 or b.ndim != 3 or a.shape[1] != b.shape[1]:
        raise ConfigError("planes", f"expected (P, n, d) bases in the same n, got {a.shape} and {b.shape}")
    out = np.zeros((a.shape[0], b.shape[0], min(a.shape[2], b.shape[2])))
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = np.degrees(subspace_angles(a[i], b[j]))
    return out


def match_planes(angles: np.ndarray) -> np.ndarray:
    """For each plane of the first set, the index of the second set's plane with the smallest mean
    principal angle; angles (A, B, d) from :func:`plane_angles` → (A,) (−1 where B is empty)."""
    angles = np.asarray(angles, dtype=np.float64)
    if angles.shape[1] == 0:
        return np.full(angles.shape[0], -1)
    return np.argmin(angles.mean(axis=-1), axis=1)


__all__ = ["EigenPlanes", "JPCAResult", "eigen_planes", "jpca", "match_planes", "plane_angles"]
