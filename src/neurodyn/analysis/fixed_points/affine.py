"""The fixed point of an affine map z_next = A z + B u + b."""

from __future__ import annotations

import torch

from neurodyn.analysis.fixed_points.point import FixedPoint


def affine_fixed_point(
    A: torch.Tensor, B: torch.Tensor, b: torch.Tensor, u: torch.Tensor | None = None, *, cond_limit: float = 1e12
) -> FixedPoint | None:
    """Solve (I − A) z* = B u + b exactly.

    A: (L, L); B: (L, I); b: (L,); u: (I,) or None (zero input). Returns None when I − A is
    singular to working precision (a continuum of fixed points or none — a line attractor or
    a drift), which the caller reports as such.
    """
    n = A.shape[0]
    rhs = b.clone()
    if u is not None and B.shape[1]:
        rhs = rhs + B @ u
    lhs = torch.eye(n, dtype=A.dtype, device=A.device) - A
    cond = torch.linalg.cond(lhs)
    if not torch.isfinite(cond) or cond > cond_limit:
        return None
    z = torch.linalg.solve(lhs, rhs)
    eig = torch.linalg.eigvals(A)
    residual = torch.linalg.vector_norm(A @ z + rhs - z)
    return FixedPoint(
        z=z.cpu().numpy(),
        jacobian=A.cpu().numpy(),
        eigenvalues=eig.cpu().numpy(),
        stable=bool(eig.abs().max() < 1),
        method="exact (affine)",
        residual=float(residual),
    )
