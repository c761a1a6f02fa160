"""The smallest low-rank RNN for a flow, by orthogonal matching pursuit.

Reference: "A new look at low-rank recurrent neural networks" (anonymous, under review), Sec. 4,
Eq. 12 and Algorithm 1.

From a large candidate basis φ(m_j·z + I_j), j = 1..C, greedily pick the neurons whose basis
functions best explain the flow: the linear decay term −decay·z is fixed (the network's leak), the
regression target is dz + decay·z, and at each step

1. the candidate whose normalised column is most aligned with the current residual is selected
   (score ‖φ̂_jᵀ R‖², the squared correlation summed over latent dimensions for r > 1; the
   ``"ols"`` variant divides it by the squared norm of the candidate's part orthogonal to the
   chosen neurons, which is the exact drop of the residual),
2. all selected readout weights are refitted by least squares (orthogonal matching pursuit),

until the relative MSE mean‖fit − dz‖² / mean‖dz‖² is ≤ tol or ``max_neurons`` are used.

Efficiency: the normalised candidate columns are computed once; the refit is an incremental QR
(classical Gram–Schmidt with one re-orthogonalisation, "CGS2") of the selected columns, so the
residual update after adding a neuron is one rank-1 projection. A step costs O(P·C·r) for the
selection, O(P·C) to update the candidates' orthogonal norms and O(P·k) for the QR update; the
readout N is one k×k triangular solve at the end.

Scale: by default (``basis_scale="data"``) the candidates are drawn for standardised coordinates
z' = (z − centre)/spread (midrange and half-range of the samples per dimension, see
:func:`~neurodyn.lowrank.embedding.data_scaling`) and mapped back exactly, M = M'/spread and
I = I' − M'·(centre/spread), so the same flow sampled at any scale or shift of z needs the same
neurons. ``basis_scale="fixed"`` uses ``input_scale``/``weight_scale`` in the units of z.

Refinement (``refine=True``): the greedy choice is limited to the candidate grid; the selected
slopes and offsets are then adjusted continuously by nonlinear least squares with the readout
eliminated (variable projection: N is the linear least-squares solution for the current M, I inside
the residual), starting from the OMP selection, and the fewest leading OMP neurons that reach ``tol``
after refinement are kept.

Note: Algorithm 1 also refits the decay weight n_0 (Eq. 12); here the decay is the network's
fixed leak (ẋ = −decay·x), so the selected neurons alone absorb everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import least_squares

from neurodyn.errors import ConfigError
from neurodyn.lowrank.choices import BASIS_SCALES, SELECTIONS
from neurodyn.lowrank.embedding import (
    LowRankFlow,
    activation,
    activation_slope,
    as_points,
    data_scaling,
    design_matrix,
    relative_mse,
    sample_basis,
    unscale_basis,
)

# a selected column whose part orthogonal to the columns already chosen is below this fraction of
# its norm adds nothing the least squares can use (and would make the triangular factor singular)
DEPENDENT_COLUMN = 1e-8
# candidates with less than this squared fraction of their unit column outside the span of the
# selected ones are skipped: their scores would be rounding noise divided by rounding noise
NEARLY_SPANNED = 1e-10
# function evaluations allowed to one refinement, per parameter
REFINE_EVALS_PER_PARAM = 40
# ridge on the refined readout, per sample point and in units of mean‖dz‖²: a readout n_i of 10× the
# typical |dz| costs about 1e-5 of the relative MSE, one of 1e4× costs more than everything else
REFINE_RIDGE = 1e-7


@dataclass(frozen=True)
class OMPResult:
    """Outcome of :func:`omp_lowrank`.

    flow: the fitted :class:`LowRankFlow` with k = n_neurons selected neurons (M, N: k×r; I: k);
    rel_mse: mean‖flow(z) − dz‖² / mean‖dz‖² at the samples; curve: (k,) list, the relative MSE
    after each added neuron (non-increasing); selected: (k,) indices into the candidate basis in
    the order added; rel_mse_linear: the relative MSE of the decay term alone (0 neurons);
    reached_tol: whether rel_mse ≤ tol; n_candidates: size C of the candidate basis; refined:
    whether the continuous refinement changed the flow (then M, I are no longer the candidates'
    and ``curve`` is the greedy curve of the first k neurons, before refinement).
    """

    flow: LowRankFlow
    n_neurons: int
    rel_mse: float
    curve: list[float]
    selected: np.ndarray
    rel_mse_linear: float
    reached_tol: bool
    n_candidates: int
    refined: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: n_neurons, rel_mse, curve, selected, … plus the flow's M, N, I, decay, nonlinearity."""
        return {
            "n_neurons": self.n_neurons,
            "rel_mse": float(self.rel_mse),
            "curve": [float(c) for c in self.curve],
            "rel_mse_linear": float(self.rel_mse_linear),
            "reached_tol": bool(self.reached_tol),
            "n_candidates": int(self.n_candidates),
            "refined": bool(self.refined),
            "selected": [int(i) for i in self.selected],
            **self.flow.to_json(),
        }


