"""Variational sequential Monte Carlo for stochastic low-rank RNNs: the pure tensor functions.

The state-space model (Pals et al. 2024, NeurIPS, "Inferring stochastic low-rank recurrent neural
networks from neural data", Eqs. 2–7; discrete latent form of the rank-R RNN, Supplement C)::

    z_0     ~ N(μ_0, Σ_0)
    z_{t+1} = a z_t + Nᵀ φ(M z_t + W_u u_t; h) + ε_t,      ε_t ~ N(0, Q)
    y_t     ~ p(y | C z_t + d)      Gaussian (diagonal noise) or Poisson (softplus/exp link)

with φ(x; h) = max(0, x + h) ("relu"), max(0, x + h) − max(0, x) ("clipped") or tanh(x + h).

SMC runs K particles per trial, all trials × particles at once (tensors (B, K, R)); only time is
a Python loop. Proposals:

* ``optimal`` (linear-Gaussian observations): q(z_t | z_{t−1}, y_t) = p(z_t | z_{t−1}, y_t), in
  information form (precision Q⁻¹ + Cᵀ R⁻¹ C: R×R, however many channels), with the incremental
  weight p(y_t | z_{t−1}) = N(y_t; C f + d, C Q Cᵀ + R) evaluated through the Woodbury identity and
  the matrix-determinant lemma, so no particle ever touches a D×D matrix (Eq. 5 of the paper);
* ``encoder``: the transition prior multiplied by a data-driven Gaussian N(μ_e, Λ_e⁻¹) from a
  causal CNN (Eq. 6);
* ``bootstrap``: the transition prior itself.

The log-marginal estimate log p̂(y_{0:T}) = Σ_t log Σ_k W_{t−1}^k w_t^k (Eq. 4) uses normalised
weights carried from step to step, so it stays a valid bound with or without resampling
(weights accumulate between resampling events). Resampling is systematic; ancestor indices are
not differentiated (the biased VSMC/FIVO gradient: Naesseth et al. 2018, Maddison et al. 2017,
Le et al. 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Literal

import torch

NONLINEARITIES = ("relu", "clipped", "tanh")
PIECEWISE_LINEAR = ("relu", "clipped")
LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class LowRankSSM:
    """Parameters of the stochastic low-rank RNN state-space model (all tensors, one device).

    M, N: (U, R) left/right connectivity factors; h: (U,) thresholds; a: () decay in (0, 1);
    W_u: (U, I) input weights or None; Q_chol: (R, R) lower Cholesky factor of the transition
    noise; z0_mean: (R,); z0_chol: (R, R); C: (D, R), d: (D,) affine readout; obs_var: (D,)
    Gaussian observation noise (None for Poisson); nonlinearity: one of NONLINEARITIES;
    observation: "gaussian" | "poisson"; link: "softplus" | "exp" (Poisson rate per bin).
    """

    M: torch.Tensor
    N: torch.Tensor
    h: torch.Tensor
    a: torch.Tensor
    W_u: torch.Tensor | None
    Q_chol: torch.Tensor
    z0_mean: torch.Tensor
    z0_chol: torch.Tensor
    C: torch.Tensor
    d: torch.Tensor
    obs_var: torch.Tensor | None
    nonlinearity: str = "clipped"
    observation: str = "gaussian"
    link: str = "softplus"

    @property
    def rank(self) -> int:
        return self.M.shape[1]

    def to(self, dtype: torch.dtype) -> LowRankSSM:
        """A copy with every tensor cast to ``dtype``."""
        cast = {
            f.name: getattr(self, f.name).to(dtype)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return replace(self, **cast)

    def change_basis(self, T: torch.Tensor) -> LowRankSSM:
        """The same model in latent coordinates z' = T z (T: (R, R) invertible).

        M' = M T⁻¹, N' = N Tᵀ, Q' = T Q Tᵀ, C' = C T⁻¹, μ_0' = T μ_0, Σ_0' = T Σ_0 Tᵀ (Supplement C.3
        of Pals et al. 2024): unit activity M z and every observation are unchanged.
        """
        T_inv = torch.linalg.inv(T)

        def chol_of(L: torch.Tensor) -> torch.Tensor:
            # T L is a square root of T L Lᵀ Tᵀ; QR of its transpose gives the lower-triangular one
            _, r = torch.linalg.qr((T @ L).T)
            r = r * torch.sign(torch.diagonal(r)).unsqueeze(-1)
            return r.T

        return replace(
            self,
            M=self.M @ T_inv,
            N=self.N @ T.T,
            Q_chol=chol_of(self.Q_chol),
            z0_mean=T @ self.z0_mean,
            z0_chol=chol_of(self.z0_chol),
            C=self.C @ T_inv,
        )


def phi(x: torch.Tensor, h: torch.Tensor, nonlinearity: str) -> torch.Tensor:
    """Unit nonlinearity φ(x; h), elementwise; x (..., U), h (U,)."""
    if nonlinearity == "relu":
        return torch.relu(x + h)
    if nonlinearity == "clipped":
        return torch.relu(x + h) - torch.relu(x)
    if nonlinearity == "tanh":
        return torch.tanh(x + h)
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}")


def transition_mean(z: torch.Tensor, drive: torch.Tensor | None, p: LowRankSSM) -> torch.Tensor:
    """a z + Nᵀ φ(M z + drive; h).  z (..., R); drive (..., U) broadcastable (W_u u) or None."""
    x = z @ p.M.T
    if drive is not None:
        x = x + drive
    return p.a * z + phi(x, p.h, p.nonlinearity) @ p.N


def unit_activity(z: torch.Tensor, drive: torch.Tensor | None, p: LowRankSSM) -> torch.Tensor:
    """The N-unit RNN's state x = M z + W_u u (Eq. 1 ↔ Eq. 2 of the paper).  (..., R) → (..., U)."""
    x = z @ p.M.T
    return x if drive is None else x + drive


