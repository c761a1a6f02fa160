"""Closed-form embedding of a low-dimensional flow into a low-rank RNN.

Reference: "A new look at low-rank recurrent neural networks" (anonymous, under review), Sec. 3.

A rank-r RNN ẋ = −x + M Nᵀ φ(x) + I u with J = M Nᵀ (Eq. 3) and constant filtered input v = 1
has latent dynamics (Eqs. 7 and 10)

    ż = −z + Nᵀ φ(M z + I),

a neural ODE with one hidden layer of k neurons: each neuron i contributes the basis function
φ(m_i·z + I_i) (m_i is row i of the k×r matrix M) with readout weights n_i (row i of N). Embedding
a target flow ż = g(z) is therefore linear least squares in a random basis (Eqs. 9 and 11):
sample M and I, then solve for N such that φ(Z Mᵀ + Iᵀ) N ≈ g(Z) + Z at sample points Z (P×r).

We allow a general decay rate, ż = −decay·z + Nᵀ φ(M z + I) (the paper's decay is 1), so the
regression target is g(Z) + decay·Z.

Without inputs (I = 0) and with an odd φ such as tanh, every basis function is odd, so only the odd
part of g is captured (Sec. 3, "an important limitation"); see :func:`odd_part`.

Conventions: batches of latent points are rows, z (P×r); M, N are (k×r); I is (k,).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurodyn.errors import ConfigError
from neurodyn.lowrank.choices import BASIS_KINDS, NONLINEARITIES


def _check_nonlinearity(nonlinearity: str) -> None:
    if nonlinearity not in NONLINEARITIES:
        raise ConfigError("nonlinearity", f"must be {' or '.join(NONLINEARITIES)}, got {nonlinearity!r}")


def activation(x: np.ndarray, nonlinearity: str) -> np.ndarray:
    """φ(x) elementwise, any shape; φ is ``"tanh"`` or ``"relu"``."""
    _check_nonlinearity(nonlinearity)
    if nonlinearity == "tanh":
        return np.tanh(x)
    return np.maximum(x, 0.0)


def activation_slope(x: np.ndarray, nonlinearity: str) -> np.ndarray:
    """φ'(x) elementwise, any shape (relu: 1 for x > 0, else 0)."""
    _check_nonlinearity(nonlinearity)
    if nonlinearity == "tanh":
        return 1.0 - np.tanh(x) ** 2
    return (x > 0).astype(np.float64)


