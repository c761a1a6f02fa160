"""Exact fixed points and k-cycles of piecewise-linear RNNs (PLRNNs), and their continuous-time form.

The map (Koppe et al. 2019, PLOS Comput Biol 15(8):e1007263; Schmidt et al. 2021, ICLR,
"Identifying nonlinear dynamical systems with multiple time scales and long-range dependencies",
Eq. 1 without noise; a constant input C s is folded into h) is

    F(z) = A z + W max(0, z) + h,    z ∈ R^M,  A diagonal (given as a (M,) vector a),  W (M, M).

A sign pattern d ∈ {0, 1}^M (dᵢ = 1 iff zᵢ > 0) selects a region; there F is affine,
F(z) = J_d z + h with J_d = A + W D_d, D_d = diag(d) (Schmidt et al. Suppl. Eq. 9). So

* a fixed point of region d solves (I − J_d) z = h (Schmidt et al. sect. 3.1) and is kept iff z lies
  in region d; its stability is that of J_d (all |λ| < 1);
* a k-cycle visiting regions d₁, …, d_k is a fixed point of the affine map
  F^k(z) = P z + c with P = J_{d_k} ⋯ J_{d_1}, c = Σ_t J_{d_k} ⋯ J_{d_{t+1}} h (sect. 3.1: "fixed points
  of the r-times iterated map"); it is kept iff each iterate lies in its region and the orbit has
  minimal period k; its stability is that of P.

Search. *Exhaustive*: every pattern (2^M) or every pattern sequence (2^{M k}) is one batched
``torch.linalg.solve`` (float64, streamed in chunks so memory stays bounded). For k > 1 only one
rotation of each sequence is solved (the one whose integer code is smallest: a necklace), since a
rotated sequence gives the same cycle started elsewhere; this is exact because the set of sequences
consistent with a cycle is closed under rotation. *Heuristic* (large M): the region iteration of
SCYFI (Eisenmann et al. 2023, NeurIPS, "Bifurcations and loss jumps in RNN training", Algorithm 1):
draw a random pattern (sequence), solve its system, replace the pattern by the one the solution(s)
actually lie in, and repeat until it is self-consistent; a chain is abandoned when its system is
singular, when it revisits a recent pattern (a cycle of patterns never converges) or after
``max_iters`` steps. The ``n_restarts`` random starts run as one batch. It finds a subset of the exact set (every point it
returns is exact and consistent), not a guarantee of completeness.

Singular systems (det(I − J) ≈ 0, e.g. the line attractor of Schmidt et al. Suppl. 7.1.1) are never
solved: they are counted, and those that are consistent (the affine map has an affine subspace of
fixed points, which may or may not meet the region) are listed by region label. Points closer than
``tol`` (relative) to a region boundary are found by each adjacent region: they are flagged
``on_boundary``, reported once, with the Jacobian of the region their signs select (zᵢ > tol → 1).

Continuous time (Schmidt et al. Suppl. 7.1.2, Eqs. 9–20): within one region the ODE
ζ̇ = W̃ ζ + h̃ whose flow over Δt equals F has W̃ = V log(Λ)/Δt V⁻¹ (Eq. 19, from J = V Λ V⁻¹) and,
from G(z*) = 0 at z* = (I − J)⁻¹ h, h̃ = −W̃ (I − J)⁻¹ h (Eq. 20). Eq. 20 needs I − J invertible; the
flow condition itself, ζ(Δt) = J ζ₀ + (∫₀^Δt e^{W̃ s} ds) h̃ = J ζ₀ + h, gives
h̃ = V diag(log λ / (Δt (λ − 1))) V⁻¹ h, which equals Eq. 20 when it exists and stays finite for λ = 1
(limit 1/Δt), so that form is used. It requires J diagonalisable with no zero and no negative real
eigenvalue (otherwise no real logarithm of this form); :func:`continuous_time_region` says why not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from neurodyn.analysis.fixed_points.point import FixedPoint
from neurodyn.errors import ConfigError

METHODS = ("auto", "exhaustive", "heuristic")

_ELEMENTS_PER_CHUNK = 1 << 21  # float64 entries of one (chunk, M, M) batch: 16 MiB per tensor
_MAX_EXHAUSTIVE_BITS = 40  # 2^40 systems is already beyond any budget; codes must also fit in int64


# --- parameters ---------------------------------------------------------------------------------


def _as_tensor(x: Any, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach(), dtype=torch.float64).to(
        device
    )


def plrnn_parameters(
    A: Any, W: Any, h: Any, device: str | torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validated float64 tensors (a (M,), W (M, M), h (M,)) on ``device``.

    A: (M,) diagonal entries or an (M, M) diagonal matrix; W: (M, M); h: (M,) (numpy or torch).
    Raises :class:`ConfigError` on wrong shapes, non-finite values or a non-diagonal A.
    """
    if device is None:
        device = W.device if isinstance(W, torch.Tensor) else torch.device("cpu")
    device = torch.device(device)
    W_t, h_t, A_t = _as_tensor(W, device), _as_tensor(h, device), _as_tensor(A, device)
    if W_t.ndim != 2 or W_t.shape[0] != W_t.shape[1] or W_t.shape[0] < 1:
        raise ConfigError("W", f"must be a square (M, M) matrix, got shape {tuple(W_t.shape)}")
    M = W_t.shape[0]
    if h_t.shape != (M,):
        raise ConfigError("h", f"must be (M,) = ({M},), got shape {tuple(h_t.shape)}")
    if A_t.shape == (M, M):
        if torch.any(A_t - torch.diag(torch.diagonal(A_t)) != 0):
            raise ConfigError("A", "an (M, M) A must be diagonal (PLRNN: A diagonal, W the coupling)")
        A_t = torch.diagonal(A_t).clone()
    elif A_t.shape != (M,):
        raise ConfigError("A", f"must be (M,) or a diagonal (M, M) = ({M}, {M}), got shape {tuple(A_t.shape)}")
    for name, t in (("A", A_t), ("W", W_t), ("h", h_t)):
        if not torch.all(torch.isfinite(t)):
            raise ConfigError(name, "contains NaN or infinite values")
    return A_t, W_t, h_t