def readout(z: torch.Tensor, p: LowRankSSM) -> torch.Tensor:
    """Expected observation per bin: C z + d (Gaussian) or the Poisson rate.  (..., R) → (..., D)."""
    eta = z @ p.C.T + p.d
    if p.observation == "gaussian":
        return eta
    return torch.exp(eta.clamp(max=20.0)) if p.link == "exp" else torch.nn.functional.softplus(eta)


def observation_log_likelihood(y: torch.Tensor, mask: torch.Tensor, z: torch.Tensor, p: LowRankSSM) -> torch.Tensor:
    """log p(y_t | z_t) summed over observed channels.  y, mask: (B, D); z: (B, K, R) → (B, K)."""
    eta = z @ p.C.T + p.d
    y = y.unsqueeze(1)
    if p.observation == "gaussian":
        ll = -0.5 * ((y - eta) ** 2 / p.obs_var + torch.log(p.obs_var) + LOG_2PI)
    else:
        if p.link == "exp":
            log_rate = eta.clamp(max=20.0)
            rate = torch.exp(log_rate)
        else:
            rate = torch.nn.functional.softplus(eta) + 1e-8
            log_rate = torch.log(rate)
        ll = y * log_rate - rate - torch.lgamma(y + 1.0)
    return (ll * mask.unsqueeze(1)).sum(-1)


@dataclass
class GaussianEvidence:
    """What linear-Gaussian observations contribute at every (trial, time), shared by particles.

    Lam: (B, T, R, R) Cᵀ R⁻¹ C over observed channels; g: (B, T, R) Cᵀ R⁻¹ (y − d);
    c0: (B, T) (y − d)ᵀ R⁻¹ (y − d); n_obs: (B, T) observed channels; logdet_R: (B, T).
    """

    Lam: torch.Tensor
    g: torch.Tensor
    c0: torch.Tensor
    n_obs: torch.Tensor
    logdet_R: torch.Tensor


def gaussian_evidence(y: torch.Tensor, mask: torch.Tensor, p: LowRankSSM) -> GaussianEvidence:
    """Sufficient statistics of y (B, T, D) with mask (B, T, D) for the optimal proposal."""
    inv_r = mask / p.obs_var  # (B, T, D); unobserved channels carry no information
    resid = (y - p.d) * mask
    R = p.C.shape[1]
    # Λ_bt = Σ_d C_dᵀ C_d / r_d over observed d: one (B·T × D) @ (D × R²) product
    Lam = (inv_r @ (p.C.unsqueeze(-1) * p.C.unsqueeze(-2)).reshape(-1, R * R)).reshape(*inv_r.shape[:-1], R, R)
    g = (resid * inv_r) @ p.C
    c0 = (resid**2 * inv_r).sum(-1)
    return GaussianEvidence(Lam=Lam, g=g, c0=c0, n_obs=mask.sum(-1), logdet_R=(mask * torch.log(p.obs_var)).sum(-1))


