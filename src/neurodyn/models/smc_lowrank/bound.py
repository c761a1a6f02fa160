"""The VSMC training bound with the per-step work cut to what depends on the particles.

:func:`neurodyn.models.smc_lowrank.core.smc` is the filter as written in the paper (Pals et al.
2024, Eqs. 4–6): each step factorises the proposal's precision, solves with it and evaluates the
incremental weight. Everything the proposal needs apart from the transition mean f, however,
depends only on the data and the parameters, not on the particles: the posterior precision
Σ_t⁻¹ = Q⁻¹ + Λ_t, its Cholesky factor, the gain Q⁻¹Σ_t, the data's share Σ_t g_t of the mean, the
scaled noise L_t⁻ᵀε_t and, for the optimal proposal, the quadratic form in f of the weight
p(y_t | z_{t−1}) = N(y_t; C f + d, C Q Cᵀ + R). :func:`vsmc_bound` computes all of them for every
(trial, step) in a few batched operations before the time loop; a step is then two small matrix
products for the transition, one for the proposal, and the weighting and resampling — a third of
the operations of the plain filter, and small enough to compile (:func:`compiled_step`).

Optimal proposal, row-vector form (P_t = Σ_t, all matrices symmetric)::

    mean_t = f (Q⁻¹ P_t) + g_t P_t
    log w  = const_t − ½ (fᵀ A_t f − 2 b_tᵀ f)
    A_t = Λ_t − Λ_t P_t Λ_t,   b_t = g_t − Λ_t P_t g_t,
    const_t = −½ (n_t log 2π + log|R_t| + log|Q| − log|P_t| + c0_t − g_tᵀ P_t g_t)

which is eᵀS⁻¹e with e = y − d − C f expanded by the Woodbury identity, the same number as
:func:`~neurodyn.models.smc_lowrank.core.optimal_proposal_step` computes per particle.

Random draws are taken in the order the plain filter takes them (each step's proposal noise,
then its resampling offset), so both paths give the same bound for the same generator state;
the tests hold them to rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neurodyn.compiled import available as compiled_available
from neurodyn.models.smc_lowrank.core import (
    LOG_2PI,
    LowRankSSM,
    gaussian_evidence,
    observation_log_likelihood,
    systematic_resample,
    transition_mean,
)

ENGINES = ("eager", "fused")


@dataclass
class ProposalTerms:
    """Per (trial, step) terms of the proposal, shared by that trial's particles.

    Trial-independent terms may have a leading dimension of 1 instead of B (broadcast).

    gain: (B, T, R, W) — the first R columns map f to the proposal mean (Q⁻¹P_t); for the optimal
    proposal the next R are A_t (W = 2R), else W = R; data_mean: (B, T, R) g_t P_t (both None for the
    bootstrap proposal, whose mean is f); noise: (B, T, K, R) the proposal noise L_t⁻ᵀε_t; linear: (B, T, R)
    b_t (optimal only); const: (B, T) the weight's constant (optimal) or −½(log|prior| − log|P_t|)
    (encoder); None for the bootstrap proposal.
    """

    gain: torch.Tensor | None
    data_mean: torch.Tensor | None
    noise: torch.Tensor
    linear: torch.Tensor | None
    const: torch.Tensor | None


def draw_like_filter(
    B: int, T: int, K: int, R: int, resampling: bool, generator: torch.Generator | None, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The standard normals (B, T, K, R) and resampling offsets (B, T − 1, 1) of one filter run,
    drawn in the plain filter's order (step t's noise, then step t's offset)."""
    eps, offsets = [], []
    for t in range(T):
        eps.append(torch.randn(B, K, R, generator=generator, device=like.device, dtype=like.dtype))
        if resampling and t < T - 1:
            offsets.append(torch.rand(B, 1, generator=generator, device=like.device, dtype=like.dtype))
    return torch.stack(eps, 1), (torch.stack(offsets, 1) if offsets else None)


