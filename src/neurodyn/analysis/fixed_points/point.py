"""A fixed point of a latent map, with its Jacobian spectrum and stability, as every solver returns it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurodyn.analysis.spectral import eigen_timescales


@dataclass
class FixedPoint:
    """A fixed point z* = F(z*, u) of a discrete-time latent map.

    z: (latent,); jacobian: (latent, latent) ∂F/∂z at z*; eigenvalues: (latent,) complex;
    stable: all |eigenvalue| < 1; method: how it was found; residual: ‖F(z*) − z*‖ where known;
    region: piecewise-linear region label where applicable; q: ½‖F(z*) − z*‖² for numerically
    found points (None otherwise); right_eigenvectors, left_eigenvectors: (latent, latent) complex,
    column i belonging to eigenvalues[i] (J r = λ r, lᵀ J = λ lᵀ, lᵀ r = 1), where the finder
    computed them (None otherwise); found_by, found_in_round: which search of
    :func:`~neurodyn.analysis.fixed_points.search.search_fixed_points` found the point first and in
    which of its rounds (None for exact solvers).

    :meth:`to_json` gives every mode of the linearisation, ordered by decreasing |λ|
    (``eigenvalues``, ``time_constants_s`` = Δt / |ln|λ||, of decay or growth (None for |λ| = 1), ``frequencies_hz`` =
    |arg λ| / (2π Δt)), and ``rotation_hz`` / ``rotation_time_constant_s``: frequency and time
    constant of the first rotating mode in that order, the slowest-decaying rotation (None without
    a rotating mode).
    """

    z: np.ndarray
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    stable: bool
    method: str
    residual: float = 0.0
    region: str | None = None
    q: float | None = None
    right_eigenvectors: np.ndarray | None = None
    left_eigenvectors: np.ndarray | None = None
    found_by: str | None = None
    found_in_round: int | None = None

    def to_json(self, dt: float) -> dict[str, Any]:
        tau, freq = eigen_timescales(self.eigenvalues, dt)
        order = np.argsort(-np.abs(self.eigenvalues), kind="stable")
        rotating = [i for i in order if abs(self.eigenvalues[i].imag) > 1e-12]
        out: dict[str, Any] = {
            # the rotating mode of the linearisation with the largest |λ| (the slowest-decaying
            # rotation, or the fastest-growing one at an unstable point): a linearised frequency,
            # not necessarily the rhythm of the free run
            "rotation_hz": float(freq[rotating[0]]) if rotating else None,
            "rotation_time_constant_s": float(tau[rotating[0]]) if rotating and np.isfinite(tau[rotating[0]]) else None,
            "z": self.z.tolist(),
            "stable": bool(self.stable),
            "method": self.method,
            "residual": float(self.residual),
            "region": self.region,
            "eigenvalues": [[float(e.real), float(e.imag)] for e in self.eigenvalues[order]],
            "time_constants_s": [float(x) if np.isfinite(x) else None for x in tau[order]],
            "frequencies_hz": [float(x) for x in freq[order]],
            "spectral_radius": float(np.abs(self.eigenvalues).max()),
        }
        if self.q is not None:
            out["q"] = float(self.q)
        if self.found_by is not None:
            out["found_by"] = self.found_by
            out["found_in_round"] = self.found_in_round
        return out


def classify(eigenvalues: np.ndarray) -> str:
    """A readable name for a discrete-time fixed point: stable/unstable, node/spiral, saddle."""
    mod = np.abs(eigenvalues)
    rotating = bool(np.any(np.abs(np.asarray(eigenvalues).imag) > 1e-9))
    if np.all(mod < 1):
        return "stable spiral" if rotating else "stable node"
    if np.all(mod > 1):
        return "unstable spiral" if rotating else "unstable node"
    return "saddle"