def _posterior_sample(prec: torch.Tensor, rhs: torch.Tensor, eps: torch.Tensor):
    """z ~ N(prec⁻¹ rhs, prec⁻¹).  prec (B, R, R); rhs, eps (B, K, R) → z, Cholesky of prec, mean."""
    L = torch.linalg.cholesky(prec)
    mean = torch.cholesky_solve(rhs.transpose(-1, -2), L).transpose(-1, -2)
    # prec⁻¹ = L⁻ᵀ L⁻¹, so L⁻ᵀ ε has covariance prec⁻¹
    z = mean + torch.linalg.solve_triangular(L.transpose(-1, -2), eps.transpose(-1, -2), upper=True).transpose(-1, -2)
    return z, L, mean


def optimal_proposal_step(
    f: torch.Tensor, Q_inv: torch.Tensor, logdet_Q: torch.Tensor, ev: GaussianEvidence, t: int, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample p(z_t | z_{t−1}, y_t) and weight by p(y_t | z_{t−1}) (Pals et al. 2024, Eq. 5).

    f: (B, K, R) transition means; Q_inv: (R, R); logdet_Q: (); eps: (B, K, R) standard normal.
    Returns z (B, K, R) and log incremental weights (B, K).
    """
    Lam, g = ev.Lam[:, t], ev.g[:, t]
    prec = Q_inv + Lam
    rhs = f @ Q_inv + g.unsqueeze(1)
    z, L, _ = _posterior_sample(prec, rhs, eps)
    # e = y − d − C f:  eᵀR⁻¹e = c0 − 2 gᵀf + fᵀΛf;  s = CᵀR⁻¹e = g − Λ f;  eᵀS⁻¹e = eᵀR⁻¹e − sᵀ prec⁻¹ s
    f_lam = f @ Lam
    quad_r = ev.c0[:, t].unsqueeze(1) - 2.0 * (f * g.unsqueeze(1)).sum(-1) + (f_lam * f).sum(-1)
    s = g.unsqueeze(1) - f_lam
    v = torch.linalg.solve_triangular(L, s.transpose(-1, -2), upper=False)
    quad = quad_r - (v**2).sum(-2)
    logdet_S = ev.logdet_R[:, t] + logdet_Q + 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    logw = -0.5 * (ev.n_obs[:, t].unsqueeze(1) * LOG_2PI + logdet_S.unsqueeze(1) + quad)
    return z, logw


def product_proposal_step(
    f: torch.Tensor,
    Q_inv: torch.Tensor,
    logdet_Q: torch.Tensor,
    enc_prec: torch.Tensor,
    enc_info: torch.Tensor,
    eps: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample q ∝ N(z; f, Q)·N(z; μ_e, Λ_e⁻¹) (Pals et al. 2024, Eq. 6); return z and
    log p(z | z_{t−1}) − log q(z) (B, K) — the observation term is added by the caller.

    enc_prec: (B, R, R) Λ_e; enc_info: (B, R) Λ_e μ_e.
    """
    R = f.shape[-1]
    prec = Q_inv + enc_prec
    rhs = f @ Q_inv + enc_info.unsqueeze(1)
    z, L, _ = _posterior_sample(prec, rhs, eps)
    diff = z - f
    log_prior = -0.5 * (R * LOG_2PI + logdet_Q + ((diff @ Q_inv) * diff).sum(-1))
    # by construction Lᵀ(z − mean) = ε
    log_q = -0.5 * (
        R * LOG_2PI - 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1).unsqueeze(1) + (eps**2).sum(-1)
    )
    return z, log_prior - log_q


def systematic_resample(
    log_weights: torch.Tensor, generator: torch.Generator | None = None, offset: torch.Tensor | None = None
) -> torch.Tensor:
    """Ancestor indices (B, K) by systematic resampling of normalised log weights (B, K).

    offset: (B, 1) uniform draws in [0, 1); drawn from ``generator`` when not given.
    """
    B, K = log_weights.shape
    w = torch.softmax(log_weights.detach(), dim=-1)
    cdf = torch.cumsum(w, dim=-1)
    if offset is None:
        offset = torch.rand(B, 1, generator=generator, device=w.device, dtype=w.dtype)
    positions = (torch.arange(K, device=w.device, dtype=w.dtype) + offset) / K
    # a position past the rounded total (cdf[-1] may be 1 − ε) belongs to the last particle
    return torch.searchsorted(cdf, positions).clamp(max=K - 1)


def effective_sample_size(log_weights: torch.Tensor) -> torch.Tensor:
    """1 / Σ W² of normalised log weights (B, K) → (B,)."""
    return 1.0 / torch.softmax(log_weights, dim=-1).pow(2).sum(-1)