def plrnn_map(A: Any, W: Any, h: Any, z: torch.Tensor) -> torch.Tensor:
    """F(z) = A z + W max(0, z) + h for z (..., M) → (..., M) (Schmidt et al. 2021, Eq. 1)."""
    a, W_t, h_t = plrnn_parameters(A, W, h, z.device)
    z = z.to(torch.float64)
    return a * z + torch.relu(z) @ W_t.T + h_t


def region_label(d: np.ndarray | torch.Tensor) -> str:
    """Pattern d (M,) (bool or 0/1) → ``"0110…"`` (character i is unit i)."""
    return "".join("1" if x else "0" for x in np.asarray(torch.as_tensor(d).cpu()).astype(bool))


def parse_region(region: str | np.ndarray | torch.Tensor, M: int) -> torch.Tensor:
    """A region given as ``"0110…"`` or a (M,) 0/1 / bool array → (M,) bool tensor."""
    if isinstance(region, str):
        if len(region) != M or set(region) - {"0", "1"}:
            raise ConfigError("region", f"must be {M} characters of 0/1, got {region!r}")
        return torch.tensor([c == "1" for c in region])
    d = torch.as_tensor(np.asarray(region) if not isinstance(region, torch.Tensor) else region)
    if d.shape != (M,):
        raise ConfigError("region", f"must have shape ({M},), got {tuple(d.shape)}")
    return d.cpu().to(torch.bool)


