"""Piecewise-linear RNN (PLRNN) state-space model: pure tensor functions.

Model (Koppe et al. 2019, PLOS Comput Biol; Schmidt et al. 2021, ICLR, Eq. 1–2)::

    z_t = A z_{t-1} + W φ(z_{t-1}) + C s_t + h + ε_t,   ε_t ~ N(0, Σ),  φ = ReLU
    x_t = B φ(z_t) + η_t,                                 η_t ~ N(0, Γ)   (Γ diagonal)

A is diagonal (stored as a vector ``A`` (..., M)), W has a zero diagonal. The first ``n_reg``
units carry the line-attractor regulariser of Schmidt et al. 2021, Eq. 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from neurodyn.models.plrnn_em.relu_moments import cross_z_phi, relu_moments


def line_attractor_penalty(
    A: torch.Tensor, W: torch.Tensor, h: torch.Tensor, n_reg: int, tau: float | torch.Tensor
) -> torch.Tensor:
    """L_reg = τ Σ_{i<M_reg} (A_ii − 1)² + τ Σ_{i<M_reg} Σ_{j≠i} W_ij² + τ Σ_{i<M_reg} h_i².

    Schmidt et al. 2021 (ICLR), Eq. 4, with τ_A = τ_W = τ_h = τ. A: (..., M) diagonal of A;
    W: (..., M, M) (its diagonal is ignored); h: (..., M); tau: scalar or (...,). Returns (...,).
    The regularised units are the first ``n_reg``; they are pushed towards a line attractor
    (A_ii = 1, no input from other units, no bias).
    """
    if n_reg <= 0:
        return torch.zeros(A.shape[:-1], dtype=A.dtype, device=A.device)
    M = A.shape[-1]
    off = 1.0 - torch.eye(M, dtype=W.dtype, device=W.device)
    a_term = ((A[..., :n_reg] - 1.0) ** 2).sum(-1)
    w_term = ((W[..., :n_reg, :] * off[:n_reg]) ** 2).sum((-2, -1))
    h_term = (h[..., :n_reg] ** 2).sum(-1)
    return torch.as_tensor(tau, dtype=A.dtype, device=A.device) * (a_term + w_term + h_term)


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------


@dataclass
class PLRNNParams:
    """Parameters of R PLRNNs fitted side by side (restarts or hyperparameter settings).

    A (R, M) diagonal of A; W (R, M, M) zero diagonal; h (R, M); C (R, M, K) input weights;
    B (R, N, M) loadings; b (R, N) observation offset; gamma (R, N) observation noise
    variances; sigma (R, M) latent noise variances (Σ diagonal); mu0 (R, M) initial state mean
    (the initial state has covariance Σ).
    """

    A: torch.Tensor
    W: torch.Tensor
    h: torch.Tensor
    C: torch.Tensor
    B: torch.Tensor
    b: torch.Tensor
    gamma: torch.Tensor
    sigma: torch.Tensor
    mu0: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def clone(self) -> PLRNNParams:
        return PLRNNParams(**{k: v.clone() for k, v in self.as_dict().items()})

    def select(self, index: torch.Tensor | slice | int) -> PLRNNParams:
        """Restarts ``index`` only (keeps the leading restart dimension for an int)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return PLRNNParams(**{k: v[index] for k, v in self.as_dict().items()})

    def where(self, keep_new: torch.Tensor, old: PLRNNParams) -> PLRNNParams:
        """Per restart, self where ``keep_new`` (R,) is true, else ``old``."""
        out = {}
        for k, new in self.as_dict().items():
            mask = keep_new.reshape(-1, *([1] * (new.dim() - 1)))
            out[k] = torch.where(mask, new, getattr(old, k))
        return PLRNNParams(**out)

    def finite(self) -> torch.Tensor:
        """(R,) true where every parameter of the restart is finite."""
        ok = torch.ones(self.A.shape[0], dtype=torch.bool, device=self.A.device)
        for v in self.as_dict().values():
            ok &= torch.isfinite(v.reshape(v.shape[0], -1)).all(-1)
        return ok

    @property
    def n_restarts(self) -> int:
        return self.A.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.A.shape[-1]


def plrnn_step(
    params: PLRNNParams, z: torch.Tensor, s: torch.Tensor | None = None, *, linear: bool = False
) -> torch.Tensor:
    """Mean of the next state, A z + W φ(z) + C s + h. z: (R, ..., M); s: (R, ..., K) or None."""
    R = params.n_restarts
    shape = (R,) + (1,) * (z.dim() - 2)
    g = z if linear else torch.relu(z)
    out = (
        params.A.reshape(*shape, -1) * z + torch.einsum("rij,r...j->r...i", params.W, g) + params.h.reshape(*shape, -1)
    )
    if s is not None and params.C.shape[-1]:
        out = out + torch.einsum("rik,r...k->r...i", params.C, s)
    return out


# --------------------------------------------------------------------------------------------
# block-tridiagonal linear algebra
# --------------------------------------------------------------------------------------------


@dataclass
class BlockSolve:
    """Solution of H z = v for a symmetric positive-definite block-tridiagonal H.

    z (..., T, M); logdet (...,) log|H|; failed (...,) Cholesky failures; cov_diag (..., T, M, M)
    the blocks (H⁻¹)_{t,t}; cov_lower (..., T−1, M, M) the blocks (H⁻¹)_{t+1,t} (None unless asked).
    """

    z: torch.Tensor
    logdet: torch.Tensor
    failed: torch.Tensor
    cov_diag: torch.Tensor | None = None
    cov_lower: torch.Tensor | None = None