@dataclass
class SMCResult:
    """Output of :func:`smc`.

    log_marginal: (B, T) log p̂(y_t | y_{<t}) per step; filtered: (B, T, R) particle means;
    ess: (B, T) effective sample size before resampling; particles/log_weights/ancestors:
    (T, B, K, R) / (T, B, K) / (T, B, K) when kept (log_weights normalised, before resampling;
    ancestors[t] picks the parents at t of the particles at t + 1).
    """

    log_marginal: torch.Tensor
    filtered: torch.Tensor
    ess: torch.Tensor
    particles: torch.Tensor | None = None
    log_weights: torch.Tensor | None = None
    ancestors: torch.Tensor | None = None


Proposal = Literal["optimal", "encoder", "bootstrap"]


def smc(
    y: torch.Tensor,
    mask: torch.Tensor,
    drive: torch.Tensor | None,
    p: LowRankSSM,
    *,
    n_particles: int,
    proposal: Proposal,
    encoder: tuple[torch.Tensor, torch.Tensor] | None = None,
    resample: Literal["always", "ess", "never"] = "always",
    ess_threshold: float = 0.5,
    generator: torch.Generator | None = None,
    keep_particles: bool = False,
) -> SMCResult:
    """Run the particle filter over all trials at once.

    y, mask: (B, T, D) observations and observed-bin indicator (float); drive: (B, T, U) input
    drive W_u u_t or None; encoder: (precision (B, T, R, R), information (B, T, R)) of the data
    term of the ``encoder`` proposal. Returns :class:`SMCResult`; Σ_t log_marginal is the
    log-likelihood estimate whose expectation lower-bounds log p(y) (the VSMC objective).
    """
    B, T, _ = y.shape
    K, R = n_particles, p.rank
    dev, dt = y.device, y.dtype
    if proposal == "optimal":
        if p.observation != "gaussian":
            raise ValueError("the optimal proposal needs Gaussian observations")
        ev = gaussian_evidence(y, mask, p)
    if proposal == "encoder" and encoder is None:
        raise ValueError("the encoder proposal needs the encoder's outputs")

    Q_inv = torch.cholesky_inverse(p.Q_chol)
    logdet_Q = 2.0 * torch.log(torch.diagonal(p.Q_chol)).sum()
    S0_inv = torch.cholesky_inverse(p.z0_chol)
    logdet_S0 = 2.0 * torch.log(torch.diagonal(p.z0_chol)).sum()

    log_w_norm = torch.full((B, K), -math.log(K), device=dev, dtype=dt)
    z = None
    steps, filt, ess_all = [], [], []
    kept_z, kept_w, kept_a = [], [], []
    for t in range(T):
        if t == 0:
            f = p.z0_mean.expand(B, K, R)
            cov_inv, logdet, chol = S0_inv, logdet_S0, p.z0_chol
        else:
            f = transition_mean(z, None if drive is None else drive[:, t - 1].unsqueeze(1), p)
            cov_inv, logdet, chol = Q_inv, logdet_Q, p.Q_chol
        eps = torch.randn(B, K, R, generator=generator, device=dev, dtype=dt)
        if proposal == "optimal":
            z, logw = optimal_proposal_step(f, cov_inv, logdet, ev, t, eps)
        elif proposal == "encoder":
            z, logw = product_proposal_step(f, cov_inv, logdet, encoder[0][:, t], encoder[1][:, t], eps)
            logw = logw + observation_log_likelihood(y[:, t], mask[:, t], z, p)
        else:
            z = f + eps @ chol.T
            logw = observation_log_likelihood(y[:, t], mask[:, t], z, p)
        logits = log_w_norm + logw
        step_lml = torch.logsumexp(logits, dim=-1)
        log_w_norm = logits - step_lml.unsqueeze(-1)
        steps.append(step_lml)
        filt.append((torch.softmax(log_w_norm, dim=-1).unsqueeze(-1) * z).sum(1))
        ess = effective_sample_size(log_w_norm.detach())
        ess_all.append(ess)
        if keep_particles:
            kept_z.append(z.detach())
            kept_w.append(log_w_norm.detach())
        if t == T - 1 or resample == "never":
            if keep_particles:
                kept_a.append(torch.arange(K, device=dev).expand(B, K))
            continue
        ancestors = systematic_resample(log_w_norm, generator)
        if resample == "ess":
            keep = (ess >= ess_threshold * K).unsqueeze(-1)
            ancestors = torch.where(keep, torch.arange(K, device=dev).expand(B, K), ancestors)
            log_w_norm = torch.where(keep, log_w_norm, torch.full_like(log_w_norm, -math.log(K)))
        else:
            log_w_norm = torch.full_like(log_w_norm, -math.log(K))
        z = torch.gather(z, 1, ancestors.unsqueeze(-1).expand(B, K, R))
        if keep_particles:
            kept_a.append(ancestors)
    result = SMCResult(log_marginal=torch.stack(steps, 1), filtered=torch.stack(filt, 1), ess=torch.stack(ess_all, 1))
    if keep_particles:
        result.particles = torch.stack(kept_z)
        result.log_weights = torch.stack(kept_w)
        result.ancestors = torch.stack(kept_a)
    return result


