"""Readouts from latents to observations, fitted for all channels at once.

* Poisson GLM: y ~ Poisson(exp(C z + d)), by batched Newton iterations with step halving;
* Gaussian: y = C z + d + noise, by weighted ridge least squares.
Both take a (sample, channel) weight so unobserved bins are ignored.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

MAX_LOG_RATE = 20.0


def _design(z: torch.Tensor) -> torch.Tensor:
    """(sample, latent) → (sample, latent + 1) with a constant column."""
    return torch.cat([z, torch.ones_like(z[:, :1])], dim=1)


def poisson_nll(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, coef: torch.Tensor, l2: float) -> torch.Tensor:
    """Per-channel weighted negative log-likelihood (without log y!) plus ridge on slopes.

    X: (sample, k); y, w: (sample, channel); coef: (k, channel) → (channel,).
    """
    eta = (X @ coef).clamp(max=MAX_LOG_RATE)
    return (w * (torch.exp(eta) - y * eta)).sum(0) + 0.5 * l2 * (coef[:-1] ** 2).sum(0)


def fit_poisson_glm(
    z: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor | None = None,
    *,
    l2: float = 1e-3,
    max_iter: int = 50,
    tol: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit log-rates C z + d by Newton's method, all channels in one batched solve per iteration.

    z: (sample, latent); y: (sample, channel) counts; weight: (sample, channel) ≥ 0.
    Returns C (channel, latent), d (channel,).
    """
    X = _design(z)
    w = torch.ones_like(y) if weight is None else weight
    n_coef = X.shape[1]
    mean_rate = (w * y).sum(0) / w.sum(0).clamp(min=1)
    coef = torch.zeros(n_coef, y.shape[1], dtype=z.dtype, device=z.device)
    coef[-1] = torch.log(mean_rate.clamp(min=1e-6))
    ridge = torch.full((n_coef,), l2, dtype=z.dtype, device=z.device)
    ridge[-1] = 1e-10  # the intercept is not shrunk
    loss = poisson_nll(X, y, w, coef, l2)
    for it in range(max_iter):
        rate = torch.exp((X @ coef).clamp(max=MAX_LOG_RATE))  # (sample, channel)
        grad = X.T @ (w * (rate - y)) + ridge[:, None] * coef  # (k, channel)
        hess = torch.einsum("sk,sc,sl->ckl", X, w * rate, X) + torch.diag(ridge)  # (channel, k, k)
        step = torch.linalg.solve(hess, grad.T.unsqueeze(-1)).squeeze(-1).T  # (k, channel)
        scale = torch.ones(y.shape[1], dtype=z.dtype, device=z.device)
        for _ in range(30):  # step halving per channel until the loss does not increase
            trial = coef - scale * step
            new_loss = poisson_nll(X, y, w, trial, l2)
            worse = new_loss > loss + 1e-12 * loss.abs()
            if not worse.any():
                break
            scale = torch.where(worse, scale / 2, scale)
        coef, improvement = trial, (loss - new_loss)
        loss = new_loss
        if it % 5 == 0 or improvement.max() < tol * loss.abs().max():
            log.debug("poisson readout: iteration %d, total NLL %.6g", it, float(loss.sum()))
        if improvement.max() < tol * loss.abs().max():
            break
    return coef[:-1].T.contiguous(), coef[-1].contiguous()


def fit_gaussian_readout(
    z: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None, *, l2: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted ridge least squares for every channel. z: (sample, latent); y, weight:
    (sample, channel). Returns C (channel, latent), d (channel,), noise variance (channel,)."""
    X = _design(z)
    w = torch.ones_like(y) if weight is None else weight
    ridge = l2 * torch.ones(X.shape[1], dtype=z.dtype, device=z.device)
    ridge[-1] = 0.0
    gram = torch.einsum("sk,sc,sl->ckl", X, w, X) + torch.diag(ridge) * X.shape[0]
    rhs = torch.einsum("sk,sc->ck", X, w * y)
    coef = torch.linalg.solve(gram, rhs.unsqueeze(-1)).squeeze(-1)  # (channel, k)
    resid = y - X @ coef.T
    noise = (w * resid**2).sum(0) / w.sum(0).clamp(min=1)
    return coef[:, :-1].contiguous(), coef[:, -1].contiguous(), noise.clamp(min=1e-12)
