"""Fixed points of any differentiable latent map by batched Newton iterations.

For maps without exploitable structure (e.g. tanh low-rank RNNs): start from many states the
model visits, run damped Newton steps on G(z) = F(z) − z for all starts at once (Jacobians by
``torch.func``), keep the converged points and merge duplicates. A numerical search can miss
fixed points; the piecewise-linear families use the exact enumeration instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.func import jacrev, vmap

from neurodyn.analysis.fixed_points import FixedPoint


def newton_fixed_points(step: Callable[[torch.Tensor], torch.Tensor], starts: torch.Tensor, *,
                        n_iter: int = 100, tol: float = 1e-10, merge_tol: float = 1e-6,
                        max_step: float = 1.0) -> list[FixedPoint]:
    """Fixed points z* = step(z*) reached from ``starts`` (P, L) by damped Newton iterations.

    Each iteration solves (J − I) δ = −(F(z) − z) for all starts in one batched solve and caps
    ‖δ‖ at ``max_step`` (times the typical state norm) so far starts do not jump across the
    space. Returns the distinct converged points (residual ‖F(z) − z‖ < √tol), largest basin first.
    """
    z = starts.detach().to(torch.float64).clone()
    jac = vmap(jacrev(step))
    scale = float(z.norm(dim=-1).median().clamp(min=1.0))
    eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
    for _ in range(n_iter):
        resid = step(z) - z
        if float(resid.norm(dim=-1).max()) < tol:
            break
        J = jac(z)
        delta = torch.linalg.lstsq(J - eye, -resid.unsqueeze(-1)).solution.squeeze(-1)
        norm = delta.norm(dim=-1, keepdim=True)
        z = z + delta * torch.clamp(max_step * scale / norm.clamp(min=1e-30), max=1.0)
        z = torch.where(torch.isfinite(z), z, starts.to(z.dtype))
    resid = (step(z) - z).norm(dim=-1)
    ok = resid < tol**0.5
    z, resid = z[ok], resid[ok]
    found: list[tuple[torch.Tensor, float, int]] = []
    for k in range(z.shape[0]):
        for i, (zf, r, n) in enumerate(found):
            if float((zf - z[k]).norm()) < merge_tol * max(1.0, float(zf.norm())):
                found[i] = (zf, r, n + 1)
                break
        else:
            found.append((z[k], float(resid[k]), 1))
    found.sort(key=lambda item: -item[2])
    points = []
    for zf, r, _ in found:
        J = jac(zf.unsqueeze(0))[0]
        eig = torch.linalg.eigvals(J).cpu().numpy()
        points.append(FixedPoint(z=zf.cpu().numpy(), jacobian=J.cpu().numpy(), eigenvalues=eig,
                                 stable=bool(np.all(np.abs(eig) < 1)), method="newton", residual=r))
    return points