def as_points(z: np.ndarray, name: str = "z") -> np.ndarray:
    """Latent points as a float (P×r) array; a 1-D array of P values is read as P points with r = 1."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or z.shape[1] < 1:
        raise ConfigError(name, f"must be (P, r) latent points, got shape {z.shape}")
    return z


def _grid_counts(n_neurons: int) -> tuple[int, int]:
    """Split k grid points into n_a × n_b ≥ k with n_a ≈ n_b (we then keep k of them, evenly spread)."""
    n_a = int(np.ceil(np.sqrt(n_neurons)))
    n_b = int(np.ceil(n_neurons / n_a))
    return n_a, n_b


def _evenly_kept(n_total: int, n_keep: int) -> np.ndarray:
    """n_keep indices spread evenly over range(n_total) (the whole range when n_keep = n_total)."""
    return np.unique(np.round(np.linspace(0, n_total - 1, n_keep)).astype(int))


def sample_basis(
    n_neurons: int,
    latent_dim: int,
    *,
    kind: str = "gaussian",
    input_scale: float = 1.0,
    weight_scale: float = 1.0,
    seed: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Random or gridded input weights M (k×r) and offsets I (k,) of k basis functions φ(m_i·z + I_i).

    ``kind="gaussian"`` (paper Sec. 3 and Fig. 2A): M_ij ~ N(0, weight_scale²), I_i ~ N(0, input_scale²).
    ``kind="grid"`` (paper Algorithm 1, step 2: "uniformly sampled m, I values"):

    * r = 1: slopes m on a uniform grid over [−weight_scale, weight_scale] crossed with offsets on a
      uniform grid over [−input_scale, input_scale];
    * r = 2: unit directions (cos θ, sin θ) with θ on a uniform grid over [0, 2π), scaled by
      weight_scale, crossed with the offset grid.

    The grid has ⌈√k⌉ × ⌈k/⌈√k⌉⌉ ≥ k nodes, of which k evenly spread ones are kept.
    Returns (M, I): float64 arrays of shapes (k, r) and (k,).
    """
    if not isinstance(n_neurons, (int, np.integer)) or n_neurons < 1:
        raise ConfigError("n_neurons", f"must be a positive integer, got {n_neurons!r}")
    if not isinstance(latent_dim, (int, np.integer)) or latent_dim < 1:
        raise ConfigError("latent_dim", f"must be a positive integer, got {latent_dim!r}")
    for name, value in (("input_scale", input_scale), ("weight_scale", weight_scale)):
        if not (np.isfinite(value) and value >= 0):
            raise ConfigError(name, f"must be a finite number >= 0, got {value!r}")
    if kind == "gaussian":
        rng = np.random.default_rng(seed)
        M = weight_scale * rng.standard_normal((n_neurons, latent_dim))
        I = input_scale * rng.standard_normal(n_neurons)
        return M, I
    if kind != "grid":
        raise ConfigError("kind", f"must be {' or '.join(BASIS_KINDS)}, got {kind!r}")
    if latent_dim > 2:
        raise ConfigError("kind", f"a 'grid' basis exists for latent_dim 1 or 2 only, got {latent_dim}; use 'gaussian'")
    n_a, n_b = _grid_counts(n_neurons)
    offsets = np.linspace(-input_scale, input_scale, n_b) if n_b > 1 else np.zeros(1)
    if latent_dim == 1:
        slopes = np.linspace(-weight_scale, weight_scale, n_a) if n_a > 1 else np.full(1, weight_scale)
        directions = slopes[:, None]
    else:
        # endpoint=False: θ = 0 and θ = 2π are the same direction
        theta = np.linspace(0.0, 2 * np.pi, n_a, endpoint=False)
        directions = weight_scale * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    M_all = np.repeat(directions, n_b, axis=0)  # (n_a·n_b, r): each direction with every offset
    I_all = np.tile(offsets, n_a)  # (n_a·n_b,)
    keep = _evenly_kept(len(I_all), n_neurons)
    return M_all[keep].copy(), I_all[keep].copy()