def block_tridiag_solve(
    diag: torch.Tensor, lower: torch.Tensor, rhs: torch.Tensor, *, covariance: bool = False, engine: str = "auto"
) -> BlockSolve:
    """Solve H z = v by block Cholesky, O(T M³), and optionally the selected inverse.

    diag: (..., T, M, M) blocks H_{t,t}; lower: (..., T−1, M, M) blocks H_{t+1,t}; rhs (..., T, M).
    H = L Lᵀ with L block-bidiagonal (diagonal blocks L_t lower triangular, sub-diagonal G_t):
    S_1 = H_11, G_t = H_{t+1,t} L_t⁻ᵀ, S_{t+1} = H_{t+1,t+1} − G_t G_tᵀ, L_t = chol(S_t).
    The covariance blocks follow the backward recursion (Takahashi's selected inversion, the
    same as a Rauch–Tung–Striebel smoother): with K_t = G_t L_t⁻¹ = H_{t+1,t} S_t⁻¹,
    Σ_{t+1,t} = −Σ_{t+1,t+1} K_t and Σ_{t,t} = S_t⁻¹ + K_tᵀ Σ_{t+1,t+1} K_t.
    Never forms the dense (TM × TM) matrix.

    ``engine``: "numba" runs the compiled CPU kernels of
    :func:`neurodyn.models.plrnn_em.block_solve.block_tridiag_solve_numba` (same results to rounding;
    a failed element's outputs are NaN there); "torch" the loop of tensor ops below (any device; it
    records the autograd graph, though its in-place writes make a backward pass fail); "auto" picks
    numba for float32/float64 CPU tensors when no gradient is tracked and numba imports, else torch.
    """
    if engine not in ("auto", "numba", "torch"):
        raise ValueError(f"engine must be 'auto', 'numba' or 'torch', got {engine!r}")
    if engine != "torch":
        blocks = (diag, lower, rhs)
        compiled_ok = (
            diag.dtype in (torch.float32, torch.float64)
            and all(x.device.type == "cpu" and x.dtype == diag.dtype for x in blocks)
            and not (torch.is_grad_enabled() and any(x.requires_grad for x in blocks))
        )
        if engine == "numba" and not compiled_ok:
            raise ValueError("engine='numba' needs float32/float64 CPU tensors of one dtype that do not require grad")
        if compiled_ok:
            try:
                from neurodyn.models.plrnn_em.block_solve import block_tridiag_solve_numba, compiled_kernels

                compiled_kernels()  # imports numba
            except ImportError:
                if engine == "numba":
                    raise
            else:
                return BlockSolve(**block_tridiag_solve_numba(diag, lower, rhs, covariance=covariance)._asdict())
    T, M = diag.shape[-3], diag.shape[-1]
    chol = torch.empty_like(diag)
    G = torch.empty_like(lower)
    y = torch.empty_like(rhs)
    failed = torch.zeros(diag.shape[:-3], dtype=torch.bool, device=diag.device)
    S = diag[..., 0, :, :]
    for t in range(T):
        if t:
            S = diag[..., t, :, :] - G[..., t - 1, :, :] @ G[..., t - 1, :, :].mT
        L_t, info = torch.linalg.cholesky_ex(S)
        failed |= info != 0
        chol[..., t, :, :] = L_t
        r = rhs[..., t, :] if t == 0 else rhs[..., t, :] - (G[..., t - 1, :, :] @ y[..., t - 1, :, None])[..., 0]
        y[..., t, :] = torch.linalg.solve_triangular(L_t, r[..., None], upper=False)[..., 0]
        if t < T - 1:
            G[..., t, :, :] = torch.linalg.solve_triangular(L_t, lower[..., t, :, :].mT, upper=False).mT
    z = torch.empty_like(rhs)
    z[..., T - 1, :] = torch.linalg.solve_triangular(chol[..., T - 1, :, :].mT, y[..., T - 1, :, None], upper=True)[
        ..., 0
    ]
    for t in range(T - 2, -1, -1):
        r = y[..., t, :] - (G[..., t, :, :].mT @ z[..., t + 1, :, None])[..., 0]
        z[..., t, :] = torch.linalg.solve_triangular(chol[..., t, :, :].mT, r[..., None], upper=True)[..., 0]
    logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum((-2, -1))
    out = BlockSolve(z=z, logdet=logdet, failed=failed)
    if not covariance:
        return out
    eye = torch.eye(M, dtype=diag.dtype, device=diag.device)
    chol_inv = torch.linalg.solve_triangular(chol, eye.expand_as(chol), upper=False)  # all t at once
    S_inv = chol_inv.mT @ chol_inv  # (..., T, M, M)
    K = G @ chol_inv[..., :-1, :, :]  # (..., T-1, M, M)
    cov = torch.empty_like(diag)
    cov_lower = torch.empty_like(lower)
    cov[..., T - 1, :, :] = S_inv[..., T - 1, :, :]
    for t in range(T - 2, -1, -1):
        nxt = cov[..., t + 1, :, :]
        cov_lower[..., t, :, :] = -nxt @ K[..., t, :, :]
        cov[..., t, :, :] = S_inv[..., t, :, :] + K[..., t, :, :].mT @ nxt @ K[..., t, :, :]
    out.cov_diag = 0.5 * (cov + cov.mT)
    out.cov_lower = cov_lower
    return out


# --------------------------------------------------------------------------------------------
# E-step: the posterior mode and its Laplace covariance
# --------------------------------------------------------------------------------------------


@dataclass
class Observations:
    """What the E-step conditions on, shared by all restarts.

    x (n, T, N) data (0 where missing); mask (n, T, N) 1 where observed; s (n, T, K) inputs
    (K may be 0); obs_phi: x = B φ(z) + b (true) or x = B z + b (false).
    """

    x: torch.Tensor
    mask: torch.Tensor
    s: torch.Tensor
    obs_phi: bool = True

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape[0], self.x.shape[1]