def proposal_terms(
    y: torch.Tensor,
    mask: torch.Tensor,
    p: LowRankSSM,
    proposal: str,
    encoder: tuple[torch.Tensor, torch.Tensor] | None,
    eps: torch.Tensor,
) -> ProposalTerms:
    """Everything the proposal needs at every (trial, step), in batched operations.

    y, mask: (B, T, D); encoder: (precision (B, T, R, R), information (B, T, R)); eps (B, T, K, R).
    The prior at step 0 is N(μ_0, Σ_0), afterwards N(f, Q).
    """
    B, T, K, R = eps.shape
    Q_inv = torch.cholesky_inverse(p.Q_chol)
    S0_inv = torch.cholesky_inverse(p.z0_chol)
    prior_inv = torch.cat([S0_inv.unsqueeze(0), Q_inv.expand(T - 1, R, R)])  # (T, R, R)
    logdet_Q = 2.0 * torch.log(torch.diagonal(p.Q_chol)).sum()
    logdet_S0 = 2.0 * torch.log(torch.diagonal(p.z0_chol)).sum()
    prior_logdet = torch.cat([logdet_S0.reshape(1), logdet_Q.expand(T - 1)])  # (T,)
    if proposal == "bootstrap":  # the prior itself: only its noise is needed
        prior_chol = torch.cat([p.z0_chol.unsqueeze(0), p.Q_chol.expand(T - 1, R, R)])
        return ProposalTerms(None, None, eps @ prior_chol.transpose(-1, -2), None, None)
    if proposal == "optimal":
        ev = gaussian_evidence(y, mask, p)
        data_prec, data_info = ev.Lam, ev.g
        if bool(mask.all()):
            # every channel observed: Λ = CᵀR⁻¹C is one matrix, so the factorisations below run on
            # the T prior precisions only (two distinct ones) instead of B·T copies
            data_prec = data_prec[:1, :1]
    else:
        data_prec, data_info = encoder
    L = torch.linalg.cholesky(prior_inv + data_prec)  # (B, T, R, R)
    P = torch.cholesky_inverse(L)
    gain = prior_inv @ P
    data_mean = (data_info.unsqueeze(-2) @ P).squeeze(-2)
    # P = L⁻ᵀL⁻¹, so L⁻ᵀε has covariance P
    noise = torch.linalg.solve_triangular(L.transpose(-1, -2), eps.transpose(-1, -2), upper=True).transpose(-1, -2)
    half_logdet_prec = torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)  # ½ log|P⁻¹|
    if proposal == "encoder":
        # log N(z; f, prior) − log q(z) = const − ½ (z − f)ᵀ prior⁻¹ (z − f), as q's own quadratic is ½εᵀε
        const = (-0.5 * prior_logdet - half_logdet_prec).unsqueeze(-1) + 0.5 * (eps**2).sum(-1)
        return ProposalTerms(gain, data_mean, noise, None, const)
    lam_p = data_prec @ P
    A = data_prec - lam_p @ data_prec
    linear = data_info - (lam_p @ data_info.unsqueeze(-1)).squeeze(-1)
    c = ev.c0 - (data_mean * data_info).sum(-1)
    const = -0.5 * (ev.n_obs * LOG_2PI + ev.logdet_R + prior_logdet + 2.0 * half_logdet_prec + c)
    return ProposalTerms(torch.cat([gain, A], -1), data_mean, noise, linear, const)


