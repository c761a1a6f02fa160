"""Fixed points of any differentiable latent map, found numerically from many starts at once.

For maps without exploitable structure (tanh RNNs, GRUs, fitted networks) two batched searches:

* :func:`adam_fixed_points` — minimise the "kinetic energy" q(h) = ½‖F(h) − h‖² from many starts
  with Adam, every candidate with its own moments and its own adaptive learning rate, then drop
  outliers, keep the converged candidates, merge duplicates, optionally polish them with Newton
  steps, and linearise (Jacobian, eigenvalues, left and right eigenvectors). This is the approach of
  Sussillo & Barak 2013 (Neural Computation 25, "Opening the black box: low-dimensional dynamics
  in high-dimensional recurrent neural networks") as packaged by Golub & Sussillo 2018 (JOSS,
  "FixedPointFinder"), written here from the equations. Minimising q finds every kind of fixed
  point (stable, saddle, unstable: all are zeros of q), and also *slow points* (local minima of
  q with q > 0); the acceptance threshold on q is what separates the two.
* :func:`newton_fixed_points` — damped Newton iterations on G(z) = F(z) − z from the starts
  (fast near a fixed point, erratic far from one); also used to polish the Adam candidates.

A numerical search can miss fixed points (one whose basin under the descent on q holds no start);
the piecewise-linear families have exact enumerations instead (:mod:`.piecewise`, :mod:`.plrnn`).

The map ``step`` takes a batch (B, L) → (B, L) and must treat rows independently (row b of the
output depends on row b of the input only): gradients of Σ_b q_b are then per candidate. The
Jacobians take one reverse pass per latent for L ≤ 16 (:func:`row_jacobians`) and
``torch.func.vmap(jacrev(step))`` above, so ``step`` must also accept one state (L,).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.func import jacrev, vmap

from neurodyn.analysis.fixed_points.point import FixedPoint
from neurodyn.errors import ConfigError

Step = Callable[[Tensor], Tensor]


# --------------------------------------------------------------------------------------------
# Newton
# --------------------------------------------------------------------------------------------


# up to this many latents, Jacobians take one reverse pass per output instead of vmap(jacrev): the
# first torch.func transform of a process loads torch._dynamo (about 1 s), more than L small passes
SMALL_JACOBIAN_DIM = 16


def row_jacobians(step: Step, z: Tensor) -> Tensor:
    """∂F/∂z at the rows of z (P, L) → (P, L_out, L) by one reverse pass per output dimension of the
    row-wise map ``step`` ((P, L) → (P, L_out)): each output summed over the rows has the rows'
    Jacobian rows as its gradient. For small L; no torch.func transform involved."""
    with torch.enable_grad():
        x = z.detach().requires_grad_(True)
        out = step(x)
        n_out = out.shape[-1]
        rows = [
            torch.autograd.grad(out[:, i].sum(), x, retain_graph=i < n_out - 1, allow_unused=True)[0]
            for i in range(n_out)
        ]
    return torch.stack([r if r is not None else torch.zeros_like(z) for r in rows], dim=1).detach()


def _jacobians(step: Step, z: Tensor, batch: int) -> Tensor:
    """∂F/∂z at the rows of z (P, L) → (P, L, L): by :func:`row_jacobians` for L ≤
    :data:`SMALL_JACOBIAN_DIM`, else by ``vmap(jacrev)``; in batches of ``batch`` rows."""
    if z.shape[0] == 0:
        return z.new_zeros(0, z.shape[-1], z.shape[-1])
    if z.shape[-1] <= SMALL_JACOBIAN_DIM:
        return torch.cat([row_jacobians(step, z[i : i + batch]) for i in range(0, z.shape[0], batch)])
    jac = vmap(jacrev(step))
    return torch.cat([jac(z[i : i + batch]) for i in range(0, z.shape[0], batch)])


def newton_step(A: Tensor, rhs: Tensor) -> Tensor:
    """Solve A δ = rhs for (B, L, L), (B, L): an LU solve (several times faster in batch than least
    squares), and the minimum-norm least-squares step where A is singular (a step still results;
    LAPACK's default gelsy returned zero steps for an exactly singular A)."""
    delta, info = torch.linalg.solve_ex(A, rhs)
    singular = (info != 0) | ~torch.isfinite(delta).all(-1)
    if bool(singular.any()):
        # the pseudo-inverse: the same on every device (CUDA's lstsq assumes full rank)
        delta[singular] = (torch.linalg.pinv(A[singular]) @ rhs[singular].unsqueeze(-1)).squeeze(-1)
    return delta


def _newton_iterate(step: Step, z: Tensor, *, n_iter: int, tol: float, max_step: float, batch: int = 1024) -> Tensor:
    """Damped Newton iterations on F(z) − z for all rows of z (P, L) at once; returns (P, L).

    Each iteration solves (J − I) δ = −(F(z) − z) for all rows in one batched solve
    (:func:`newton_step`: a singular J − I still gives a step) and caps ‖δ‖ at ``max_step`` times the typical state norm
    so far rows do not jump across the space. Rows that become non-finite restart from their input.
    Stops early once every row's residual is below ``tol``. Jacobians in batches of ``batch`` rows.
    """
    start = z
    scale = float(z.norm(dim=-1).median().clamp(min=1.0)) if z.shape[0] else 1.0
    eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
    for _ in range(n_iter):
        resid = step(z) - z
        if float(resid.norm(dim=-1).max()) < tol:
            break
        J = _jacobians(step, z, batch)
        delta = newton_step(J - eye, -resid)
        norm = delta.norm(dim=-1, keepdim=True)
        z = z + delta * torch.clamp(max_step * scale / norm.clamp(min=1e-30), max=1.0)
        z = torch.where(torch.isfinite(z), z, start)
    return z


def _newton_polish(
    f: Step, z: Tensor, q: Tensor, *, n_iter: int, tol_unique: float, tol: float, batch: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Newton-polished rows of z (P, L) with q (P,); returns z, q and which rows took the polish.

    A row takes its polished position when q did not increase and the polish moved it at most
    2‖δ₀‖ + ``tol_unique``, with δ₀ = −(J − I)⁻¹ (F(z) − z) the first, undamped Newton step at z:
    the linearisation's own estimate of the distance to the root. Adam can stall well away from
    a fixed point with a small q (when J − I is ill-conditioned, q is a long shallow valley), so a
    fixed radius would refuse good polishes; the bound still refuses a polish that ran off to a
    different, far fixed point.
    """
    eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
    with torch.no_grad():
        r = f(z) - z
    first = newton_step(_jacobians(f, z, batch) - eye, -r).norm(dim=-1)
    zn = _newton_iterate(f, z, n_iter=n_iter, tol=tol, max_step=1.0, batch=batch)
    with torch.no_grad():
        rn = f(zn) - zn
    qn = 0.5 * (rn * rn).sum(-1)
    took = torch.isfinite(qn) & (qn <= q) & ((zn - z).norm(dim=-1) <= 2 * first + tol_unique)
    return torch.where(took.unsqueeze(-1), zn, z), torch.where(took, qn, q), took


def newton_fixed_points(
    step: Step,
    starts: torch.Tensor,
    *,
    n_iter: int = 100,
    tol: float = 1e-10,
    merge_tol: float = 1e-6,
    max_step: float = 1.0,
) -> list[FixedPoint]:
    """Fixed points z* = step(z*) reached from ``starts`` (P, L) by damped Newton iterations.

    Each iteration solves (J − I) δ = −(F(z) − z) for all starts in one batched solve and caps
    ‖δ‖ at ``max_step`` (times the typical state norm) so far starts do not jump across the
    space. Returns the distinct converged points (residual ‖F(z) − z‖ < √tol), largest basin first.
    """
    z = starts.detach().to(torch.float64).clone()
    z = _newton_iterate(step, z, n_iter=n_iter, tol=tol, max_step=max_step)
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
        J = _jacobians(step, zf.unsqueeze(0), 1)[0]
        eig = torch.linalg.eigvals(J).cpu().numpy()
        points.append(
            FixedPoint(
                z=zf.cpu().numpy(),
                jacobian=J.cpu().numpy(),
                eigenvalues=eig,
                stable=bool(np.all(np.abs(eig) < 1)),
                method="newton",
                residual=r,
            )
        )
    return points


# --------------------------------------------------------------------------------------------
# Adam on q(h) = ½‖F(h) − h‖²
# --------------------------------------------------------------------------------------------


@dataclass
class NumericalFixedPoints:
    """Fixed points found by :func:`adam_fixed_points` (P kept points, L latent dimensions).

    z: (P, L); q: (P,) ½‖F(z) − z‖²; jacobians: (P, L, L) ∂F/∂z at z; eigenvalues: (P, L) complex,
    sorted by |λ| descending; right_eigenvectors: (P, L, L) complex, column i is rᵢ with J rᵢ = λᵢ rᵢ
    (unit norm, from ``torch.linalg.eig``); left_eigenvectors: (P, L, L) complex, column i is lᵢ
    with lᵢᵀ J = λᵢ lᵢᵀ and lᵢᵀ rⱼ = δᵢⱼ (plain transpose, no conjugation): the rows of R⁻¹, so
    they are NaN where R is singular (a defective J); stable: (P,) all |λ| < 1 (discrete time);
    counts: (P,) how many converged candidates ended at each point (sorted by this, descending);
    polished: (P,) whether a Newton polish was accepted for the point.

    Bookkeeping over the search: n_starts candidates; n_outliers of them ended farther than
    ``outlier_distance`` spreads from the starts' centroid; n_converged of the rest reached the
    acceptance threshold on q; n_duplicates of those were merged into another (so P = n_converged −
    n_duplicates); iterations: Adam iterations the batch ran; candidate_q, candidate_iterations:
    (n_starts,) each candidate's q when its descent stopped and how many iterations it ran;
    seconds: wall time; device: where it ran.
    """

    z: np.ndarray
    q: np.ndarray
    jacobians: np.ndarray
    eigenvalues: np.ndarray
    right_eigenvectors: np.ndarray
    left_eigenvectors: np.ndarray
    stable: np.ndarray
    counts: np.ndarray
    polished: np.ndarray
    n_starts: int
    n_converged: int
    n_outliers: int
    n_duplicates: int
    iterations: int
    candidate_q: np.ndarray
    candidate_iterations: np.ndarray
    seconds: float
    device: str

    def __len__(self) -> int:
        return int(self.z.shape[0])

    @property
    def residuals(self) -> np.ndarray:
        """(P,) ‖F(z) − z‖ = √(2q)."""
        return np.sqrt(2 * self.q)

    def to_fixed_points(self, method: str = "adam") -> list[FixedPoint]:
        """The project's :class:`FixedPoint` list (residual ‖F(z) − z‖, q, eigenvectors), same order."""
        return [
            FixedPoint(
                z=self.z[i].copy(),
                jacobian=self.jacobians[i].copy(),
                eigenvalues=self.eigenvalues[i].copy(),
                stable=bool(self.stable[i]),
                method=method,
                residual=float(self.residuals[i]),
                q=float(self.q[i]),
                right_eigenvectors=self.right_eigenvectors[i].copy(),
                left_eigenvectors=self.left_eigenvectors[i].copy(),
            )
            for i in range(len(self))
        ]


def _check(
    name: str, value: float, *, integer: bool = False, allow_zero: bool = False, allow_inf: bool = False
) -> None:
    """ConfigError unless ``value`` is a positive (or non-negative) number, finite unless allowed."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    ok = ok and (value >= 0 if allow_zero else value > 0) and (allow_inf or math.isfinite(value))
    if integer:
        ok = ok and isinstance(value, int)
    if not ok:
        kind = "integer" if integer else "number"
        raise ConfigError(name, f"must be a {'non-negative' if allow_zero else 'positive'} {kind}, got {value!r}")


def _as_map(step: Step, dtype: torch.dtype, step_dtype: torch.dtype | None) -> Step:
    """``step`` evaluated in ``step_dtype`` (when given) and returned in the search dtype."""

    def f(z: Tensor) -> Tensor:
        return step(z if step_dtype is None else z.to(step_dtype)).to(dtype)

    return f


def _q_and_grad(f: Step, z: Tensor) -> tuple[Tensor, Tensor]:
    """q (B,) = ½‖F(z) − z‖² per row and its gradient (B, L) = (J − I)ᵀ (F(z) − z).

    One backward pass of Σ_b q_b: rows are independent, so row b of the gradient is ∇q_b.
    Non-finite q becomes +inf (with a zero gradient) so such a point is never accepted.
    """
    with torch.enable_grad():
        x = z.detach().requires_grad_(True)
        r = f(x) - x
        q = 0.5 * (r * r).sum(-1)
        (g,) = torch.autograd.grad(q.sum(), x)
    q = q.detach()
    bad = ~torch.isfinite(q)
    q = torch.where(bad, torch.full_like(q, math.inf), q)
    g = torch.where(bad.unsqueeze(-1) | ~torch.isfinite(g), torch.zeros_like(g), g)
    return q, g


def _adam_descent(
    f: Step,
    z0: Tensor,
    *,
    tol_q: float,
    max_iters: int,
    lr: float,
    lr_growth: float,
    lr_shrink: float,
    progress_window: int,
    min_progress: float,
    betas: tuple[float, float],
    eps: float,
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Batched Adam on q with a per-candidate adaptive learning rate and per-candidate stopping.

    z0: (P, L). Every candidate has its own first/second moments m, v (with their own counts for
    Adam's bias correction) and learning rate η. An iteration proposes z' = z − η m̂ / (√v̂ + eps)
    from the moments updated with the gradient at z; if q(z') ≤ q(z) the step is taken (moments,
    z, q, gradient advance) and η grows by ``lr_growth``; otherwise it is rejected (z, v stay), η
    shrinks by ``lr_shrink`` and the momentum m restarts from zero. The restart matters: a stale
    momentum can point uphill, and backtracking along it would never be accepted; after a restart
    the proposal is the preconditioned gradient g / (√v̂ + eps), a descent direction, so a short
    enough step is always accepted. q never increases.
    A candidate stops when q < ``tol_q``, or when over the last ``progress_window`` iterations q
    fell by less than the fraction ``min_progress`` (stalled: a slow point, a kink, or converged as
    far as the arithmetic allows). Stopped candidates are removed from the working batch (frozen),
    so the rest continue at the cost of the active ones only.
    Returns z (P, L), q (P,), iterations per candidate (P,), and batch iterations run.
    """
    P = z0.shape[0]
    b1, b2 = betas
    out_z, out_q = z0.clone(), torch.empty(P, dtype=z0.dtype, device=z0.device)
    out_it = torch.zeros(P, dtype=torch.long, device=z0.device)
    idx = torch.arange(P, device=z0.device)
    z = z0
    q, g = _q_and_grad(f, z)
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    tm = torch.zeros(P, dtype=z.dtype, device=z.device)  # steps m has averaged since its last restart
    tv = torch.zeros(P, dtype=z.dtype, device=z.device)  # steps v has averaged
    eta = torch.full((P,), float(lr), dtype=z.dtype, device=z.device)
    grow, shrink = eta.new_tensor(lr_growth), eta.new_tensor(lr_shrink)
    q_ref = q.clone()
    done = (q < tol_q) | ~torch.isfinite(q)
    it = 0
    while True:
        if it == max_iters:
            done = torch.ones_like(done)
        if bool(done.any()):
            # retire the stopped candidates; the working tensors shrink to the active ones
            gone = idx[done]
            out_z[gone], out_q[gone], out_it[gone] = z[done], q[done], it
            keep = ~done
            idx, z, q, g, m, v, tm, tv, eta, q_ref = (x[keep] for x in (idx, z, q, g, m, v, tm, tv, eta, q_ref))
        if idx.numel() == 0:
            break
        it += 1
        tm1, tv1 = tm + 1, tv + 1
        m1 = b1 * m + (1 - b1) * g
        v1 = b2 * v + (1 - b2) * g * g
        m_hat = m1 / (1 - b1**tm1).unsqueeze(-1)
        v_hat = v1 / (1 - b2**tv1).unsqueeze(-1)
        z1 = z - eta.unsqueeze(-1) * m_hat / (v_hat.sqrt() + eps)
        q1, g1 = _q_and_grad(f, z1)
        ok = q1 <= q
        ok2 = ok.unsqueeze(-1)
        z, g, v = (torch.where(ok2, new, old) for new, old in ((z1, z), (g1, g), (v1, v)))
        m = torch.where(ok2, m1, torch.zeros_like(m))  # restart on rejection
        tm, tv = torch.where(ok, tm1, torch.zeros_like(tm)), torch.where(ok, tv1, tv)
        q = torch.where(ok, q1, q)
        eta = eta * torch.where(ok, grow, shrink)
        done = q < tol_q
        if it % progress_window == 0:
            done = done | ((q_ref - q) <= min_progress * q_ref)
            q_ref = q
    return out_z, out_q, out_it, it


def _merge(z: Tensor, q: Tensor, weight: Tensor, tol: float) -> tuple[Tensor, Tensor]:
    """Greedy duplicate merging: the lowest-q point absorbs every point within ``tol`` (Euclidean).

    z: (P, L), q: (P,), weight: (P,) candidates each row stands for. Returns the indices of the
    kept rows (lowest q first) and their summed weights. One vectorised distance pass per kept
    point, so the cost is O(kept · P · L) and the memory O(P).
    """
    order = torch.argsort(q, stable=True)
    zs, ws = z[order], weight[order]
    remaining = torch.ones(z.shape[0], dtype=torch.bool, device=z.device)
    kept, counts = [], []
    while bool(remaining.any()):
        i = int(torch.argmax(remaining.to(torch.uint8)))
        near = remaining & ((zs - zs[i]).norm(dim=-1) <= tol)
        kept.append(int(order[i]))
        counts.append(ws[near].sum())
        remaining &= ~near
    if not kept:
        return torch.zeros(0, dtype=torch.long, device=z.device), weight[:0]
    return torch.tensor(kept, dtype=torch.long, device=z.device), torch.stack(counts)


def linearise(f: Step, z: Tensor, *, batch: int = 256) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Jacobians and eigen-decompositions of ``f`` at the rows of z (P, L).

    Returns J (P, L, L) by ``vmap(jacrev(f))`` in batches of ``batch`` rows (bounds the memory),
    eigenvalues λ (P, L) complex sorted by |λ| descending, right eigenvectors R (P, L, L) (column i:
    J rᵢ = λᵢ rᵢ, unit norm) and left eigenvectors (P, L, L) (column i: lᵢᵀ J = λᵢ lᵢᵀ) taken as
    the rows of R⁻¹, so that lᵢᵀ rⱼ = δᵢⱼ up to rounding (NaN where R is singular; inaccurate where
    it is nearly so, i.e. for a nearly defective J).
    """
    L = z.shape[-1]
    J = _jacobians(f, z, batch)
    lam, R = torch.linalg.eig(J)
    Rinv, info = torch.linalg.inv_ex(R)
    Rinv = torch.where((info != 0).view(-1, 1, 1), torch.full_like(Rinv, complex("nan+nanj")), Rinv)
    left = Rinv.transpose(-1, -2)
    order = torch.argsort(-lam.abs(), dim=-1, stable=True)
    lam = lam.gather(-1, order)
    cols = order.unsqueeze(-2).expand(-1, L, -1)
    return J, lam, R.gather(-1, cols), left.gather(-1, cols)


def adam_fixed_points(
    step: Step,
    starts: Tensor,
    *,
    tol_q: float = 1e-12,
    accept_q: float = 1e-6,
    tol_unique: float = 1e-3,
    max_iters: int = 5000,
    lr: float = 0.1,
    lr_growth: float = 1.2,
    lr_shrink: float = 0.5,
    progress_window: int = 100,
    min_progress: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    outlier_distance: float = 10.0,
    noise_scale: float = 0.0,
    seed: int = 0,
    polish_newton: bool = True,
    newton_iters: int = 20,
    dtype: torch.dtype = torch.float64,
    step_dtype: torch.dtype | None = None,
    jacobian_batch: int = 256,
) -> NumericalFixedPoints:
    """Fixed points of ``step`` by batched Adam on q(h) = ½‖F(h) − h‖² (Sussillo & Barak 2013;
    Golub & Sussillo 2018).

    Parameters
    ----------
    step : F, (B, L) → (B, L), rows independent, differentiable (see the module docstring).
    starts : (P, L) initial states, typically states the network visits. Everything runs on
        ``starts.device`` in ``dtype`` (float64 by default, so q can reach ~1e-25 and the Newton
        polish is accurate).
    tol_q : a candidate stops descending once q < tol_q.
    accept_q : a stopped candidate counts as converged (a fixed point, not a slow point) when
        q ≤ max(tol_q, accept_q). The default 1e-6 (‖F(h) − h‖ ≤ 1.4e-3) is loose on purpose so
        that slowly converging candidates reach the polish; a slow point with q below it is
        accepted too (without the polish nothing tells them apart; with it, ``polished`` and q do).
        ``math.inf`` keeps every candidate that is not an outlier (slow points included, e.g. to
        pick the slowest points oneself).
    tol_unique : converged points closer than this (Euclidean) are one fixed point; the lowest-q
        one is kept.
    max_iters : the whole batch stops after this many iterations.
    lr, lr_growth, lr_shrink : initial per-candidate learning rate (Adam's step is ≈ lr per
        coordinate at first) and its factors after a taken (q did not increase) or rejected step.
    progress_window, min_progress : a candidate stops when q fell by less than the fraction
        ``min_progress`` over the last ``progress_window`` iterations.
    betas, eps : Adam's moment decay rates and denominator guard.
    outlier_distance : candidates ending farther than this many RMS spreads of the starts
        (√ mean ‖start − centroid‖²) from the starts' centroid are dropped as outliers, converged or
        not (math.inf: keep all). Skipped when the starts have no spread (a single start).
    noise_scale, seed : Gaussian noise of this standard deviation (drawn on the CPU from ``seed``, so
        the same on every device) is added to the starts first, so that starts on an attractor
        also explore nearby.
    polish_newton : after merging, run up to ``newton_iters`` damped Newton steps on the kept
        points (:func:`_newton_iterate`, the code of :func:`newton_fixed_points`); a point takes its
        polished position only when q did not increase and it moved no farther than twice its first
        Newton step plus ``tol_unique`` (:func:`_newton_polish`: the root its linearisation points
        to, not another one); duplicates are then merged again, since candidates that Adam left
        apart along a shallow valley of q polish onto the same point.
    dtype : search dtype. step_dtype : dtype ``step`` is evaluated in, when it differs (e.g.
        torch.float32 for a float32 network): states are cast to it for each call and the output
        back to ``dtype``; q is then limited by float32 rounding (≈1e-14 ‖h‖²), so do not expect
        tol_q = 1e-12 to be reached — candidates stop on stalled progress and accept_q decides.
    jacobian_batch : rows per ``vmap(jacrev)`` call for the Jacobians.

    Returns
    -------
    NumericalFixedPoints, points sorted by how many candidates converged to them (ties: lowest q).
    """
    t0 = time.perf_counter()
    _check("accept_q", accept_q, allow_inf=True)
    for name, value in (
        ("tol_q", tol_q),
        ("tol_unique", tol_unique),
        ("lr", lr),
        ("lr_growth", lr_growth),
        ("lr_shrink", lr_shrink),
        ("eps", eps),
    ):
        _check(name, value)
    _check("max_iters", max_iters, integer=True)
    _check("progress_window", progress_window, integer=True)
    _check("newton_iters", newton_iters, integer=True)
    _check("jacobian_batch", jacobian_batch, integer=True)
    _check("min_progress", min_progress, allow_zero=True)
    _check("noise_scale", noise_scale, allow_zero=True)
    _check("outlier_distance", outlier_distance, allow_inf=True)
    if not (lr_growth >= 1 and lr_shrink < 1):
        raise ConfigError("lr_growth", f"needs lr_growth ≥ 1 > lr_shrink, got {lr_growth!r} and {lr_shrink!r}")
    if not all(0 <= b < 1 for b in betas):
        raise ConfigError("betas", f"must lie in [0, 1), got {betas!r}")
    starts = torch.as_tensor(starts)
    if starts.ndim != 2 or starts.shape[0] < 1 or starts.shape[1] < 1:
        raise ConfigError("starts", f"must be a non-empty (P, L) array, got shape {tuple(starts.shape)}")
    device = starts.device
    z0 = starts.detach().to(dtype).clone()
    if noise_scale > 0:
        gen = torch.Generator().manual_seed(seed)
        z0 = z0 + noise_scale * torch.randn(z0.shape, generator=gen, dtype=dtype).to(device)
    f = _as_map(step, dtype, step_dtype)
    with torch.no_grad():
        probe = f(z0[:1])
    if probe.shape != z0[:1].shape:
        raise ConfigError(
            "step", f"must map (B, L) states to (B, L), got {tuple(probe.shape)} for input {tuple(z0[:1].shape)}"
        )

    z, q, cand_it, iterations = _adam_descent(
        f,
        z0,
        tol_q=tol_q,
        max_iters=max_iters,
        lr=lr,
        lr_growth=lr_growth,
        lr_shrink=lr_shrink,
        progress_window=progress_window,
        min_progress=min_progress,
        betas=betas,
        eps=eps,
    )

    # outliers: candidates that ran far from the region the starts cover
    centroid = z0.mean(0)
    spread = float(((z0 - centroid) ** 2).sum(-1).mean().sqrt())
    outlier = torch.zeros_like(q, dtype=torch.bool)
    if spread > 0 and math.isfinite(outlier_distance):
        outlier = (z - centroid).norm(dim=-1) > outlier_distance * spread
    converged = ~outlier & (q <= max(tol_q, accept_q))
    zc, qc = z[converged], q[converged]
    n_converged = int(zc.shape[0])

    keep, counts = _merge(zc, qc, torch.ones_like(qc), tol_unique)
    zk, qk = zc[keep], qc[keep]
    polished = torch.zeros_like(qk, dtype=torch.bool)
    if polish_newton and zk.shape[0]:
        # Newton stops once every residual is at the rounding level of the map's dtype
        rounding = torch.finfo(step_dtype or dtype).eps * (1 + float(zk.norm(dim=-1).max()))
        zk, qk, polished = _newton_polish(
            f, zk, qk, n_iter=newton_iters, tol_unique=tol_unique, tol=100 * rounding, batch=jacobian_batch
        )
        # points that the polish moved together are one fixed point
        again, counts = _merge(zk, qk, counts, tol_unique)
        zk, qk, polished = zk[again], qk[again], polished[again]

    # most-visited first (the Newton finder's order), ties by lowest q
    order = sorted(range(zk.shape[0]), key=lambda i: (-float(counts[i]), float(qk[i])))
    order_t = torch.tensor(order, dtype=torch.long, device=device)
    zk, qk, counts, polished = zk[order_t], qk[order_t], counts[order_t], polished[order_t]
    J, lam, right, left = linearise(f, zk, batch=jacobian_batch)
    stable = (lam.abs() < 1).all(-1)

    def cpu(x: Tensor) -> np.ndarray:
        return x.detach().cpu().numpy()

    return NumericalFixedPoints(
        z=cpu(zk),
        q=cpu(qk),
        jacobians=cpu(J),
        eigenvalues=cpu(lam),
        right_eigenvectors=cpu(right),
        left_eigenvectors=cpu(left),
        stable=cpu(stable).astype(bool),
        counts=cpu(counts).astype(np.int64),
        polished=cpu(polished).astype(bool),
        n_starts=int(z0.shape[0]),
        n_converged=n_converged,
        n_outliers=int(outlier.sum()),
        n_duplicates=n_converged - int(zk.shape[0]),
        iterations=int(iterations),
        candidate_q=cpu(q),
        candidate_iterations=cpu(cand_it),
        seconds=time.perf_counter() - t0,
        device=str(device),
    )


__all__ = ["NumericalFixedPoints", "adam_fixed_points", "linearise", "newton_fixed_points"]