def _obs_quadratics(params: PLRNNParams, obs: Observations) -> tuple[torch.Tensor, torch.Tensor]:
    """Bᵀ Γ⁻¹ B per bin (R, n, T, M, M) (or (R, 1, 1, M, M) when nothing is missing) and
    Bᵀ Γ⁻¹ (x − b) (R, n, T, M)."""
    prec = 1.0 / params.gamma  # (R, N)
    resid = (obs.x[None] - params.b[:, None, None]) * obs.mask[None]  # (R, n, T, N)
    lin = torch.einsum("rtnj,rj,rjm->rtnm", resid, prec, params.B)
    if bool((obs.mask == 1).all()):
        quad = torch.einsum("rjm,rj,rjk->rmk", params.B, prec, params.B)[:, None, None]
    else:
        quad = torch.einsum("rjm,rntj,rjk->rntmk", params.B, prec[:, None, None] * obs.mask[None], params.B)
    return quad, lin


def hessian_blocks(
    params: PLRNNParams,
    obs: Observations,
    d: torch.Tensor,
    *,
    linear: bool = False,
    obs_terms: tuple[torch.Tensor, torch.Tensor] | None = None,
):
    """The quadratic form of −log p(X, Z) for a fixed active set D (Suppl. 7.1.3, Eq. 21).

    With φ(z_t) = D_t z_t (d (R, n, T, M) ∈ {0, 1}; all ones when ``linear``) the negative log
    joint is ½ zᵀ H z − vᵀ z + const with block-tridiagonal H:
    H_tt = D_t BᵀΓ⁻¹B D_t + Σ⁻¹ + F_tᵀ Σ⁻¹ F_t (last term for t < T), H_{t+1,t} = −Σ⁻¹ F_t,
    F_t = A + W D_t, and v_t = D_t BᵀΓ⁻¹(x_t − b) + Σ⁻¹ c_t − F_tᵀ Σ⁻¹ c_{t+1}, where c_1 = μ₀ and
    c_t = h + C s_t. Returns diag (R, n, T, M, M), lower (R, n, T−1, M, M), rhs (R, n, T, M).
    """
    R, M = params.n_restarts, params.latent_dim
    n, T = obs.shape
    quad, lin = obs_terms if obs_terms is not None else _obs_quadratics(params, obs)
    d_obs = d if obs.obs_phi else torch.ones_like(d)
    O = quad * d_obs[..., :, None] * d_obs[..., None, :]
    o = lin * d_obs
    sig_inv = (1.0 / params.sigma)[:, None, None]  # (R, 1, 1, M)
    F = torch.diag_embed(params.A)[:, None, None] + params.W[:, None, None] * d[..., None, :]  # (R,n,T,M,M)
    c = params.h[:, None, None].expand(R, n, T, M)
    if obs.s.shape[-1]:
        c = c + torch.einsum("rmk,ntk->rntm", params.C, obs.s)
    c = torch.cat([params.mu0[:, None, None].expand(R, n, 1, M), c[:, :, 1:]], dim=2)
    diag = O + torch.diag_embed(sig_inv.expand(R, n, T, M))
    FtS = F[:, :, :-1].mT * sig_inv[..., None, :]  # F_tᵀ Σ⁻¹, (R, n, T-1, M, M)
    diag[:, :, :-1] = diag[:, :, :-1] + FtS @ F[:, :, :-1]
    lower = -FtS.mT
    rhs = o + sig_inv * c
    rhs[:, :, :-1] = rhs[:, :, :-1] - (FtS @ c[:, :, 1:, :, None])[..., 0]
    return diag, lower, rhs


def log_joint(params: PLRNNParams, obs: Observations, z: torch.Tensor, *, linear: bool = False) -> torch.Tensor:
    """log p(X, Z) per restart and trial (R, n) for latents z (R, n, T, M), with φ the true ReLU."""
    log2pi = math.log(2.0 * math.pi)
    g = z if linear else torch.relu(z)
    g_obs = g if obs.obs_phi else z
    pred = torch.einsum("rcj,rntj->rntc", params.B, g_obs) + params.b[:, None, None]
    gamma = params.gamma[:, None, None]
    ll_obs = -0.5 * (((obs.x[None] - pred) ** 2 / gamma + torch.log(gamma) + log2pi) * obs.mask[None]).sum((-2, -1))
    mean = plrnn_step(
        params,
        z[:, :, :-1],
        obs.s[None, :, 1:].expand(params.n_restarts, *obs.s[:, 1:].shape) if obs.s.shape[-1] else None,
        linear=linear,
    )
    mean = torch.cat([params.mu0[:, None, None].expand(-1, z.shape[1], 1, -1), mean], dim=2)
    sigma = params.sigma[:, None, None]
    ll_lat = -0.5 * ((z - mean) ** 2 / sigma + torch.log(sigma) + log2pi).sum((-2, -1))
    return ll_obs + ll_lat


@dataclass
class Posterior:
    """Laplace posterior of the latents per restart and trial.

    z (R, n, T, M) mode; cov_diag (R, n, T, M, M); cov_lower (R, n, T−1, M, M) Cov(z_{t+1}, z_t);
    log_joint (R, n) log p(X, Z*); logdet (R, n) log|H| at the mode; mode_iters (R, n);
    converged (R, n) whether the active set was self-consistent; failed (R, n) numerical failure.
    """

    z: torch.Tensor
    cov_diag: torch.Tensor
    cov_lower: torch.Tensor
    log_joint: torch.Tensor
    logdet: torch.Tensor
    mode_iters: torch.Tensor
    converged: torch.Tensor
    failed: torch.Tensor

    def select(self, index: int) -> Posterior:
        """Restart ``index`` only, keeping the restart dimension."""
        sl = slice(index, index + 1)
        return Posterior(*(getattr(self, f.name)[sl] for f in fields(self)))

    def laplace_log_evidence(self) -> torch.Tensor:
        """log p(X) ≈ log p(X, Z*) + (TM/2) log 2π − ½ log|H|, summed over trials: (R,)."""
        T, M = self.z.shape[-2], self.z.shape[-1]
        return (self.log_joint + 0.5 * T * M * math.log(2 * math.pi) - 0.5 * self.logdet).sum(-1)


