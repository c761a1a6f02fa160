"""PLRNN EM: block-tridiagonal E-step, Laplace posterior, closed-form M-step, annealed fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurodyn.models.plrnn_em.core import (
    Observations,
    PLRNNParams,
    annealing_stages,
    block_tridiag_solve,
    expectations,
    hessian_blocks,
    init_params,
    line_attractor_penalty,
    log_joint,
    m_step,
    posterior_mode,
    run_em,
    shift_to_positive,
)
from neurodyn.models.structure import PLRNNMap

DT = torch.float64


def _random_params(R, M, N, K, gen, scale=0.3):
    W = torch.randn(R, M, M, generator=gen, dtype=DT) * scale
    W = W * (1 - torch.eye(M, dtype=DT))
    return PLRNNParams(
        A=torch.rand(R, M, generator=gen, dtype=DT) * 0.8,
        W=W,
        h=torch.randn(R, M, generator=gen, dtype=DT) * 0.2,
        C=torch.randn(R, M, K, generator=gen, dtype=DT),
        B=torch.randn(R, N, M, generator=gen, dtype=DT),
        b=torch.randn(R, N, generator=gen, dtype=DT),
        gamma=torch.rand(R, N, generator=gen, dtype=DT) + 0.2,
        sigma=torch.rand(R, M, generator=gen, dtype=DT) + 0.1,
        mu0=torch.randn(R, M, generator=gen, dtype=DT),
    )


def _dense(diag, lower):
    T, M = diag.shape[-3], diag.shape[-1]
    H = torch.zeros(*diag.shape[:-3], T * M, T * M, dtype=diag.dtype)
    for t in range(T):
        H[..., t * M : (t + 1) * M, t * M : (t + 1) * M] = diag[..., t, :, :]
        if t < T - 1:
            H[..., (t + 1) * M : (t + 2) * M, t * M : (t + 1) * M] = lower[..., t, :, :]
            H[..., t * M : (t + 1) * M, (t + 1) * M : (t + 2) * M] = lower[..., t, :, :].mT
    return H


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(0)
    R, n, T, M, N, K = 2, 3, 9, 4, 5, 2
    p = _random_params(R, M, N, K, gen)
    mask = (torch.rand(n, T, N, generator=gen) > 0.2).to(DT)
    obs = Observations(
        x=torch.randn(n, T, N, generator=gen, dtype=DT) * mask,
        mask=mask,
        s=torch.randn(n, T, K, generator=gen, dtype=DT),
    )
    return p, obs


def test_hessian_blocks_are_the_quadratic_form_of_the_log_joint(problem):
    p, obs = problem
    z = torch.randn(p.n_restarts, *obs.shape, p.latent_dim, dtype=DT, requires_grad=True)
    (grad,) = torch.autograd.grad(log_joint(p, obs, z).sum(), z)
    d = (z > 0).to(DT)
    diag, lower, rhs = hessian_blocks(p, obs, d)
    zd = z.detach()
    Hz = (diag @ zd[..., None])[..., 0]
    Hz[:, :, 1:] += (lower @ zd[:, :, :-1, :, None])[..., 0]
    Hz[:, :, :-1] += (lower.mT @ zd[:, :, 1:, :, None])[..., 0]
    assert torch.allclose(Hz - rhs, -grad, atol=1e-10)

    # and the Hessian itself, by automatic differentiation of one trial's log joint
    def neg_ll(flat):
        zz = zd.clone()
        zz[0, 0] = flat.reshape(zd.shape[2:])
        return -log_joint(p, obs, zz)[0, 0]

    H_auto = torch.autograd.functional.hessian(neg_ll, zd[0, 0].reshape(-1))
    assert torch.allclose(_dense(diag[0, 0], lower[0, 0]), H_auto, atol=1e-9)


def test_block_tridiagonal_solve_equals_dense_solve(problem):
    p, obs = problem
    d = (torch.randn(p.n_restarts, *obs.shape, p.latent_dim, dtype=DT) > 0).to(DT)
    diag, lower, rhs = hessian_blocks(p, obs, d)
    sol = block_tridiag_solve(diag, lower, rhs, covariance=True)
    H = _dense(diag, lower)
    T, M = diag.shape[-3], diag.shape[-1]
    z_dense = torch.linalg.solve(H, rhs.reshape(*rhs.shape[:-2], -1))
    assert torch.allclose(sol.z.reshape(z_dense.shape), z_dense, atol=1e-10)
    inv = torch.linalg.inv(H)
    for t in range(T):
        assert torch.allclose(
            sol.cov_diag[..., t, :, :], inv[..., t * M : (t + 1) * M, t * M : (t + 1) * M], atol=1e-10
        )
        if t < T - 1:
            assert torch.allclose(
                sol.cov_lower[..., t, :, :], inv[..., (t + 1) * M : (t + 2) * M, t * M : (t + 1) * M], atol=1e-10
            )
    assert torch.allclose(sol.logdet, torch.linalg.slogdet(H)[1], atol=1e-9)
    assert not sol.failed.any()


def test_posterior_mode_is_a_local_maximum_and_never_worse_than_its_start(problem):
    p, obs = problem
    start = torch.randn(p.n_restarts, *obs.shape, p.latent_dim, dtype=DT, generator=torch.Generator().manual_seed(3))
    post = posterior_mode(p, obs, z_init=start, max_iters=50)
    assert (post.log_joint >= log_joint(p, obs, start) - 1e-9).all()
    # where the active set converged, the gradient of the log joint vanishes
    z = post.z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(log_joint(p, obs, z).sum(), z)
    if post.converged.any():
        assert grad[post.converged].abs().max() < 1e-8
    # with the quasi-Newton polish, the stalled ones (modes on kinks) become local maxima too
    polished = posterior_mode(p, obs, z_init=start, max_iters=50, polish_iters=500)
    assert (polished.log_joint >= post.log_joint - 1e-9).all()
    gen = torch.Generator().manual_seed(4)
    for _ in range(5):
        nudged = polished.z + 1e-4 * torch.randn(polished.z.shape, generator=gen, dtype=DT)
        # a random nudge can only gain second-order amounts or lose
        assert (log_joint(p, obs, nudged) - polished.log_joint < 1e-3).all()


def _simulate(T=4000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    A = torch.tensor([0.6, 0.5, 0.7], dtype=DT)
    W = torch.tensor([[0, 0.3, -0.2], [0.25, 0, 0.1], [-0.3, 0.2, 0]], dtype=DT)
    h = torch.tensor([0.8, 0.6, 0.9], dtype=DT)
    B = torch.tensor([[1.0, 0.2, -0.5], [0.3, -1.0, 0.4], [0.0, 0.5, 1.0], [0.7, 0.7, 0.0]], dtype=DT)
    b = torch.tensor([0.1, -0.2, 0.0, 0.3], dtype=DT)
    sig, gam = 0.02, 0.02
    z = torch.zeros(T, 3, dtype=DT)
    z[0] = torch.tensor([1.0, 1.0, 1.0], dtype=DT)
    noise = torch.randn(T, 3, generator=gen, dtype=DT) * math.sqrt(sig)
    for t in range(1, T):
        z[t] = A * z[t - 1] + W @ torch.relu(z[t - 1]) + h + noise[t]
    x = torch.relu(z) @ B.T + b + torch.randn(T, 4, generator=gen, dtype=DT) * math.sqrt(gam)
    true = PLRNNParams(
        A=A[None],
        W=W[None],
        h=h[None],
        C=torch.zeros(1, 3, 0, dtype=DT),
        B=B[None],
        b=b[None],
        gamma=torch.full((1, 4), gam, dtype=DT),
        sigma=torch.full((1, 3), sig, dtype=DT),
        mu0=z[0][None],
    )
    obs = Observations(x=x[None], mask=torch.ones(1, T, 4, dtype=DT), s=torch.zeros(1, T, 0, dtype=DT))
    return true, obs, z


def test_m_step_recovers_the_parameters_of_a_simulated_plrnn():
    true, obs, z = _simulate()
    assert (z[100:] > 0).double().mean() > 0.9  # mostly active, so every parameter is identifiable
    post = posterior_mode(true, obs)
    stats = expectations(post, obs)
    est = m_step(true, stats, tau=torch.zeros(1, dtype=DT), n_reg=0, learn_sigma=True)
    assert torch.allclose(est.A, true.A, atol=0.05)
    assert torch.allclose(est.W, true.W, atol=0.05)
    assert torch.allclose(est.h, true.h, atol=0.08)
    assert torch.allclose(est.B, true.B, atol=0.05)
    assert torch.allclose(est.sigma, true.sigma, rtol=0.3)
    assert torch.allclose(est.gamma, true.gamma, rtol=0.3)
    # the M-step maximises the expected complete-data log-likelihood: perturbing A lowers it
    assert torch.allclose(est.W.diagonal(dim1=-2, dim2=-1), torch.zeros(1, 3, dtype=DT))


def test_posterior_mode_converges_on_a_well_posed_problem():
    true, obs, z = _simulate(T=800)
    post = posterior_mode(true, obs)
    assert post.converged.all()
    zz = post.z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(log_joint(true, obs, zz).sum(), zz)
    assert grad.abs().max() < 1e-8
    assert float((post.z[0, 0] - z).abs().mean()) < 0.15  # within the noise of the truth


def test_line_attractor_prior_pulls_regularised_units_and_matches_the_penalty():
    true, obs, _ = _simulate(T=600)
    post = posterior_mode(true, obs)
    stats = expectations(post, obs)
    free = m_step(true, stats, tau=torch.zeros(1, dtype=DT), n_reg=2)
    strong = m_step(true, stats, tau=torch.tensor([1e6], dtype=DT), n_reg=2)
    assert torch.allclose(strong.A[0, :2], torch.ones(2, dtype=DT), atol=1e-3)
    assert strong.W[0, :2].abs().max() < 1e-3 and strong.h[0, :2].abs().max() < 1e-3
    assert torch.allclose(strong.A[0, 2], free.A[0, 2]) and torch.allclose(strong.h[0, 2], free.h[0, 2])
    # the regularised M-step is the maximiser of E[log p] − L_reg: no nearby point does better
    tau = 5.0

    def objective(A, W, h):
        beta = torch.zeros(1, 3, 7, dtype=DT)
        beta[:, range(3), range(3)] = A
        beta[:, :, 3:6] = W
        beta[:, :, 6] = h
        sig = true.sigma
        ell = (
            -0.5
            * (stats.zz - 2 * (beta * stats.zf).sum(-1) + torch.einsum("rmp,rpq,rmq->rm", beta, stats.ff, beta))
            / sig
        )
        # the M-step's prior is τ per transition in units of each row's noise variance
        weight = tau * stats.n_trans / (2 * sig[0, :2])
        off = W * (1 - torch.eye(3, dtype=DT))
        rows = (A[:, :2] - 1) ** 2 + (off[:, :2] ** 2).sum(-1) + h[:, :2] ** 2  # Eq. 4 per unit
        # summed with a common weight, the rows are Eq. 4 itself
        assert torch.allclose(rows.sum(-1), line_attractor_penalty(A, W, h, 2, 1.0))
        return ell.sum() - (weight * rows).sum()

    opt = m_step(true, stats, tau=torch.tensor([tau], dtype=DT), n_reg=2, tau_scale="gram", ridge=0.0)
    base = objective(opt.A, opt.W, opt.h)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        dA = 1e-3 * torch.randn(1, 3, generator=gen, dtype=DT)
        dW = 1e-3 * torch.randn(1, 3, 3, generator=gen, dtype=DT) * (1 - torch.eye(3, dtype=DT))
        assert objective(opt.A + dA, opt.W + dW, opt.h) < base


def test_tau_scale_loss_adds_the_penalty_to_the_loss_whatever_the_noise():
    """tau_scale "loss" (the published code): the M-step maximises E[log p] − τ·n_trans·Eq. 4 with
    no Σ in the penalty, so its pull fades as Σ shrinks; "gram" keeps it; both agree at Σ = I."""
    true, obs, _ = _simulate(T=600)
    stats = expectations(posterior_mode(true, obs), obs)
    tau = torch.tensor([0.5], dtype=DT)
    small = PLRNNParams(**{**true.as_dict(), "sigma": torch.full_like(true.sigma, 0.01)})

    def objective(p, A, W, h):
        beta = torch.zeros(1, 3, 7, dtype=DT)
        beta[:, range(3), range(3)] = A
        beta[:, :, 3:6] = W
        beta[:, :, 6] = h
        quad = stats.zz - 2 * (beta * stats.zf).sum(-1) + torch.einsum("rmp,rpq,rmq->rm", beta, stats.ff, beta)
        ell = -0.5 * quad / p.sigma
        return ell.sum() - float(tau) * stats.n_trans * line_attractor_penalty(A, W, h, 2, 1.0).sum()

    opt = m_step(small, stats, tau=tau, n_reg=2, tau_scale="loss", ridge=0.0)
    base = objective(small, opt.A, opt.W, opt.h)
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        dA = 1e-3 * torch.randn(1, 3, generator=gen, dtype=DT)
        dW = 1e-3 * torch.randn(1, 3, 3, generator=gen, dtype=DT) * (1 - torch.eye(3, dtype=DT))
        dh = 1e-3 * torch.randn(1, 3, generator=gen, dtype=DT)
        assert objective(small, opt.A + dA, opt.W + dW, opt.h + dh) < base
    free = m_step(small, stats, tau=torch.zeros(1, dtype=DT), n_reg=2, ridge=0.0)
    gram = m_step(small, stats, tau=tau, n_reg=2, tau_scale="gram", ridge=0.0)
    # at Σ = 0.01·I the "loss" prior pulls 100× less than "gram": A of the regularised units stays nearer the free fit
    assert (opt.A[0, :2] - free.A[0, :2]).abs().max() < (gram.A[0, :2] - free.A[0, :2]).abs().max()
    unit = PLRNNParams(**{**true.as_dict(), "sigma": torch.ones_like(true.sigma)})
    at_unit = [m_step(unit, stats, tau=tau, n_reg=2, tau_scale=k, ridge=0.0) for k in ("loss", "gram")]
    torch.testing.assert_close(at_unit[0].A, at_unit[1].A)
    with pytest.raises(ValueError, match="tau_scale"):
        m_step(true, stats, tau=tau, n_reg=2, tau_scale="sigma")


def test_shift_to_positive_keeps_the_linear_model():
    gen = torch.Generator().manual_seed(1)
    p = _random_params(1, 3, 4, 0, gen)
    z = torch.randn(1, 2, 50, 3, generator=gen, dtype=DT)
    q, z2 = shift_to_positive(p, z)
    F = torch.diag_embed(p.A) + p.W
    step_old = (F @ z[..., None])[..., 0] + p.h
    step_new = (F @ z2[..., None])[..., 0] + q.h
    assert torch.allclose(step_new - (z2 - z), step_old)
    assert torch.allclose(z2 @ q.B.mT + q.b, z @ p.B.mT + p.b)


def test_annealed_em_raises_the_evidence_and_keeps_finite_parameters():
    _true, obs, _ = _simulate(T=500)
    params = init_params(obs.x, obs.mask, 3, 0, 2, seed=0)
    state = run_em(params, obs, annealing_stages((4, 6, 3, 3, 3)), tau=torch.zeros(2, dtype=DT), n_reg=0)
    assert state.params.finite().all()
    assert int(state.n_backoffs.sum()) == 0
    hist = state.history
    assert len(hist) == 19 and all(np.isfinite(h["log_joint"]).all() for h in hist)
    plrnn = [h for h in hist if h["stage"] == "plrnn_sigma1"]
    # EM with a Laplace E-step is not strictly monotone, but it must climb overall
    assert max(plrnn[-1]["laplace_log_evidence"]) > max(plrnn[0]["laplace_log_evidence"])
    # the final (small-noise) model reproduces the data's one-step predictions
    post = posterior_mode(state.params, obs)
    pred = torch.relu(post.z) @ state.params.B.mT + state.params.b[:, None, None]
    resid = ((pred - obs.x[None]) ** 2).mean((1, 2, 3))
    assert float(resid.min()) < 0.2 * float(obs.x.var())


def test_numerical_failure_is_backed_off_not_propagated():
    _true, obs, _ = _simulate(T=200)
    params = init_params(obs.x, obs.mask, 3, 0, 2, seed=0)
    params.B[1] = float("nan")  # restart 1 is broken from the start
    state = run_em(params, obs, annealing_stages((2, 2, 1, 1, 1)), tau=torch.zeros(2, dtype=DT), n_reg=0)
    assert state.params.select(0).finite().all()
    assert int(state.n_backoffs[1]) >= 1 and int(state.n_backoffs[0]) == 0


# --- the model family ---------------------------------------------------------------------------

FAST = {"latent_dim": 3, "restarts": 2, "em_iters": [3, 4, 2, 2, 2], "tau": 0.5, "checkpoint_every": 1}


def test_family_fits_roundtrips_and_exposes_exact_dynamics(tmp_path):
    import xarray as xr

    from neurodyn.analysis.fixed_points import find_fixed_points
    from neurodyn.models import load_model
    from neurodyn.models.plrnn_em.model import PLRNNEM
    from tests.test_smc_lowrank import small_dataset

    ds = small_dataset("continuous")
    model = PLRNNEM.fit(ds, {**FAST, "seed": 0}, torch.device("cpu"), checkpoint_dir=tmp_path / "ckpt")
    fit = model.meta["fit"]
    assert len(fit["history"]) == sum(FAST["em_iters"]) and fit["n_backoffs"] == [0, 0]
    assert fit["resumes"] == []
    curves = model.training_curves()
    assert curves["x"] == "EM iteration" and curves["steps"] == list(range(1, sum(FAST["em_iters"]) + 1))
    evidence = curves["series"]["Laplace log-evidence (nats)"]
    assert evidence == [rec["laplace_log_evidence"] for rec in fit["history"]]
    assert all(curves["higher_is_better"].values()) and len(curves["series"]) == 2
    assert all(bool(torch.isfinite(v).all()) for v in model.tensors.values())
    assert model.meta["n_reg"] == 2  # M_reg / M = 0.5 of 3, rounded
    post = model.posterior(ds)
    assert post["latents"].shape == (24, 30, 3)
    # held-out channels (the last two) are predicted from the held-in posterior better than by their mean
    x = ds["data"].values[..., -2:]
    err = ((post["prediction"].values[..., -2:] - x) ** 2).mean()
    assert err < 0.8 * ((x - x.mean((0, 1))) ** 2).mean()
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, PLRNNEM)
    xr.testing.assert_allclose(again.posterior(ds), post)
    gen = again.sample(4, 20, seed=3)
    assert gen["data"].shape == (4, 20, 10) and np.isfinite(gen["data"].values).all()
    dyn = again.dynamics()
    assert isinstance(dyn.structure, PLRNNMap)
    points = find_fixed_points(dyn)
    for fp in points:  # every reported point is a fixed point of the model's own step
        z = torch.as_tensor(fp.z)
        assert torch.allclose(dyn.step(z[None], None)[0], z, atol=1e-8)
    assert set(dyn.structure.archive()) == {"structure", "A", "W", "h"}  # no inputs: no C


def test_family_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from neurodyn.models.plrnn_em import core as plrnn_core
    from neurodyn.models.plrnn_em.model import PLRNNEM
    from tests.test_smc_lowrank import small_dataset

    ds = small_dataset("continuous")
    full = PLRNNEM.fit(ds, {**FAST, "seed": 0}, torch.device("cpu"))
    real_m_step = plrnn_core.m_step
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return real_m_step(*args, **kwargs)

    monkeypatch.setattr(plrnn_core, "m_step", dying)
    with pytest.raises(KeyboardInterrupt):
        PLRNNEM.fit(ds, {**FAST, "seed": 0}, torch.device("cpu"), checkpoint_dir=tmp_path)
    monkeypatch.setattr(plrnn_core, "m_step", real_m_step)
    resumed = PLRNNEM.fit(ds, {**FAST, "seed": 0}, torch.device("cpu"), checkpoint_dir=tmp_path, resume=True)
    for key, value in full.tensors.items():
        assert torch.allclose(resumed.tensors[key], value, atol=1e-8), key
    # killed in the 8th EM iteration: resumed after the 3 + 4 iterations of the first two stages
    (entry,) = resumed.meta["fit"]["resumes"]
    assert (entry["epoch"], entry["unit"], entry["checkpoint"]) == (7, "EM iteration", "checkpoint.pt")
    assert resumed.training_curves()["steps"] == full.training_curves()["steps"] == list(range(1, 14))


def test_family_rejects_counts_and_bad_options():
    from neurodyn.errors import ConfigError, DatasetContractError
    from neurodyn.models.plrnn_em.model import PLRNNEM
    from tests.test_smc_lowrank import small_dataset

    with pytest.raises(DatasetContractError, match="spike counts"):
        PLRNNEM.fit(small_dataset("counts"), FAST, torch.device("cpu"))
    with pytest.raises(ConfigError, match="em_iters"):
        PLRNNEM.resolve_config({"em_iters": [1, 2]})
    with pytest.raises(ConfigError, match="tau"):
        PLRNNEM.resolve_config({"tau": -1})
    with pytest.raises(ConfigError, match="unknown"):
        PLRNNEM.resolve_config({"latent_dims": 3})


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"latent_dim": "four"}, "latent_dim"),
        ({"restarts": None}, "restarts"),
        ({"ridge": "small"}, "ridge"),
        ({"latent_dims": 3}, "latent_dims"),
        ({"em_iters": [1, 2]}, "em_iters"),
        ({"sigmas": [1.0, 0.1], "em_iters": [1, 2, 3, 4]}, "em_iters"),
        ({"em_iters": [5, 5, -1, 5, 5]}, "em_iters[2]"),
        ({"em_iters": [5, 5, 1.5, 5, 5]}, "em_iters[2]"),
        ({"sigmas": []}, "sigmas"),
        ({"sigmas": [1.0, 0.0, 0.01, 0.001]}, "sigmas[1]"),
        ({"sigmas": [1.0, math.inf, 0.01, 0.001]}, "sigmas[1]"),
        ({"tau": -1}, "tau"),
        ({"tau": math.inf}, "tau"),
        ({"ridge": -1e-6}, "ridge"),
        ({"ridge": math.inf}, "ridge"),
        ({"reg_fraction": 1.5}, "reg_fraction"),
        ({"observation": "poisson"}, "observation"),
        ({"polish_iters": -1}, "polish_iters"),
        ({"max_mode_iters": 0}, "max_mode_iters"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"learn_inputs": "yes"}, "learn_inputs"),
    ],
)
def test_wrong_options_name_the_option(bad, field):
    from neurodyn.errors import ConfigError
    from neurodyn.models.plrnn_em.model import PLRNNEM

    with pytest.raises(ConfigError) as err:
        PLRNNEM.resolve_config(bad)
    assert err.value.field == f"models.plrnn_em.{field}"


def test_options_take_what_a_user_means_and_keep_the_fit_settings_out():
    from neurodyn.models.plrnn_em.model import PLRNNEM

    cfg = PLRNNEM.resolve_config({"family": "plrnn_em", "seed": 1, "device": "cpu", "tau": "1e-2", "reg_fraction": 1})
    assert cfg["tau"] == 0.01 and isinstance(cfg["tau"], float)
    assert cfg["reg_fraction"] == 1.0 and isinstance(cfg["reg_fraction"], float)
    assert "family" not in cfg and "seed" not in cfg and "device" not in cfg
    cfg = PLRNNEM.resolve_config({"sigmas": [1, 0.1], "em_iters": [3, 4.0, 5]})
    assert cfg["sigmas"] == [1.0, 0.1] and cfg["em_iters"] == [3, 4, 5]


def test_defaults_are_the_documented_ones():
    from neurodyn.models.plrnn_em.model import PLRNNEM, PLRNNEMOptions

    expected = {
        "latent_dim": 10,
        "tau": 0.0,
        "reg_fraction": 0.5,
        "tau_scale": "loss",
        "restarts": 4,
        "em_iters": [20, 30, 15, 15, 15],
        "sigmas": [1.0, 0.1, 0.01, 0.001],
        "observation": "relu",
        "learn_inputs": True,
        "ridge": 1e-6,
        "max_mode_iters": 20,
        "polish_iters": 0,
        "checkpoint_every": 5,
        "sample_noise": True,
    }
    resolved = PLRNNEM.resolve_config({})
    assert resolved == expected
    assert list(resolved) == list(expected)  # definition order, as model.json records it
    assert {k: type(v) for k, v in resolved.items()} == {k: type(v) for k, v in expected.items()}
    assert PLRNNEM.resolve_config(None) == expected
    assert all(o.help and "\n" not in o.help for o in PLRNNEMOptions.describe())
