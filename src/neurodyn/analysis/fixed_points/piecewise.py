"""All fixed points of piecewise-linear low-rank RNNs, exactly.

The map (discrete time, rank R, N units) is

    F(z) = a ⊙ z + Nᵀ φ(M z + c),    z ∈ R^R,  M, N ∈ R^{N×R},  c ∈ R^N (held input, default 0),

with ``relu``  φᵢ(x) = max(0, xᵢ + hᵢ)               (one hyperplane mᵢᵀz + cᵢ + hᵢ = 0 per unit) or
     ``clipped`` φᵢ(x) = max(0, xᵢ + hᵢ) − max(0, xᵢ)   (two parallel ones, mᵢᵀz + cᵢ + hᵢ = 0 and mᵢᵀz + cᵢ = 0).

Every hyperplane k gets a side σₖ ∈ {0, 1} (1: wₖᵀz + bₖ > 0). Inside one cell of the arrangement
F is affine: with s1ᵢ, s2ᵢ the sides of a clipped unit's two hyperplanes (relu: s2 ≡ 0) and
dᵢ = s1ᵢ − s2ᵢ, φᵢ = dᵢ mᵢᵀz + s1ᵢ(cᵢ + hᵢ) − s2ᵢ cᵢ, so a fixed point of the cell solves

    (I − diag(a) − Nᵀ diag(d) M) z = Nᵀ (s1 ⊙ (c + h) − s2 ⊙ c),    J = ∂F/∂z = diag(a) + Nᵀ diag(d) M.

Each hyperplane contributes ``σₖ · (nᵢ mᵢᵀ, nᵢ (cᵢ + hᵢ))`` (upper/relu) or ``σₖ · (−nᵢ mᵢᵀ, −nᵢ cᵢ)``
(lower) to (Nᵀ diag(d) M, right-hand side); a cell's system is the sum over its active hyperplanes.
A solution is kept only if it lies in the (closed, tolerance-inflated) cell it was solved for; the
map is continuous, so such a point is a genuine fixed point even on a cell boundary, where several
cells find it (fixed points are deduplicated by distance).

Why this is polynomial (Pals et al., NeurIPS 2024, "Inferring stochastic low-rank recurrent neural
networks from neural data", Prop. 1 and Supplement A): the K = N (relu) or 2N (clipped)
hyperplanes cut R^R into at most Σ_{i≤R} C(K, i) cells (Zaslavsky 1975), instead of the 2^N / 3^N
activation patterns of brute force. In an *essential* arrangement (normals span R^R) every cell is
a pointed polyhedron, so it has a vertex: an intersection of R hyperplanes with independent
normals. Enumerating the vertices and the cells around each one finds every cell.

Implementation
--------------
*Line sweep.* Vertices are not solved one R×R system at a time. The (R−1)-subsets S of hyperplanes
are enumerated in streamed chunks (vectorised colex unranking, no itertools); each S with
independent normals defines a line p + t·d. Every other hyperplane k crosses it at
tₖ = −(wₖᵀp + bₖ)/(wₖᵀd): that is the vertex S ∪ {k} (counted as one vertex system; it is emitted
only on the line whose S holds its R−1 smallest indices, so each vertex is handled once). Sorting
the tₖ of a line gives every hyperplane's side at every vertex of the line, and since a cell's
system is a sum of per-hyperplane terms, a prefix sum of the signed terms (crossing k flips its
side, adding ±C1ₖ) along the sorted order gives each vertex's system, minus its own R hyperplanes,
in O(R²) instead of O(N R²). Cost per line O(K log K + K R²); memory O(chunk × R²). Candidate fixed
points are screened cheaply (the cone of the cell at its vertex, then 64 fixed hyperplanes) before
the full O(K) membership test.

*Two ways to visit each cell once.*
``canonical`` (used whenever there is a box, see below): for a generic direction g every bounded
cell has a unique lowest vertex along g. At a simple vertex with edge directions eⱼ (the columns
of the inverse of its R normals), the cell whose lowest point it is has σⱼ = [gᵀeⱼ > 0]; exactly
one cell per vertex, no deduplication, one fixed-point solve per cell. With the 2R box faces added
as hyperplanes every cell inside the box is bounded. We chose this over hashing for large problems:
C(1024, 3) ≈ 1.8·10⁸ cells × 2³ local patterns would need a global hash set of ~10⁹ lookups.
``dedup`` (no box, e.g. relu by default; this is the paper's Algorithm 1): every vertex emits all
2^R sign patterns of its hyperplanes; each pattern is hashed with two independent universal hashes
Σₖ σₖ rₖ mod (2³¹ − 1) (built incrementally along the line like the systems, so O(1) per pattern)
packed into one 62-bit key, deduplicated per chunk and against a global set of sorted runs
(log-structured merge). A collision (probability ≤ n²/2⁶³ for n cells) would drop a cell. This
visits unbounded cells without a box and gives the paper's count: a general-position rank-2 relu
network of 60 units has C(60, 2) = 1770 vertices and 1 + 60 + 1770 = 1831 cells, i.e. 3601 linear
solves.

*Box pruning.* With a box [lo, hi] (reachable states), its 2R faces (inflated by a relative 1e-6)
are added as hyperplanes; a cell of the original arrangement meets the box iff the augmented
arrangement has a cell inside the box, and each such cell is bounded, so it has a lowest vertex in
the (closed) box. Only vertices inside the box are kept, hyperplanes that miss the box are folded
into constants (they do not split it), lines that miss the box are skipped, and only fixed points
in the box are returned. For ``clipped`` |φᵢ| ≤ |hᵢ|, so every fixed point satisfies
|zⱼ| ≤ Σᵢ |Nᵢⱼ| |hᵢ| / (1 − aⱼ); that box is sound and used by default (a user box is intersected
with it). ``relu`` has no such bound: default no box (``dedup``).

*Degeneracies.* Rows are normalised; zero normals (K = 0, all-zero rows of M) are constant sides.
Coincident hyperplanes (duplicate units, clipped units with h = 0, either orientation) are merged
first (pairwise comparison, O(K²)); a merged hyperplane whose terms cancel (clipped with h = 0, a
unit without output weights) is no breakpoint of F and is dropped. If the normals span r < R dimensions (all mᵢ parallel, R > N) and there is no box, the
arrangement is projected onto their span (essentialised) and enumerated there; cells are products
with the lineality space, and the fixed-point systems stay R×R in z. Parallel hyperplanes give
singular lines/vertex systems, which are skipped. A vertex where more than R hyperplanes meet
(incidence within tol·L, L = 1 + max distance of a hyperplane from the origin) is found on some line
either as several crossings at the same t or as a line lying in an extra hyperplane; such vertices
are collected, deduplicated by their incidence set and handled exactly: the cells around a vertex
are the cells of the central arrangement of its incident hyperplanes, i.e. the cells of the
(r−1)-dimensional arrangement cut on the slice {gᵀu = 1} plus their negatives (recursively,
:func:`_small_cells`); ``canonical`` keeps those whose cone lies above g (present on the +1 slice
and not on the −1 slice).

*Singular cell systems* (I − J singular in a cell, e.g. a line attractor): solved by least squares;
if consistent, the solution set (an affine subspace) is intersected with the cell by a linear
program and one point of it is reported with ``isolated = False``; otherwise the cell has no fixed
point. The brute force does the same.

*Boundary fixed points* (rare): the reported Jacobian/stability is that of one adjacent cell
(``on_boundary`` flags them).

Counting: ``n_linear_solves`` = vertex systems computed (every R-subset intersected on a line that
reaches the box, whether the vertex lies in the box or not, plus those of degenerate-vertex local
enumerations) + cell (fixed-point) systems solved; ``n_vertices`` counts the vertices in the box that
were used, ``n_regions`` the cells solved. ``n_line_systems`` (the (R−1)-subset frames) is reported
separately. Tolerances: ``tol`` (relative to L) decides incidence and cell membership; two
hyperplanes closer than tol·L at a vertex count as meeting there.

References: Pals et al., "Inferring stochastic low-rank recurrent neural networks from neural data",
NeurIPS 2024 (Prop. 1, Algorithm 1, Supplement A); Zaslavsky, "Facing up to
arrangements", Mem. AMS 154 (1975); the random-restart baseline follows the region iteration of
Eisenmann et al., NeurIPS 2023 (as described in Pals et al., Supplement B.5).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from neurodyn.analysis.fixed_point_choices import NONLINEARITIES, STRATEGIES
from neurodyn.analysis.fixed_points.point import FixedPoint
from neurodyn.errors import ConfigError

_PRIME = 2**31 - 1  # modulus of the two universal hashes of dedup mode
_TOL_PAR = 1e-12  # |wₖ·d| below this (unit vectors): hyperplane parallel to a line
_TOL_DEP = 1e-10  # normalised volume below which normals count as dependent
_SINGULAR = 1e-13  # |det| / Π‖rows‖ below this: singular cell system
_ILL = 1e-6  # ... below this: re-solve with pivoted LU instead of Cramer's rule
_BOX_INFLATE = 1e-6  # relative inflation of a box so points on its faces are kept
_N_SCREEN = 64  # hyperplanes of the cheap screening check of a candidate fixed point

Tensor = torch.Tensor


# --------------------------------------------------------------------------------------------
# result type
# --------------------------------------------------------------------------------------------


@dataclass
class PiecewiseFixedPoints:
    """Fixed points z* = F(z*) of a piecewise-linear low-rank RNN.

    z: (P, R); jacobians: (P, R, R) ∂F/∂z in the cell z* was found in; eigenvalues: (P, R) complex;
    stable: (P,) spectral radius < 1 (discrete time); regions: P labels of the cell, one character
    per unit (relu: 0 off, 1 on; clipped: 0 off, 1 linear, 2 saturated), run-length coded
    (``"0x12,1x3"``) beyond 64 units; isolated: (P,) False when the cell's system is singular and
    z is one point of a continuum of fixed points; on_boundary: (P,) z lies on a cell boundary;
    residuals: (P,) max |F(z) − z|. Counters: see the module docstring. box: the (lo, hi) arrays
    the search was restricted to, or None.
    """

    z: np.ndarray
    jacobians: np.ndarray
    eigenvalues: np.ndarray
    stable: np.ndarray
    regions: list[str]
    n_linear_solves: int
    n_regions: int
    n_vertices: int
    box: tuple[np.ndarray, np.ndarray] | None
    seconds: float
    isolated: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    on_boundary: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    residuals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_vertex_systems: int = 0
    n_line_systems: int = 0
    method: str = "exact"
    strategy: str = ""

    def __len__(self) -> int:
        return int(self.z.shape[0])

    @property
    def spectral_radius(self) -> np.ndarray:
        """(P,) max |eigenvalue| per fixed point."""
        return np.abs(self.eigenvalues).max(axis=1) if len(self) else np.zeros(0)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (the ``neurodyn fixed-points`` output)."""
        points = []
        for i in range(len(self)):
            points.append(
                {
                    "z": [float(x) for x in self.z[i]],
                    "stable": bool(self.stable[i]),
                    "eigenvalues": [[float(e.real), float(e.imag)] for e in self.eigenvalues[i]],
                    "spectral_radius": float(self.spectral_radius[i]),
                    "region": self.regions[i],
                    "isolated": bool(self.isolated[i]),
                    "on_boundary": bool(self.on_boundary[i]),
                    "residual": float(self.residuals[i]),
                }
            )
        return {
            "fixed_points": points,
            "n_linear_solves": int(self.n_linear_solves),
            "n_regions": int(self.n_regions),
            "n_vertices": int(self.n_vertices),
            "n_vertex_systems": int(self.n_vertex_systems),
            "n_line_systems": int(self.n_line_systems),
            "seconds": float(self.seconds),
            "box": None if self.box is None else [[float(x) for x in self.box[0]], [float(x) for x in self.box[1]]],
            "method": self.method,
            "strategy": self.strategy,
        }


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


