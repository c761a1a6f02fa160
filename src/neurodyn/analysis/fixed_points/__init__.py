"""Fixed points of fitted latent dynamics, with their Jacobians and stability.

``find_fixed_points`` dispatches on the type of a model's ``Dynamics.structure``
(:mod:`neurodyn.models.structure`): affine maps have one exact fixed point (:mod:`.affine`), piecewise-linear families are
enumerated exactly (:mod:`.piecewise`, :mod:`.plrnn`), any other differentiable map is searched
numerically (:mod:`.search`: from visited states, a dense grid or space-filling design, Newton
with deflation, and a record of how complete the search was).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neurodyn.analysis.fixed_points import plrnn
from neurodyn.analysis.fixed_points.affine import affine_fixed_point
from neurodyn.analysis.fixed_points.piecewise import exact_fixed_points, to_fixed_points
from neurodyn.analysis.fixed_points.point import FixedPoint, classify
from neurodyn.analysis.fixed_points.search import search_fixed_points
from neurodyn.errors import ConfigError
from neurodyn.models.structure import AffineMap, LowRankPiecewiseLinear, PLRNNMap


@dataclass
class FixedPointResult:
    """The fixed points of a latent map and how they were found.

    points: the fixed points (exact solvers: their own order; the numerical search: stable first,
    then by how many starts reached each); search: JSON-ready record of the search — ``mode``
    (``exact`` for the affine, piecewise-linear and exhaustive PLRNN solvers, which are complete by
    construction; ``heuristic`` for the PLRNN search over many units) and, for the numerical search, :meth:`.search.FixedPointSearch.completeness`.
    """

    points: list[FixedPoint]
    search: dict[str, Any]


def locate_fixed_points(
    dynamics,
    u: np.ndarray | None = None,
    *,
    states: torch.Tensor | None = None,
    box: tuple[np.ndarray, np.ndarray] | None = None,
    search: str = "auto",
    rounds: int = 12,
    round_size: int = 256,
    seed: int = 0,
) -> FixedPointResult:
    """All fixed points the family's structure allows finding with constant input ``u``.

    * affine maps: the one exact fixed point (:mod:`.affine`);
    * piecewise-linear low-rank maps: every fixed point, exactly (:mod:`.piecewise`), inside
      ``box`` (lo (L,), hi (L,)) when given;
    * PLRNNs (A (L,), W (L, L), h (L,), optional C (L, I)):
      every fixed point over the 2^L activation patterns, or the SCYFI heuristic for large L
      (:mod:`.plrnn`), inside ``box`` when given;
    * any other map: :func:`.search.search_fixed_points` — from ``states`` (P, L) the model visits
      (Adam on q = ½‖F(z) − z‖², Newton-polished), then Newton with deflation from a dense grid
      (``search`` auto with L ≤ 3, or grid) and from rounds of ``round_size`` space-filling starts
      (at most ``rounds``) over ``box``, else the region the dynamics declare
      (``Dynamics.fixed_point_region``), else the visited states' widened bounding box; the
      result carries the search's completeness record. ``search="visited"`` searches from the
      visited states only.
    """
    u_t = None if u is None else torch.as_tensor(u, dtype=torch.float64)
    structure = dynamics.structure
    if isinstance(structure, AffineMap):
        A, B, b = (t.detach().cpu().double() for t in (structure.A, structure.B, structure.b))
        point = affine_fixed_point(A, B, b, u_t)
        return FixedPointResult([] if point is None else [point], {"mode": "exact", "method": "affine"})
    if isinstance(structure, PLRNNMap):
        A, W, h = (t.detach().double() for t in (structure.A, structure.W, structure.h))
        if u_t is not None and structure.C is not None and u_t.numel():
            h = h + structure.C.detach().double() @ u_t.to(h.device)  # a constant input folds into the bias
        solved = plrnn.plrnn_fixed_points(A, W, h, device=W.device)
        points = plrnn.to_fixed_points(solved)
        if box is not None:
            points = [p for p in points if np.all((p.z >= box[0]) & (p.z <= box[1]))]
        # the exhaustive enumeration is complete; the heuristic one (SCYFI, for many units) is not
        mode = "exact" if solved.method == "exhaustive" else "heuristic"
        return FixedPointResult(points, {"mode": mode, "method": f"PLRNN activation patterns, {solved.method}"})
    if isinstance(structure, LowRankPiecewiseLinear):
        M, N, h, a = (t.detach().double() for t in (structure.M, structure.N, structure.h, structure.a))
        offset = None
        if u_t is not None and structure.input_weights is not None and u_t.numel():
            offset = structure.input_weights.detach().double() @ u_t.to(structure.input_weights.device)
        result = exact_fixed_points(M, N, h, a, structure.nonlinearity, offset, box=box, device=M.device)
        return FixedPointResult(to_fixed_points(result), {"mode": "exact", "method": "hyperplane arrangement"})
    if states is None:
        raise ConfigError(
            "analysis.fixed_points",
            "this model's dynamics expose no structure a fixed-point solver here can use, and no visited states were given",
        )
    visited = torch.as_tensor(states, dtype=torch.float64)

    def step(z: torch.Tensor) -> torch.Tensor:
        return dynamics.step(z, None if u_t is None else u_t.to(z).expand(*z.shape[:-1], -1)).to(z.dtype)

    region, kind = None, None
    if box is not None:
        region, kind = (torch.as_tensor(box[0]), torch.as_tensor(box[1])), "given box"
    elif dynamics.fixed_point_region is not None:
        declared = dynamics.fixed_point_region(u_t)
        region, kind = (declared.lo.detach().double(), declared.hi.detach().double()), declared.reason
    found = search_fixed_points(
        step,
        dynamics.latent_dim,
        visited=visited,
        region=region,
        region_kind=kind,
        mode=search,
        max_rounds=rounds,
        round_size=round_size,
        seed=seed,
    )
    return FixedPointResult(found.points, found.completeness())


def find_fixed_points(
    dynamics,
    u: np.ndarray | None = None,
    *,
    states: torch.Tensor | None = None,
    box: tuple[np.ndarray, np.ndarray] | None = None,
    search: str = "auto",
) -> list[FixedPoint]:
    """The points of :func:`locate_fixed_points` (same arguments), without the search record."""
    return locate_fixed_points(dynamics, u, states=states, box=box, search=search).points


__all__ = ["FixedPoint", "FixedPointResult", "classify", "find_fixed_points", "locate_fixed_points"]