STEP_FRACTIONS = (1.0, 0.5, 0.25, 0.125, 1 / 16, 1 / 64, 1 / 256)


def posterior_mode(
    params: PLRNNParams,
    obs: Observations,
    *,
    z_init: torch.Tensor | None = None,
    linear: bool = False,
    max_iters: int = 20,
    rtol: float = 1e-7,
    polish_iters: int = 0,
) -> Posterior:
    """The mode of p(Z | X) by fixed-point iteration over the active set D (Durstewitz 2017).

    For fixed D (the sign pattern of the current Z) the negative log joint is a convex quadratic
    whose minimiser Z_D solves one block-tridiagonal system (:func:`block_tridiag_solve`); the
    classic iteration jumps to Z_D and recomputes D. Jumping can cycle between patterns, so the
    step from Z towards Z_D is taken at the fraction in ``STEP_FRACTIONS`` that scores best on
    the true log joint (with the real ReLU, batched over fractions). Near Z the true objective
    equals the quadratic, so some step always improves it unless Z = Z_D: the objective rises
    strictly, no pattern can recur, and the units that violate their constraint least are
    crossed first. Stops per restart and trial when D(Z_D) = D (Z_D is then the exact mode of its
    region) or the relative gain is below ``rtol``. The Laplace covariance is the inverse
    Hessian at the mode, with D taken from the mode's own sign pattern.
    """
    R, M = params.n_restarts, params.latent_dim
    n, T = obs.shape
    dev, dt = obs.x.device, obs.x.dtype
    obs_terms = _obs_quadratics(params, obs)
    if linear:
        d = torch.ones(R, n, T, M, dtype=dt, device=dev)
        dg, lo, rhs = hessian_blocks(params, obs, d, linear=True, obs_terms=obs_terms)
        sol = block_tridiag_solve(dg, lo, rhs, covariance=True)
        ones = torch.ones(R, n, dtype=torch.long, device=dev)
        return Posterior(
            sol.z,
            sol.cov_diag,
            sol.cov_lower,
            log_joint(params, obs, sol.z, linear=True),
            sol.logdet,
            ones,
            ones.bool(),
            sol.failed,
        )
    z = _observation_guess(params, obs_terms) if z_init is None else z_init.clone()
    ll = log_joint(params, obs, z)
    fractions = torch.tensor(STEP_FRACTIONS, dtype=dt, device=dev)
    active = torch.ones(R, n, dtype=torch.bool, device=dev)
    converged = torch.zeros(R, n, dtype=torch.bool, device=dev)
    iters = torch.zeros(R, n, dtype=torch.long, device=dev)
    for _ in range(max_iters):
        if not bool(active.any()):
            break
        d = (z > 0).to(dt)
        dg, lo, rhs = hessian_blocks(params, obs, d, obs_terms=obs_terms)
        sol = block_tridiag_solve(dg, lo, rhs)  # all (R, n) at once; finished ones are discarded
        ok = active & ~sol.failed
        iters += active.long()
        consistent = ((sol.z > 0).to(dt) == d).flatten(-2).all(-1)
        # candidates along the segment Z → Z_D, scored with the true objective
        cand = z[None] + fractions[:, None, None, None, None] * (sol.z - z)[None]  # (F, R, n, T, M)
        cand_ll = torch.stack([log_joint(params, obs, c) for c in cand])  # (F, R, n)
        cand_ll = torch.where(torch.isfinite(cand_ll), cand_ll, torch.full_like(cand_ll, -math.inf))
        best_ll, best_f = cand_ll.max(0)
        gain = best_ll - ll
        improve = ok & (gain > 0)
        step = cand.gather(0, best_f[None, ..., None, None].expand(1, *z.shape))[0]
        z = torch.where(improve[..., None, None], step, z)
        ll = torch.where(improve, best_ll, ll)
        done = ok & (consistent | (gain <= rtol * ll.abs().clamp(min=1.0)))
        converged |= done & consistent
        active &= ~done & ~sol.failed
    stalled = ~converged
    if polish_iters and bool(stalled.any()):
        z, ll = _polish(params, obs, z, ll, stalled, polish_iters)
    d = (z > 0).to(dt)
    dg, lo, rhs = hessian_blocks(params, obs, d, obs_terms=obs_terms)
    sol = block_tridiag_solve(dg, lo, rhs, covariance=True)
    return Posterior(z, sol.cov_diag, sol.cov_lower, ll, sol.logdet, iters, converged, sol.failed)


