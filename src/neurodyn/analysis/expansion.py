"""Reverse-engineering a model through the points it linearises its own map around — expansion
points e*, e.g. those of a co-trained JSLDS (Smith, Linderman & Sussillo 2021, NeurIPS, Fig. 4 and
supplement A.5.2).

* :func:`expansion_modes` — the linear dynamics the model uses along the trial: at expansion points
  sampled at evenly spaced times, the eigenvalues of the generator's Jacobian J_h(e*, u*) as
  discrete-time λ, decay time constants τ = −Δt / ln|λ| and frequencies arg λ / (2π Δt).
* :func:`jpca_comparison` — jPCA of the condition-averaged (or single-trial) generator states
  (:func:`neurodyn.analysis.rotations.jpca`) against the eigen-planes of J_h at the central
  expansion point: principal angles between every jPCA plane and every eigen-plane, the best match
  of each jPCA plane, and the angle two random planes of the state space make (the chance level).

Inputs are arrays (trial, time, state) and a map ``step`` h (..., n) → (..., n) with the input held
at u*; outputs are JSON-ready dicts plus the arrays a figure needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from neurodyn.analysis.fixed_points.numerical import linearise
from neurodyn.analysis.rotations import eigen_planes, jpca, match_planes, plane_angles
from neurodyn.analysis.spectral import eigen_timescales
from neurodyn.errors import ConfigError

Step = Callable[[torch.Tensor], torch.Tensor]


def _nearest_member(points: np.ndarray, target: np.ndarray) -> int:
    """Index of the row of points (P, n) nearest target (n,)."""
    return int(np.argmin(((points - target) ** 2).sum(-1)))


def _linearise(step: Step, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q (P,), eigenvalues (P, n) and right eigenvectors (P, n, n) of ``step`` at points (P, n)."""
    z = torch.as_tensor(points, dtype=torch.float64)
    with torch.no_grad():
        q = 0.5 * ((step(z) - z) ** 2).sum(-1)
    _, lam, right, _ = linearise(step, z)
    return q.numpy(), lam.detach().numpy(), right.detach().numpy()


def expansion_modes(
    step: Step, expansion: np.ndarray, time: np.ndarray, dt: float, *, n_anchors: int = 8, n_modes: int = 10
) -> list[dict[str, Any]]:
    """Eigenmodes of the linearised map at expansion points along the trial.

    expansion: (B, T, n) expansion points e*_t of B trials; time: (T,) seconds; dt: the step.
    At ``n_anchors`` evenly spaced time bins, the expansion point (of any trial) nearest the
    across-trial mean at that bin — an expansion point the model actually proposed. Returns, per
    anchor: ``time``, ``trial``, ``spread`` (RMS distance of that bin's expansion points to their
    mean), ``q`` = ½‖F(e*) − e*‖², and the ``n_modes`` largest-|λ| ``eigenvalues`` ([re, im]) with
    their ``time_constants_s`` and ``frequencies_hz``.
    """
    e = np.asarray(expansion, dtype=np.float64)
    if e.ndim != 3 or e.shape[1] != len(time):
        raise ConfigError("expansion", f"expected (trial, time, state) aligned with {len(time)} times, got {e.shape}")
    bins = np.unique(np.linspace(0, e.shape[1] - 1, min(n_anchors, e.shape[1])).round().astype(int))
    picks, spreads = [], []
    for b in bins:
        mean = e[:, b].mean(0)
        picks.append(_nearest_member(e[:, b], mean))
        spreads.append(float(np.sqrt(((e[:, b] - mean) ** 2).sum(-1).mean())))
    points = np.stack([e[trial, b] for trial, b in zip(picks, bins)])
    q, lam, _ = _linearise(step, points)
    out = []
    for k, b in enumerate(bins):
        top = lam[k, :n_modes]
        tau, freq = eigen_timescales(top, dt)
        out.append(
            {
                "time": float(time[b]),
                "trial": picks[k],
                "spread": spreads[k],
                "q": float(q[k]),
                "eigenvalues": [[float(v.real), float(v.imag)] for v in top],
                "time_constants_s": [float(t) if np.isfinite(t) else None for t in tau],
                "frequencies_hz": [float(f) for f in freq],
            }
        )
    return out


