"""Fixed points of fitted latent dynamics, with their Jacobians and stability.

``find_fixed_points`` dispatches on the type of a model's ``Dynamics.structure``
(:mod:`neurodyn.models.structure`): affine maps have one exact fixed point (:mod:`.affine`), piecewise-linear families are
enumerated exactly (:mod:`.piecewise`, :mod:`.plrnn`), any other differentiable map is searched
numerically from visited states (:mod:`.numerical`: Adam on q = ½‖F(z) − z‖², then Newton).
"""

from __future__ import annotations

import numpy as np
import torch

from neurodyn.analysis.fixed_points import plrnn
from neurodyn.analysis.fixed_points.affine import affine_fixed_point
from neurodyn.analysis.fixed_points.numerical import adam_fixed_points
from neurodyn.analysis.fixed_points.piecewise import exact_fixed_points, to_fixed_points
from neurodyn.analysis.fixed_points.point import FixedPoint, classify
from neurodyn.errors import ConfigError
from neurodyn.models.structure import AffineMap, LowRankPiecewiseLinear, PLRNNMap

RESIDUAL_TOL = 1e-5  # ‖F(z) − z‖ bound for numerically found points returned by find_fixed_points


def find_fixed_points(
    dynamics,
    u: np.ndarray | None = None,
    *,
    states: torch.Tensor | None = None,
    box: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[FixedPoint]:
    """All fixed points the family's structure allows finding with constant input ``u``.

    * affine maps: the one exact fixed point (:mod:`.affine`);
    * piecewise-linear low-rank maps: every fixed point, exactly (:mod:`.piecewise`), inside
      ``box`` (lo (L,), hi (L,)) when given;
    * PLRNNs (A (L,), W (L, L), h (L,), optional C (L, I)):
      every fixed point over the 2^L activation patterns, or the SCYFI heuristic for large L
      (:mod:`.plrnn`), inside ``box`` when given;
    * any other map: from ``states`` (P, L), states the model visits, batched Adam on
      q = ½‖F(z) − z‖² with a Newton polish (:func:`.numerical.adam_fixed_points`); only points with
      ‖F(z) − z‖ < 1e-5 are returned (method ``"adam"``, most-visited first). A numerical search
      can miss fixed points whose basin holds no start.
    """
    u_t = None if u is None else torch.as_tensor(u, dtype=torch.float64)
    structure = dynamics.structure
    if isinstance(structure, AffineMap):
        A, B, b = (t.detach().cpu().double() for t in (structure.A, structure.B, structure.b))
        point = affine_fixed_point(A, B, b, u_t)
        return [] if point is None else [point]
    if isinstance(structure, PLRNNMap):
        A, W, h = (t.detach().double() for t in (structure.A, structure.W, structure.h))
        if u_t is not None and structure.C is not None and u_t.numel():
            h = h + structure.C.detach().double() @ u_t.to(h.device)  # a constant input folds into the bias
        points = plrnn.to_fixed_points(plrnn.plrnn_fixed_points(A, W, h, device=W.device))
        if box is not None:
            points = [p for p in points if np.all((p.z >= box[0]) & (p.z <= box[1]))]
        return points
    if isinstance(structure, LowRankPiecewiseLinear):
        M, N, h, a = (t.detach().double() for t in (structure.M, structure.N, structure.h, structure.a))
        offset = None
        if u_t is not None and structure.input_weights is not None and u_t.numel():
            offset = structure.input_weights.detach().double() @ u_t.to(structure.input_weights.device)
        result = exact_fixed_points(M, N, h, a, structure.nonlinearity, offset, box=box, device=M.device)
        return to_fixed_points(result)
    if states is not None:

        def step(z: torch.Tensor) -> torch.Tensor:
            return dynamics.step(z, None if u_t is None else u_t.to(z).expand(*z.shape[:-1], -1)).to(z.dtype)

        result = adam_fixed_points(step, torch.as_tensor(states, dtype=torch.float64), polish_newton=True)
        # Adam's acceptance threshold is loose so that slow candidates reach the Newton polish; callers
        # of this function get genuine fixed points only (the residual bound the Newton finder used)
        return [p for p in result.to_fixed_points() if p.residual < RESIDUAL_TOL]
    raise ConfigError(
        "analysis.fixed_points",
        "this model's dynamics expose no structure a fixed-point solver here can use, and no visited states were given",
    )


__all__ = ["FixedPoint", "classify", "find_fixed_points"]