def region_jacobian(a: torch.Tensor, W: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """J_d = A + W D_d (Schmidt et al. Suppl. Eq. 9). a (M,), W (M, M), d (..., M) bool → (..., M, M)."""
    return torch.diag_embed(a.expand(d.shape)) + W * d.to(W.dtype).unsqueeze(-2)


# --- batched solves of pattern sequences ----------------------------------------------------------


@dataclass
class _Solved:
    """Solutions of a batch of B pattern sequences of length k.

    points: (B, k, M) the orbit z₁ … z_k (zeros where singular); singular: (B,); consistent: (B,)
    not singular, every point in its region and minimal period k; boundary: (B,) some coordinate
    within tolerance of 0; singular_consistent: (B,) singular but (I − P) z = c solvable.
    """

    points: torch.Tensor
    singular: torch.Tensor
    consistent: torch.Tensor
    boundary: torch.Tensor
    singular_consistent: torch.Tensor


def _singular(L: torch.Tensor, rtol: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(singular (B,): σ_min(L) ≤ rtol · max(1, σ_max(L)), LU, pivots) for L (B, M, M).

    SVDs cost ~8 solves, so only rows whose partial-pivoting LU has a small pivot ratio (how
    near-singularity shows up in practice; the screen is 10⁶ times looser than rtol) get one.
    """
    LU, pivots, info = torch.linalg.lu_factor_ex(L)
    piv = torch.diagonal(LU, dim1=-2, dim2=-1).abs()
    suspect = (info != 0) | ~torch.isfinite(piv).all(-1) | (piv.amin(-1) <= 1e6 * rtol * piv.amax(-1).clamp_min(1.0))
    singular = torch.zeros(L.shape[0], dtype=torch.bool, device=L.device)
    if bool(suspect.any()):
        rows = suspect.nonzero().squeeze(-1)
        sv = torch.linalg.svdvals(L[rows])
        singular[rows] = sv[:, -1] <= rtol * sv[:, 0].clamp_min(1.0)
    return singular, LU, pivots


def _solve_sequences(
    a: torch.Tensor, W: torch.Tensor, h: torch.Tensor, seqs: torch.Tensor, tol: float, singular_rtol: float
) -> _Solved:
    """Solve F^k(z) = z restricted to the pattern sequences ``seqs`` (B, k, M) bool, batched."""
    B, k, M = seqs.shape
    eye = torch.eye(M, dtype=W.dtype, device=W.device)
    P, c = region_jacobian(a, W, seqs[:, 0]), h.expand(B, M)
    for t in range(1, k):
        # J X = a ⊙ X + W (d ⊙ X): no J_t is built, the product costs one batched matmul per step.
        d = seqs[:, t].to(W.dtype).unsqueeze(-1)
        P = a.unsqueeze(-1) * P + W @ (d * P)
        c = a * c + ((d.squeeze(-1) * c) @ W.T) + h
    L = eye - P
    singular, LU, pivots = _singular(L, singular_rtol)
    z1 = torch.linalg.lu_solve(LU, pivots, c.unsqueeze(-1)).squeeze(-1)
    singular = singular | ~torch.isfinite(z1).all(-1)
    z1 = torch.where(singular[:, None], 0.0, z1)
    points = [z1]
    for t in range(k - 1):
        z = points[-1]
        points.append(a * z + (seqs[:, t].to(W.dtype) * z) @ W.T + h)
    pts = torch.stack(points, 1)
    scale = 1.0 + pts.abs().amax((1, 2), keepdim=True)
    tol_s = tol * scale
    outside = torch.where(seqs, pts < -tol_s, pts > tol_s).any((1, 2))
    boundary = (pts.abs() <= tol_s).any((1, 2))
    consistent = ~singular & ~outside
    for p in range(1, k):
        if k % p == 0:  # an orbit of period p < k also solves F^k = id; it is not a k-cycle
            repeat = (pts[:, p] - pts[:, 0]).abs().amax(-1) <= tol_s[:, 0, 0]
            consistent &= ~repeat
    singular_consistent = torch.zeros_like(singular)
    if bool(singular.any()):
        rows = singular.nonzero().squeeze(-1)
        zs = (torch.linalg.pinv(L[rows]) @ c[rows].unsqueeze(-1)).squeeze(-1)
        res = (L[rows] @ zs.unsqueeze(-1)).squeeze(-1) - c[rows]
        ok = res.abs().amax(-1) <= 1e-8 * (1.0 + c[rows].abs().amax(-1))
        singular_consistent[rows] = ok
    return _Solved(pts, singular, consistent, boundary, singular_consistent)


def _codes_to_sequences(codes: torch.Tensor, k: int, M: int) -> torch.Tensor:
    """Integer codes (B,) → pattern sequences (B, k, M) bool; bit t·M + i is unit i at step t."""
    bits = torch.arange(k * M, device=codes.device)
    return ((codes.unsqueeze(-1) >> bits) & 1).bool().reshape(-1, k, M)


def _is_necklace(codes: torch.Tensor, k: int, M: int) -> torch.Tensor:
    """(B,) True where the code is the smallest of its k cyclic rotations (by M bits)."""
    keep = torch.ones_like(codes, dtype=torch.bool)
    mask = (1 << (k * M)) - 1
    for r in range(1, k):
        rotated = ((codes >> (r * M)) | (codes << ((k - r) * M))) & mask
        keep &= codes <= rotated
    return keep


@dataclass
class _Candidates:
    """Consistent solutions gathered by a search, before deduplication (numpy, on the CPU)."""

    points: list[np.ndarray] = field(default_factory=list)  # (n, k, M) blocks
    seqs: list[np.ndarray] = field(default_factory=list)  # (n, k, M) bool blocks
    boundary: list[np.ndarray] = field(default_factory=list)  # (n,) blocks
    singular_consistent: dict[bytes, np.ndarray] = field(default_factory=dict)  # unique (k, M) sequences
    n_solves: int = 0
    n_singular: int = 0

    def add(self, seqs: torch.Tensor, sol: _Solved) -> None:
        self.n_solves += int(seqs.shape[0])
        self.n_singular += int(sol.singular.sum())
        ok = sol.consistent
        if bool(ok.any()):
            self.points.append(sol.points[ok].cpu().numpy())
            self.seqs.append(seqs[ok].cpu().numpy())
            self.boundary.append(sol.boundary[ok].cpu().numpy())
        for s in seqs[sol.singular_consistent].cpu().numpy():
            self.singular_consistent.setdefault(s.tobytes(), s)


def _continuum_point(a: np.ndarray, W: np.ndarray, h: np.ndarray, seq: np.ndarray, tol: float) -> np.ndarray | None:
    """A start z₁ of a singular but consistent sequence's solution set whose orbit stays in the regions.

    The solutions of (I − P) z = c form an affine subspace (a continuum of k-periodic points of the
    affine map, e.g. a line attractor); whether it meets the closed regions d₁ … d_k is a linear
    feasibility problem: z_t = M_t z₁ + m_t with (M_t, m_t) the affine map of the first t − 1 steps,
    and (M_t z₁ + m_t)ᵢ ≥ 0 where d_{t,i} = 1, ≤ 0 where 0. seq: (k, M) bool → z₁ (M,) or None.
    """
    from scipy.optimize import linprog

    M = len(a)
    Mt, mt = np.eye(M), np.zeros(M)
    rows, rhs = [], []
    for d in seq:
        sign = np.where(d, -1.0, 1.0)
        rows.append(sign[:, None] * Mt)
        rhs.append(-sign * mt + tol * (1.0 + np.abs(mt)))
        J = np.diag(a) + W * d.astype(float)[None, :]
        Mt, mt = J @ Mt, J @ mt + h
    res = linprog(
        np.zeros(M),
        A_ub=np.vstack(rows),
        b_ub=np.concatenate(rhs),
        A_eq=np.eye(M) - Mt,
        b_eq=mt,
        bounds=[(None, None)] * M,
        method="highs",
    )
    return res.x if res.status == 0 else None


def _continua(
    found: _Candidates, a: torch.Tensor, W: torch.Tensor, h: torch.Tensor, tol: float, max_checks: int
) -> tuple[list[str], list[np.ndarray], int]:
    """(labels, one start point each, number left unchecked) of the singular consistent sequences
    whose solution sets meet their regions; at most ``max_checks`` linear programs are run."""
    a_np, W_np, h_np = a.cpu().numpy(), W.cpu().numpy(), h.cpu().numpy()
    labels, points = [], []
    seqs = sorted(found.singular_consistent.values(), key=lambda s: s.tobytes())
    for seq in seqs[:max_checks]:
        z = _continuum_point(a_np, W_np, h_np, seq, max(tol, 1e-9))
        if z is not None:
            labels.append(",".join(region_label(d) for d in seq))
            points.append(z)
    return labels, points, max(0, len(seqs) - max_checks)


def _exhaustive(
    a: torch.Tensor,
    W: torch.Tensor,
    h: torch.Tensor,
    k: int,
    *,
    tol: float,
    singular_rtol: float,
    chunk_size: int | None,
) -> _Candidates:
    """Every pattern sequence of length k (one rotation each), in chunks of (chunk, M, M) systems."""
    M = a.numel()
    total = 1 << (M * k)
    chunk = chunk_size or max(1, _ELEMENTS_PER_CHUNK // (M * M))
    found = _Candidates()
    for start in range(0, total, chunk):
        codes = torch.arange(start, min(start + chunk, total), device=W.device, dtype=torch.int64)
        if k > 1:
            codes = codes[_is_necklace(codes, k, M)]
        if not codes.numel():
            continue
        seqs = _codes_to_sequences(codes, k, M)
        found.add(seqs, _solve_sequences(a, W, h, seqs, tol, singular_rtol))
    return found


def _heuristic(
    a: torch.Tensor,
    W: torch.Tensor,
    h: torch.Tensor,
    k: int,
    *,
    n_restarts: int,
    max_iters: int,
    seed: int,
    tol: float,
    singular_rtol: float,
    history: int = 8,
) -> _Candidates:
    """SCYFI-style region iteration (Eisenmann et al. 2023, Algorithm 1) on F^k, all chains batched.

    Each of the n_restarts chains starts from its own random pattern sequence and ends when it is
    self-consistent, its system is singular, it revisits one of its last ``history`` sequences (a
    cycle of patterns: it would never converge), or after max_iters solves.
    """
    M = a.numel()
    gen = torch.Generator().manual_seed(seed)
    seqs = (torch.rand((n_restarts, k, M), generator=gen) < 0.5).to(W.device)
    past = seqs.unsqueeze(1)  # (B, ≤ history, k, M)
    found = _Candidates()
    for _ in range(max_iters):
        if not seqs.shape[0]:
            break
        sol = _solve_sequences(a, W, h, seqs, tol, singular_rtol)
        found.add(seqs, sol)
        nxt = sol.points > 0
        # Self-consistent sequences (cycles, or lower-order orbits F^k also fixes) have nxt == seqs.
        revisit = (nxt.unsqueeze(1) == past).all(-1).all(-1).any(-1)
        keep = ~(sol.consistent | sol.singular | revisit)
        seqs = nxt[keep]
        past = torch.cat([past[keep], seqs.unsqueeze(1)], 1)[:, -history:]
    return found


# --- deduplication ------------------------------------------------------------------------------


def _canonical_rotation(seq: np.ndarray) -> int:
    """The rotation r that makes seq (k, M) lexicographically smallest (ties: smallest r)."""
    k = seq.shape[0]
    keys = [np.roll(seq, -r, axis=0).tobytes() for r in range(k)]
    return min(range(k), key=lambda r: keys[r])


def _dedupe(found: _Candidates, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each orbit once: rotated to a canonical start, one per sequence, boundary duplicates merged.

    Returns points (n, k, M), seqs (n, k, M) bool, boundary (n,).
    """
    if not found.points:
        return np.zeros((0, 0, 0)), np.zeros((0, 0, 0), bool), np.zeros(0, bool)
    points, seqs = np.concatenate(found.points), np.concatenate(found.seqs)
    boundary = np.concatenate(found.boundary)
    k = points.shape[1]
    by_key: dict[bytes, int] = {}
    for i in range(len(points)):
        r = _canonical_rotation(seqs[i]) if k > 1 else 0
        if r:
            points[i], seqs[i] = np.roll(points[i], -r, axis=0), np.roll(seqs[i], -r, axis=0)
        by_key.setdefault(seqs[i].tobytes(), i)
    idx = np.array(sorted(by_key.values()))
    points, seqs, boundary = points[idx], seqs[idx], boundary[idx]
    # An orbit inside its regions is solved by exactly one (canonical) sequence; only boundary ones repeat.
    keep = np.ones(len(points), bool)
    b_idx = np.flatnonzero(boundary)
    for n, i in enumerate(b_idx):
        if not keep[i]:
            continue
        scale = tol * (1.0 + np.abs(points[i]).max())
        for j in b_idx[n + 1 :]:
            if not keep[j]:
                continue
            shifts = [r for r in range(k) if np.abs(np.roll(points[j], -r, axis=0) - points[i]).max() <= 10 * scale]
            if not shifts:
                continue
            keep[j] = False
            # Report the member whose patterns are the sign patterns of its own points (z > tol → 1).
            if np.array_equal(seqs[j], points[j] > scale) and not np.array_equal(seqs[i], points[i] > scale):
                points[i], seqs[i] = points[j], seqs[j]
    return points[keep], seqs[keep], boundary[keep]


def _orbit_jacobian(a: np.ndarray, W: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """J_{d_k} ⋯ J_{d_1} for one sequence (k, M) → (M, M)."""
    P = np.eye(len(a))
    for d in seq:
        P = (np.diag(a) + W * d.astype(float)[None, :]) @ P
    return P


def _choose(method: str, n_bits: int, max_bits: int) -> str:
    if method not in METHODS:
        raise ConfigError("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        return "exhaustive" if n_bits <= min(max_bits, _MAX_EXHAUSTIVE_BITS) else "heuristic"
    if method == "exhaustive" and n_bits > _MAX_EXHAUSTIVE_BITS:
        raise ConfigError("method", f"exhaustive search over 2^{n_bits} pattern sequences is infeasible")
    return method


def _residuals(a: np.ndarray, W: np.ndarray, h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """max_t |F(z_t) − z_{t+1 mod k}| per orbit; points (n, k, M) → (n,)."""
    if not len(points):
        return np.zeros(0)
    image = a * points + np.maximum(points, 0) @ W.T + h
    return np.abs(image - np.roll(points, -1, axis=1)).max(axis=(1, 2))


# --- fixed points --------------------------------------------------------------------------------


@dataclass
class PLRNNFixedPoints:
    """Fixed points z* = F(z*) of a PLRNN.

    z: (P, M); jacobians: (P, M, M) J_d of the region; eigenvalues: (P, M) complex (sorted by
    decreasing modulus); stable: (P,) all |λ| < 1; regions: P labels ``"0110…"``; on_boundary: (P,);
    residuals: (P,) max |F(z) − z|; method: ``"exhaustive"`` or ``"heuristic"``; n_linear_solves:
    systems solved; n_singular: singular systems skipped; singular_regions: labels of those whose
    solution set (a continuum of fixed points of the region's affine map, e.g. a line attractor)
    meets the region, singular_points: (S, M) one such fixed point each; n_singular_unchecked:
    consistent singular systems beyond ``max_singular_checks`` that were not checked.
    """

    z: np.ndarray
    jacobians: np.ndarray
    eigenvalues: np.ndarray
    stable: np.ndarray
    regions: list[str]
    on_boundary: np.ndarray
    residuals: np.ndarray
    method: str
    n_linear_solves: int
    n_singular: int
    singular_regions: list[str]
    singular_points: np.ndarray
    n_singular_unchecked: int
    seconds: float

    def __len__(self) -> int:
        return int(self.z.shape[0])


def _eigs(mats: np.ndarray) -> np.ndarray:
    """Eigenvalues (n, M, M) → (n, M) complex, each row by decreasing modulus."""
    if not len(mats):
        return np.zeros((0, mats.shape[-1] if mats.ndim == 3 else 0), complex)
    eig = np.linalg.eigvals(mats)
    order = np.argsort(-np.abs(eig), axis=1, kind="stable")
    return np.take_along_axis(eig, order, axis=1)


def plrnn_fixed_points(
    A: Any,
    W: Any,
    h: Any,
    *,
    method: str = "auto",
    max_exhaustive_units: int = 16,
    n_restarts: int = 1024,
    max_iters: int = 100,
    seed: int = 0,
    device: str | torch.device | None = None,
    tol: float = 1e-9,
    singular_rtol: float = 1e-11,
    chunk_size: int | None = None,
    max_singular_checks: int = 1000,
) -> PLRNNFixedPoints:
    """Every fixed point of F(z) = A z + W max(0, z) + h (exhaustive), or those SCYFI finds (heuristic).

    A: (M,) or diagonal (M, M); W: (M, M); h: (M,) (fold a constant input in: h + C s).
    method: ``auto`` (exhaustive over 2^M patterns when M ≤ max_exhaustive_units, else heuristic),
    ``exhaustive`` or ``heuristic`` (n_restarts batched chains of at most max_iters region
    iterations, seeded by ``seed``). tol: relative tolerance of region membership; singular_rtol:
    σ_min/σ_max of I − J below which a system counts as singular. chunk_size: systems per batch
    (default: about 2^21 / M² so a batch stays near 16 MiB). max_singular_checks: at most this many
    singular but consistent regions get a linear program deciding whether their continuum of fixed
    points meets the region. See the module docstring.
    """
    t0 = time.perf_counter()
    a, W_t, h_t = plrnn_parameters(A, W, h, device)
    M = a.numel()
    chosen = _choose(method, M, max_exhaustive_units)
    if chosen == "exhaustive":
        found = _exhaustive(a, W_t, h_t, 1, tol=tol, singular_rtol=singular_rtol, chunk_size=chunk_size)
    else:
        found = _heuristic(
            a, W_t, h_t, 1, n_restarts=n_restarts, max_iters=max_iters, seed=seed, tol=tol, singular_rtol=singular_rtol
        )
    points, seqs, boundary = _dedupe(found, tol)
    a_np, W_np, h_np = a.cpu().numpy(), W_t.cpu().numpy(), h_t.cpu().numpy()
    if len(points):
        z, d = points[:, 0], seqs[:, 0]
        order = np.lexsort(z.T[::-1])
        z, d, boundary = z[order], d[order], boundary[order]
        jac = np.stack([np.diag(a_np) + W_np * di.astype(float)[None, :] for di in d])
    else:
        z, d, jac = np.zeros((0, M)), np.zeros((0, M), bool), np.zeros((0, M, M))
    eig = _eigs(jac)
    labels, continua, unchecked = _continua(found, a, W_t, h_t, tol, max_singular_checks)
    return PLRNNFixedPoints(
        z=z,
        jacobians=jac,
        eigenvalues=eig,
        stable=np.abs(eig).max(axis=1) < 1 if len(z) else np.zeros(0, bool),
        regions=[region_label(di) for di in d],
        on_boundary=boundary.astype(bool),
        residuals=_residuals(a_np, W_np, h_np, z[:, None, :]),
        method=chosen,
        n_linear_solves=found.n_solves,
        n_singular=found.n_singular,
        singular_regions=labels,
        singular_points=np.array(continua).reshape(-1, M),
        n_singular_unchecked=unchecked,
        seconds=time.perf_counter() - t0,
    )


def to_fixed_points(result: PLRNNFixedPoints) -> list:
    """The project's :class:`~neurodyn.analysis.fixed_points.FixedPoint` list (region = the 0/1 pattern)."""

    name = f"exact PLRNN ({result.method})"
    return [
        FixedPoint(
            z=result.z[i].copy(),
            jacobian=result.jacobians[i].copy(),
            eigenvalues=result.eigenvalues[i].copy(),
            stable=bool(result.stable[i]),
            method=f"{name}, on a region boundary" if result.on_boundary[i] else name,
            residual=float(result.residuals[i]),
            region=result.regions[i],
        )
        for i in range(len(result))
    ]


# --- cycles --------------------------------------------------------------------------------------


@dataclass
class PLRNNCycle:
    """One k-cycle z₁ → z₂ → … → z_k → z₁ of a PLRNN.

    points: (k, M), started at a canonical rotation; regions: k labels; jacobian: (M, M)
    J_{d_k} ⋯ J_{d_1}; eigenvalues: (M,) complex of it, by decreasing modulus; stable: all |λ| < 1;
    residual: max_t |F(z_t) − z_{t+1}|.
    """

    order: int
    points: np.ndarray
    regions: list[str]
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    stable: bool
    residual: float
    on_boundary: bool
    method: str

    def to_json(self) -> dict[str, Any]:
        return {
            "order": int(self.order),
            "points": self.points.tolist(),
            "stable": bool(self.stable),
            "eigenvalues": [[float(e.real), float(e.imag)] for e in self.eigenvalues],
            "spectral_radius": float(np.abs(self.eigenvalues).max()),
            "regions": list(self.regions),
            "on_boundary": bool(self.on_boundary),
            "residual": float(self.residual),
            "method": self.method,
        }


@dataclass
class PLRNNCycles:
    """All k-cycles found for k = 2..max_order: cycles (by order, then first point); methods,
    n_linear_solves and n_singular per order; singular_sequences: ``"d₁,…,d_k"`` labels of singular
    sequences whose continuum of k-periodic points of F^k (which may hold fixed points or
    lower-order orbits) meets the regions; n_singular_unchecked as for fixed points."""

    cycles: list[PLRNNCycle]
    methods: dict[int, str]
    n_linear_solves: dict[int, int]
    n_singular: dict[int, int]
    singular_sequences: list[str]
    n_singular_unchecked: int
    seconds: float

    def __len__(self) -> int:
        return len(self.cycles)

    def of_order(self, k: int) -> list[PLRNNCycle]:
        return [c for c in self.cycles if c.order == k]


def plrnn_cycles(
    A: Any,
    W: Any,
    h: Any,
    max_order: int,
    *,
    method: str = "auto",
    max_exhaustive_bits: int = 16,
    n_restarts: int = 1024,
    max_iters: int = 100,
    seed: int = 0,
    device: str | torch.device | None = None,
    tol: float = 1e-9,
    singular_rtol: float = 1e-11,
    chunk_size: int | None = None,
    max_singular_checks: int = 1000,
) -> PLRNNCycles:
    """k-cycles (minimal period k) of F(z) = A z + W max(0, z) + h for k = 2..max_order.

    For each k: exhaustive over the 2^{M k} pattern sequences (one rotation each) when M·k ≤
    max_exhaustive_bits (``auto``), else the SCYFI-style heuristic on F^k (n_restarts chains, seeded
    by seed + k). Each cycle is returned once, not once per rotation. Arguments as in
    :func:`plrnn_fixed_points`.
    """
    t0 = time.perf_counter()
    a, W_t, h_t = plrnn_parameters(A, W, h, device)
    if int(max_order) != max_order or max_order < 1:
        raise ConfigError("max_order", f"must be a positive integer, got {max_order!r}")
    M = a.numel()
    a_np, W_np, h_np = a.cpu().numpy(), W_t.cpu().numpy(), h_t.cpu().numpy()
    cycles: list[PLRNNCycle] = []
    methods, solves, singular, singular_seqs, unchecked = {}, {}, {}, [], 0
    for k in range(2, int(max_order) + 1):
        chosen = _choose(method, M * k, max_exhaustive_bits)
        if chosen == "exhaustive":
            found = _exhaustive(a, W_t, h_t, k, tol=tol, singular_rtol=singular_rtol, chunk_size=chunk_size)
        else:
            found = _heuristic(
                a,
                W_t,
                h_t,
                k,
                n_restarts=n_restarts,
                max_iters=max_iters,
                seed=seed + k,
                tol=tol,
                singular_rtol=singular_rtol,
            )
        methods[k], solves[k], singular[k] = chosen, found.n_solves, found.n_singular
        labels, _, left = _continua(found, a, W_t, h_t, tol, max_singular_checks)
        singular_seqs.extend(labels)
        unchecked += left
        points, seqs, boundary = _dedupe(found, tol)
        residuals = _residuals(a_np, W_np, h_np, points)
        block = []
        for i in range(len(points)):
            P = _orbit_jacobian(a_np, W_np, seqs[i])
            eig = _eigs(P[None])[0]
            block.append(
                PLRNNCycle(
                    order=k,
                    points=points[i],
                    regions=[region_label(d) for d in seqs[i]],
                    jacobian=P,
                    eigenvalues=eig,
                    stable=bool(np.abs(eig).max() < 1),
                    residual=float(residuals[i]),
                    on_boundary=bool(boundary[i]),
                    method=chosen,
                )
            )
        block.sort(key=lambda c: tuple(c.points[0]))
        cycles.extend(block)
    return PLRNNCycles(
        cycles=cycles,
        methods=methods,
        n_linear_solves=solves,
        n_singular=singular,
        singular_sequences=singular_seqs,
        n_singular_unchecked=unchecked,
        seconds=time.perf_counter() - t0,
    )


# --- continuous time -----------------------------------------------------------------------------


@dataclass
class ContinuousTimeRegion:
    """The ODE ζ̇ = W̃ ζ + h̃ equivalent to F over one step Δt in one region (Schmidt et al. Suppl. 7.1.2).

    region: the 0/1 label; dt: Δt; convertible: whether it exists (else W, h, eigenvalues and
    time_constants are None and ``reason`` says why); W: (M, M) W̃ (Eq. 19); h: (M,) h̃ (Eq. 20);
    eigenvalues: (M,) complex λ̃ = log(λ)/Δt (units 1/Δt's unit), by decreasing Re;
    time_constants: (M,) τ = −1/Re(λ̃) (negative: a growing mode; inf: Re λ̃ = 0).
    """

    region: str
    dt: float
    convertible: bool
    reason: str | None = None
    W: np.ndarray | None = None
    h: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None
    time_constants: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "region": self.region,
            "dt": float(self.dt),
            "convertible": bool(self.convertible),
            "reason": self.reason,
        }
        if self.convertible:
            out["eigenvalues"] = [[float(e.real), float(e.imag)] for e in self.eigenvalues]
            out["time_constants"] = [float(t) if np.isfinite(t) else None for t in self.time_constants]
        return out


def _log_ratio(lam: np.ndarray) -> np.ndarray:
    """log(λ)/(λ − 1), elementwise, with its Taylor series near λ = 1 (limit 1)."""
    x = lam - 1
    near = np.abs(x) < 1e-5
    safe = np.where(near, 2.0, lam)
    return np.where(near, 1 - x / 2 + x * x / 3 - x**3 / 4, np.log(safe) / (safe - 1))


def continuous_time_region(
    A: Any,
    W: Any,
    h: Any,
    region: str | np.ndarray | torch.Tensor,
    dt: float = 1.0,
    *,
    cond_limit: float = 1e10,
    tol: float = 1e-10,
) -> ContinuousTimeRegion:
    """Convert F in one region to ζ̇ = W̃ ζ + h̃ with ζ(Δt) = F(ζ(0)) (Schmidt et al. Suppl. Eqs. 9–20).

    A, W, h as in :func:`plrnn_fixed_points`; region: ``"0110…"`` or a (M,) 0/1 pattern; dt: Δt > 0.
    Not convertible when J = A + W D has a zero or a negative real eigenvalue (no real logarithm
    W̃ of this form) or is not diagonalisable (eigenvector matrix with condition number above
    ``cond_limit``); ``tol`` (relative to max |λ|) decides "zero" and "real".
    """
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError("dt", f"must be a positive finite number, got {dt!r}")
    a, W_t, h_t = plrnn_parameters(A, W, h, "cpu")
    d = parse_region(region, a.numel())
    label = region_label(d)
    J = region_jacobian(a, W_t, d).numpy()
    lam, V = np.linalg.eig(J)
    size = max(1.0, float(np.abs(lam).max()))
    if np.any(np.abs(lam) <= tol * size):
        return ContinuousTimeRegion(label, dt, False, "A + W D has a zero eigenvalue (no logarithm)")
    if np.any((np.abs(lam.imag) <= tol * size) & (lam.real < 0)):
        return ContinuousTimeRegion(label, dt, False, "A + W D has a negative real eigenvalue (no real logarithm)")
    if not np.isfinite(np.linalg.cond(V)) or np.linalg.cond(V) > cond_limit:
        return ContinuousTimeRegion(label, dt, False, "A + W D is not diagonalisable")
    V_inv = np.linalg.inv(V)
    mu = np.log(lam) / dt
    W_c = V @ np.diag(mu) @ V_inv
    h_c = V @ (_log_ratio(lam) / dt * (V_inv @ h_t.numpy()))
    # Conjugate pairs have conjugate principal logarithms, so W̃ is real up to rounding.
    if np.abs(W_c.imag).max() > 1e-8 * (1 + np.abs(W_c.real).max()):
        return ContinuousTimeRegion(label, dt, False, "the logarithm of A + W D is not real")
    order = np.argsort(-mu.real, kind="stable")
    mu = mu[order]
    with np.errstate(divide="ignore"):
        tau = np.where(mu.real == 0, np.inf, -1.0 / np.where(mu.real == 0, 1.0, mu.real))
    return ContinuousTimeRegion(label, dt, True, None, W_c.real, h_c.real, mu, tau)


def continuous_time_fixed_points(
    A: Any, W: Any, h: Any, result: PLRNNFixedPoints, dt: float = 1.0
) -> list[ContinuousTimeRegion]:
    """:func:`continuous_time_region` of each fixed point's region (continuous eigenvalues, τ)."""
    return [continuous_time_region(A, W, h, r, dt) for r in result.regions]


__all__ = [
    "METHODS",
    "ContinuousTimeRegion",
    "PLRNNCycle",
    "PLRNNCycles",
    "PLRNNFixedPoints",
    "continuous_time_fixed_points",
    "continuous_time_region",
    "parse_region",
    "plrnn_cycles",
    "plrnn_fixed_points",
    "plrnn_map",
    "plrnn_parameters",
    "region_jacobian",
    "region_label",
    "to_fixed_points",
]
