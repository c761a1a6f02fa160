"""The VSMC training bound: the precomputed-terms filter and its fused loop against the plain filter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_smc_lowrank import FAST, small_dataset

from neurodyn.models.smc_lowrank.bound import fused_supported, vsmc_bound
from neurodyn.models.smc_lowrank.core import LowRankSSM, smc
from neurodyn.models.smc_lowrank.model import SMCLowRank

F64 = torch.float64
PARAMETERS = ("M", "N", "h", "a", "Q_chol", "z0_mean", "z0_chol", "C", "d", "obs_var")


def random_model(seed: int, observation: str, nonlinearity: str, U: int = 30, R: int = 3, D: int = 9, dtype=F64):
    """A random low-rank SSM whose tensors require gradients (a full, non-diagonal noise factor)."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g, dtype=dtype)).requires_grad_()

    def chol():
        lower = torch.tril(0.2 * torch.randn(R, R, generator=g, dtype=dtype), -1)
        return (lower + torch.diag(0.3 + torch.rand(R, generator=g, dtype=dtype))).requires_grad_()

    return LowRankSSM(
        M=randn(U, R),
        N=randn(U, R, scale=0.2),
        h=(torch.rand(U, generator=g, dtype=dtype) - 0.3).requires_grad_(),
        a=torch.tensor(0.85, dtype=dtype, requires_grad=True),
        W_u=None,
        Q_chol=chol(),
        z0_mean=randn(R),
        z0_chol=chol(),
        C=randn(D, R),
        d=randn(D),
        obs_var=(0.4 + torch.rand(D, generator=g, dtype=dtype)).requires_grad_() if observation == "gaussian" else None,
        nonlinearity=nonlinearity,
        observation=observation,
    )