@dataclass
class _Network:
    """Validated weights plus the expanded hyperplanes.

    M, Nt: (U, R); h, c: (U,); a: (R,); W0: (K, R) hyperplane normals, b0: (K,) offsets,
    C1: (K, R·R + R) the term a hyperplane adds to (Nᵀ diag(d) M flattened, rhs) when on its
    positive side; unit: (K,) owning unit.
    """

    M: Tensor
    Nt: Tensor
    h: Tensor
    c: Tensor
    a: Tensor
    nonlinearity: str
    W0: Tensor
    b0: Tensor
    C1: Tensor
    unit: Tensor

    @property
    def R(self) -> int:
        return int(self.M.shape[1])

    @property
    def U(self) -> int:
        return int(self.M.shape[0])


def _tensor(x: Any, name: str, device: torch.device, dtype: torch.dtype) -> Tensor:
    try:
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    except (TypeError, ValueError) as exc:
        raise ConfigError(name, f"must be numeric, got {type(x).__name__} ({exc})")
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise ConfigError(name, f"must be numeric, got dtype {t.dtype}")
    t = t.detach().to(device=device, dtype=dtype)
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(name, "contains NaN or infinite values")
    return t


def _resolve_device(device: Any) -> torch.device:
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"{device!r} requested but no CUDA device is available")
    return dev


def _network(
    M: Any, N: Any, h: Any, a: Any, nonlinearity: str, offset: Any, device: torch.device, dtype: torch.dtype
) -> _Network:
    if nonlinearity not in NONLINEARITIES:
        raise ConfigError("nonlinearity", f"must be one of {', '.join(NONLINEARITIES)}, got {nonlinearity!r}")
    M_t = _tensor(M, "M", device, dtype)
    if M_t.ndim != 2 or M_t.shape[1] < 1:
        raise ConfigError("M", f"must be (N, R) with R >= 1, got shape {tuple(M_t.shape)}")
    U, R = M_t.shape
    N_t = _tensor(N, "N", device, dtype)
    if tuple(N_t.shape) != (U, R):
        raise ConfigError("N", f"must be (N, R) = {(U, R)} like M, got shape {tuple(N_t.shape)}")
    h_t = _tensor(h, "h", device, dtype).reshape(-1) if np.ndim(h) else None
    if h_t is None or h_t.shape[0] != U:
        raise ConfigError("h", f"must be (N,) = ({U},), got shape {np.shape(h)}")
    a_t = _tensor(a, "a", device, dtype)
    if a_t.ndim == 0:
        a_t = a_t.expand(R).clone()
    if a_t.ndim != 1 or a_t.shape[0] != R:
        raise ConfigError("a", f"must be a scalar or (R,) = ({R},), got shape {tuple(a_t.shape)}")
    if bool(((a_t < 0) | (a_t >= 1)).any()):
        raise ConfigError("a", f"must lie in [0, 1) (a leak), got {a_t.cpu().numpy()}")
    if offset is None:
        c_t = torch.zeros(U, device=device, dtype=dtype)
    else:
        c_t = _tensor(offset, "offset", device, dtype)
        if c_t.shape != (U,):
            raise ConfigError("offset", f"must be (N,) = ({U},), got shape {tuple(c_t.shape)}")
    outer = (N_t[:, :, None] * M_t[:, None, :]).reshape(U, R * R)  # nᵢ mᵢᵀ, row-major
    upper = torch.cat([outer, N_t * (c_t + h_t)[:, None]], dim=1)
    if nonlinearity == "relu":
        W0, b0, C1 = M_t, c_t + h_t, upper
        unit = torch.arange(U, device=device)
    else:
        lower = torch.cat([-outer, -N_t * c_t[:, None]], dim=1)
        W0 = M_t.repeat_interleave(2, dim=0)
        b0 = torch.stack([c_t + h_t, c_t], dim=1).reshape(-1)
        C1 = torch.stack([upper, lower], dim=1).reshape(2 * U, R * R + R)
        unit = torch.arange(U, device=device).repeat_interleave(2)
    return _Network(M_t, N_t, h_t, c_t, a_t, nonlinearity, W0, b0, C1, unit)


def _default_box(net: _Network) -> tuple[Tensor, Tensor] | None:
    """Sound box for clipped: |φᵢ| ≤ |hᵢ| ⇒ |zⱼ| ≤ Σᵢ |Nᵢⱼ||hᵢ| / (1 − aⱼ); None for relu."""
    if net.nonlinearity != "clipped":
        return None
    bound = (net.Nt.abs() * net.h.abs()[:, None]).sum(0) / (1 - net.a)
    return -bound, bound


def _parse_box(box: Any, R: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor] | None:
    if box is None:
        return None
    try:
        lo, hi = box
    except (TypeError, ValueError):
        raise ConfigError("box", "must be a pair (lo, hi) of (R,) arrays or scalars")
    lo_t = _tensor(lo, "box", device, dtype).reshape(-1)
    hi_t = _tensor(hi, "box", device, dtype).reshape(-1)
    lo_t = lo_t.expand(R).clone() if lo_t.numel() == 1 else lo_t
    hi_t = hi_t.expand(R).clone() if hi_t.numel() == 1 else hi_t
    if lo_t.shape != (R,) or hi_t.shape != (R,):
        raise ConfigError(
            "box", f"lo and hi must have R = {R} entries, got {tuple(lo_t.shape)} and {tuple(hi_t.shape)}"
        )
    if not bool((lo_t < hi_t).all()):
        raise ConfigError("box", "needs lo < hi in every dimension")
    return lo_t, hi_t


def _effective_box(
    net: _Network, box: Any, device: torch.device, dtype: torch.dtype
) -> tuple[tuple[Tensor, Tensor] | None, bool]:
    """(lo, hi) to search — the user's box intersected with the sound default — and whether it is
    empty (a user box entirely outside the region where fixed points can exist)."""
    user = _parse_box(box, net.R, device, dtype)
    default = _default_box(net)
    if user is None:
        return default, False
    if default is None:
        return user, False
    lo, hi = torch.maximum(user[0], default[0]), torch.minimum(user[1], default[1])
    if not bool((lo <= hi).all()):
        return user, True
    return (lo, hi), False


# --------------------------------------------------------------------------------------------
# the map and the cell systems
# --------------------------------------------------------------------------------------------