def genealogy_paths(res: SMCResult) -> tuple[torch.Tensor, torch.Tensor]:
    """The ancestral paths of the final particles and their weights (a particle smoother).

    Needs ``keep_particles``. Returns paths (B, K, T, R) and normalised weights (B, K). Cheap but
    degenerate for long series (few distinct ancestors far back); :func:`backward_simulation`
    does better there.
    """
    T, B, K, R = res.particles.shape
    idx = torch.arange(K, device=res.particles.device).expand(B, K)
    out = []
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            idx = torch.gather(res.ancestors[t], 1, idx)
        out.append(torch.gather(res.particles[t], 1, idx.unsqueeze(-1).expand(B, K, R)))
    return torch.stack(out[::-1], 2), torch.softmax(res.log_weights[-1], dim=-1)


def backward_simulation(
    res: SMCResult, drive: torch.Tensor | None, p: LowRankSSM, n_draws: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Forward-filtering backward-simulation smoother (Godsill, Doucet & West 2004).

    Draws n_draws trajectories from the particle approximation of p(z_{0:T} | y_{0:T}):
    z_T ~ W_T; z_t ~ W_t^k N(z_{t+1}; f(z_t^k), Q). Returns (B, n_draws, T, R).
    """
    T, B, K, R = res.particles.shape
    Q_inv = torch.cholesky_inverse(p.Q_chol)
    pick = torch.multinomial(torch.softmax(res.log_weights[-1], -1), n_draws, replacement=True, generator=generator)
    nxt = torch.gather(res.particles[-1], 1, pick.unsqueeze(-1).expand(B, n_draws, R))
    out = [nxt]
    for t in range(T - 2, -1, -1):
        f = transition_mean(res.particles[t], None if drive is None else drive[:, t].unsqueeze(1), p)  # (B, K, R)
        diff = nxt.unsqueeze(2) - f.unsqueeze(1)  # (B, S, K, R)
        logits = res.log_weights[t].unsqueeze(1) - 0.5 * ((diff @ Q_inv) * diff).sum(-1)
        pick = torch.multinomial(torch.softmax(logits, -1).reshape(B * n_draws, K), 1, generator=generator)
        pick = pick.reshape(B, n_draws)
        nxt = torch.gather(res.particles[t], 1, pick.unsqueeze(-1).expand(B, n_draws, R))
        out.append(nxt)
    return torch.stack(out[::-1], 2)


def kalman_log_likelihood(
    y: torch.Tensor,
    A: torch.Tensor,
    b: torch.Tensor,
    Q: torch.Tensor,
    C: torch.Tensor,
    d: torch.Tensor,
    obs_var: torch.Tensor,
    m0: torch.Tensor,
    P0: torch.Tensor,
) -> torch.Tensor:
    """Exact log p(y_{0:T}) of a linear-Gaussian state-space model, by the Kalman filter.

    z_0 ~ N(m0, P0); z_{t+1} = A z_t + b + N(0, Q); y_t = C z_t + d + N(0, diag obs_var).
    y: (B, T, D) → (B,). The reference the SMC estimate is tested against.
    """
    B, T, D = y.shape
    m = m0.expand(B, -1)
    P = P0.expand(B, -1, -1)
    R = torch.diag(obs_var)
    total = torch.zeros(B, dtype=y.dtype, device=y.device)
    for t in range(T):
        if t > 0:
            m = m @ A.T + b
            P = A @ P @ A.T + Q
        S = C @ P @ C.T + R
        e = y[:, t] - (m @ C.T + d)
        Ls = torch.linalg.cholesky(S)
        v = torch.cholesky_solve(e.unsqueeze(-1), Ls).squeeze(-1)
        total = total - 0.5 * (
            D * LOG_2PI + 2 * torch.log(torch.diagonal(Ls, dim1=-2, dim2=-1)).sum(-1) + (e * v).sum(-1)
        )
        K = torch.cholesky_solve(C @ P, Ls).transpose(-1, -2)  # P Cᵀ S⁻¹
        m = m + (K @ e.unsqueeze(-1)).squeeze(-1)
        P = P - K @ C @ P
    return total