def check_samples(z: np.ndarray, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate sample points z and target velocities dz: both (P×r) (or (P,)), finite, P ≥ 2, dz ≠ 0."""
    z, dz = as_points(z), as_points(dz, "dz")
    if dz.shape != z.shape:
        raise ConfigError("dz", f"must have z's shape {z.shape}, got {dz.shape}")
    if z.shape[0] < 2:
        raise ConfigError("z", f"needs at least 2 sample points, got {z.shape[0]}")
    for name, values in (("z", z), ("dz", dz)):
        if not np.all(np.isfinite(values)):
            raise ConfigError(name, "contains NaN or infinite values")
    if not np.any(dz):
        raise ConfigError("dz", "is zero everywhere: the relative MSE is undefined")
    return z, dz


def _greedy(
    Phi: np.ndarray, target: np.ndarray, scale: float, *, tol: float, max_k: int, selection: str
) -> tuple[list[int], list[float], np.ndarray]:
    """Steps 5.1–5.2 of Algorithm 1 on the candidate columns Phi (P×C) for target (P×r).

    scale: Σ‖dz‖² (the relative MSE's denominator). Returns the selected column indices in the
    order added, the relative MSE after each, and the readout N (k×r) of the selected columns.
    """
    n_points, n_cand = Phi.shape
    norms = np.linalg.norm(Phi, axis=0)  # (C,)
    # a column that vanishes on every sample (e.g. a relu off everywhere) can never help
    available = norms > DEPENDENT_COLUMN * max(float(norms.max()), 1e-300)
    Phi_unit = Phi / np.where(available, norms, 1.0)  # (P, C) unit columns
    left_sq = np.ones(n_cand)  # ‖unit column ⟂ selected‖²
    residual = target.copy()  # (P, r) = target − fit so far
    Q = np.zeros((n_points, max_k))  # orthonormal basis of selected columns
    R_factor = np.zeros((max_k, max_k))  # Phi[:, selected] = Q R_factor
    Qt_target = np.zeros((max_k, target.shape[1]))
    selected: list[int] = []
    curve: list[float] = []
    rel = float(np.sum(residual**2)) / scale

    while len(selected) < max_k and rel > tol:
        scores = np.sum((Phi_unit.T @ residual) ** 2, axis=1)  # (C,) alignment with the residual
        if selection == "ols":
            scores = scores / np.maximum(left_sq, 1e-300)
        scores[~available | (left_sq < NEARLY_SPANNED)] = -np.inf
        best = int(np.argmax(scores))
        if scores[best] == -np.inf:  # nothing left that adds a direction
            break
        available[best] = False
        t = len(selected)
        column = Phi[:, best]
        # CGS2: two Gram–Schmidt passes keep Q orthonormal to working precision
        coef = Q[:, :t].T @ column
        new = column - Q[:, :t] @ coef
        again = Q[:, :t].T @ new
        new -= Q[:, :t] @ again
        coef += again
        new_norm = float(np.linalg.norm(new))
        if new_norm <= DEPENDENT_COLUMN * norms[best]:
            continue
        q = new / new_norm
        Q[:, t] = q
        R_factor[:t, t] = coef
        R_factor[t, t] = new_norm
        Qt_target[t] = q @ target
        # the least-squares residual loses exactly its component along the new direction
        residual -= np.outer(q, q @ residual)
        selected.append(best)
        left_sq -= (q @ Phi_unit) ** 2
        rel = float(np.sum(residual**2)) / scale
        curve.append(rel)

    k = len(selected)
    N = solve_triangular(R_factor[:k, :k], Qt_target[:k]) if k else np.zeros((0, target.shape[1]))
    return selected, curve, N


def refine_neurons(
    z_std: np.ndarray,
    target: np.ndarray,
    M_std: np.ndarray,
    I_std: np.ndarray,
    nonlinearity: str,
    ridge: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Continuous refinement of k neurons by variable projection (nonlinear least squares).

    Minimises ‖φ(Z' M'ᵀ + I') N − T‖² + ridge·‖N‖² over M' (k×r) and I' (k,), with N (k×r) the
    (ridge) least-squares readout for the current M', I' (Golub–Pereyra variable projection),
    starting from M_std, I_std. z_std: (P×r) points (standardised, for conditioning); target T:
    (P×r) (dz + decay·z). The ridge keeps the readout from growing without bound (two tanh neurons
    of vanishing slope and huge opposite readouts can mimic any cubic). Returns (M', I', N,
    Σ‖φ N − T‖²) at the optimum. The Jacobian is Kaufman's approximation (I − QQᵀ)(∂Φ/∂θ)N, Q an
    orthonormal basis of the (ridge-augmented) Φ's columns.
    """
    k, r = M_std.shape
    n_points, r_out = target.shape
    X = np.hstack([z_std, np.ones((n_points, 1))])  # (P, r+1): ∂(m_i·z' + I_i)/∂(m_i, I_i)
    T_aug = np.vstack([target, np.zeros((k, r_out))])
    root = np.sqrt(ridge) * np.eye(k)

    def solve(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        M, I = theta[: k * r].reshape(k, r), theta[k * r :]
        A = z_std @ M.T + I  # (P, k)
        Phi_aug = np.vstack([activation(A, nonlinearity), root])
        N = np.linalg.lstsq(Phi_aug, T_aug, rcond=None)[0]  # (k, r_out)
        return A, Phi_aug, N

    def residual(theta: np.ndarray) -> np.ndarray:
        _, Phi_aug, N = solve(theta)
        return (Phi_aug @ N - T_aug).ravel()

    def jacobian(theta: np.ndarray) -> np.ndarray:
        A, Phi_aug, N = solve(theta)
        Q = np.linalg.qr(Phi_aug)[0]  # (P+k, k)
        G = activation_slope(A, nonlinearity)[:, :, None] * X[:, None, :]  # (P, k, r+1)
        J = np.zeros((n_points + k, r_out, k, r + 1))
        J[:n_points] = G[:, None, :, :] * N.T[None, :, :, None]  # ∂Φ/∂θ N; the ridge rows do not move
        J -= np.einsum("pq,qjid->pjid", Q, np.einsum("pq,pjid->qjid", Q, J))
        J = J.reshape(-1, k, r + 1)
        return np.hstack([J[:, :, :r].reshape(J.shape[0], k * r), J[:, :, r]])

    theta0 = np.concatenate([M_std.ravel(), I_std])
    sol = least_squares(residual, theta0, jac=jacobian, method="trf", max_nfev=REFINE_EVALS_PER_PARAM * theta0.size)
    A, Phi_aug, N = solve(sol.x)
    misfit = float(np.sum((Phi_aug[:n_points] @ N - target) ** 2))
    return sol.x[: k * r].reshape(k, r), sol.x[k * r :].copy(), N, misfit


def omp_lowrank(
    z: np.ndarray,
    dz: np.ndarray,
    *,
    n_candidates: int = 2000,
    nonlinearity: str = "tanh",
    tol: float = 1e-3,
    max_neurons: int = 50,
    decay: float = 1.0,
    kind: str = "auto",
    input_scale: float = 1.0,
    weight_scale: float = 1.0,
    seed: int | np.random.Generator | None = 0,
    selection: str = "omp",
    basis_scale: str = "data",
    refine: bool = False,
) -> OMPResult:
    """Fewest neurons whose low-rank RNN flow −decay·z + Nᵀφ(M z + I) matches dz (Algorithm 1).

    z, dz: (P×r) sample points and target ż = g(z) there. The C = ``n_candidates`` candidate
    neurons (M_c: C×r, I_c: C) come from :func:`sample_basis` with ``input_scale``,
    ``weight_scale`` and ``seed``; ``kind="auto"`` is the paper's uniform grid of m, I
    (Algorithm 1, step 2) for r ≤ 2 and a Gaussian basis for r > 2.

    ``basis_scale``: ``"data"`` draws the candidates for the standardised z' = (z − centre)/spread
    (midrange and half-range per dimension, so the samples fill [−1, 1]^r; the scales are then in
    units of the spread) and maps them back exactly (M = M'/spread, I = I' − M'·centre/spread), so
    the result does not depend on the scale or offset of z; ``"fixed"`` uses the scales in the
    units of z (slopes and offsets within ±1 suit latents of order 1).

    ``selection``: ``"omp"`` (Algorithm 1, step 5.1) picks the unit candidate column with the
    largest correlation ‖φ̂_jᵀ R‖ with the residual R; ``"ols"`` (orthogonal least squares) divides
    that by the squared norm of the candidate's part orthogonal to the neurons already chosen, i.e.
    picks the largest drop of the residual, which often needs fewer neurons at the same cost.

    Stops when the relative MSE is ≤ ``tol`` or after ``max_neurons`` neurons (or when no candidate
    adds a new direction). ``refine=True`` then adjusts the selected neurons' M and I continuously
    (:func:`refine_neurons`, kept only where it lowers the relative MSE) and keeps the fewest
    leading OMP neurons k that reach ``tol`` once refined (each k = 1, 2, … is tried in turn).
    Returns an :class:`OMPResult`.
    """
    z, dz = check_samples(z, dz)
    if not isinstance(n_candidates, (int, np.integer)) or n_candidates < 1:
        raise ConfigError("n_candidates", f"must be a positive integer, got {n_candidates!r}")
    if not isinstance(max_neurons, (int, np.integer)) or max_neurons < 0:
        raise ConfigError("max_neurons", f"must be an integer >= 0, got {max_neurons!r}")
    if max_neurons > n_candidates:
        raise ConfigError("max_neurons", f"cannot exceed the {n_candidates} candidates, got {max_neurons}")
    if not (np.isfinite(tol) and tol >= 0):
        raise ConfigError("tol", f"must be a finite relative MSE >= 0, got {tol!r}")
    if not np.isfinite(decay):
        raise ConfigError("decay", f"must be finite, got {decay!r}")
    if selection not in SELECTIONS:
        raise ConfigError("selection", f"must be {' or '.join(SELECTIONS)}, got {selection!r}")
    if basis_scale not in BASIS_SCALES:
        raise ConfigError("basis_scale", f"must be {' or '.join(BASIS_SCALES)}, got {basis_scale!r}")
    if kind == "auto":
        kind = "grid" if z.shape[1] <= 2 else "gaussian"

    n_points, latent_dim = z.shape
    M_s, I_s = sample_basis(
        n_candidates, latent_dim, kind=kind, input_scale=input_scale, weight_scale=weight_scale, seed=seed
    )  # candidates in the coordinates they were drawn for
    if basis_scale == "data":
        centre, spread = data_scaling(z)
    else:
        centre, spread = np.zeros(latent_dim), np.ones(latent_dim)
    M_c, I_c = unscale_basis(M_s, I_s, centre, spread)
    Phi = design_matrix(z, M_c, I_c, nonlinearity)  # (P, C)

    target = dz + decay * z  # what the neurons must supply
    scale = float(np.sum(dz**2))
    rel_mse_linear = float(np.sum(target**2)) / scale
    max_k = min(max_neurons, n_points)  # no more than P independent columns
    selected, curve, N = _greedy(Phi, target, scale, tol=tol, max_k=max_k, selection=selection)
    idx = np.asarray(selected, dtype=int)
    M, I = M_c[idx].copy(), I_c[idx].copy()
    refined = False
    if refine and len(selected):
        z_std = (z - centre) / spread
        for k in range(1, len(selected) + 1):
            M_k, I_k, N_k, sq = refine_neurons(
                z_std, target, M_s[idx[:k]], I_s[idx[:k]], nonlinearity, ridge=REFINE_RIDGE * n_points
            )
            if sq / scale < curve[k - 1] and (sq / scale <= tol or k == len(selected)):
                M, I = unscale_basis(M_k, I_k, centre, spread)
                N, idx, curve, refined = N_k, idx[:k], curve[:k], True
                break
    flow = LowRankFlow(M=M, N=N, I=I, decay=float(decay), nonlinearity=nonlinearity)
    final = relative_mse(flow.flow(z), dz)
    return OMPResult(
        flow=flow,
        n_neurons=len(idx),
        rel_mse=final,
        curve=curve,
        selected=idx,
        rel_mse_linear=rel_mse_linear,
        reached_tol=bool(final <= tol),
        n_candidates=int(n_candidates),
        refined=refined,
    )