def piecewise_map(z: Any, M: Any, N: Any, h: Any, a: Any, nonlinearity: str, offset: Any = None) -> Tensor:
    """F(z) = a ⊙ z + Nᵀ φ(M z + c).

    z: (..., R) (torch, differentiable; numpy accepted); M, N: (N, R); h, offset: (N,);
    a: scalar or (R,). Returns (..., R) with z's dtype and device.
    """
    z_t = z if isinstance(z, torch.Tensor) else torch.as_tensor(np.asarray(z, dtype=np.float64))
    dev, dt = z_t.device, z_t.dtype if z_t.is_floating_point() else torch.float64
    M_t = torch.as_tensor(M, dtype=dt, device=dev)
    N_t = torch.as_tensor(N, dtype=dt, device=dev)
    h_t = torch.as_tensor(h, dtype=dt, device=dev)
    a_t = torch.as_tensor(a, dtype=dt, device=dev)
    x = z_t.to(dt) @ M_t.T
    if offset is not None:
        x = x + torch.as_tensor(offset, dtype=dt, device=dev)
    if nonlinearity == "relu":
        phi = torch.relu(x + h_t)
    elif nonlinearity == "clipped":
        phi = torch.relu(x + h_t) - torch.relu(x)
    else:
        raise ConfigError("nonlinearity", f"must be one of {', '.join(NONLINEARITIES)}, got {nonlinearity!r}")
    return a_t * z_t.to(dt) + phi @ N_t


def _cramer(A: Tensor, rhs: Tensor) -> tuple[Tensor, Tensor]:
    """Solve A z = rhs for a batch of R×R systems, R ≤ 3, in closed form.

    A: (n, R, R); rhs: (n, R). Returns z (n, R) and |det| / Π‖rows‖ (n,), a scale-free
    measure of singularity in [0, 1] (Hadamard).
    """
    R = A.shape[-1]
    sq = A[:, :, 0] * A[:, :, 0]
    for c in range(1, R):
        sq = sq + A[:, :, c] * A[:, :, c]
    rows = sq[:, 0]
    for c in range(1, R):
        rows = rows * sq[:, c]
    rows = rows.sqrt()
    if R == 1:
        det = A[:, 0, 0]
        z = rhs / det[:, None]
    elif R == 2:
        det = A[:, 0, 0] * A[:, 1, 1] - A[:, 0, 1] * A[:, 1, 0]
        z = (
            torch.stack(
                [rhs[:, 0] * A[:, 1, 1] - A[:, 0, 1] * rhs[:, 1], A[:, 0, 0] * rhs[:, 1] - A[:, 1, 0] * rhs[:, 0]],
                dim=1,
            )
            / det[:, None]
        )
    else:
        # adjugate by cofactors, written out: batched tiny reductions are slow in torch
        a00, a01, a02 = A[:, 0, 0], A[:, 0, 1], A[:, 0, 2]
        a10, a11, a12 = A[:, 1, 0], A[:, 1, 1], A[:, 1, 2]
        a20, a21, a22 = A[:, 2, 0], A[:, 2, 1], A[:, 2, 2]
        c00, c01, c02 = a11 * a22 - a12 * a21, a12 * a20 - a10 * a22, a10 * a21 - a11 * a20
        det = a00 * c00 + a01 * c01 + a02 * c02
        b0, b1, b2 = rhs[:, 0], rhs[:, 1], rhs[:, 2]
        # z = adj(A) b / det, adj(A)[i, j] = cofactor(j, i)
        z0 = c00 * b0 + (a02 * a21 - a01 * a22) * b1 + (a01 * a12 - a02 * a11) * b2
        z1 = c01 * b0 + (a00 * a22 - a02 * a20) * b1 + (a02 * a10 - a00 * a12) * b2
        z2 = c02 * b0 + (a01 * a20 - a00 * a21) * b1 + (a00 * a11 - a01 * a10) * b2
        z = torch.stack([z0, z1, z2], dim=1) / det[:, None]
    proxy = torch.where(rows > 0, det.abs() / rows.clamp_min(1e-300), torch.zeros_like(rows))
    return z, proxy