def random_plane_angle(n: int, *, n_pairs: int = 200, seed: int = 0) -> float:
    """Median mean-principal-angle (degrees) between two random planes in R^n (the chance level)."""
    rng = np.random.default_rng(seed)
    bases = [np.linalg.qr(rng.standard_normal((n, 2)))[0] for _ in range(2 * n_pairs)]
    angles = [plane_angles(bases[i][None], bases[i + n_pairs][None])[0, 0].mean() for i in range(n_pairs)]
    return float(np.median(angles))


def jpca_comparison(
    step: Step,
    latents: np.ndarray,
    expansion: np.ndarray,
    conditions: np.ndarray | None,
    dt: float,
    *,
    n_components: int = 6,
    n_planes: int = 3,
) -> tuple[dict[str, Any], np.ndarray, list[str]]:
    """jPCA planes of the condition-averaged states vs the eigen-planes at the central expansion point.

    latents: (B, T, n) generator states; expansion: (B, T, n) expansion points; conditions: (B,)
    labels (≥ 2 distinct), or None to treat every trial as its own condition (``grouping`` says
    which: a model's posterior states are smooth single-trial trajectories, so jPCA of trials is
    meaningful when a recording has no condition labels). The eigen-planes are those of the
    ``n_planes`` largest-|λ| complex pairs of J_h at the expansion point nearest the mean of all
    expansion points. Returns (summary dict, projection (C, T, 2) of the condition averages on the
    fastest jPCA plane, condition labels).
    """
    x = np.asarray(latents, dtype=np.float64)
    if conditions is None:
        names = [str(i) for i in range(x.shape[0])]
        averages, grouping = x, "trials"
    else:
        labels = np.asarray(conditions).astype(str)
        names = sorted(set(labels.tolist()))
        if len(names) < 2:
            raise ConfigError("condition", f"jPCA needs ≥ 2 conditions, the evaluation trials have {len(names)}")
        averages, grouping = np.stack([x[labels == c].mean(0) for c in names]), "conditions"
    res = jpca(averages, dt, n_components=n_components)
    e = np.asarray(expansion, dtype=np.float64).reshape(-1, x.shape[-1])
    centre = e[_nearest_member(e, e.mean(0))]
    q, lam, right = _linearise(step, centre[None])
    planes = eigen_planes(lam[0], right[0], dt, max_planes=n_planes)
    angles = (
        plane_angles(res.planes, planes.planes).mean(axis=-1) if len(planes.planes) else np.zeros((len(res.planes), 0))
    )
    match = match_planes(angles[..., None]) if angles.shape[1] else np.full(len(res.planes), -1)
    matched = [float(angles[i, j]) if j >= 0 else None for i, j in enumerate(match)]
    summary = {
        "grouping": grouping,
        "n_conditions": len(names),
        "n_components": n_components,
        "pc_variance_explained": float(res.explained_variance_ratio.sum()),
        "r2_skew": res.r2_skew,
        "r2_unconstrained": res.r2_unconstrained,
        "jpca_frequencies_hz": res.frequencies_hz.tolist(),
        "jpca_plane_variance": res.plane_variance.tolist(),
        "expansion_point_q": float(q[0]),
        "expansion_eigenvalues": [[float(v.real), float(v.imag)] for v in planes.eigenvalues],
        "expansion_frequencies_hz": planes.frequencies_hz.tolist(),
        "expansion_decay_s": [float(t) if np.isfinite(t) else None for t in planes.decay_s],
        "angles_deg": angles.tolist(),
        "match": match.tolist(),
        "matched_angle_deg": matched,
        "random_plane_angle_deg": random_plane_angle(x.shape[-1]),
    }
    projection = res.projections @ (res.components.T @ res.planes[0]) if len(res.planes) else res.projections[..., :2]
    return summary, projection, names


__all__ = ["expansion_modes", "jpca_comparison", "random_plane_angle"]