def observations(observation: str, B: int, T: int, D: int, seed: int = 2, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    if observation == "gaussian":
        y = torch.randn(B, T, D, generator=g, dtype=dtype)
    else:
        y = torch.poisson(torch.full((B, T, D), 1.5, dtype=dtype), generator=g)
    mask = (torch.rand(B, T, D, generator=g) > 0.2).to(dtype)  # some channels unobserved
    return y * mask, mask


def bound_and_gradient(p, y, mask, n_particles, seed, engine, weights, params):
    """The optimal-proposal bound (B, T) on ``engine`` and the gradient of Σ_t weights_t · bound_t."""
    bound = vsmc_bound(
        y,
        mask,
        None,
        p,
        n_particles=n_particles,
        proposal="optimal",
        generator=torch.Generator().manual_seed(seed),
        engine=engine,
    )
    return bound.detach(), torch.autograd.grad((bound * weights).sum(), params)


@pytest.mark.parametrize(
    "proposal, observation",
    [("optimal", "gaussian"), ("encoder", "poisson"), ("encoder", "gaussian"), ("bootstrap", "poisson")],
)
@pytest.mark.parametrize("resample", ["always", "ess", "never"])
def test_bound_equals_the_plain_filter_for_the_same_draws(proposal, observation, resample):
    B, T, K, R = 3, 12, 6, 3
    p = random_model(0, observation, "clipped")
    y, mask = observations(observation, B, T, p.C.shape[0])
    g = torch.Generator().manual_seed(7)
    drive = 0.3 * torch.randn(B, T, p.M.shape[0], generator=g, dtype=F64)
    A = torch.randn(B, T, R, R, generator=g, dtype=F64)
    encoder = (A @ A.transpose(-1, -2) + torch.eye(R, dtype=F64), torch.randn(B, T, R, generator=g, dtype=F64))
    kw = {"n_particles": K, "proposal": proposal, "encoder": encoder, "resample": resample, "ess_threshold": 0.6}
    plain = smc(y, mask, drive, p, generator=torch.Generator().manual_seed(3), **kw).log_marginal
    ours = vsmc_bound(y, mask, drive, p, generator=torch.Generator().manual_seed(3), engine="eager", **kw)
    torch.testing.assert_close(ours, plain, rtol=1e-12, atol=1e-10)
    # a different generator state gives a different estimate: the draws are really used
    other = vsmc_bound(y, mask, drive, p, generator=torch.Generator().manual_seed(4), engine="eager", **kw)
    assert (other - plain).abs().max() > 1e-3


@pytest.mark.parametrize("nonlinearity", ["clipped", "relu", "tanh"])
def test_fused_loop_gives_the_eager_bound_and_gradient(nonlinearity):
    assert fused_supported(torch.zeros(1), None, random_model(0, "gaussian", nonlinearity), "optimal", "always")
    B, T, K = 4, 15, 7
    p = random_model(1, "gaussian", nonlinearity)
    y, mask = observations("gaussian", B, T, p.C.shape[0])
    weights = torch.linspace(0.5, 1.5, T, dtype=F64)  # a loss that weighs every step differently
    params = [getattr(p, name) for name in PARAMETERS]
    results = {engine: bound_and_gradient(p, y, mask, K, 5, engine, weights, params) for engine in ("eager", "fused")}
    torch.testing.assert_close(results["fused"][0], results["eager"][0], rtol=1e-12, atol=1e-10)
    for name, eager, fused in zip(PARAMETERS, results["eager"][1], results["fused"][1], strict=True):
        assert eager.abs().max() > 0, name  # every parameter reaches the bound
        torch.testing.assert_close(fused, eager, rtol=1e-9, atol=1e-11, msg=lambda m, n=name: f"{n}: {m}")


def test_fused_loop_in_float32_agrees_to_rounding():
    B, T, K = 5, 20, 10
    p = random_model(2, "gaussian", "clipped", U=64, dtype=torch.float32)
    y, mask = observations("gaussian", B, T, p.C.shape[0], dtype=torch.float32)
    ones = torch.ones(T, dtype=torch.float32)
    out = {engine: bound_and_gradient(p, y, mask, K, 1, engine, ones, [p.M, p.N, p.h]) for engine in ("eager", "fused")}
    torch.testing.assert_close(out["fused"][0], out["eager"][0], rtol=1e-5, atol=1e-4)
    for eager, fused in zip(out["eager"][1], out["fused"][1], strict=True):
        torch.testing.assert_close(fused, eager, rtol=1e-4, atol=1e-4 * float(eager.abs().max()))


def test_settings_the_fused_loop_does_not_cover_run_eagerly():
    p = random_model(0, "gaussian", "clipped")
    y = torch.zeros(2, 5, p.C.shape[0], dtype=F64)
    assert not fused_supported(y, None, p, "encoder", "always")
    assert not fused_supported(y, None, p, "optimal", "ess")
    assert not fused_supported(y, torch.zeros(2, 5, 30, dtype=F64), p, "optimal", "always")
    mask = torch.ones_like(y)
    kw = {"n_particles": 4, "proposal": "optimal", "resample": "ess"}
    eager = vsmc_bound(y, mask, None, p, generator=torch.Generator().manual_seed(0), engine="eager", **kw)
    fused = vsmc_bound(y, mask, None, p, generator=torch.Generator().manual_seed(0), engine="fused", **kw)
    torch.testing.assert_close(fused, eager, rtol=0, atol=0)


def test_fits_on_both_engines_follow_the_same_path():
    """Same seed, same data: a few epochs of training give the same bounds per epoch and the same
    parameters on both engines (float64), so speed does not change the result."""
    ds = small_dataset("continuous")
    cfg = {**FAST, "proposal": "optimal", "epochs": 4, "orthonormalise": False}
    fits = {e: SMCLowRank.fit(ds, {**cfg, "engine": e}, torch.device("cpu")) for e in ("eager", "fused")}
    history = {e: np.asarray(f.meta["history"]) for e, f in fits.items()}
    np.testing.assert_allclose(history["fused"], history["eager"], rtol=1e-8)
    assert history["eager"][-1, 1] > history["eager"][0, 1]  # it did learn
    for name, tensor in fits["eager"].tensors.items():
        torch.testing.assert_close(fits["fused"].tensors[name], tensor, rtol=1e-7, atol=1e-9, msg=name)