def propose_and_weigh(
    f: torch.Tensor,
    gain: torch.Tensor,
    data_mean: torch.Tensor,
    noise: torch.Tensor,
    linear: torch.Tensor | None,
    const: torch.Tensor | None,
    prior_inv: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's proposal draw and the weight terms that need no observation model.

    f: (B, K, R) transition means; gain (B, R, W), data_mean (B, R), noise (B, K, R), linear (B, R),
    const (B,) or (B, K) of :class:`ProposalTerms` at this step; prior_inv (R, R) the prior's
    precision (used by the encoder proposal only).
    Returns z (B, K, R) and log weights (B, K): p(y_t | z_{t−1}) for the optimal proposal,
    log p(z | f) − log q(z) for the encoder's (the caller adds log p(y_t | z)), 0 for the bootstrap.
    """
    if const is None:  # bootstrap
        return f + noise, torch.zeros(f.shape[:2], dtype=f.dtype, device=f.device)
    R = f.shape[-1]
    projected = f @ gain
    z = projected[..., :R] + data_mean.unsqueeze(1) + noise
    if linear is not None:  # optimal
        quad = ((projected[..., R:] - 2.0 * linear.unsqueeze(1)) * f).sum(-1)
        return z, const.unsqueeze(1) - 0.5 * quad
    diff = z - f  # encoder
    return z, const - 0.5 * ((diff @ prior_inv) * diff).sum(-1)


def _at(x: torch.Tensor | None, t: int) -> torch.Tensor | None:
    return None if x is None else x[:, t]


def filter_step(
    z: torch.Tensor,
    log_w_norm: torch.Tensor,
    offset: torch.Tensor | None,
    drive: torch.Tensor | None,
    gain: torch.Tensor | None,
    data_mean: torch.Tensor | None,
    noise: torch.Tensor,
    linear: torch.Tensor | None,
    const: torch.Tensor | None,
    y: torch.Tensor,
    mask: torch.Tensor,
    prior_inv: torch.Tensor,
    p: LowRankSSM,
    proposal: str,
    resample: str,
    ess_threshold: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step t ≥ 1 of the filter: resample the particles of step t − 1, propagate, propose, weigh.

    z: (B, K, R) particles of step t − 1 and log_w_norm (B, K) their normalised log weights; offset
    (B, 1) the resampling draw of step t − 1; drive (B, 1, U) or None; the proposal terms at step t
    (see :func:`propose_and_weigh`); y, mask: (B, D) at step t. Returns the particles and normalised
    log weights of step t and log p̂(y_t | y_{<t}) (B,).
    """
    B, K, R = z.shape
    if resample != "never":
        ancestors = systematic_resample(log_w_norm, offset=offset)
        uniform = torch.full_like(log_w_norm, -math.log(K))
        if resample == "ess":
            ess = 1.0 / torch.softmax(log_w_norm.detach(), -1).pow(2).sum(-1)
            keep = (ess >= ess_threshold * K).unsqueeze(-1)
            ancestors = torch.where(keep, torch.arange(K, device=z.device).expand(B, K), ancestors)
            log_w_norm = torch.where(keep, log_w_norm, uniform)
        else:
            log_w_norm = uniform
        z = torch.gather(z, 1, ancestors.unsqueeze(-1).expand(B, K, R))
    f = transition_mean(z, drive, p)
    z, logw = propose_and_weigh(f, gain, data_mean, noise, linear, const, prior_inv)
    if proposal != "optimal":
        logw = logw + observation_log_likelihood(y, mask, z, p)
    logits = log_w_norm + logw
    step_lml = torch.logsumexp(logits, dim=-1)
    return z, logits - step_lml.unsqueeze(-1), step_lml


def fused_supported(y: torch.Tensor, drive: torch.Tensor | None, p: LowRankSSM, proposal: str, resample: str) -> bool:
    """Whether the fused loop covers these settings: CPU tensors, the optimal proposal, resampling
    at every step, no inputs, and numba importable."""
    if y.device.type != "cpu" or proposal != "optimal" or resample != "always" or drive is not None:
        return False
    return compiled_available()


def vsmc_bound(
    y: torch.Tensor,
    mask: torch.Tensor,
    drive: torch.Tensor | None,
    p: LowRankSSM,
    *,
    n_particles: int,
    proposal: str,
    encoder: tuple[torch.Tensor, torch.Tensor] | None = None,
    resample: str = "always",
    ess_threshold: float = 0.5,
    generator: torch.Generator | None = None,
    engine: str = "eager",
) -> torch.Tensor:
    """log p̂(y_t | y_{<t}) per trial and step, (B, T): the VSMC objective, equal to
    :func:`neurodyn.models.smc_lowrank.core.smc`'s ``log_marginal`` for the same generator state.

    y, mask: (B, T, D); drive: (B, T, U) or None; encoder as for ``smc``. engine: ``eager`` (a
    :func:`filter_step` per step) or ``fused`` (the steps t ≥ 1 in one compiled loop,
    :class:`~neurodyn.models.smc_lowrank.fused.FusedWindow`; where :func:`fused_supported` says no,
    the eager path runs).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {ENGINES}")
    if proposal == "optimal" and p.observation != "gaussian":
        raise ValueError("the optimal proposal needs Gaussian observations")
    if proposal == "encoder" and encoder is None:
        raise ValueError("the encoder proposal needs the encoder's outputs")
    B, T, _ = y.shape
    K, R = n_particles, p.rank
    eps, offsets = draw_like_filter(B, T, K, R, resample != "never", generator, y)
    terms = proposal_terms(y, mask, p, proposal, encoder, eps)

    def terms_at(t: int) -> tuple:
        return (
            _at(terms.gain, t),
            _at(terms.data_mean, t),
            terms.noise[:, t],
            _at(terms.linear, t),
            _at(terms.const, t),
        )

    # step 0: the initial state's prior, nothing to resample yet
    f = p.z0_mean.expand(B, K, R)
    z, logw = propose_and_weigh(f, *terms_at(0), torch.cholesky_inverse(p.z0_chol))
    if proposal != "optimal":
        logw = logw + observation_log_likelihood(y[:, 0], mask[:, 0], z, p)
    logits = logw - math.log(K)
    step_lml = torch.logsumexp(logits, dim=-1)
    log_w_norm = logits - step_lml.unsqueeze(-1)
    if engine == "fused" and T > 1 and fused_supported(y, drive, p, proposal, resample):
        from neurodyn.models.smc_lowrank.fused import NONLINEARITY_CODES, FusedWindow

        rest = FusedWindow.apply(
            z,
            log_w_norm,
            offsets.squeeze(-1),
            terms.gain.expand(B, -1, -1, -1),  # shared by the trials when every channel is observed
            terms.data_mean,
            terms.noise,
            terms.linear,
            terms.const,
            p.M,
            p.N,
            p.h,
            p.a,
            NONLINEARITY_CODES[p.nonlinearity],
        )
        return torch.cat([step_lml.unsqueeze(1), rest], 1)
    out = [step_lml]
    Q_inv = torch.cholesky_inverse(p.Q_chol)
    for t in range(1, T):
        z, log_w_norm, step_lml = filter_step(
            z,
            log_w_norm,
            _at(offsets, t - 1),
            None if drive is None else drive[:, t - 1].unsqueeze(1),
            *terms_at(t),
            y[:, t],
            mask[:, t],
            Q_inv,
            p,
            proposal,
            resample,
            ess_threshold,
        )
        out.append(step_lml)
    return torch.stack(out, 1)