def _solve_systems(states: Tensor, a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Fixed points of a batch of cells from their summed terms.

    states: (n, R·R + R) = (Σ σₖ C1ₖ); a: (R,). Returns z (n, R), S (n, R, R) = Nᵀ diag(d) M
    (so J = diag(a) + S), singular (n,) bool.
    """
    n, R = states.shape[0], a.shape[0]
    S = states[:, : R * R].reshape(n, R, R)
    rhs = states[:, R * R :]
    A = torch.diag(1 - a).expand(n, R, R) - S
    if R <= 3:
        z, proxy = _cramer(A, rhs)
    else:
        det = torch.linalg.det(A) if n else torch.zeros(0, dtype=A.dtype, device=A.device)
        rows = torch.linalg.vector_norm(A, dim=-1).prod(-1)
        proxy = det.abs() / rows.clamp_min(1e-300)
        z = torch.linalg.solve_ex(A, rhs)[0] if n else rhs.clone()
    ill = ~(proxy > _ILL)
    if bool(ill.any()):
        # Cramer's rule loses accuracy on ill-conditioned systems: pivoted LU for those
        z[ill] = torch.linalg.solve_ex(A[ill], rhs[ill])[0]
    singular = ~(proxy > _SINGULAR) | ~torch.isfinite(z).all(-1)
    return z, S, singular


# --------------------------------------------------------------------------------------------
# combinations, streamed and vectorised
# --------------------------------------------------------------------------------------------


def _binomial_table(n: int, q: int, device: torch.device) -> Tensor:
    """T[j, c] = C(c, j) for j ≤ q, c ≤ n (int64)."""
    table = torch.zeros(q + 1, n + 1, dtype=torch.int64)
    for j in range(q + 1):
        for cc in range(n + 1):
            table[j, cc] = math.comb(cc, j)
    return table.to(device)


def _unrank(ranks: Tensor, q: int, table: Tensor) -> Tensor:
    """Colex unranking: ranks (B,) → (B, q) ascending index combinations c₀ < … < c_{q−1},
    rank = Σⱼ C(cⱼ, j + 1). Consecutive ranks share their largest indices, and combinations
    come ordered by their largest index."""
    out = torch.empty(ranks.shape[0], q, dtype=torch.int64, device=ranks.device)
    rem = ranks.clone()
    for j in range(q, 0, -1):
        col = table[j]
        cj = torch.searchsorted(col, rem, right=True) - 1
        out[:, j - 1] = cj
        rem = rem - col[cj]
    return out


def _combination_chunks(n: int, q: int, chunk: int, device: torch.device):
    """Yield (B, q) int64 blocks of all q-subsets of range(n), B ≤ chunk, without materialising them."""
    total = math.comb(n, q)
    if q == 0:
        yield torch.zeros(1, 0, dtype=torch.int64, device=device)
        return
    table = _binomial_table(n, q, device)
    for start in range(0, total, chunk):
        ranks = torch.arange(start, min(total, start + chunk), dtype=torch.int64, device=device)
        yield _unrank(ranks, q, table)


# --------------------------------------------------------------------------------------------
# small arrangements (degenerate vertices; also an independent cell enumerator)
# --------------------------------------------------------------------------------------------


def _orth_complement(g: np.ndarray) -> np.ndarray:
    """(n, n−1) orthonormal basis of g⊥ for a unit vector g (n,)."""
    n = g.shape[0]
    q, _ = np.linalg.qr(np.column_stack([g, np.eye(n)]))
    return q[:, 1:n]


def _small_cells(
    W: np.ndarray, b: np.ndarray, tol: float, rng: np.random.Generator, counter: list[int] | None = None
) -> np.ndarray:
    """Every cell of the affine arrangement {x : W x + b = 0} as a sign pattern.

    W: (m, n); b: (m,). Returns (cells, m) bool, σ = [W x + b > 0] on each cell (rows with a zero
    normal get [b > 0]). Vertex solves are added to ``counter[0]``. Handles any degeneracy:
    it essentialises, and recurses into one dimension less at vertices where more than n
    hyperplanes meet (central arrangement sliced at gᵀu = ±1).
    """
    m, n = W.shape
    norms = np.linalg.norm(W, axis=1) if n else np.zeros(m)
    nz = norms > 1e-12 * max(float(norms.max(initial=0.0)), 1e-300)
    const = b > 0
    idx = np.flatnonzero(nz)
    if idx.size == 0:
        return const[None, :].copy()
    Wn, bn = W[idx] / norms[idx, None], b[idx] / norms[idx]
    _, sv, vt = np.linalg.svd(Wn, full_matrices=False)
    r = int((sv > _TOL_DEP * sv[0]).sum())
    Y = Wn @ vt[:r].T
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    k = Y.shape[0]
    tol_inc = tol * (1 + np.abs(bn).max())
    combos = _unrank(torch.arange(math.comb(k, r)), r, _binomial_table(k, r, torch.device("cpu"))).numpy()
    if counter is not None:
        counter[0] += len(combos)
    A = Y[combos]
    ok = np.abs(np.linalg.det(A)) > _TOL_DEP
    A, rhs = A[ok], -bn[combos[ok]]
    V = np.linalg.solve(A, rhs[..., None])[..., 0]
    F = V @ Y.T + bn
    inc = np.abs(F) <= tol_inc
    _, first = np.unique(np.packbits(inc, axis=1), axis=0, return_index=True)
    V, F, inc = V[first], F[first], inc[first]
    patterns = []
    simple = inc.sum(1) == r
    if simple.any():
        Fs, incs = F[simple], inc[simple]
        local = np.array(np.meshgrid(*[[False, True]] * r, indexing="ij")).reshape(r, -1).T  # (2^r, r)
        cols = np.nonzero(incs)[1].reshape(-1, r)
        base = np.repeat((Fs > 0)[:, None, :], len(local), axis=1)
        rows = np.arange(len(Fs))[:, None, None]
        base[rows, np.arange(len(local))[None, :, None], cols[:, None, :]] = local[None]
        patterns.append(base.reshape(-1, k))
    for v_f, v_inc in zip(F[~simple], inc[~simple]):
        cols = np.flatnonzero(v_inc)
        local = _local_cells(Y[cols], None, tol, rng, counter)
        base = np.repeat((v_f > 0)[None, :], len(local), axis=0)
        base[:, cols] = local
        patterns.append(base)
    cells = np.unique(np.concatenate(patterns, axis=0), axis=0)
    out = np.repeat(const[None, :], len(cells), axis=0)
    out[:, idx] = cells
    return out


def _local_cells(
    Wl: np.ndarray, g: np.ndarray | None, tol: float, rng: np.random.Generator, counter: list[int] | None = None
) -> np.ndarray:
    """Cells of the central arrangement {u : Wl u = 0} around a vertex, as sign patterns.

    Wl: (m, n) normals of the incident hyperplanes. g None: all cells (a random slicing
    direction); g (n,) unit: only the cells whose cone lies in {gᵀu > 0} (the cells this vertex
    is the g-lowest point of). Returns (cells, m) bool.
    """
    n = Wl.shape[1]
    gg = g if g is not None else rng.standard_normal(n)
    gg = gg / np.linalg.norm(gg)
    B = _orth_complement(gg)
    plus = _small_cells(Wl @ B, Wl @ gg, tol, rng, counter)
    if g is None:
        return np.unique(np.concatenate([plus, ~plus]), axis=0)
    plus_keys = {row.tobytes() for row in np.packbits(plus, axis=1)}
    keep = [np.packbits(~row).tobytes() not in plus_keys for row in plus]
    return plus[np.asarray(keep, bool)]


# --------------------------------------------------------------------------------------------
# the arrangement actually swept
# --------------------------------------------------------------------------------------------


@dataclass
class _Arrangement:
    """Hyperplanes after normalising, folding constants, merging duplicates, adding box faces.

    W: (K', r) unit normals in the swept coordinates y (= z, or Qᵀz when essentialised);
    Wz: (K', R) the same hyperplanes' normals in z; b: (K',); C1: (K', D) terms when σ = 1;
    const: (D,) terms of hyperplanes whose side is fixed; required: (K',) −1, or the side every
    wanted cell must have (box faces); src_rep/src_flip/src_const: (K,) how each original
    hyperplane's side follows from the swept ones (σ₀ = σ[rep] xor flip; const when rep = −1;
    evaluated at the fixed point when rep = −2, an inert hyperplane).
    """

    W: Tensor
    Wz: Tensor
    b: Tensor
    C1: Tensor
    const: Tensor
    required: Tensor
    src_rep: Tensor
    src_flip: Tensor
    src_const: Tensor
    scale: float
    g: Tensor
    hash_coef: Tensor
    n_box_faces: int
    table: Tensor = None  # (2K' + 1, D) [C1; −C1; 0], built in __post_init__

    def __post_init__(self) -> None:
        zero = torch.zeros(1, self.C1.shape[1], dtype=self.C1.dtype, device=self.C1.device)
        self.table = torch.cat([self.C1, -self.C1, zero])

    @property
    def K(self) -> int:
        return int(self.W.shape[0])

    @property
    def r(self) -> int:
        return int(self.W.shape[1])

    def expand(self, sigma: Tensor, z: Tensor, W0: Tensor, b0: Tensor) -> Tensor:
        """(n, K') sides of swept hyperplanes → (n, K) sides of the original hyperplanes.

        z: (n, R) the fixed points, where the sides of dropped inert hyperplanes are evaluated.
        """
        rep = self.src_rep.clamp_min(0)
        out = (
            sigma[:, rep] ^ self.src_flip[None, :]
            if sigma.shape[1]
            else torch.zeros(sigma.shape[0], rep.numel(), dtype=torch.bool, device=sigma.device)
        )
        out = torch.where(self.src_rep[None, :] >= 0, out, self.src_const[None, :])
        inert = self.src_rep == -2
        if bool(inert.any()):
            out[:, inert] = (z @ W0[inert].T + b0[inert]) > 0
        return out


def _merge_coincident(W: Tensor, b: Tensor, scale: float, tol: float) -> tuple[Tensor, Tensor]:
    """For unit-normal hyperplanes (K, n), (K,): rep (K,) the smallest index of a coincident one
    (same or opposite orientation) and flip (K,) whether its orientation is opposite."""
    K = W.shape[0]
    X = torch.cat([W, b[:, None] / scale], dim=1)
    rep = torch.arange(K, device=W.device)
    flip = torch.zeros(K, dtype=torch.bool, device=W.device)
    big = K + 1
    for s in range(0, K, 1024):
        blk = X[s : s + 1024]
        # exact differences, not the matmul expansion (whose self-distance is ~1e-8, not 0)
        same = torch.cdist(blk, X, compute_mode="donot_use_mm_for_euclid_dist") <= tol
        opp = torch.cdist(blk, -X, compute_mode="donot_use_mm_for_euclid_dist") <= tol
        ar = torch.arange(K, device=W.device)
        own = torch.arange(s, s + blk.shape[0], device=W.device)
        i_same = torch.minimum(torch.where(same, ar, big).amin(1), own)
        i_opp = torch.where(opp, ar, big).amin(1)
        use_opp = i_opp < i_same
        rep[s : s + 1024] = torch.where(use_opp, i_opp, i_same)
        flip[s : s + 1024] = use_opp
    # chains (a ~ b ~ c with a !~ c at the tolerance edge): follow to a fixed point
    for _ in range(64):
        nxt = rep[rep]
        if bool((nxt == rep).all()):
            break
        flip = flip ^ flip[rep]
        rep = nxt
    return rep, flip


def _arrangement(net: _Network, box: tuple[Tensor, Tensor] | None, tol: float, seed: int) -> _Arrangement:
    dev, dt = net.W0.device, net.W0.dtype
    K0, R = net.W0.shape
    D = net.C1.shape[1]
    norms = torch.linalg.vector_norm(net.W0, dim=1)
    nz = norms > 1e-12 * max(float(norms.max()) if K0 else 0.0, 1e-300)
    Wn = torch.where(nz[:, None], net.W0 / norms.clamp_min(1e-300)[:, None], torch.zeros_like(net.W0))
    bn = torch.where(nz, net.b0 / norms.clamp_min(1e-300), net.b0)
    fixed = ~nz
    fixed_side = net.b0 > 0
    if box is not None:
        lo, hi = box
        span = (hi - lo).clamp_min(0)
        delta = _BOX_INFLATE * (1 + float(span.max()) + float(torch.maximum(lo.abs(), hi.abs()).max()))
        lo_i, hi_i = lo - delta, hi + delta
        centre, half = (lo_i + hi_i) / 2, (hi_i - lo_i) / 2
        fc = Wn @ centre + bn
        rad = Wn.abs() @ half
        scale_b = 1 + float(bn.abs().max()) if K0 else 1.0
        margin = tol * scale_b
        above, below = (fc - rad > margin) & nz, (fc + rad < -margin) & nz
        fixed = fixed | above | below
        fixed_side = torch.where(
            above, torch.ones_like(fixed_side), torch.where(below, torch.zeros_like(fixed_side), fixed_side)
        )
    keep = torch.nonzero(~fixed).reshape(-1)
    const = (fixed_side & fixed).to(dt) @ net.C1 if K0 else torch.zeros(D, dtype=dt, device=dev)
    W, b, C1 = Wn[keep], bn[keep], net.C1[keep]
    required = torch.full((keep.numel(),), -1, dtype=torch.int8, device=dev)
    n_faces = 0
    if box is not None:
        eye = torch.eye(R, dtype=dt, device=dev)
        W = torch.cat([W, eye, -eye])
        b = torch.cat([b, -lo_i, hi_i])
        C1 = torch.cat([C1, torch.zeros(2 * R, D, dtype=dt, device=dev)])
        required = torch.cat([required, torch.ones(2 * R, dtype=torch.int8, device=dev)])
        n_faces = 2 * R
    scale = 1 + (float(b.abs().max()) if b.numel() else 0.0)
    # merge coincident hyperplanes so vertices on them are not all degenerate
    Kk = W.shape[0]
    src_rep = torch.full((K0,), -1, dtype=torch.int64, device=dev)
    src_flip = torch.zeros(K0, dtype=torch.bool, device=dev)
    if Kk:
        rep, flip = _merge_coincident(W, b, scale, tol * 10)
        reps = torch.unique(rep)
        new_index = torch.full((Kk,), -1, dtype=torch.int64, device=dev)
        new_index[reps] = torch.arange(reps.numel(), device=dev)
        sign = torch.where(flip, -1.0, 1.0).to(dt)
        C1m = torch.zeros(reps.numel(), D, dtype=dt, device=dev).index_add_(0, new_index[rep], C1 * sign[:, None])
        const = const + (flip.to(dt)[:, None] * C1).sum(0)
        req_m = torch.full((reps.numel(),), -1, dtype=torch.int8, device=dev)
        has_req = required >= 0
        req_val = torch.where(flip, 1 - required, required)
        if bool(has_req.any()):
            req_m[new_index[rep[has_req]]] = req_val[has_req].to(torch.int8)
        src_rep[keep] = new_index[rep[: keep.numel()]]
        src_flip[keep] = flip[: keep.numel()]
        W, b, C1, required = W[reps], b[reps], C1m, req_m
        # a hyperplane whose (merged) term is zero is no breakpoint of F (clipped unit with h = 0,
        # unit without output weights): drop it; its side is read off at the fixed point instead
        c1_scale = float(net.C1.abs().max()) if net.C1.numel() else 0.0
        inert = (C1.abs().amax(1) <= 1e-14 * max(c1_scale, 1e-300)) & (required < 0)
        if bool(inert.any()):
            live = torch.nonzero(~inert).reshape(-1)
            remap = torch.full((inert.numel(),), -2, dtype=torch.int64, device=dev)
            remap[live] = torch.arange(live.numel(), device=dev)
            src_rep = torch.where(src_rep >= 0, remap[src_rep.clamp_min(0)], src_rep)
            W, b, C1, required = W[live], b[live], C1[live], required[live]
    src_const = fixed_side.clone()
    Wz = W
    if box is None and W.shape[0]:
        # essentialise: sweep in the span of the normals; the rest is lineality
        _, sv, vt = torch.linalg.svd(W, full_matrices=False)
        r = int((sv > _TOL_DEP * sv[0]).sum())
        Q = vt[:r].T  # (R, r)
        W = W @ Q
        W = W / torch.linalg.vector_norm(W, dim=1, keepdim=True)
        Wz = W @ Q.T
    elif box is None:
        W = torch.zeros(0, 0, dtype=dt, device=dev)
        Wz = torch.zeros(0, R, dtype=dt, device=dev)
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(W.shape[1], generator=gen, dtype=torch.float64)
    g = (g / g.norm().clamp_min(1e-300)).to(device=dev, dtype=dt)
    hash_coef = torch.randint(0, _PRIME, (W.shape[0], 2), generator=gen, dtype=torch.int64).to(dev)
    return _Arrangement(W, Wz, b, C1, const, required, src_rep, src_flip, src_const, scale, g, hash_coef, n_faces)


# --------------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------------


def _line_frames(WS: Tensor, bS: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Lines ∩ₛ {wₛᵀy + bₛ = 0} of (r−1) unit normals each.

    WS: (B, q, r), bS: (B, q) with q = r − 1. Returns d (B, r) unit direction, p (B, r) the
    point closest to the origin, E (B, r, q) with WS E = I (a right inverse in the normals' span),
    ok (B,) normals independent.
    """
    B, q, r = WS.shape
    dev, dt = WS.device, WS.dtype
    if r == 1:
        return (
            torch.ones(B, 1, dtype=dt, device=dev),
            torch.zeros(B, 1, dtype=dt, device=dev),
            torch.zeros(B, 1, 0, dtype=dt, device=dev),
            torch.ones(B, dtype=torch.bool, device=dev),
        )
    if r == 2:
        w = WS[:, 0]
        d = torch.stack([-w[:, 1], w[:, 0]], dim=1)
        return d, -bS[:, :1] * w, w[:, :, None], torch.ones(B, dtype=torch.bool, device=dev)
    if r == 3:
        w1, w2 = WS[:, 0], WS[:, 1]
        cr = torch.linalg.cross(w1, w2)
        s = torch.linalg.vector_norm(cr, dim=1)
        ok = s > _TOL_DEP
        d = cr / s.clamp_min(1e-300)[:, None]
        cth = (w1 * w2).sum(1)
        den = (1 - cth * cth).clamp_min(1e-300)
        # E = WSᵀ (WS WSᵀ)⁻¹ with WS WSᵀ = [[1, c], [c, 1]]
        e1 = (w1 - cth[:, None] * w2) / den[:, None]
        e2 = (w2 - cth[:, None] * w1) / den[:, None]
        E = torch.stack([e1, e2], dim=2)
        p = -(E @ bS[:, :, None])[:, :, 0]
        return d, p, E, ok
    Q, Rm = torch.linalg.qr(WS.transpose(1, 2), mode="complete")  # (B, r, r), (B, r, q)
    diag = torch.diagonal(Rm[:, :q, :q], dim1=1, dim2=2).abs()
    ok = diag.amin(1) > _TOL_DEP
    Rq = torch.where(ok[:, None, None], Rm[:, :q, :q], torch.eye(q, dtype=dt, device=dev).expand(B, q, q))
    E = Q[:, :, :q] @ torch.linalg.inv(Rq).transpose(1, 2)
    d = Q[:, :, q]
    p = -(E @ bS[:, :, None])[:, :, 0]
    return d, p, E, ok


@dataclass
class _Run:
    """Mutable state of one exact search."""

    net: _Network
    arr: _Arrangement
    strategy: str
    tol: float
    tol_inc: float
    chunk_size: int
    seen: _SeenKeys | None
    screen: Tensor
    rng: np.random.Generator
    n_vertex_systems: int = 0
    n_line_systems: int = 0
    n_vertices: int = 0
    n_regions: int = 0
    found: list[tuple[Tensor, Tensor, Tensor, Tensor]] = field(default_factory=list)
    singular: list[Tensor] = field(default_factory=list)
    degenerate: list[Tensor] = field(default_factory=list)
    degenerate_keys: set[bytes] = field(default_factory=set)
    workspace: dict[str, Tensor] = field(default_factory=dict)
    required_idx: Tensor | None = None
    required_sign: Tensor | None = None
    bit_patterns: dict[int, Tensor] = field(default_factory=dict)
    bit_weights: Tensor | None = None

    def __post_init__(self) -> None:
        dev = self.arr.W.device
        self.required_idx = torch.nonzero(self.arr.required >= 0).reshape(-1)
        self.required_sign = 2 * self.arr.required[self.required_idx].to(self.arr.W.dtype) - 1
        r = self.arr.r
        self.bit_weights = 2 ** torch.arange(max(r, 1), device=dev)
        for q in range(r + 1):
            codes = torch.arange(2**q, device=dev)
            self.bit_patterns[q] = ((codes[:, None] // self.bit_weights[None, :q]) % 2).to(torch.bool)


class _SeenKeys:
    """A global set of int64 keys as sorted runs merged log-structurally (bounded memory per key)."""

    def __init__(self) -> None:
        self.runs: list[Tensor] = []

    def add_new(self, keys: Tensor) -> Tensor:
        """keys: (n,) unique. Returns (n,) bool: not seen before (and records them)."""
        new = torch.ones(keys.shape[0], dtype=torch.bool, device=keys.device)
        for run in self.runs:
            pos = torch.searchsorted(run, keys).clamp_max(run.numel() - 1)
            new &= run[pos] != keys
        fresh = torch.sort(keys[new]).values
        if fresh.numel():
            self.runs.append(fresh)
            while len(self.runs) > 1 and self.runs[-2].numel() <= 2 * self.runs[-1].numel():
                last = self.runs.pop()
                self.runs[-1] = torch.sort(torch.cat([self.runs[-1], last])).values
        return new

    def __len__(self) -> int:
        return sum(int(r.numel()) for r in self.runs)


def _hash_key(h: Tensor) -> Tensor:
    """(…, 2) int64 sums → one 62-bit key from both hashes mod the prime."""
    h = torch.remainder(h, _PRIME)
    return h[..., 0] * (2**31) + h[..., 1]


def _workspace(run: _Run, name: str, numel: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A reusable flat buffer of at least ``numel`` elements: large fresh allocations cost page
    faults that dominate this memory-bound loop (measured 15× slower cumsum into new memory)."""
    buf = run.workspace.get(name)
    if buf is None or buf.numel() < numel or buf.dtype != dtype or buf.device != device:
        buf = torch.empty(max(numel, 1), dtype=dtype, device=device)
        run.workspace[name] = buf
    return buf[:numel]


def _sort_rows(t: Tensor) -> tuple[Tensor, Tensor]:
    """Sort each row ascending: (values, indices). numpy's SIMD argsort on CPU (≈6× torch.sort's
    speed there), torch.sort on other devices."""
    if t.device.type == "cpu":
        tn = t.numpy()
        order = np.argsort(tn, axis=1)
        return torch.from_numpy(np.take_along_axis(tn, order, axis=1)), torch.from_numpy(order)
    return torch.sort(t, dim=1)


def _sweep_chunk(run: _Run, lines: Tensor) -> None:
    """Process one block of lines (B, q): emit cells at the simple vertices, collect degenerate ones."""
    arr = run.arr
    W, b, C1 = arr.W, arr.b, arr.C1
    K, r = W.shape
    q = r - 1
    dev, dt = W.device, W.dtype
    d, p, E, ok = _line_frames(W[lines], b[lines])
    run.n_line_systems += int(lines.shape[0])
    if not bool(ok.all()):
        lines, d, p, E = lines[ok], d[ok], p[ok], E[ok]
    B = lines.shape[0]
    if B == 0:
        return
    alpha = d @ W.T  # (B, K) wₖᵀd
    beta = torch.addmm(b, p, W.T)  # (B, K) wₖᵀp + bₖ
    par = alpha.abs() <= _TOL_PAR
    if q:
        par.scatter_(1, lines, True)
    online = par & (beta.abs() <= run.tol_inc)
    if q:
        online.scatter_(1, lines, True)
    line_deg = online.sum(1) > q
    # the part of the line inside the box, from the required sides of the box faces
    req = run.required_idx
    lo_t = hi_t = None
    if req.numel():
        s = run.required_sign[None, :]
        A_, B_ = s * alpha[:, req], s * beta[:, req]  # need A_ t + B_ ≥ 0
        par_r = par[:, req]
        tq = -B_ / torch.where(par_r, torch.ones_like(A_), A_)
        lo_t = torch.where(~par_r & (A_ > 0), tq, torch.full_like(tq, -math.inf)).amax(1)
        hi_t = torch.where(~par_r & (A_ < 0), tq, torch.full_like(tq, math.inf)).amin(1)
        outside = (par_r & ~online[:, req] & (B_ < 0)).any(1)
        reach = (lo_t <= hi_t) & ~outside
        if not bool(reach.all()):
            keep = torch.nonzero(reach).reshape(-1)
            lines, d, p, E, alpha, beta, par, online, line_deg, lo_t, hi_t = (
                x[keep] for x in (lines, d, p, E, alpha, beta, par, online, line_deg, lo_t, hi_t)
            )
            B = lines.shape[0]
            if B == 0:
                return
    t = -beta / alpha
    t.masked_fill_(par, math.inf)
    ts, order = _sort_rows(t)
    finite = ts < math.inf
    inside = finite if lo_t is None else finite & (ts >= lo_t[:, None]) & (ts <= hi_t[:, None])
    max_s = lines[:, -1] if q else torch.full((B,), -1, dtype=torch.int64, device=dev)
    own = order > max_s[:, None]  # the vertex S ∪ {k} is handled on this line only
    run.n_vertex_systems += int((finite & own).sum())  # every intersection computed, in the box or not
    counted = inside & own
    # several crossings at one t, or a line lying in an extra hyperplane: degenerate vertices
    close = (ts[:, 1:] - ts[:, :-1]) <= run.tol_inc
    deg = line_deg[:, None].expand(B, K).clone()
    deg[:, 1:] |= close
    deg[:, :-1] |= close
    deg &= inside
    if bool(deg.any()):
        first = deg.clone()
        first[:, 1:] &= ~close  # one representative per run of equal t
        li, pj = torch.nonzero(first, as_tuple=True)
        run.degenerate.append(p[li] + ts[li, pj, None] * d[li])
    emit = counted & ~deg
    gd = d @ arr.g if run.strategy == "canonical" else None  # (B,) gᵀd
    if gd is not None and req.numel():
        # a box face crossed at this vertex must be on its inside in the cell (σₖ = [gᵀd/αₖ > 0]);
        # filtered on the grid, before any per-cell work
        req_k = arr.required[order]
        sig_grid = (gd[:, None] * alpha.gather(1, order) > 0).to(torch.int8)
        emit &= ~((req_k >= 0) & (sig_grid != req_k))
    if not bool(emit.any()):
        return
    # Prefix sums of the signed terms in crossing order give every vertex's cell system: crossing k
    # (increasing t) flips its side from [αₖ < 0] to [αₖ > 0], i.e. adds sign(αₖ)·C1ₖ. One gather from
    # the table [C1; −C1; 0] into a reused buffer, then an in-place cumsum (this loop is memory-bound).
    D = C1.shape[1]
    a_sorted = torch.gather(alpha, 1, order)
    tab = order + K * (a_sorted < 0)
    tab.masked_fill_(~finite, 2 * K)
    cum = _workspace(run, "cum", B * K * D, dt, dev).view(B * K, D)
    torch.index_select(arr.table, 0, tab.reshape(-1), out=cum)
    below = (~par & (alpha < 0)) | (par & ~online & (beta > 0))  # side of each hyperplane at t = −∞
    base = torch.addmm(arr.const, below.to(dt), C1)
    cum3 = cum.view(B, K, D)
    cum3[:, 0] += base  # the line's terms at t = −∞ ride along in the prefix sum
    cum3.cumsum_(1)
    flat = torch.nonzero(emit.reshape(-1)).reshape(-1)
    li = flat // K
    k = order.reshape(-1)[flat]
    alpha_k = a_sorted.reshape(-1)[flat]
    t_e = ts.reshape(-1)[flat]
    # base + inclusive prefix − [αₖ > 0]·C1ₖ is the system of every hyperplane but the vertex's own
    state = cum.index_select(0, flat)
    run.n_vertices += int(flat.shape[0])
    if run.strategy == "canonical":
        # edges at the vertex: eₖ = d/αₖ along the line, eⱼ = Eⱼ − (wₖᵀEⱼ/αₖ) d in Hₖ (j ∈ S); the cell
        # whose lowest point along g this vertex is has σ = [gᵀe > 0] on each of them
        ratio = gd.index_select(0, li) / alpha_k
        sig_k = ratio > 0
        coef_k = sig_k.to(torch.int64) - (alpha_k > 0).to(torch.int64)  # σₖ − [αₖ > 0] ∈ {−1, 0, 1}
        idx_k = torch.where(coef_k == 0, 2 * K, k + K * (coef_k < 0))
        state += arr.table.index_select(0, idx_k)
        if q:
            gE = (E * arr.g[None, :, None]).sum(1)  # (B, q) gᵀEⱼ
            WE = torch.matmul(W, E).reshape(B * K, q)  # wₘᵀEⱼ per line
            sig_S = (gE.index_select(0, li) - WE.index_select(0, li * K + k) * ratio[:, None]) > 0
            S_idx = lines.index_select(0, li)
            # the 2^q possible terms of the line's own hyperplanes, one gather per cell
            bits = run.bit_patterns[q]  # (2^q, q)
            s_table = (bits.to(dt)[None, :, :, None] * C1[lines][:, None]).sum(2).reshape(-1, D)
            code = (sig_S.to(torch.int64) * run.bit_weights[:q]).sum(1)
            state += s_table.index_select(0, li * bits.shape[0] + code)
            sig = torch.cat([sig_S, sig_k[:, None]], dim=1)
            incident = torch.cat([S_idx, k[:, None]], dim=1)
        else:
            sig, incident = sig_k[:, None], k[:, None]
        if q and req.numel():
            # lines through a box face: its side in the cell must be the inside (k was checked above)
            face_line = (arr.required[lines] >= 0).any(1)
            if bool(face_line.any()):
                sel = torch.nonzero(face_line.index_select(0, li)).reshape(-1)
                req_S = arr.required[S_idx[sel]]
                bad = ((req_S >= 0) & (req_S != sig_S[sel].to(torch.int8))).any(1)
                if bool(bad.any()):
                    good = torch.ones(li.shape[0], dtype=torch.bool, device=dev)
                    good[sel[bad]] = False
                    state, incident, sig, li, t_e = state[good], incident[good], sig[good], li[good], t_e[good]
        _check_cells(run, state, incident, sig, (p, d, li, t_e))
        return
    state -= (alpha_k > 0).to(dt)[:, None] * C1[k]
    incident = torch.cat([lines[li], k[:, None]], dim=1)  # (n, r)
    v = p[li] + t_e[:, None] * d[li]
    # dedup: all 2^r local patterns, hashed and deduplicated globally; the hash sums are built along
    # the line exactly like the systems
    hsgn = torch.sign(a_sorted).to(torch.int64) * finite
    hdelta = arr.hash_coef[order] * hsgn[:, :, None]
    hcum = torch.cumsum(hdelta, dim=1) - hdelta
    hbase = below.to(torch.int64) @ arr.hash_coef
    pj = flat % K
    hstate = hbase[li] + hcum[li, pj] - (alpha_k < 0).to(torch.int64)[:, None] * arr.hash_coef[k]
    local = torch.tensor(
        np.array(np.meshgrid(*[[0, 1]] * r, indexing="ij")).reshape(r, -1).T, dtype=torch.bool, device=dev
    )  # (2^r, r)
    n, P = li.shape[0], local.shape[0]
    sig = local[None].expand(n, P, r)
    req_inc = arr.required[incident][:, None, :]
    good = ((req_inc < 0) | (req_inc == sig.to(torch.int8))).all(2)
    keys = _hash_key(hstate[:, None, :] + (sig.to(torch.int64)[..., None] * arr.hash_coef[incident][:, None]).sum(2))
    cell_state = state[:, None, :] + (sig.to(dt)[..., None] * C1[incident][:, None]).sum(2)
    flat = torch.nonzero(good.reshape(-1)).reshape(-1)
    if flat.numel() == 0:
        return
    keys = keys.reshape(-1)[flat]
    uniq, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((uniq.numel(),), flat.numel(), dtype=torch.int64, device=dev)
    first.scatter_reduce_(0, inverse, torch.arange(flat.numel(), device=dev), reduce="amin")
    pick = flat[first[run.seen.add_new(uniq)]]
    vi = pick // P
    _check_cells(run, cell_state.reshape(n * P, -1)[pick], incident[vi], sig.reshape(n * P, r)[pick], v[vi])


def _check_cells(
    run: _Run, state: Tensor, incident: Tensor, sig: Tensor, v: Tensor | tuple[Tensor, Tensor, Tensor, Tensor]
) -> None:
    """Solve the cells' systems and keep solutions inside their cell.

    state: (n, D); incident: (n, r) the vertex's hyperplanes, sig: (n, r) their sides in the cell;
    v: (n, r) the vertex (swept coordinates), or (p (B, r), d (B, r), line (n,), t (n,)) to compute
    it only where needed. Cheap necessary checks first (the cone at v, then a fixed random sample of
    hyperplanes), the full O(K) check only for the few survivors.
    """
    n = state.shape[0]
    run.n_regions += n
    if n == 0:
        return
    arr = run.arr
    if isinstance(v, tuple):
        p_, d_, li_, t_ = v

        def vert(sel: Tensor) -> Tensor:
            return p_[li_[sel]] + t_[sel, None] * d_[li_[sel]]
    else:
        v_ = v

        def vert(sel: Tensor) -> Tensor:
            return v_[sel]

    z, S, singular = _solve_systems(state, run.net.a)
    keep = torch.arange(n, device=z.device)
    if bool(singular.any()):
        sel = torch.nonzero(singular).reshape(-1)
        run.singular.append(_full_sides(run, vert(sel), incident[sel], sig[sel]))
        keep = torch.nonzero(~singular).reshape(-1)
        z, S, incident, sig = z[keep], S[keep], incident[keep], sig[keep]
    tol_c = _tol_cons(run, z)
    Wi = arr.Wz[incident]  # (n, r, R)
    f_inc = arr.b[incident]
    for c in range(z.shape[1]):  # R small: explicit products beat a batched tiny bmm
        f_inc = f_inc + Wi[:, :, c] * z[:, c : c + 1]
    ok = torch.where(sig, f_inc >= -tol_c[:, None], f_inc <= tol_c[:, None]).all(1)
    v = None
    if run.screen.numel() and bool(ok.any()):
        idx = torch.nonzero(ok).reshape(-1)
        v = vert(keep[idx])
        sc = run.screen
        fv = v @ arr.W[sc].T + arr.b[sc]
        fz = z[idx] @ arr.Wz[sc].T + arr.b[sc]
        tc = tol_c[idx, None]
        good = (fv.abs() <= run.tol_inc) | torch.where(fv > 0, fz >= -tc, fz <= tc)
        ok[idx] = good.all(1)
    if not bool(ok.any()):
        return
    idx = torch.nonzero(ok).reshape(-1)
    sides = _full_sides(run, vert(keep[idx]), incident[idx], sig[idx])
    inside = _in_cell(run, z[idx], sides)
    idx, sides = idx[inside], sides[inside]
    if idx.numel():
        iso = torch.ones(idx.numel(), dtype=torch.bool, device=z.device)
        run.found.append((z[idx], S[idx], sides, iso))


def _tol_cons(run: _Run, z: Tensor) -> Tensor:
    """(n,) absolute tolerance of the cell-membership test at points z (n, R)."""
    return 10 * run.tol * (run.arr.scale + z.abs().amax(1))


def _full_sides(run: _Run, v: Tensor, incident: Tensor, sig: Tensor) -> Tensor:
    """(n, K') sides of all swept hyperplanes in the cell: evaluated at the vertex, incident ones given."""
    sides = (v @ run.arr.W.T + run.arr.b) > 0
    sides.scatter_(1, incident, sig)
    return sides


def _in_cell(run: _Run, z: Tensor, sides: Tensor) -> Tensor:
    """(n,) z (n, R) lies in the closed cell with these sides (n, K') (and its required sides hold)."""
    arr = run.arr
    f = z @ arr.Wz.T + arr.b
    tc = _tol_cons(run, z)[:, None]
    ok = torch.where(sides, f >= -tc, f <= tc).all(1)
    req = arr.required >= 0
    if bool(req.any()):
        ok &= (sides[:, req] == (arr.required[req] == 1)[None, :]).all(1)
    return ok


def _degenerate_vertices(run: _Run) -> None:
    """Cells around the collected degenerate vertices, each vertex once (by its incidence set)."""
    if not run.degenerate:
        return
    arr = run.arr
    V = torch.cat(run.degenerate)
    run.degenerate = []
    F = V @ arr.W.T + arr.b
    inc = F.abs() <= 2 * run.tol_inc
    packed = np.packbits(inc.cpu().numpy(), axis=1)
    g = arr.g.cpu().numpy() if run.strategy == "canonical" else None
    dev = V.device
    counter = [0]
    for i in range(V.shape[0]):
        key = packed[i].tobytes()
        if key in run.degenerate_keys:
            continue
        run.degenerate_keys.add(key)
        cols = torch.nonzero(inc[i]).reshape(-1)
        local = _local_cells(arr.W[cols].cpu().numpy(), g, run.tol, run.rng, counter)
        if local.shape[0] == 0:
            continue
        run.n_vertices += 1
        sides = (F[i] > 0)[None, :].repeat(local.shape[0], 1)
        sides[:, cols] = torch.as_tensor(local, device=dev)
        req = arr.required >= 0
        good = (
            (sides[:, req] == (arr.required[req] == 1)[None, :]).all(1)
            if bool(req.any())
            else torch.ones(sides.shape[0], dtype=torch.bool, device=dev)
        )
        sides = sides[good]
        if sides.shape[0] == 0:
            continue
        if run.strategy == "dedup":
            keys = _hash_key(sides.to(torch.int64) @ arr.hash_coef)
            uniq, inverse = torch.unique(keys, return_inverse=True)
            first = torch.full((uniq.numel(),), sides.shape[0], dtype=torch.int64, device=dev)
            first.scatter_reduce_(0, inverse, torch.arange(sides.shape[0], device=dev), reduce="amin")
            sides = sides[first[run.seen.add_new(uniq)]]
        _check_sides(run, sides)
    run.n_vertex_systems += counter[0]


def _check_sides(run: _Run, sides: Tensor) -> None:
    """Solve cells given by all their sides (n, K') and keep the consistent solutions."""
    n = sides.shape[0]
    run.n_regions += n
    if n == 0:
        return
    state = sides.to(run.arr.C1.dtype) @ run.arr.C1 + run.arr.const
    z, S, singular = _solve_systems(state, run.net.a)
    if bool(singular.any()):
        run.singular.append(sides[singular])
    keep = torch.nonzero(~singular).reshape(-1)
    inside = _in_cell(run, z[keep], sides[keep])
    keep = keep[inside]
    if keep.numel():
        run.found.append((z[keep], S[keep], sides[keep], torch.ones(keep.numel(), dtype=torch.bool, device=z.device)))


def _singular_cells(run: _Run) -> None:
    """Cells whose system is singular: least squares, then a point of the solution set in the cell."""
    if not run.singular:
        return
    sides = torch.cat(run.singular)
    run.singular = []
    arr = run.arr
    states = sides.to(arr.C1.dtype) @ arr.C1 + arr.const
    for i in range(sides.shape[0]):
        pt = _continuum_point(run, states[i], sides[i])
        if pt is not None:
            z, S = pt
            run.found.append((z[None], S[None], sides[i : i + 1], torch.zeros(1, dtype=torch.bool, device=z.device)))


def _continuum_point(run: _Run, state: Tensor, sides: Tensor) -> tuple[Tensor, Tensor] | None:
    R = run.net.R
    a = run.net.a
    S = state[: R * R].reshape(R, R)
    A = (torch.diag(1 - a) - S).cpu().double().numpy()
    rhs = state[R * R :].cpu().double().numpy()
    z_ls, *_ = np.linalg.lstsq(A, rhs, rcond=None)
    scale = 1 + np.abs(rhs).max() + np.abs(A).max() * np.abs(z_ls).max()
    if np.abs(A @ z_ls - rhs).max() > 1e3 * run.tol * scale:
        return None  # inconsistent: no fixed point in this (whole) cell
    z_t = torch.as_tensor(z_ls, dtype=state.dtype, device=state.device)
    if bool(_in_cell(run, z_t[None], sides[None])[0]):
        return z_t, S
    # the solutions form z_ls + ker(A); find one inside the cell with a linear program
    from scipy.optimize import linprog

    _, sv, vt = np.linalg.svd(A)
    null = vt[(sv <= 1e-9 * max(sv.max(), 1e-300)).nonzero()[0]].T if sv.size else np.eye(R)
    if null.shape[1] == 0:
        return None
    Wz, b = run.arr.Wz.cpu().double().numpy(), run.arr.b.cpu().double().numpy()
    sgn = np.where(sides.cpu().numpy(), 1.0, -1.0)
    # sgn·(Wz (z_ls + null λ) + b) ≥ 0
    A_ub = -(sgn[:, None] * (Wz @ null))
    b_ub = sgn * (Wz @ z_ls + b)
    res = linprog(np.zeros(null.shape[1]), A_ub=A_ub, b_ub=b_ub, bounds=[(None, None)] * null.shape[1], method="highs")
    if res.status != 0:
        return None
    z = torch.as_tensor(z_ls + null @ res.x, dtype=state.dtype, device=state.device)
    return (z, S) if bool(_in_cell(run, z[None], sides[None])[0]) else None


# --------------------------------------------------------------------------------------------
# assembling results
# --------------------------------------------------------------------------------------------


def _labels(net: _Network, sides_orig: np.ndarray) -> list[str]:
    """(P, K) original sides → one character per unit, run-length coded beyond 64 units."""
    if net.nonlinearity == "relu":
        digits = sides_orig.astype(np.int8)
    else:
        s1, s2 = sides_orig[:, 0::2], sides_orig[:, 1::2]
        digits = np.where(s1 & s2, 2, np.where(s1 | s2, 1, 0)).astype(np.int8)
    out = []
    for row in digits:
        text = "".join("012"[x] for x in row)
        if len(text) > 64:
            change = np.flatnonzero(np.diff(row)) + 1
            starts = np.concatenate([[0], change])
            ends = np.concatenate([change, [len(row)]])
            text = ",".join(f"{row[s]}x{e - s}" for s, e in zip(starts, ends))
        out.append(text)
    return out


def _assemble(
    net: _Network,
    zs: Tensor,
    Ss: Tensor,
    sides_orig: Tensor,
    isolated: Tensor,
    box: tuple[Tensor, Tensor] | None,
    tol: float,
    scale: float,
) -> dict[str, Any]:
    """Deduplicate candidate fixed points and compute Jacobians, spectra, labels, residuals."""
    R = net.R
    Z = zs.detach().cpu().double().numpy().reshape(-1, R)
    S = Ss.detach().cpu().double().numpy().reshape(-1, R, R)
    sides = sides_orig.detach().cpu().numpy().reshape(Z.shape[0], sides_orig.shape[-1]).astype(bool)
    iso = isolated.detach().cpu().numpy().reshape(-1).astype(bool)
    labels_all = _labels(net, sides) if Z.shape[0] else []
    # deterministic representative per point: sort by label, then keep the first within tolerance
    order = np.argsort(np.array(labels_all, dtype=object), kind="stable") if Z.shape[0] else np.zeros(0, int)
    reps: list[int] = []
    members: list[list[int]] = []
    rep_z = np.zeros((0, R))
    for i in order:
        if rep_z.shape[0]:
            dist = np.abs(rep_z - Z[i]).max(1)
            near = np.flatnonzero(dist <= 1e3 * tol * (scale + np.abs(Z[i]).max()))
            if near.size:
                members[near[0]].append(i)
                continue
        reps.append(int(i))
        members.append([int(i)])
        rep_z = np.vstack([rep_z, Z[i]])
    a = net.a.detach().cpu().double().numpy()
    P = len(reps)
    z = Z[reps] if P else np.zeros((0, R))
    jac = np.diag(a)[None] + S[reps] if P else np.zeros((0, R, R))
    eig = np.linalg.eigvals(jac) if P else np.zeros((0, R), complex)
    isolated_out = np.array([bool(iso[m].all()) for m in members], bool)
    srt = np.lexsort(z.T[::-1]) if P else np.zeros(0, int)
    z, jac, eig, isolated_out = z[srt], jac[srt], eig[srt], isolated_out[srt]
    labels = [labels_all[reps[i]] for i in srt]
    # order eigenvalues by decreasing modulus for a stable presentation
    eord = np.argsort(-np.abs(eig), axis=1, kind="stable")
    eig = np.take_along_axis(eig, eord, axis=1)
    zt = torch.as_tensor(z, dtype=torch.float64)
    Fz = piecewise_map(
        zt,
        net.M.cpu().double(),
        net.Nt.cpu().double(),
        net.h.cpu().double(),
        net.a.cpu().double(),
        net.nonlinearity,
        net.c.cpu().double(),
    ).numpy()
    residuals = np.abs(Fz - z).max(1) if P else np.zeros(0)
    W0, b0 = net.W0.cpu().double().numpy(), net.b0.cpu().double().numpy()
    norms = np.linalg.norm(W0, axis=1)
    nz = norms > 0
    if P and nz.any():
        dist = np.abs(z @ W0[nz].T + b0[nz]) / norms[nz]
        on_boundary = (dist <= 10 * tol * (scale + np.abs(z).max(1, keepdims=True))).any(1)
    else:
        on_boundary = np.zeros(P, bool)
    stable = np.abs(eig).max(1) < 1 if P else np.zeros(0, bool)
    box_np = None if box is None else (box[0].cpu().double().numpy(), box[1].cpu().double().numpy())
    return {
        "z": z,
        "jacobians": jac,
        "eigenvalues": eig,
        "stable": stable,
        "regions": labels,
        "isolated": isolated_out,
        "on_boundary": on_boundary,
        "residuals": residuals,
        "box": box_np,
    }


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def exact_fixed_points(
    M: Any,
    N: Any,
    h: Any,
    a: Any,
    nonlinearity: str = "relu",
    offset: Any = None,
    *,
    box: Any = None,
    chunk_size: int = 1 << 17,
    device: Any = None,
    dtype: torch.dtype = torch.float64,
    tol: float = 1e-9,
    strategy: str = "auto",
    seed: int = 0,
) -> PiecewiseFixedPoints:
    """All fixed points of F(z) = a ⊙ z + Nᵀ φ(M z + offset) (Pals et al. 2024, Prop. 1).

    Parameters
    ----------
    M, N : (N, R) arrays (numpy or torch); h : (N,); a : scalar or (R,) in [0, 1);
    nonlinearity : ``"relu"`` or ``"clipped"``; offset : (N,) constant input term c, default 0.
    box : (lo, hi), each (R,) or scalar — only fixed points in this box are wanted (pruned
        search, see the module docstring). Default: the sound box for clipped, none for relu.
    chunk_size : (line × hyperplane) entries per streamed block; bounds memory (~100 B each).
    device : torch device (``"cuda"``, ``"auto"``, …); default CPU.
    dtype : float dtype of the computation (float64 recommended).
    tol : relative tolerance of incidence and cell membership (scaled by 1 + the largest
        distance of a hyperplane from the origin).
    strategy : ``"auto"`` (canonical with a box, dedup without), ``"canonical"`` (needs a box),
        ``"dedup"`` (Prop. 1 / Algorithm 1 of the paper: all 2^R patterns per vertex, hashed).
    seed : seeds the generic direction and hash coefficients (results do not depend on it).

    Returns
    -------
    PiecewiseFixedPoints
    """
    t0 = time.perf_counter()
    if strategy not in STRATEGIES:
        raise ConfigError("strategy", f"must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ConfigError("chunk_size", f"must be a positive integer, got {chunk_size!r}")
    dev = _resolve_device(device)
    net = _network(M, N, h, a, nonlinearity, offset, dev, dtype)
    eff_box, empty_box = _effective_box(net, box, dev, dtype)
    if strategy == "canonical" and eff_box is None:
        raise ConfigError("strategy", "'canonical' needs a box (every cell must be bounded); pass box=(lo, hi)")
    strat = strategy if strategy != "auto" else ("canonical" if eff_box is not None else "dedup")
    arr = _arrangement(net, None if empty_box else eff_box, tol, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    n_screen = min(_N_SCREEN, arr.K)
    screen = torch.randperm(arr.K, generator=gen)[:n_screen].to(dev)
    run = _Run(
        net,
        arr,
        strat,
        tol,
        tol * arr.scale,
        chunk_size,
        _SeenKeys() if strat == "dedup" else None,
        screen,
        np.random.default_rng(seed),
    )
    if empty_box:
        pass  # the box lies outside the sound region: nothing to search
    elif arr.r == 0:
        # no hyperplane splits the space: one cell
        sides = torch.zeros(1, 0, dtype=torch.bool, device=dev)
        _check_sides(run, sides)
    else:
        q = arr.r - 1
        per_chunk = max(1, chunk_size // max(arr.K, 1))
        for lines in _combination_chunks(arr.K, q, per_chunk, dev):
            _sweep_chunk(run, lines)
            if sum(x.shape[0] for x in run.degenerate) > 4096:
                _degenerate_vertices(run)
        _degenerate_vertices(run)
    _singular_cells(run)
    return _finish(run, eff_box, t0, "exact piecewise-linear")


def _finish(run: _Run, box: tuple[Tensor, Tensor] | None, t0: float, method: str) -> PiecewiseFixedPoints:
    net, arr = run.net, run.arr
    if run.found:
        zs = torch.cat([f[0] for f in run.found])
        Ss = torch.cat([f[1] for f in run.found])
        sides = arr.expand(torch.cat([f[2] for f in run.found]), zs, net.W0, net.b0)
        iso = torch.cat([f[3] for f in run.found])
    else:
        R = net.R
        zs = torch.zeros(0, R)
        Ss = torch.zeros(0, R, R)
        sides = torch.zeros(0, net.W0.shape[0], dtype=torch.bool)
        iso = torch.zeros(0, dtype=torch.bool)
    parts = _assemble(net, zs, Ss, sides, iso, box, run.tol, arr.scale)
    return PiecewiseFixedPoints(
        n_linear_solves=run.n_vertex_systems + run.n_regions,
        n_regions=run.n_regions,
        n_vertices=run.n_vertices,
        seconds=time.perf_counter() - t0,
        n_vertex_systems=run.n_vertex_systems,
        n_line_systems=run.n_line_systems,
        method=method,
        strategy=run.strategy,
        **parts,
    )


def to_fixed_points(result: PiecewiseFixedPoints, method: str = "exact piecewise-linear") -> list:
    """The project's :class:`~neurodyn.analysis.fixed_points.FixedPoint` list for a result."""

    return [
        FixedPoint(
            z=result.z[i].copy(),
            jacobian=result.jacobians[i].copy(),
            eigenvalues=result.eigenvalues[i].copy(),
            stable=bool(result.stable[i]),
            method=method if result.isolated[i] else f"{method} (non-isolated: singular cell system)",
            residual=float(result.residuals[i]),
            region=result.regions[i],
        )
        for i in range(len(result))
    ]


__all__ = [
    "NONLINEARITIES",
    "PiecewiseFixedPoints",
    "exact_fixed_points",
    "piecewise_map",
    "to_fixed_points",
]