def data_scaling(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and spread (both (r,)) that map the samples z (P×r) into the box [−1, 1]^r.

    centre = midrange (max + min)/2 and spread = half-range (max − min)/2 per latent dimension (a
    dimension with a single value gets spread 1). The half-range, unlike a standard deviation or
    percentiles, keeps every sample inside [−1, 1]: a candidate φ(m'·z' + I') with |I'| ≤ |m'|
    then has its kink z' = −I'/m' inside the sampled box, wherever and however widely the samples lie.
    """
    z = as_points(z)
    hi, lo = z.max(axis=0), z.min(axis=0)
    spread = (hi - lo) / 2
    return (hi + lo) / 2, np.where(spread > 0, spread, 1.0)


def unscale_basis(
    M_std: np.ndarray, I_std: np.ndarray, centre: np.ndarray, spread: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Basis (M', I') for standardised z' = (z − centre)/spread → (M, I) for z, exactly.

    m'·z' + I' = m·z + I with M = M'/spread (column-wise) and I = I' − M'·(centre/spread).
    M_std: (k×r); I_std: (k,); centre, spread: (r,). Returns (M (k×r), I (k,)).
    """
    M_std = np.asarray(M_std, dtype=np.float64)
    return M_std / spread, np.asarray(I_std, dtype=np.float64) - M_std @ (centre / spread)


def design_matrix(z: np.ndarray, M: np.ndarray, I: np.ndarray, nonlinearity: str = "tanh") -> np.ndarray:
    """Basis functions at the sample points: Phi (P×k) with Phi[p, i] = φ(m_i·z_p + I_i).

    z: (P×r) (or (P,) for r = 1); M: (k×r); I: (k,). This is φ(Z Mᵀ + Iᵀ) of Eqs. 9 and 11.
    """
    z = as_points(z)
    M = np.asarray(M, dtype=np.float64)
    I = np.asarray(I, dtype=np.float64)
    if M.ndim != 2 or M.shape[1] != z.shape[1]:
        raise ConfigError("M", f"must be (k, r) with r = {z.shape[1]} like z, got shape {M.shape}")
    if I.shape != (M.shape[0],):
        raise ConfigError("I", f"must be (k,) = ({M.shape[0]},) like M's rows, got shape {I.shape}")
    return activation(z @ M.T + I, nonlinearity)


def fit_readout(
    Phi: np.ndarray, target: np.ndarray, *, weights: np.ndarray | None = None, ridge: float = 0.0
) -> np.ndarray:
    """Readout weights N (k×r) minimising Σ_p w_p ‖Phi[p] N − target[p]‖² + ridge‖N‖_F² (Eqs. 9, 11).

    Phi: (P×k) design matrix; target: (P×r) (or (P,), then N is (k, 1)); weights: (P,) ≥ 0 or None
    (all 1). The paper writes the normal equations (ΦᵀΦ)⁻¹Φᵀ(g + z); squaring the condition number
    of a random tanh basis loses most digits, so we solve the (row-weighted) problem with an
    SVD-based least-squares solver, and the ridge problem as least squares on Phi stacked over
    √ridge·Id (same minimiser, no squared condition number). When Phi is rank deficient and
    ridge = 0 the minimum-norm solution is returned.
    """
    Phi = np.asarray(Phi, dtype=np.float64)
    target = as_points(target, "target")
    if Phi.ndim != 2 or Phi.shape[0] != target.shape[0]:
        raise ConfigError(
            "Phi", f"must be (P, k) with P = {target.shape[0]} rows like the target, got shape {Phi.shape}"
        )
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ConfigError("ridge", f"must be a finite number >= 0, got {ridge!r}")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (Phi.shape[0],):
            raise ConfigError("weights", f"must be (P,) = ({Phi.shape[0]},), got shape {weights.shape}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ConfigError("weights", "must be finite and >= 0")
        root = np.sqrt(weights)[:, None]
        Phi, target = root * Phi, root * target
    if ridge > 0:
        k = Phi.shape[1]
        Phi = np.vstack([Phi, np.sqrt(ridge) * np.eye(k)])
        target = np.vstack([target, np.zeros((k, target.shape[1]))])
    N, *_ = np.linalg.lstsq(Phi, target, rcond=None)
    return N


def relative_mse(predicted: np.ndarray, dz: np.ndarray) -> float:
    """mean_p ‖predicted_p − dz_p‖² / mean_p ‖dz_p‖²; both (P×r). A zero target gives inf unless matched."""
    predicted, dz = as_points(predicted, "predicted"), as_points(dz, "dz")
    error = float(np.sum((predicted - dz) ** 2))
    scale = float(np.sum(dz**2))
    if scale == 0.0:
        return 0.0 if error == 0.0 else float("inf")
    return error / scale


@dataclass(frozen=True, eq=False)  # eq=False: == on array fields would be ambiguous
class LowRankFlow:
    """Latent flow of a rank-r RNN with k neurons: ż = −decay·z + Nᵀ φ(M z + I) (paper Eqs. 7, 10).

    M: (k×r) input weights (columns of the connectivity's left factor); N: (k×r) readout weights
    (J = M Nᵀ); I: (k,) constant inputs / offsets (v = 1); decay: leak rate (1 in the paper);
    nonlinearity: ``"tanh"`` or ``"relu"``.
    """

    M: np.ndarray
    N: np.ndarray
    I: np.ndarray
    decay: float
    nonlinearity: str

    @property
    def n_neurons(self) -> int:
        return int(self.M.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.M.shape[1])

    def flow(self, z: np.ndarray) -> np.ndarray:
        """ż at points z (P×r) → (P×r): −decay·z + φ(z Mᵀ + I) N (row-vector form of Eq. 10)."""
        z = as_points(z)
        return -self.decay * z + design_matrix(z, self.M, self.I, self.nonlinearity) @ self.N

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        """∂ż/∂z at points z (P×r) → (P×r×r): −decay·Id + Nᵀ diag(φ'(M z + I)) M per point."""
        z = as_points(z)
        slopes = activation_slope(z @ self.M.T + self.I, self.nonlinearity)  # (P, k)
        return -self.decay * np.eye(self.latent_dim) + np.einsum("ka,pk,kb->pab", self.N, slopes, self.M)

    def rel_mse(self, z: np.ndarray, dz: np.ndarray) -> float:
        """mean‖flow(z) − dz‖² / mean‖dz‖² over the P points; z, dz (P×r)."""
        return relative_mse(self.flow(z), dz)

    def to_json(self) -> dict[str, Any]:
        """M, N (k×r), I (k,) as nested lists, decay, nonlinearity: the flow −decay·z + Nᵀφ(M z + I)."""
        return {
            "M": self.M.tolist(),
            "N": self.N.tolist(),
            "I": self.I.tolist(),
            "decay": float(self.decay),
            "nonlinearity": self.nonlinearity,
        }


def embed_flow(
    z: np.ndarray,
    dz: np.ndarray,
    n_neurons: int,
    *,
    nonlinearity: str = "tanh",
    decay: float = 1.0,
    ridge: float = 0.0,
    weights: np.ndarray | None = None,
    seed: int | np.random.Generator | None = 0,
    inputs: bool = True,
    kind: str = "gaussian",
    input_scale: float = 1.0,
    weight_scale: float = 1.0,
) -> LowRankFlow:
    """Embed the sampled flow dz = g(z) into k = ``n_neurons`` neurons in closed form (Eqs. 9–11).

    z, dz: (P×r) sample points and target velocities. M and I come from :func:`sample_basis`;
    with ``inputs=False`` the offsets are I = 0 (the no-input network of Sec. 3, Fig. 1C-D). N solves
    the least squares φ(Z Mᵀ + I) N ≈ dz + decay·z (optionally weighted per point and ridge
    regularised, see :func:`fit_readout`). Returns the :class:`LowRankFlow`.
    """
    z, dz = as_points(z), as_points(dz, "dz")
    if dz.shape != z.shape:
        raise ConfigError("dz", f"must have z's shape {z.shape}, got {dz.shape}")
    for name, values in (("z", z), ("dz", dz)):
        if not np.all(np.isfinite(values)):
            raise ConfigError(name, "contains NaN or infinite values")
    if not np.isfinite(decay):
        raise ConfigError("decay", f"must be finite, got {decay!r}")
    M, I = sample_basis(n_neurons, z.shape[1], kind=kind, input_scale=input_scale, weight_scale=weight_scale, seed=seed)
    if not inputs:
        I = np.zeros_like(I)
    Phi = design_matrix(z, M, I, nonlinearity)
    N = fit_readout(Phi, dz + decay * z, weights=weights, ridge=ridge)
    return LowRankFlow(M=M, N=N, I=I, decay=float(decay), nonlinearity=nonlinearity)


def odd_part(g_at_z: np.ndarray, g_at_minus_z: np.ndarray) -> np.ndarray:
    """Odd part (g(z) − g(−z)) / 2 of g from its values at z and at −z (same shapes, e.g. P×r).

    Without inputs and with odd φ this is all a low-rank RNN can represent (paper Sec. 3 and 3.1).
    """
    return 0.5 * (np.asarray(g_at_z, dtype=np.float64) - np.asarray(g_at_minus_z, dtype=np.float64))


def even_part(g_at_z: np.ndarray, g_at_minus_z: np.ndarray) -> np.ndarray:
    """Even part (g(z) + g(−z)) / 2 of g: what the no-input, odd-φ network leaves in the residual."""
    return 0.5 * (np.asarray(g_at_z, dtype=np.float64) + np.asarray(g_at_minus_z, dtype=np.float64))
