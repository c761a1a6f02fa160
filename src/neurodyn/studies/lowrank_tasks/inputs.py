"""Time-varying inputs: embedding non-autonomous flows ż = g(z, t) in a low-rank RNN.

Reference: "A new look at low-rank recurrent neural networks" (anonymous, under review), Sec. 5,
Eqs. 13–14 and Fig. 4.

Network and latent dynamics
---------------------------
With inputs orthogonal to the recurrent subspace the state is x = M z + I v (Eqs. 4 and 6) and the
latent obeys ż = −z + Nᵀ φ(M z + I v(t)) (Eq. 7), where v is the low-pass filtered input,
v̇ = −v + u. Sec. 5 clamps an input at time zero and then lets it decay, v̇ = −v, so
v(t) = v₀·e^{−t}: the basis functions φ(m_i z + I_i v(t)) shift in time and a least-squares
readout N over samples (z, v) embeds a *time-dependent* flow (Eq. 8 with v(t) instead of v = 1).

We keep, besides the decaying input v, the constant (tonic) input of Sec. 3 (v_c = 1, "equivalently
per-neuron biases", Fig. 1E): once the decaying input has died out (v → 0) the remaining basis
φ(m_i z) would otherwise be odd-symmetric and could not represent a flow whose late-time fixed
point is not at z = 0 (Sec. 3, "an important limitation"). The latent flow is therefore

    ż = −decay·z + Nᵀ φ(M z + I_in v + b),       v̇ = −input_decay·v,                         (†)

with M, N (k×r), input weights I_in (k×d_in) and tonic weights b (k,) (b = I_c·1).

The four flows of Fig. 4
------------------------
All produce the same nominal trajectory z*(t) from z₀. The autonomous flow (Fig. 4A) is the
"inverted quadratic" ż = κ(a² − z²): an unstable fixed point at −a, a stable one at +a (a = 6 in the
paper), with closed-form solution z*(t) = a·tanh(aκ t + artanh(z₀/a)). The non-autonomous flows
(Fig. 4B–D) are, in our reading of Eqs. 13–14 (the z′ there is the state z, z(t′) the nominal
trajectory at time t′, and the trailing "− z′" is the network's leak, i.e. the equations are
written as the regression target g + z of Eq. 8 moved to the other side):

    stable   (Eq. 13, α > 0):  ż = ż*(t) − α (z − z*(t))
    unstable (Eq. 13, α < 0):  ż = ż*(t) − α (z − z*(t))
    none     (Eq. 14, α = 0):  ż = ż*(t)

z*(t) solves each of them exactly (the correction vanishes on it), so the nominal trajectories
coincide. At a frozen time t the flow is linear in z with the single fixed point
z_fp(t) = z*(t) + ż*(t)/α, which moves from left to right with the trajectory and is stable for
α > 0 and unstable for α < 0; for α = 0 the frozen flow is a uniform drift ż*(t) > 0 and has no
fixed point during the movement. A perturbation e = z − z* of the initial condition obeys
ė = −α e exactly: it decays (α > 0), grows (α < 0) or persists as a constant shift (α = 0). In the
autonomous flow the perturbed trajectory is the nominal one shifted in time (Fig. 4A).

Time enters through the decaying input: t = −ln(v/v₀)/input_decay with the nominal v₀ = 1, so
each target is a function g(z, v) that the network (†) can represent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from neurodyn.errors import ConfigError
from neurodyn.lowrank.embedding import (
    LowRankFlow,
    activation_slope,
    as_points,
    design_matrix,
    fit_readout,
    relative_mse,
)

TARGET_KINDS = ("autonomous", "stable", "unstable", "none")
# smallest v used to turn an input value back into time (v ≤ 0 would be t = ∞)
V_FLOOR = 1e-300

InputFlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _as_inputs(v: np.ndarray, n_points: int) -> np.ndarray:
    """Inputs as a float (P×d_in) array; a scalar is broadcast over the P points, (P,) means d_in = 1."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0:
        v = np.full((n_points, 1), float(v))
    elif v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] != n_points:
        raise ConfigError("v", f"must be (P, d_in) inputs with P = {n_points} like z, got shape {v.shape}")
    return v


# ------------------------------------------------------------------------------------ the network


