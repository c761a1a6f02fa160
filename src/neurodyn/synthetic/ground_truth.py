"""Ground truth of the teacher: its fixed points (with their classification), the measured limit
cycle, and the arrays and JSON document written as ``teacher.npz`` / ``teacher.json``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize

from neurodyn.synthetic.config import TeacherConfig
from neurodyn.synthetic.simulate import SyntheticSession, simulate_latent
from neurodyn.synthetic.teacher import TeacherParams, latent_jacobian, latent_velocity


def classify_fixed_point(eigs: np.ndarray, tol: float = 1e-9) -> str:
    """Name a planar fixed point from its two eigenvalues (2,) complex."""
    re, im = eigs.real, eigs.imag
    scale = max(float(np.max(np.abs(eigs))), 1.0)
    if np.any(np.abs(re) <= tol * scale):
        return "non-hyperbolic"
    complex_pair = bool(np.any(np.abs(im) > tol * scale))
    if complex_pair:
        return "stable spiral" if re[0] < 0 else "unstable spiral"
    if np.all(re < 0):
        return "stable node"
    if np.all(re > 0):
        return "unstable node"
    return "saddle"


def _fixed_point_bound(params: TeacherParams) -> float:
    """Radius containing every fixed point: z* = (1/N) Nᵀ φ(·) ⇒ |z*| ≤ (1/N) Σ|n_i| max|φ|."""
    phimax = 1.0 if params.nonlinearity == "tanh" else params.relu_clip
    return float(np.linalg.norm(params.N, axis=1).sum() / params.n_units * phimax)


def teacher_fixed_points(params: TeacherParams, grid: int = 15) -> list[dict[str, Any]]:
    """All fixed points of the noise-free, input-free latent flow (u = 0) in R².

    Every fixed point satisfies ``z* = (1/N) Nᵀ φ(M z* + h)`` and so lies in the disc of
    radius ``(1/N) Σ_i |n_i| · max|φ|``; ``scipy.optimize.root`` (hybr, analytic Jacobian)
    is started from a ``grid × grid`` lattice covering that box plus the origin, converged
    roots are deduplicated (tolerance 1e-6 relative) and sorted by |z|.

    Each entry: ``z`` [z1, z2]; ``eigenvalues`` [[re, im], [re, im]] of the continuous-time
    Jacobian (1/s); ``time_constants_s`` −1/Re λ (inf when Re λ = 0; null in JSON); ``frequencies_hz``
    |Im λ|/2π; ``stable`` (all Re λ < 0); ``kind``; ``residual`` |ż(z*)| (1/s).
    """
    bound = _fixed_point_bound(params) * 1.05
    axis = np.linspace(-bound, bound, grid)
    starts = np.concatenate([np.zeros((1, 2)), np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)])
    tau = params.tau_s

    def fun(z: np.ndarray) -> np.ndarray:
        return latent_velocity(params, z) * tau

    def jac(z: np.ndarray) -> np.ndarray:
        return latent_jacobian(params, z) * tau

    found: list[np.ndarray] = []
    for z0 in starts:
        sol = optimize.root(fun, z0, jac=jac, method="hybr", options={"xtol": 1e-13})
        z = sol.x
        if not np.all(np.isfinite(z)) or np.linalg.norm(fun(z)) > 1e-10:
            continue
        # polish with a few Newton steps (safe: the Jacobian is invertible at hyperbolic points)
        for _ in range(3):
            j = jac(z)
            if abs(np.linalg.det(j)) < 1e-12:
                break
            z = z - np.linalg.solve(j, fun(z))
        if np.linalg.norm(fun(z)) > 1e-10:
            z = sol.x
        if not any(np.linalg.norm(z - f) <= 1e-6 * max(1.0, np.linalg.norm(f)) for f in found):
            found.append(z)
    found.sort(key=lambda v: (round(float(np.linalg.norm(v)), 9), float(np.arctan2(v[1], v[0]))))

    out: list[dict[str, Any]] = []
    for z in found:
        eigs = np.linalg.eigvals(latent_jacobian(params, z))
        eigs = eigs[np.lexsort((-eigs.imag, -eigs.real))]
        re = eigs.real
        with np.errstate(divide="ignore"):
            tcs = [float(-1.0 / r) if r != 0 else math.inf for r in re]
        out.append(
            {
                "z": [float(z[0]), float(z[1])],
                "eigenvalues": [[float(e.real), float(e.imag)] for e in eigs],
                "time_constants_s": tcs,
                "frequencies_hz": [float(abs(e.imag) / (2 * math.pi)) for e in eigs],
                "stable": bool(np.all(re < 0)),
                "kind": classify_fixed_point(eigs),
                "residual": float(np.linalg.norm(latent_velocity(params, z))),
            }
        )
    return out


def measure_limit_cycle(params: TeacherParams, duration_s: float = 6.0, transient_s: float = 2.0) -> dict[str, Any]:
    """Measure the input-free, noise-free attractor by simulation (Euler, step dt_s).

    Starts near the origin (0.05, 0) and discards ``transient_s``.  If the state keeps
    circling the origin (≥ 2 full turns after the transient), returns the oscillation
    frequency from the mean time between successive 2π crossings of the unwrapped phase,
    plus mean/min/max radius; otherwise ``oscillating`` False and ``frequency_hz`` None.
    """
    dt = params.dt_s
    n = int(round(duration_s / dt))
    z = simulate_latent(params, np.array([0.05, 0.0]), n)
    z = z[int(round(transient_s / dt)) :]
    radius = np.linalg.norm(z, axis=1)
    phase = np.unwrap(np.arctan2(z[:, 1], z[:, 0]))
    turns = (phase - phase[0]) / (2 * math.pi)
    result: dict[str, Any] = {
        "oscillating": False,
        "frequency_hz": None,
        "period_s": None,
        "radius_mean": float(radius.mean()),
        "radius_min": float(radius.min()),
        "radius_max": float(radius.max()),
        "method": f"noise-free Euler simulation, {duration_s:g} s, first {transient_s:g} s discarded",
    }
    total = abs(turns[-1])
    if radius.min() < 1e-6 or total < 2.0:
        return result
    sgn = 1.0 if turns[-1] > 0 else -1.0
    t = np.arange(turns.shape[0]) * dt
    levels = np.arange(1, int(math.floor(total)) + 1)
    # turns is monotone for a limit cycle encircling the origin: interpolate crossing times
    crossings = np.interp(levels, sgn * turns, t)
    periods = np.diff(crossings)
    result.update(
        oscillating=True,
        period_s=float(periods.mean()),
        frequency_hz=float(1.0 / periods.mean()),
        direction="counter-clockwise" if sgn > 0 else "clockwise",
    )
    return result


def _json_plain(x: Any) -> Any:
    """Recursively convert numpy scalars/arrays and tuples into plain JSON types."""
    if isinstance(x, dict):
        return {str(k): _json_plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _json_plain(x.tolist())
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None  # JSON has no inf/nan
    if isinstance(x, Path):
        return str(x)
    return x


def ground_truth_arrays(
    params: TeacherParams, fixed_points: list[dict[str, Any]], session: SyntheticSession | None
) -> dict[str, np.ndarray]:
    """What ``teacher.npz`` holds: every TeacherParams array, the fixed points (z (k, 2),
    eigenvalue real/imag parts (k, 2), stability (k,)) and, with a session, its latent
    trajectory, heldout mask and trial conditions/splits."""
    arrays = params.arrays()
    k = len(fixed_points)
    arrays["fixed_points_z"] = np.array([fp["z"] for fp in fixed_points], dtype=np.float64).reshape(k, 2)
    eig = np.array([fp["eigenvalues"] for fp in fixed_points], dtype=np.float64).reshape(k, 2, 2)
    arrays["fixed_points_eig_real"] = eig[:, :, 0]
    arrays["fixed_points_eig_imag"] = eig[:, :, 1]
    arrays["fixed_points_stable"] = np.array([fp["stable"] for fp in fixed_points], dtype=bool)
    if session is not None:
        arrays["latent"] = session.latent
        arrays["latent_times"] = np.arange(session.latent.shape[0]) * session.dt_s
        arrays["heldout"] = session.heldout
        arrays["trial_condition"] = session.condition
        arrays["trial_split"] = session.split.astype("<U5")
    return arrays


def ground_truth_document(
    params: TeacherParams,
    config: TeacherConfig,
    fixed_points: list[dict[str, Any]],
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    """What ``teacher.json`` holds (plain JSON types): equations, config, scalar parameters, G,
    fixed points and ``extra``; the limit cycle is measured when ``extra`` lacks it."""
    doc: dict[str, Any] = {
        "description": "Ground truth of the synthetic neurodyn teacher (rank-2 low-rank RNN)",
        "equations": {
            "latent": "tau dz/dt = -z + (1/N_units) N^T phi(M z + W_u u + h) + noise",
            "discrete": "z[t+1] = a z[t] + (1-a)(1/N_units) N^T phi(M z[t] + W_u u[t] + h) + eps, a = 1 - dt/tau",
            "rates": "r_i = r0_i exp(beta_i psi(x_i)), psi = phi rescaled to [-1, 1]",
            "references": [
                "Mastrogiuseppe & Ostojic 2018, Neuron",
                "Beiran et al. 2021, Neural Computation",
                "Pals et al. 2024, NeurIPS",
            ],
        },
        "config": config.to_dict(),
        "parameters": params.scalars(),
        "overlap_matrix_G": params.G.tolist(),
        "fixed_points": fixed_points,
    }
    extra = dict(extra or {})
    if "limit_cycle" not in extra:
        extra["limit_cycle"] = measure_limit_cycle(params) if params.dynamics == "limit_cycle" else None
    doc.update(extra)
    return _json_plain(doc)


__all__ = [
    "classify_fixed_point",
    "ground_truth_arrays",
    "ground_truth_document",
    "measure_limit_cycle",
    "teacher_fixed_points",
]
