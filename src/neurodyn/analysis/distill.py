"""Distil a fitted model's latent dynamics into the smallest low-rank tanh RNN.

The fitted map z ↦ F(z) is read as the flow g(z) = F(z) − z per step on the states the model
visits, standardised (z' = (z − c)/s), and embedded by orthogonal matching pursuit into the
latent dynamics ż' = −z' + Nᵀ tanh(M z' + I) of a rank-r RNN ("A new look at low-rank recurrent
neural networks", Sec. 4, Algorithm 1; :func:`neurodyn.lowrank.omp_lowrank`). The distilled map
z ↦ z + s·g'((z − c)/s) (one Euler step per time bin, which is exactly F where the fit is exact)
is then searched for fixed points numerically, and they are compared with the source model's:
count, location and stability, within the region the states cover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from neurodyn.analysis.fixed_points import FixedPoint, find_fixed_points
from neurodyn.errors import NeurodynError
from neurodyn.lowrank import omp_lowrank
from neurodyn.models.base import Dynamics

MIN_STATES = 10


@dataclass
class Distillation:
    """Outcome of :func:`distill_dynamics`.

    n_neurons, rel_mse, curve, reached_tol: the OMP fit (relative MSE of the standardised flow);
    centre (L,), scale: the standardisation z' = (z − centre)/scale; M (k, L), N (k, L), I (k,):
    the network in standardised coordinates; fixed_points: those of the distilled map (original
    coordinates); comparison: how they match the source's (see :func:`compare_fixed_points`).
    """

    n_neurons: int
    rel_mse: float
    curve: list[float]
    reached_tol: bool
    centre: np.ndarray
    scale: float
    M: np.ndarray
    N: np.ndarray
    I: np.ndarray
    fixed_points: list[FixedPoint] = field(default_factory=list)
    comparison: dict[str, Any] = field(default_factory=dict)

    def to_json(self, dt: float) -> dict[str, Any]:
        return {
            "n_neurons": self.n_neurons,
            "rel_mse": self.rel_mse,
            "curve": self.curve,
            "reached_tol": self.reached_tol,
            "centre": self.centre.tolist(),
            "scale": self.scale,
            "M": self.M.tolist(),
            "N": self.N.tolist(),
            "I": self.I.tolist(),
            "fixed_points": [p.to_json(dt) for p in self.fixed_points],
            "comparison": self.comparison,
        }


def _inside(z: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.all((z >= lo) & (z <= hi), axis=-1)


def compare_fixed_points(
    source: np.ndarray,
    source_stable: np.ndarray,
    distilled: np.ndarray,
    distilled_stable: np.ndarray,
    *,
    lo: np.ndarray,
    hi: np.ndarray,
    scale: float,
    match_tol: float = 0.1,
) -> dict[str, Any]:
    """Match two sets of fixed points inside the box [lo, hi] (L,).

    source (n, L), distilled (m, L) with boolean stabilities (n,), (m,). Points are paired by
    minimum total distance (Hungarian algorithm); a pair matches when its distance is at most
    ``match_tol``·``scale``. ``same`` is true when both sets have the same number of points in the
    box, every one is matched and every matched pair has the same stability.
    """
    keep_s, keep_d = _inside(source, lo, hi), _inside(distilled, lo, hi)
    zs, zd = source[keep_s], distilled[keep_d]
    ss, sd = np.asarray(source_stable, bool)[keep_s], np.asarray(distilled_stable, bool)[keep_d]
    pairs: list[tuple[int, int]] = []
    distances: list[float] = []
    if len(zs) and len(zd):
        cost = np.linalg.norm(zs[:, None] - zd[None], axis=-1)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            if cost[r, c] <= match_tol * scale:
                pairs.append((int(r), int(c)))
                distances.append(float(cost[r, c] / scale))
    same_stability = all(ss[r] == sd[c] for r, c in pairs)
    return {
        "n_source": int(len(zs)),
        "n_source_stable": int(ss.sum()),
        "n_distilled": int(len(zd)),
        "n_distilled_stable": int(sd.sum()),
        "n_matched": len(pairs),
        "max_relative_distance": max(distances) if distances else None,
        "stability_agrees": bool(same_stability),
        "same": bool(len(zs) == len(zd) == len(pairs) and same_stability),
        "match_tol": match_tol,
    }


def distill_dynamics(
    dynamics: Dynamics,
    states: np.ndarray,
    source_points: list[FixedPoint],
    *,
    tol: float = 1e-2,
    max_neurons: int = 100,
    n_candidates: int = 2000,
    max_states: int = 2000,
    match_tol: float = 0.1,
    seed: int = 0,
) -> Distillation:
    """Distil ``dynamics`` (autonomous part: zero input) on ``states`` (P, L) it visits.

    At most ``max_states`` states are used (a seeded subsample); states far outside the bulk of the
    others (a runaway free run) and states the map sends to non-finite values are left out. The
    comparison box is the states' bounding box widened by 10 % of its extent per dimension.
    Returns a :class:`Distillation`; raises NeurodynError with fewer than MIN_STATES usable states.
    """
    states = np.asarray(states, dtype=np.float64)
    states = states[np.isfinite(states).all(axis=1)]
    rng = np.random.default_rng(seed)
    if len(states) > max_states:
        states = states[rng.choice(len(states), size=max_states, replace=False)]
    L = dynamics.latent_dim
    u0 = torch.zeros(len(states), dynamics.input_dim, dtype=torch.float64) if dynamics.input_dim else None
    with torch.no_grad():
        mapped = dynamics.step(torch.as_tensor(states), u0).double().numpy()
    # a free run that runs away visits states far outside the rest (and maps them to overflow):
    # keep the states within the 1–99 % range widened by that range on each side
    lo_q, hi_q = np.percentile(states, [1, 99], axis=0)
    keep = np.isfinite(mapped).all(axis=1) & np.all((states >= 2 * lo_q - hi_q) & (states <= 2 * hi_q - lo_q), axis=1)
    states, mapped = states[keep], mapped[keep]
    if len(states) < MIN_STATES:
        raise NeurodynError(f"distillation: only {len(states)} usable visited states (need {MIN_STATES})")
    centre = states.mean(axis=0)
    scale = float(states.std()) or 1.0
    z = (states - centre) / scale
    dz = (mapped - states) / scale
    result = omp_lowrank(z, dz, tol=tol, max_neurons=max_neurons, n_candidates=n_candidates, seed=seed)
    flow = result.flow
    M_t, N_t, I_t = (torch.as_tensor(a, dtype=torch.float64) for a in (flow.M, flow.N, flow.I))
    c_t = torch.as_tensor(centre)

    def step(zz: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        zn = (zz.to(torch.float64) - c_t) / scale
        velocity = -flow.decay * zn + torch.tanh(zn @ M_t.T + I_t) @ N_t
        return zz + scale * velocity

    distilled = Dynamics(latent_dim=L, input_dim=0, dt=dynamics.dt, step=step)
    starts = states[rng.choice(len(states), size=min(len(states), 512), replace=False)]
    if source_points:
        starts = np.concatenate([starts, np.stack([p.z for p in source_points])])
    points = find_fixed_points(distilled, None, states=torch.as_tensor(starts))
    extent = states.max(axis=0) - states.min(axis=0)
    lo, hi = states.min(axis=0) - 0.1 * extent, states.max(axis=0) + 0.1 * extent
    src = np.stack([p.z for p in source_points]) if source_points else np.zeros((0, L))
    dst = np.stack([p.z for p in points]) if points else np.zeros((0, L))
    comparison = compare_fixed_points(
        src,
        np.array([p.stable for p in source_points], bool),
        dst,
        np.array([p.stable for p in points], bool),
        lo=lo,
        hi=hi,
        scale=scale,
        match_tol=match_tol,
    )
    return Distillation(
        n_neurons=result.n_neurons,
        rel_mse=float(result.rel_mse),
        curve=list(result.curve),
        reached_tol=bool(result.reached_tol),
        centre=centre,
        scale=scale,
        M=flow.M,
        N=flow.N,
        I=flow.I,
        fixed_points=points,
        comparison=comparison,
    )