@dataclass(frozen=True, eq=False)  # eq=False: == on array fields would be ambiguous
class InputDrivenFlow:
    """Latent flow of a rank-r RNN driven by a decaying input (Eq. 7 with time-varying v, Sec. 5).

    ż = −decay·z + Nᵀ φ(M z + I_in v + bias),   v̇ = −input_decay·v.

    M, N: (k×r); I_in: (k×d_in) weights of the decaying input v; bias: (k,) weights of the constant
    (tonic) input v_c = 1 (Sec. 3); decay: the leak (1 in the paper); input_decay: rate of v (1 in
    the paper, v̇ = −v).
    """

    M: np.ndarray
    N: np.ndarray
    I_in: np.ndarray
    bias: np.ndarray
    decay: float
    nonlinearity: str
    input_decay: float = 1.0

    @property
    def n_neurons(self) -> int:
        return int(self.M.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.M.shape[1])

    @property
    def input_dim(self) -> int:
        return int(self.I_in.shape[1])

    def _pre(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        return z @ self.M.T + v @ self.I_in.T + self.bias

    def flow(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        """ż at points z (P×r) and inputs v (P×d_in, or a scalar for all points) → (P×r)."""
        z = as_points(z)
        v = _as_inputs(v, z.shape[0])
        return (
            -self.decay * z
            + design_matrix(np.hstack([z, v]), np.hstack([self.M, self.I_in]), self.bias, self.nonlinearity) @ self.N
        )

    def jacobian(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        """∂ż/∂z at (z, v) → (P×r×r): −decay·Id + Nᵀ diag(φ'(M z + I_in v + b)) M."""
        z = as_points(z)
        v = _as_inputs(v, z.shape[0])
        slopes = activation_slope(self._pre(z, v), self.nonlinearity)
        return -self.decay * np.eye(self.latent_dim) + np.einsum("ka,pk,kb->pab", self.N, slopes, self.M)

    def frozen(self, v: np.ndarray | float) -> LowRankFlow:
        """The autonomous flow at a frozen input value v (d_in,): offsets I = I_in v + bias.

        This is one row of the quiver plots of Fig. 4 (the flow field at one time bin).
        """
        v = np.atleast_1d(np.asarray(v, dtype=np.float64))
        if v.shape != (self.input_dim,):
            raise ConfigError("v", f"must be ({self.input_dim},), got shape {v.shape}")
        return LowRankFlow(
            M=self.M, N=self.N, I=self.I_in @ v + self.bias, decay=self.decay, nonlinearity=self.nonlinearity
        )

    def rel_mse(self, z: np.ndarray, v: np.ndarray, dz: np.ndarray) -> float:
        """mean‖flow(z, v) − dz‖² / mean‖dz‖² over the P samples."""
        return relative_mse(self.flow(z, v), dz)

    def simulate(
        self,
        z0: np.ndarray | float,
        v0: np.ndarray | float,
        t_grid: np.ndarray,
        *,
        rtol: float = 1e-9,
        atol: float = 1e-9,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Integrate (z, v) of (†) from (z0, v0) → z (T×r), v (T×d_in) at the times ``t_grid``."""
        return simulate_input_driven(self.flow, z0, v0, t_grid, input_decay=self.input_decay, rtol=rtol, atol=atol)


def simulate_input_driven(
    f: InputFlowFn,
    z0: np.ndarray | float,
    v0: np.ndarray | float,
    t_grid: np.ndarray,
    *,
    input_decay: float = 1.0,
    rtol: float = 1e-9,
    atol: float = 1e-9,
    method: str = "DOP853",
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ż = f(z, v), v̇ = −input_decay·v (Sec. 5) with scipy's ``solve_ivp``.

    f maps (P×r, P×d_in) → (P×r) (a target from :func:`trajectory_targets` or
    :meth:`InputDrivenFlow.flow`); z0: (r,) or a scalar; v0: (d_in,) or a scalar; t_grid: increasing
    times starting at the initial time. Returns z (T×r) and v (T×d_in) at ``t_grid``.
    """
    z0 = np.atleast_1d(np.asarray(z0, dtype=np.float64))
    v0 = np.atleast_1d(np.asarray(v0, dtype=np.float64))
    t_grid = np.asarray(t_grid, dtype=np.float64)
    if t_grid.ndim != 1 or t_grid.size < 2 or np.any(np.diff(t_grid) <= 0):
        raise ConfigError("t_grid", "must be an increasing 1-D array of at least 2 times")
    r = z0.size

    def rhs(_t: float, state: np.ndarray) -> np.ndarray:
        z, v = state[:r], state[r:]
        dz = np.asarray(f(z[None, :], v[None, :]), dtype=np.float64).reshape(r)
        return np.concatenate([dz, -input_decay * v])

    sol = solve_ivp(
        rhs, (t_grid[0], t_grid[-1]), np.concatenate([z0, v0]), t_eval=t_grid, method=method, rtol=rtol, atol=atol
    )
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.y[:r].T.copy(), sol.y[r:].T.copy()


def embed_input_flow(
    z: np.ndarray,
    v: np.ndarray,
    dz: np.ndarray,
    n_neurons: int,
    *,
    nonlinearity: str = "tanh",
    decay: float = 1.0,
    input_decay: float = 1.0,
    ridge: float = 0.0,
    weights: np.ndarray | None = None,
    seed: int | np.random.Generator | None = 0,
    weight_scale: float = 1.0,
    input_scale: float = 1.0,
    bias_scale: float = 1.0,
    tonic: bool = True,
) -> InputDrivenFlow:
    """Embed a sampled non-autonomous flow dz = g(z, v) into k = ``n_neurons`` neurons (Sec. 5, Eqs. 8–11).

    z: (P×r) latent samples; v: (P×d_in) decaying-input values there (or (P,)); dz: (P×r) targets.
    The random basis φ(m_i·z + I_i·v + b_i) has M_ij ~ N(0, weight_scale²),
    I_in ~ N(0, input_scale²) and tonic weights b_i ~ N(0, bias_scale²) (b = 0 with
    ``tonic=False``: the basis is then odd in (z, v) jointly); N solves the least squares
    φ(Z Mᵀ + V I_inᵀ + b) N ≈ dz + decay·z (weighted / ridge as in :func:`fit_readout`).
    """
    z, dz = as_points(z), as_points(dz, "dz")
    v = _as_inputs(v, z.shape[0])
    if dz.shape != z.shape:
        raise ConfigError("dz", f"must have z's shape {z.shape}, got {dz.shape}")
    for name, values in (("z", z), ("v", v), ("dz", dz)):
        if not np.all(np.isfinite(values)):
            raise ConfigError(name, "contains NaN or infinite values")
    if not isinstance(n_neurons, (int, np.integer)) or n_neurons < 1:
        raise ConfigError("n_neurons", f"must be a positive integer, got {n_neurons!r}")
    for name, value in (("weight_scale", weight_scale), ("input_scale", input_scale), ("bias_scale", bias_scale)):
        if not (np.isfinite(value) and value >= 0):
            raise ConfigError(name, f"must be a finite number >= 0, got {value!r}")
    rng = np.random.default_rng(seed)
    M = weight_scale * rng.standard_normal((n_neurons, z.shape[1]))
    I_in = input_scale * rng.standard_normal((n_neurons, v.shape[1]))
    bias = bias_scale * rng.standard_normal(n_neurons) if tonic else np.zeros(n_neurons)
    Phi = design_matrix(np.hstack([z, v]), np.hstack([M, I_in]), bias, nonlinearity)
    N = fit_readout(Phi, dz + decay * z, weights=weights, ridge=ridge)
    return InputDrivenFlow(
        M=M, N=N, I_in=I_in, bias=bias, decay=float(decay), nonlinearity=nonlinearity, input_decay=float(input_decay)
    )


# ------------------------------------------------------------------------------------ Fig. 4 targets


@dataclass(frozen=True)
class NominalTrajectory:
    """The shared trajectory of Fig. 4: the solution of the autonomous ż = κ(a² − z²) from z₀.

    a: half-distance between the unstable (−a) and stable (+a) fixed points (6 in the paper);
    kappa: speed κ; z0: start, just right of the unstable fixed point (−a < z0 < a).
    z*(t) = a·tanh(aκ t + artanh(z0/a)), ż*(t) = κ(a² − z*(t)²).
    """

    a: float = 6.0
    kappa: float = 1.0 / 3.0
    z0: float = -5.5

    def __post_init__(self):
        if not (self.a > 0 and self.kappa > 0 and -self.a < self.z0 < self.a):
            raise ConfigError("trajectory", f"needs a > 0, kappa > 0 and -a < z0 < a, got {self}")

    def g(self, z: np.ndarray) -> np.ndarray:
        """The autonomous flow κ(a² − z²) (Fig. 4A, "inverted quadratic")."""
        return self.kappa * (self.a**2 - np.asarray(z, dtype=np.float64) ** 2)

    def z(self, t: np.ndarray) -> np.ndarray:
        """z*(t)."""
        return self.a * np.tanh(self.a * self.kappa * np.asarray(t, dtype=np.float64) + np.arctanh(self.z0 / self.a))

    def dz(self, t: np.ndarray) -> np.ndarray:
        """ż*(t) = g(z*(t))."""
        return self.g(self.z(t))


def time_from_input(v: np.ndarray, *, v0: float = 1.0, input_decay: float = 1.0) -> np.ndarray:
    """t = −ln(v/v₀)/input_decay: the time at which the decaying input v(t) = v₀e^{−input_decay·t} equals v."""
    v = np.maximum(np.asarray(v, dtype=np.float64), V_FLOOR)
    return -np.log(v / v0) / input_decay


def moving_fixed_point_target(
    traj: NominalTrajectory, alpha: float, *, v0: float = 1.0, input_decay: float = 1.0
) -> InputFlowFn:
    """g(z, v) = ż*(t) − α(z − z*(t)) with t = t(v) (Eq. 13; Eq. 14 for α = 0).

    α > 0: a moving *stable* fixed point z_fp(t) = z*(t) + ż*(t)/α (Fig. 4B); α < 0: a moving
    *unstable* one (Fig. 4C); α = 0: no fixed point, a uniform drift ż*(t) (Fig. 4D). Only the
    first input channel is read. Returns f(z (P×1), v (P×d_in)) → (P×1).
    """
    alpha = float(alpha)

    def g(z: np.ndarray, v: np.ndarray) -> np.ndarray:
        z = as_points(z)
        v = _as_inputs(v, z.shape[0])
        t = time_from_input(v[:, :1], v0=v0, input_decay=input_decay)
        zs = traj.z(t)
        return traj.g(zs) - alpha * (z - zs)

    return g


def autonomous_target(traj: NominalTrajectory) -> InputFlowFn:
    """g(z, v) = κ(a² − z²), independent of the input (Fig. 4A, embedded with constant input)."""

    def g(z: np.ndarray, v: np.ndarray) -> np.ndarray:
        return traj.g(as_points(z))

    return g


def trajectory_targets(
    traj: NominalTrajectory | None = None, alpha: float = 1.0, *, v0: float = 1.0, input_decay: float = 1.0
) -> dict[str, InputFlowFn]:
    """The flows of Fig. 4 that share the nominal trajectory, keyed by :data:`TARGET_KINDS`.

    "autonomous": κ(a² − z²); "stable": Eq. 13 with +|α|; "unstable": Eq. 13 with −|α|;
    "none": Eq. 14 (α = 0). Each value is f(z (P×1), v (P×d_in)) → ż (P×1).
    """
    traj = traj or NominalTrajectory()
    alpha = abs(float(alpha))
    if alpha == 0:
        raise ConfigError("alpha", "must be nonzero (its sign is set per target)")
    kw = {"v0": v0, "input_decay": input_decay}
    return {
        "autonomous": autonomous_target(traj),
        "stable": moving_fixed_point_target(traj, alpha, **kw),
        "unstable": moving_fixed_point_target(traj, -alpha, **kw),
        "none": moving_fixed_point_target(traj, 0.0, **kw),
    }


def instantaneous_fixed_point(traj: NominalTrajectory, alpha: float, t: np.ndarray) -> np.ndarray:
    """Fixed point z_fp(t) = z*(t) + ż*(t)/α of the frozen Eq. 13 flow at time t (α ≠ 0)."""
    if alpha == 0:
        raise ConfigError("alpha", "the α = 0 flow (Eq. 14) has no fixed point while ż* ≠ 0")
    return traj.z(t) + traj.dz(t) / alpha


def sample_input_flow(
    f: InputFlowFn,
    z_range: tuple[float, float],
    t_range: tuple[float, float],
    *,
    n_z: int = 61,
    n_t: int = 61,
    v0: float = 1.0,
    input_decay: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regression samples on a (z, t) grid: z (P×1), v = v₀e^{−input_decay·t} (P×1), dz = f(z, v) (P×1)."""
    zz, tt = np.meshgrid(np.linspace(*z_range, n_z), np.linspace(*t_range, n_t))
    z = zz.reshape(-1, 1)
    v = v0 * np.exp(-input_decay * tt.reshape(-1, 1))
    return z, v, np.asarray(f(z, v), dtype=np.float64)


# ------------------------------------------------------------------------------------ perturbations


def perturbation_deviation(
    f: InputFlowFn,
    z0: float,
    delta: float,
    t_grid: np.ndarray,
    *,
    v0: float = 1.0,
    input_decay: float = 1.0,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nominal z(t) from z0, perturbed z(t) from z0 + delta, and their difference e(t) (all (T,)).

    The perturbation is in the initial latent state only; the input is clamped to v0 at t = 0 in both
    runs (Fig. 4, orange/yellow traces).
    """
    nominal, _ = simulate_input_driven(f, z0, v0, t_grid, input_decay=input_decay, rtol=rtol, atol=atol)
    perturbed, _ = simulate_input_driven(f, z0 + delta, v0, t_grid, input_decay=input_decay, rtol=rtol, atol=atol)
    return nominal[:, 0], perturbed[:, 0], perturbed[:, 0] - nominal[:, 0]


def classify_deviation(deviation: np.ndarray, *, rtol: float = 0.25) -> str:
    """ "decays", "grows" or "persists": |e(T)|/|e(0)| below 1 − rtol, above 1 + rtol, or in between."""
    deviation = np.asarray(deviation, dtype=np.float64)
    if deviation[0] == 0:
        raise ConfigError("deviation", "the initial perturbation is zero")
    ratio = abs(deviation[-1]) / abs(deviation[0])
    if ratio < 1 - rtol:
        return "decays"
    if ratio > 1 + rtol:
        return "grows"
    return "persists"