def _observation_guess(params: PLRNNParams, obs_terms: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Starting latents from the observations alone, (BᵀΓ⁻¹B + εI)⁻¹ BᵀΓ⁻¹(x − b) per bin.

    Not from the all-active (linear) solve: a misspecified linear model with a tight transition
    prior can put its mode at exponentially growing values over long trials.
    """
    quad, lin = obs_terms
    eye = torch.eye(quad.shape[-1], dtype=quad.dtype, device=quad.device)
    reg = 1e-3 * torch.diagonal(quad, dim1=-2, dim2=-1).mean(-1)[..., None, None].clamp(min=1e-8)
    return torch.linalg.solve(quad + reg * eye, lin[..., None])[..., 0]


def _polish(
    params: PLRNNParams, obs: Observations, z: torch.Tensor, ll: torch.Tensor, which: torch.Tensor, max_iter: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """L-BFGS on the true log joint for the (restart, trial) pairs in ``which`` (R, n).

    The active-set iteration stalls when the mode sits near many kinks at once (the step to the
    region's minimiser crosses other regions where the objective rises). The log joint is cheap
    to evaluate (no recursion over time), so a quasi-Newton polish from there is cheap; only
    improvements are kept.
    """
    with torch.enable_grad():
        var = z.detach().clone().requires_grad_(True)
        weight = which.to(z.dtype)
        opt = torch.optim.LBFGS(
            [var],
            max_iter=max_iter,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-10,
            tolerance_change=1e-13,
            history_size=20,
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = -(log_joint(params, obs, var) * weight).sum()
            loss.backward()
            return loss

        opt.step(closure)
    new = var.detach()
    new_ll = log_joint(params, obs, new)
    better = which & torch.isfinite(new_ll) & (new_ll > ll)
    return torch.where(better[..., None, None], new, z), torch.where(better, new_ll, ll)


# --------------------------------------------------------------------------------------------
# expectations and the M-step
# --------------------------------------------------------------------------------------------


@dataclass
class SufficientStats:
    """Expectation sums under the Laplace posterior, per restart (leading dim R).

    Latent regression of z_t on f_{t−1} = [z_{t−1}, φ(z_{t−1}), 1, s_t] (P = 2M + 1 + K):
    ff (R, P, P) Σ E[f fᵀ]; zf (R, M, P) Σ E[z_t fᵀ]; zz (R, M) Σ E[z_t²]; n_trans transitions.
    Observation regression of x_t on q_t = [g(z_t), 1] per channel (masked):
    qq (R, N, M+1, M+1) Σ m E[q qᵀ]; xq (R, N, M+1) Σ m x E[q]; xx (R, N) Σ m x²; n_obs (N,).
    z1 (R, M) mean over trials of E[z_1].
    """

    ff: torch.Tensor
    zf: torch.Tensor
    zz: torch.Tensor
    n_trans: int
    qq: torch.Tensor
    xq: torch.Tensor
    xx: torch.Tensor
    n_obs: torch.Tensor
    z1: torch.Tensor


def expectations(post: Posterior, obs: Observations, *, linear: bool = False) -> SufficientStats:
    """Sums of E[z], E[φ(z)], E[z zᵀ], E[z φ(z)ᵀ], E[φ(z) φ(z)ᵀ] and the lag-one cross terms.

    φ-moments use exact Gaussian truncated moments, the φφ cross term through the bivariate
    normal (:mod:`neurodyn.models.plrnn_em.relu_moments`); E[z_t φ(z_{t−1})ᵀ] follows from Stein's lemma.
    With ``linear`` φ is the identity and every moment is the Gaussian one.
    """
    z, V, V_lo = post.z, post.cov_diag, post.cov_lower  # (R,n,T,M), (R,n,T,M,M), (R,n,T-1,M,M)
    R, n, T, M = z.shape
    s = obs.s
    K = s.shape[-1]
    ezz = V + z[..., :, None] * z[..., None, :]
    if linear:
        e_g, e_zg, e_gg = z, ezz, ezz
    else:
        mom = relu_moments(z, V)
        e_g, e_zg, e_gg = mom.e_phi, mom.e_z_phi, mom.e_phi_phi
    prev = slice(0, T - 1)
    ones = torch.ones(R, n, T - 1, 1, dtype=z.dtype, device=z.device)
    s_next = s[None, :, 1:].expand(R, n, T - 1, K)
    mean_f = torch.cat([z[:, :, prev], e_g[:, :, prev], ones, s_next], -1)  # (R,n,T-1,P)
    ff = mean_f[..., :, None] * mean_f[..., None, :]  # exact for the deterministic parts
    ff[..., :M, :M] = ezz[:, :, prev]
    ff[..., :M, M : 2 * M] = e_zg[:, :, prev]
    ff[..., M : 2 * M, :M] = e_zg[:, :, prev].mT
    ff[..., M : 2 * M, M : 2 * M] = e_gg[:, :, prev]
    ezf_lag = z[:, :, 1:, :, None] * mean_f[..., None, :]  # (R,n,T-1,M,P)
    ezf_lag[..., :M] = V_lo + z[:, :, 1:, :, None] * z[:, :, prev, None, :]
    if linear:
        ezf_lag[..., M : 2 * M] = ezf_lag[..., :M]
    else:
        var_prev = torch.diagonal(V[:, :, prev], dim1=-2, dim2=-1)
        ezf_lag[..., M : 2 * M] = cross_z_phi(z[:, :, 1:], z[:, :, prev], V_lo, var_prev)
    zz = torch.diagonal(ezz[:, :, 1:], dim1=-2, dim2=-1).sum((1, 2))
    # observation side
    if obs.obs_phi:
        e_q, e_qq = e_g, e_gg
    else:
        e_q, e_qq = z, ezz
    ones_t = torch.ones(R, n, T, 1, dtype=z.dtype, device=z.device)
    q = torch.cat([e_q, ones_t], -1)  # (R,n,T,M+1)
    qq_t = q[..., :, None] * q[..., None, :]
    qq_t[..., :M, :M] = e_qq
    m = obs.mask
    qq = torch.einsum("ntc,rntij->rcij", m, qq_t)
    xq = torch.einsum("ntc,rnti->rci", m * obs.x, q)
    xx = (m * obs.x**2).sum((0, 1))[None].expand(R, -1)
    return SufficientStats(
        ff=ff.sum((1, 2)),
        zf=ezf_lag.sum((1, 2)),
        zz=zz,
        n_trans=n * (T - 1),
        qq=qq,
        xq=xq,
        xx=xx,
        n_obs=m.sum((0, 1)),
        z1=z[:, :, 0].mean(1),
    )


def m_step(
    params: PLRNNParams,
    stats: SufficientStats,
    *,
    tau: torch.Tensor,
    n_reg: int,
    tau_scale: str = "loss",
    learn_observation: bool = True,
    learn_inputs: bool = False,
    learn_sigma: bool = False,
    ridge: float = 1e-6,
    gamma_floor: float = 1e-4,
) -> PLRNNParams:
    """Closed-form maximiser of E_q[log p(X, Z)] − L_reg (Schmidt et al. 2021, Suppl. Eq. 23).

    Each latent row i is a ridge regression of z_{t,i} on [z_{t−1,i}, φ(z_{t−1,j≠i}), 1, (s_t)]
    (A diagonal and W off-diagonal are solved jointly). The line-attractor penalty of Eq. 4 is a
    Gaussian prior on the first ``n_reg`` rows, pulling A_ii to 1 and W_ij, h_i to 0. How its
    weight τ enters (``tau_scale``):

    * ``"loss"`` — as the published rPLRNN code does: τ·n_trans·(row i of Eq. 4) is added to
      −E[log p], so row i's normal equations gain τ·n_trans·σ_i². The pull therefore weakens
      as the annealing shrinks Σ (1000× from Σ = I to Σ = 0.001·I): the prior shapes the model
      while the noise is large and lets the small-noise stages fit the data.
    * ``"gram"`` — τ·n_trans is added to the normal equations at every Σ, i.e. the penalty is
      τ·n_trans/(2σ_i²) in the loss: τ weighs the parameters against the *mean* one-step second
      moments of the regressors with the same strength in every stage.

    The two agree at Σ = I. ``ridge`` (relative to the mean diagonal of the Gram matrix) keeps
    every solve well posed. tau: (R,) per restart. The observation model (B, b, Γ) is a
    per-channel regression of x on [g(z), 1]; Γ is floored at ``gamma_floor``.
    """
    R, M = params.n_restarts, params.latent_dim
    K = params.C.shape[-1]
    dev, dt = params.A.device, params.A.dtype
    rows = torch.arange(M, device=dev)
    # index sets per row: z_i, φ_j (j ≠ i), 1, and s when learned
    others = (
        torch.stack([torch.cat([rows[:i], rows[i + 1 :]]) for i in range(M)])
        if M > 1
        else torch.zeros(1, 0, dtype=torch.long, device=dev)
    )
    parts = [rows[:, None], M + others, torch.full((M, 1), 2 * M, device=dev)]
    if learn_inputs and K:
        parts.append((2 * M + 1 + torch.arange(K, device=dev)).expand(M, K))
    idx = torch.cat(parts, 1)  # (M, Q)
    Q = idx.shape[1]
    beta_full = torch.zeros(R, M, 2 * M + 1 + K, dtype=dt, device=dev)
    beta_full[:, rows, rows] = params.A
    beta_full[:, :, M : 2 * M] = params.W
    beta_full[:, :, 2 * M] = params.h
    if K:
        beta_full[:, :, 2 * M + 1 :] = params.C
    free = torch.zeros(M, 2 * M + 1 + K, dtype=torch.bool, device=dev)
    free.scatter_(1, idx, True)
    fixed_part = torch.einsum("rmp,rpq->rmq", beta_full * ~free, stats.ff)  # contribution of fixed coefs
    gram = stats.ff[:, idx[:, :, None], idx[:, None, :]]  # (R, M, Q, Q)
    rhs = (stats.zf - fixed_part).gather(2, idx[None].expand(R, M, Q))  # (R, M, Q)
    scale = torch.diagonal(gram, dim1=-2, dim2=-1).mean(-1).clamp(min=1e-12)  # (R, M)
    prior_prec = torch.zeros(R, M, Q, dtype=dt, device=dev)
    prior_mean = torch.zeros(R, M, Q, dtype=dt, device=dev)
    if n_reg > 0:
        lam = (tau * stats.n_trans)[:, None].expand(R, n_reg)  # (R, n_reg)
        if tau_scale == "loss":
            lam = lam * params.sigma[:, :n_reg]
        elif tau_scale != "gram":
            raise ValueError(f"tau_scale must be 'loss' or 'gram', got {tau_scale!r}")
        prior_prec[:, :n_reg, : M + 1] = lam[..., None]  # A_ii, W_ij (j ≠ i), h_i
        prior_mean[:, :n_reg, 0] = 1.0
    reg = prior_prec + ridge * scale[..., None]
    gram = gram + torch.diag_embed(reg)
    beta = torch.linalg.solve(gram, (rhs + prior_prec * prior_mean)[..., None])[..., 0]
    beta_new = beta_full.clone()
    beta_new.scatter_(2, idx[None].expand(R, M, Q), beta)
    A = beta_new[:, rows, rows]
    W = beta_new[:, :, M : 2 * M] * (1.0 - torch.eye(M, dtype=dt, device=dev))
    h = beta_new[:, :, 2 * M]
    C = beta_new[:, :, 2 * M + 1 :]
    sigma = params.sigma
    if learn_sigma:
        resid = (
            stats.zz - 2 * (beta_new * stats.zf).sum(-1) + torch.einsum("rmp,rpq,rmq->rm", beta_new, stats.ff, beta_new)
        )
        sigma = (resid / stats.n_trans).clamp(min=1e-6)
    B, b, gamma = params.B, params.b, params.gamma
    if learn_observation:
        load = ridge * torch.diagonal(stats.qq, dim1=-2, dim2=-1).mean(-1)
        qq = stats.qq + (load.clamp(min=1e-12))[..., None, None] * torch.eye(M + 1, dtype=dt, device=dev)
        coef = torch.linalg.solve(qq, stats.xq[..., None])[..., 0]  # (R, N, M+1)
        seen = (stats.n_obs > 0)[None, :, None]  # channels never observed keep their read-out
        B, b = torch.where(seen, coef[..., :M], B), torch.where(seen[..., 0], coef[..., M], b)
    coef = torch.cat([B, b[..., None]], -1)
    resid = stats.xx - 2 * (coef * stats.xq).sum(-1) + torch.einsum("rci,rcij,rcj->rc", coef, stats.qq, coef)
    gamma = torch.where(stats.n_obs > 0, (resid / stats.n_obs.clamp(min=1)).clamp(min=gamma_floor), gamma)
    return PLRNNParams(A=A, W=W, h=h, C=C, B=B, b=b, gamma=gamma, sigma=sigma, mu0=stats.z1.clone())


# --------------------------------------------------------------------------------------------
# initialisation and the annealed EM protocol
# --------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One stage of the annealing protocol: ``iters`` EM iterations with latent noise Σ = sigma·I
    (``None``: learned), the observation model learned or held fixed, φ linear or ReLU."""

    name: str
    iters: int
    sigma: float | None
    learn_observation: bool = True
    linear: bool = False


def annealing_stages(
    iters: tuple[int, ...] = (20, 30, 15, 15, 15), sigmas: tuple[float, ...] = (1.0, 0.1, 0.01, 0.001)
) -> list[Stage]:
    """Koppe et al. 2019 (PLOS Comput Biol): a linear (LDS) warm start, PLRNN EM with Σ = I, then
    Σ shrunk stage by stage with B held fixed, shifting the burden of explaining the data from
    the observation model to the latent dynamics. ``iters``: (linear, Σ = sigmas[0], then one per
    further sigma)."""
    if len(iters) != len(sigmas) + 1:
        raise ValueError("iters needs one entry for the linear stage and one per sigma")
    stages = [
        Stage("linear", iters[0], sigmas[0], True, True),
        Stage(f"plrnn_sigma{sigmas[0]:g}", iters[1], sigmas[0], True),
    ]
    stages += [Stage(f"plrnn_sigma{sg:g}", it, sg, False) for sg, it in zip(sigmas[1:], iters[2:])]
    return stages


def init_params(
    x: torch.Tensor,
    mask: torch.Tensor,
    latent_dim: int,
    n_inputs: int,
    n_restarts: int,
    *,
    seed: int = 0,
    spectral_radius: float = 0.9,
) -> PLRNNParams:
    """Linear-Gaussian starting values from principal components (x: (n, T, N), mask (n, T, N)).

    Latents are unit-variance PC scores (zero-padded with small noise when M > N); transitions come
    from a ridge regression of z_t on z_{t−1}, split into A (diagonal) and W (off-diagonal) and
    scaled to ``spectral_radius`` if larger; restart r > 0 adds random couplings. Σ = I.
    """
    gen = torch.Generator().manual_seed(seed)
    dt, dev = x.dtype, x.device
    n, T, N = x.shape
    M = latent_dim
    w = mask.reshape(-1, N)
    flat = x.reshape(-1, N)
    mean = (flat * w).sum(0) / w.sum(0).clamp(min=1)
    centred = (flat - mean) * w
    cov = centred.T @ centred / max(flat.shape[0] - 1, 1)
    _evals, evecs = torch.linalg.eigh(cov)
    k = min(M, N)
    comps = evecs[:, -k:].flip(-1)  # (N, k)
    scores = centred @ comps
    std = scores.std(0).clamp(min=1e-6)
    z = torch.zeros(flat.shape[0], M, dtype=dt, device=dev)
    z[:, :k] = scores / std
    if M > k:
        z[:, k:] = 0.1 * torch.randn(flat.shape[0], M - k, generator=gen, dtype=dt).to(dev)
    z = z.reshape(n, T, M)
    prev, nxt = z[:, :-1].reshape(-1, M), z[:, 1:].reshape(-1, M)
    design = torch.cat([prev, torch.ones(prev.shape[0], 1, dtype=dt, device=dev)], 1)
    gram = design.T @ design + 1e-3 * prev.shape[0] * torch.eye(M + 1, dtype=dt, device=dev)
    coef = torch.linalg.solve(gram, design.T @ nxt).T  # (M, M+1)
    F, h = coef[:, :M], coef[:, M]
    loadings = torch.zeros(N, M, dtype=dt, device=dev)
    loadings[:, :k] = comps * std
    resid = ((centred - z.reshape(-1, M) @ loadings.T) ** 2 * w).sum(0) / w.sum(0).clamp(min=1)
    out = []
    for r in range(n_restarts):
        Fr = F.clone()
        if r:
            Fr = Fr + 0.3 * torch.randn(M, M, generator=gen, dtype=dt).to(dev) / math.sqrt(M)
        rho = float(torch.linalg.eigvals(Fr).abs().max())
        if rho > spectral_radius:
            Fr = Fr * (spectral_radius / rho)
        out.append(
            {
                "A": torch.diagonal(Fr).clone(),
                "W": Fr * (1 - torch.eye(M, dtype=dt, device=dev)),
                "h": h.clone(),
                "C": torch.zeros(M, n_inputs, dtype=dt, device=dev),
                "B": loadings.clone(),
                "b": mean.clone(),
                "gamma": resid.clamp(min=1e-3),
                "sigma": torch.ones(M, dtype=dt, device=dev),
                "mu0": z[:, 0].mean(0),
            }
        )
    return PLRNNParams(**{key: torch.stack([o[key] for o in out]) for key in out[0]})


def shift_to_positive(params: PLRNNParams, z: torch.Tensor, margin: float = 2.0) -> tuple[PLRNNParams, torch.Tensor]:
    """Re-express a linear model so that its latents sit in the positive orthant.

    With z' = z + c (c = margin · posterior std per latent), φ(z') ≈ z' almost everywhere, so the
    PLRNN with A = diag(F), W = offdiag(F) starts out reproducing the linear model:
    h' = h + c − F c, b' = b − B c, μ₀' = μ₀ + c. z: (R, n, T, M) linear posterior means.
    """
    c = margin * z.flatten(1, 2).std(1)  # (R, M)
    F = torch.diag_embed(params.A) + params.W
    h = params.h + c - (F @ c[..., None])[..., 0]
    b = params.b - (params.B @ c[..., None])[..., 0]
    out = PLRNNParams(
        A=params.A,
        W=params.W,
        h=h,
        C=params.C,
        B=params.B,
        b=b,
        gamma=params.gamma,
        sigma=params.sigma,
        mu0=params.mu0 + c,
    )
    return out, z + c[:, None, None]


@dataclass
class EMState:
    """Where an annealed EM run stands (all tensors, so it checkpoints with ``weights_only``)."""

    stage: int
    iteration: int
    params: PLRNNParams
    best: PLRNNParams
    best_score: torch.Tensor  # (R,) best Laplace log-evidence in the current stage
    z: torch.Tensor | None  # (R, n, T, M) last posterior mode (warm start)
    frozen: torch.Tensor  # (R,) restarts stopped after a numerical failure
    n_backoffs: torch.Tensor  # (R,)
    history: list[dict]


def run_em(
    params: PLRNNParams,
    obs: Observations,
    stages: list[Stage],
    *,
    tau: torch.Tensor,
    n_reg: int,
    tau_scale: str = "loss",
    learn_inputs: bool = False,
    ridge: float = 1e-6,
    max_mode_iters: int = 20,
    polish_iters: int = 0,
    state: EMState | None = None,
    on_iteration=None,
    log=None,
) -> EMState:
    """Annealed EM for R PLRNNs at once (restarts or hyperparameters along the leading dim).

    Each iteration: Laplace E-step (:func:`posterior_mode`), expectations, closed-form M-step.
    Per stage the parameters with the best Laplace log-evidence are kept and carried into the next
    stage. A restart whose E- or M-step turns non-finite (or whose Cholesky fails) is reverted to
    its last good parameters and frozen for the rest of the stage (counted in ``n_backoffs``), so
    no NaN ever reaches the result. ``on_iteration(state)`` is called after every iteration (for
    checkpoints); ``state`` resumes a run. The complete-data log-likelihood at the mode and the
    Laplace log-evidence are recorded per iteration in ``state.history``.
    """
    R = params.n_restarts
    dev = params.A.device
    if state is None:
        state = EMState(
            stage=0,
            iteration=0,
            params=params,
            best=params.clone(),
            best_score=torch.full((R,), -math.inf, dtype=params.A.dtype, device=dev),
            z=None,
            frozen=torch.zeros(R, dtype=torch.bool, device=dev),
            n_backoffs=torch.zeros(R, dtype=torch.long, device=dev),
            history=[],
        )
    while state.stage < len(stages):
        stage = stages[state.stage]
        cur = state.params
        if stage.sigma is not None:
            cur = PLRNNParams(**{**cur.as_dict(), "sigma": torch.full_like(cur.sigma, stage.sigma)})
        while state.iteration < stage.iters:
            post = posterior_mode(
                cur, obs, z_init=state.z, linear=stage.linear, max_iters=max_mode_iters, polish_iters=polish_iters
            )
            evidence = post.laplace_log_evidence()
            ok = ~post.failed.any(-1) & torch.isfinite(evidence) & ~state.frozen
            improved = ok & (evidence > state.best_score)
            state.best = cur.where(improved, state.best)
            state.best_score = torch.where(improved, evidence, state.best_score)
            stats = expectations(post, obs, linear=stage.linear)
            new = m_step(
                cur,
                stats,
                tau=tau if not stage.linear else torch.zeros_like(tau),
                n_reg=n_reg,
                tau_scale=tau_scale,
                learn_observation=stage.learn_observation,
                learn_inputs=learn_inputs,
                learn_sigma=stage.sigma is None,
                ridge=ridge,
            )
            good = ok & new.finite()
            bad = ~good & ~state.frozen
            state.n_backoffs += bad.long()
            state.frozen |= bad
            cur = new.where(good, state.best)
            state.z = torch.where(ok[:, None, None, None], post.z, state.z if state.z is not None else post.z)
            record = {
                "stage": stage.name,
                "iteration": state.iteration,
                "log_joint": post.log_joint.sum(-1).tolist(),
                "laplace_log_evidence": evidence.tolist(),
                "mode_iters": post.mode_iters.float().mean(-1).tolist(),
                "mode_converged": post.converged.float().mean(-1).tolist(),
            }
            state.history.append(record)
            if log is not None:
                log(record)
            state.iteration += 1
            state.params = cur
            if on_iteration is not None:
                on_iteration(state)
        # carry the stage's best into the next stage
        best = state.best.where(torch.isfinite(state.best_score), cur)
        nxt = state.stage + 1
        if stage.linear and nxt < len(stages) and not stages[nxt].linear:
            z_lin = posterior_mode(best, obs, linear=True).z
            best, state.z = shift_to_positive(best, z_lin)
        state.params, state.best = best, best.clone()
        state.best_score = torch.full_like(state.best_score, -math.inf)
        state.frozen = torch.zeros_like(state.frozen)
        state.stage, state.iteration = nxt, 0
        if on_iteration is not None:
            on_iteration(state)
    return state
