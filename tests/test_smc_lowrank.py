"""Variational SMC for stochastic low-rank RNNs: the filter, the bound, training and the interface."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from neurodyn.errors import ConfigError
from neurodyn.models import load_model
from neurodyn.models.smc_lowrank.core import (
    LowRankSSM,
    backward_simulation,
    genealogy_paths,
    kalman_log_likelihood,
    smc,
    transition_mean,
)
from neurodyn.models.smc_lowrank.model import SMCLowRank, SMCLowRankOptions
from neurodyn.models.structure import LowRankPiecewiseLinear

F64 = torch.float64


def linear_regime_model(
    seed: int = 0, U: int = 6, R: int = 2, D: int = 5
) -> tuple[LowRankSSM, torch.Tensor, torch.Tensor]:
    """A relu low-rank SSM whose units never leave the linear part (h ≫ |M z|), and its affine
    equivalent A, b: z' = (aI + NᵀM) z + Nᵀh. N ⟂ h keeps the drift at zero so states stay small."""
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(U, R, generator=g, dtype=F64)
    N = 0.05 * torch.randn(U, R, generator=g, dtype=F64)
    N = N - N.mean(0)
    h = torch.full((U,), 50.0, dtype=F64)
    p = LowRankSSM(
        M=M,
        N=N,
        h=h,
        a=torch.tensor(0.8, dtype=F64),
        W_u=None,
        Q_chol=torch.linalg.cholesky(torch.tensor([[0.2, 0.05], [0.05, 0.1]], dtype=F64)),
        z0_mean=torch.tensor([0.3, -0.2], dtype=F64),
        z0_chol=0.5 * torch.eye(R, dtype=F64),
        C=torch.randn(D, R, generator=g, dtype=F64),
        d=torch.randn(D, generator=g, dtype=F64),
        obs_var=torch.rand(D, generator=g, dtype=F64) + 0.2,
        nonlinearity="relu",
    )
    A = p.a * torch.eye(R, dtype=F64) + N.T @ M
    return p, A, N.T @ h


def simulate(p: LowRankSSM, B: int, T: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    R, D = p.rank, p.C.shape[0]
    z = p.z0_mean + torch.randn(B, R, generator=g, dtype=F64) @ p.z0_chol.T
    ys = []
    for t in range(T):
        if t:
            z = transition_mean(z, None, p) + torch.randn(B, R, generator=g, dtype=F64) @ p.Q_chol.T
        ys.append(z @ p.C.T + p.d + torch.randn(B, D, generator=g, dtype=F64) * p.obs_var.sqrt())
    return torch.stack(ys, 1)


def kalman(p, A, b, y):
    return kalman_log_likelihood(
        y, A, b, p.Q_chol @ p.Q_chol.T, p.C, p.d, p.obs_var, p.z0_mean, p.z0_chol @ p.z0_chol.T
    )


@pytest.mark.parametrize(
    ("proposal", "resample", "particles"),
    [("optimal", "always", 300), ("optimal", "never", 300), ("optimal", "ess", 300), ("bootstrap", "always", 2000)],
)
def test_smc_matches_kalman_filter_within_monte_carlo_error(proposal, resample, particles):
    p, A, b = linear_regime_model()
    y = simulate(p, B=2, T=15)
    exact = kalman(p, A, b, y)
    runs = torch.stack(
        [
            smc(
                y,
                torch.ones_like(y),
                None,
                p,
                n_particles=particles,
                proposal=proposal,
                resample=resample,
                generator=torch.Generator().manual_seed(s),
            ).log_marginal.sum(1)
            for s in range(12)
        ]
    )
    # Ẑ is unbiased: compare log of the mean of Ẑ/Z_exact with its Monte Carlo error
    mean, se = runs.mean(0), runs.std(0) / math.sqrt(runs.shape[0])
    assert torch.all((mean - exact).abs() < 4 * se + 0.05), (mean, exact, se)
    assert torch.all(runs.std(0) < 1.0)


def test_no_resampling_weights_accumulate():
    """Without resampling the bound is still a valid estimate (weights carry over); a filter that
    reset weights every step would be off by many nats here."""
    p, A, b = linear_regime_model(seed=3)
    y = simulate(p, B=1, T=25, seed=4)
    exact = float(kalman(p, A, b, y))
    est = smc(
        y,
        torch.ones_like(y),
        None,
        p,
        n_particles=20000,
        proposal="bootstrap",
        resample="never",
        generator=torch.Generator().manual_seed(0),
    ).log_marginal.sum()
    assert float(est) <= exact + 0.5
    assert float(est) > exact - 15
    # the single-step weights alone (no carry-over) give a different number
    res = smc(
        y,
        torch.ones_like(y),
        None,
        p,
        n_particles=20000,
        proposal="bootstrap",
        resample="always",
        generator=torch.Generator().manual_seed(0),
    )
    assert abs(float(res.log_marginal.sum()) - exact) < 2.0


def test_bound_gradient_matches_finite_differences():
    """With the random numbers fixed, the estimate is a smooth function of the parameters between
    resampling events; autograd (ancestors detached) must equal central differences."""
    p, _, _ = linear_regime_model(seed=5, U=4)
    y = simulate(p, B=2, T=6, seed=6)
    params = {"M": p.M.clone(), "N": p.N.clone(), "C": p.C.clone(), "q": p.Q_chol.clone()}

    def bound(M, N, C, q):
        model = LowRankSSM(**{**p.__dict__, "M": M, "N": N, "C": C, "Q_chol": q})
        res = smc(
            y,
            torch.ones_like(y),
            None,
            model,
            n_particles=8,
            proposal="optimal",
            generator=torch.Generator().manual_seed(11),
        )
        return res.log_marginal.sum(1).mean() / y.shape[1]

    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    value = bound(**leaves)
    assert torch.isfinite(value)
    value.backward()
    eps = 1e-6
    for name, leaf in leaves.items():
        for idx in [(0, 0), (1, 1), (leaf.shape[0] - 1, 0)]:
            plus = {k: v.clone() for k, v in params.items()}
            minus = {k: v.clone() for k, v in params.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            fd = (bound(**plus) - bound(**minus)) / (2 * eps)
            assert float(leaf.grad[idx]) == pytest.approx(float(fd), rel=1e-4, abs=1e-6), (name, idx)


def test_smoothers_shapes_and_consistency():
    p, _, _ = linear_regime_model(seed=7)
    y = simulate(p, B=3, T=10, seed=8)
    res = smc(
        y,
        torch.ones_like(y),
        None,
        p,
        n_particles=64,
        proposal="optimal",
        generator=torch.Generator().manual_seed(0),
        keep_particles=True,
    )
    paths, w = genealogy_paths(res)
    assert paths.shape == (3, 64, 10, 2) and torch.allclose(w.sum(-1), torch.ones(3, dtype=F64))
    # the last step of the genealogy smoother is the filter
    assert torch.allclose((w[..., None] * paths[:, :, -1]).sum(1), res.filtered[:, -1])
    draws = backward_simulation(res, None, p, 16, torch.Generator().manual_seed(1))
    assert draws.shape == (3, 16, 10, 2)
    assert torch.isfinite(draws).all()


def test_config_is_checked():
    resolve = SMCLowRank.resolve_config
    with pytest.raises(ConfigError, match="nonlinearity"):
        resolve({"nonlinearity": "sigmoid"})
    with pytest.raises(ConfigError, match="particles"):
        resolve({"particles": 0})
    with pytest.raises(ConfigError, match="rnak"):
        resolve({"rnak": 2})
    with pytest.raises(ConfigError, match="proposal"):
        resolve({"observation": "poisson", "proposal": "optimal"})
    with pytest.raises(ConfigError, match="encoder"):
        resolve({"encoder_kernels": [5, 1], "encoder_channels": [8, 8]})


@pytest.mark.parametrize(
    ("given", "option"),
    [
        ({"rank": "four"}, "rank"),
        ({"rank": None}, "rank"),
        ({"lr": "x"}, "lr"),
        ({"ranks": 2}, "ranks"),
        ({"window_steps": 1}, "window_steps"),
        ({"windows_per_epoch": 0}, "windows_per_epoch"),
        ({"init_decay": 1.0}, "init_decay"),
        ({"init_decay": 0}, "init_decay"),
        ({"ess_threshold": 0}, "ess_threshold"),
        ({"ess_threshold": 1.5}, "ess_threshold"),
        ({"lr_end": 0}, "lr_end"),
        ({"init_noise": -0.1}, "init_noise"),
        ({"grad_clip": 0}, "grad_clip"),
        ({"encoder_kernels": []}, "encoder_kernels"),
        ({"encoder_kernels": [5, 0, 1]}, "encoder_kernels[1]"),
        ({"encoder_channels": [8, 0]}, "encoder_channels[1]"),
        ({"encoder_channels": [8]}, "encoder_channels"),
        ({"observation": "poisson", "proposal": "optimal"}, "proposal"),
        ({"filter_inputs": "yes"}, "filter_inputs"),
        ({"epochs": 2.5}, "epochs"),
    ],
)
def test_wrong_options_name_the_option(given, option):
    with pytest.raises(ConfigError) as err:
        SMCLowRank.resolve_config(given)
    assert err.value.field == f"models.smc_lowrank.{option}"


def test_options_parse_what_is_meant():
    cfg = SMCLowRank.resolve_config({"lr": "1e-3", "lr_end": 1, "epochs": 5.0, "family": "smc_lowrank", "seed": 3})
    assert cfg["lr"] == 0.001 and isinstance(cfg["lr"], float)
    assert cfg["lr_end"] == 1.0 and isinstance(cfg["lr_end"], float)
    assert cfg["epochs"] == 5 and isinstance(cfg["epochs"], int)
    assert "family" not in cfg and "seed" not in cfg and "device" not in cfg
    assert SMCLowRank.Options is SMCLowRankOptions


def test_defaults_are_the_former_defaults():
    expected = {
        "rank": 2,
        "n_units": 64,
        "nonlinearity": "clipped",
        "observation": "auto",
        "poisson_link": "softplus",
        "proposal": "auto",
        "noise_cov": "full",
        "particles": 16,
        "epochs": 100,
        "batch_size": 16,
        "window_steps": None,
        "windows_per_epoch": None,
        "lr": 1e-3,
        "lr_end": 1e-5,
        "optimizer": "radam",
        "grad_clip": 10.0,
        "resample": "always",
        "ess_threshold": 0.5,
        "init_decay": 0.9,
        "init_noise": 0.1,
        "init_readout": "pca",
        "filter_inputs": False,
        "encoder_kernels": [11, 5, 1],
        "encoder_channels": [32, 32],
        "eval_particles": 64,
        "smoother": "genealogy",
        "smoother_draws": 32,
        "checkpoint_every": 10,
        "orthonormalise": True,
        "dtype": "float32",
        "engine": "fused",
    }
    cfg = SMCLowRank.resolve_config({})
    assert cfg == expected
    assert list(cfg) == list(expected)  # the order model.json records
    assert SMCLowRankOptions.defaults() == expected
    # every option has its one line of help
    assert all(o.help and "\n" not in o.help for o in SMCLowRankOptions.describe())


# --- fitting on small real datasets --------------------------------------------------------------


def small_dataset(kind: str, n_trials: int = 24, n_time: int = 30, n_channels: int = 10, seed: int = 0) -> xr.Dataset:
    """A dataset of the contract generated by a rotating 2-D latent (counts or continuous)."""
    rng = np.random.default_rng(seed)
    angle = 2 * np.pi * 0.05
    rot = 0.97 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    z = np.zeros((n_trials, n_time, 2))
    z[:, 0] = rng.normal(size=(n_trials, 2))
    for t in range(1, n_time):
        z[:, t] = z[:, t - 1] @ rot.T + 0.1 * rng.normal(size=(n_trials, 2))
    C = rng.normal(size=(n_channels, 2))
    if kind == "counts":
        data = rng.poisson(np.exp(0.5 * z @ C.T - 1.0)).astype(np.uint32)
    else:
        data = (z @ C.T + 0.3 * rng.normal(size=(n_trials, n_time, n_channels))).astype(np.float32)
    split = np.array(["train"] * (n_trials - 6) + ["valid"] * 3 + ["test"] * 3, dtype=object)
    heldout = np.zeros(n_channels, bool)
    heldout[-2:] = True
    return xr.Dataset(
        {
            "data": (("trial", "time", "channel"), data, {"kind": kind}),
            "mask": (("trial", "time", "channel"), np.ones(data.shape, bool)),
            "split": (("trial",), split),
            "heldout": (("channel",), heldout),
            "condition": (("trial",), np.array(["a", "b"] * (n_trials // 2), dtype=object)),
        },
        coords={
            "trial": np.arange(n_trials),
            "time": np.arange(n_time) * 0.02,
            "channel": np.array([f"c{i}" for i in range(n_channels)], dtype=object),
        },
        attrs={"bin_size_s": 0.02},
    )


FAST = {
    "rank": 2,
    "n_units": 12,
    "particles": 8,
    "epochs": 6,
    "batch_size": 6,
    "lr": 1e-2,
    "lr_end": 1e-3,
    "eval_particles": 16,
    "encoder_kernels": [5, 1],
    "encoder_channels": [8],
    "dtype": "float64",
}


@pytest.mark.parametrize("kind", ["counts", "continuous"])
def test_fit_improves_bound_and_roundtrips(kind, tmp_path):
    ds = small_dataset(kind)
    model = SMCLowRank.fit(ds, {**FAST, "seed": 1}, torch.device("cpu"))
    history = np.asarray(model.meta["history"])
    assert history.shape == (6, 4)
    assert history[-1, 1] > history[0, 1]
    # the learning rate at each epoch's end decays exponentially from lr towards lr_end
    np.testing.assert_allclose(history[:, 3], FAST["lr"] * (FAST["lr_end"] / FAST["lr"]) ** (history[:, 0] / 6))
    curves = model.training_curves()
    assert curves["x"] == "epoch" and curves["steps"] == list(range(1, 7))
    assert [len(v) for v in curves["series"].values()] == [6, 6, 6]
    assert list(curves["higher_is_better"].values()) == [True, True]  # the bounds; the learning rate has no direction
    assert model.meta["proposal"] == ("encoder" if kind == "counts" else "optimal")
    # orthonormalised basis: M has orthonormal columns
    M = model.tensors["M"]
    assert torch.allclose(M.T @ M, torch.eye(2, dtype=M.dtype), atol=1e-8)
    post = model.posterior(ds)
    assert post["latents"].shape == (24, 30, 2) and np.isfinite(post["prediction"].values).all()
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, SMCLowRank)
    xr.testing.assert_allclose(again.posterior(ds), post)
    gen = again.sample(4, 20, seed=3)
    assert gen["data"].shape == (4, 20, 10)
    dyn = again.dynamics()
    assert isinstance(dyn.structure, LowRankPiecewiseLinear) and dyn.structure.nonlinearity == "clipped"
    arrays = dyn.structure.archive()
    assert arrays["M"].shape == (12, 2) and str(arrays["nonlinearity"]) == "clipped"
    assert str(arrays["structure"]) == "lowrank_piecewise_linear"


def test_orthonormalisation_leaves_the_model_unchanged():
    ds = small_dataset("continuous", seed=2)
    model = SMCLowRank.fit(ds, {**FAST, "orthonormalise": False, "smoother": "filter"}, torch.device("cpu"))
    before = model.ssm()
    z = torch.randn(50, 2, dtype=F64)
    post_before = model.posterior(ds, n_particles=500)
    post_other_seed = model.posterior(ds, n_particles=500, seed=1)
    model.orthonormalise()
    after = model.ssm()
    T = model.tensors["latent_basis"]
    # same unit activity, same map, same observations, for corresponding states z' = T z
    assert torch.allclose(z @ before.M.T, (z @ T.T) @ after.M.T, atol=1e-10)
    assert torch.allclose(transition_mean(z, None, before) @ T.T, transition_mean(z @ T.T, None, after), atol=1e-10)
    assert torch.allclose(z @ before.C.T, (z @ T.T) @ after.C.T, atol=1e-10)
    assert torch.allclose(T @ before.Q_chol @ before.Q_chol.T @ T.T, after.Q_chol @ after.Q_chol.T, atol=1e-10)
    # the filter's likelihood and predictions agree up to Monte Carlo error (measured by reseeding)
    post_after = model.posterior(ds, n_particles=500)
    for name in ("log_likelihood_per_step", "prediction"):
        mc_noise = float(np.abs(post_other_seed[name].values - post_before[name].values).mean())
        basis_change = float(np.abs(post_after[name].values - post_before[name].values).mean())
        assert basis_change < 3 * mc_noise + 1e-9, (name, basis_change, mc_noise)


def test_killed_fit_resumes_from_checkpoint(tmp_path, monkeypatch):
    ds = small_dataset("continuous", seed=4)
    cfg = {**FAST, "checkpoint_every": 2, "seed": 5}
    full = SMCLowRank.fit(ds, cfg, torch.device("cpu"))

    calls = {"n": 0}
    original = SMCLowRank._bound

    def dying(self, *args, **kwargs):
        calls["n"] += 1
        if kwargs.get("net") is not None and calls["n"] > 13:  # part-way through epoch 4
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SMCLowRank, "_bound", dying)
    with pytest.raises(KeyboardInterrupt):
        SMCLowRank.fit(ds, cfg, torch.device("cpu"), checkpoint_dir=tmp_path)
    monkeypatch.setattr(SMCLowRank, "_bound", original)
    assert (tmp_path / "checkpoint.pt").is_file()
    resumed = SMCLowRank.fit(ds, cfg, torch.device("cpu"), checkpoint_dir=tmp_path, resume=True)
    assert resumed.meta["history"][0] == full.meta["history"][0]
    for key in ("M", "N", "h", "C", "Q_chol"):
        assert torch.allclose(resumed.tensors[key], full.tensors[key], atol=1e-10), key


@pytest.mark.slow
def test_student_recovers_teacher_stable_fixed_points_and_rhythm(tmp_path):
    """The default workflow's student (config/config.yaml, model `smc`) on the synthetic teacher:
    same number of stable fixed points as the teacher, and free-running latents oscillating near
    the teacher's limit-cycle frequency."""
    import json

    import yaml
    from conftest import REPO

    from neurodyn.analysis.evaluate import evaluate
    from neurodyn.data.dataset import open_dataset
    from neurodyn.stages import bin_stage, ingest_stage, synthesize_stage

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    files = synthesize_stage(config["synthetic"]["demo"], tmp_path / "synthetic")
    spikes = config["datasets"]["demo_spikes"]
    recording = ingest_stage(files["nwb"], spikes["source"], tmp_path / "recording.zarr")
    dataset = open_dataset(bin_stage(recording, spikes, tmp_path / "dataset.zarr"))
    model_cfg = {k: v for k, v in config["models"]["smc"].items() if k != "gpus"}
    model = SMCLowRank.fit(dataset, model_cfg, torch.device("cpu"))
    result = evaluate(model, dataset, config["analysis"])
    teacher = json.loads(files["teacher_json"].read_text())
    assert result.metrics["n_stable_fixed_points"] == sum(p["stable"] for p in teacher["fixed_points"])
    assert result.metrics["co_bps"] > 0.1
    sample = model.sample(20, 500, inputs=torch.zeros(20, 500, len(model.meta["inputs"])), seed=0)
    z = sample["latents"].values[:, 100:]
    freqs = np.fft.rfftfreq(z.shape[1], model.meta["bin_size_s"])
    power = (np.abs(np.fft.rfft(z - z.mean(1, keepdims=True), axis=1)) ** 2).mean((0, 2))
    peak = freqs[1:][power[1:].argmax()]
    assert peak == pytest.approx(teacher["limit_cycle"]["frequency_hz"], rel=0.15)


def test_export_weights_then_fixed_points_command(tmp_path, capsys):
    """A fitted model → `neurodyn export-weights` → `neurodyn fixed-points`: the same fixed points
    as the analysis finds on the model itself."""
    import json

    from neurodyn.analysis.fixed_points import find_fixed_points
    from neurodyn.cli import main

    ds = small_dataset("continuous", seed=6)
    model = SMCLowRank.fit(ds, {**FAST, "epochs": 2}, torch.device("cpu"))
    model.save(tmp_path / "model")
    assert main(["export-weights", str(tmp_path / "model"), str(tmp_path / "w.npz")]) == 0
    capsys.readouterr()
    assert main(["fixed-points", str(tmp_path / "w.npz"), "--out", str(tmp_path / "fp.json")]) == 0
    report = json.loads((tmp_path / "fp.json").read_text())
    assert report["n_linear_solves"] >= report["n_regions"] >= 1
    direct = find_fixed_points(load_model(tmp_path / "model").dynamics())
    assert len(report["fixed_points"]) == len(direct)
    got = sorted(tuple(np.round(p["z"], 6)) for p in report["fixed_points"])
    want = sorted(tuple(np.round(p.z, 6)) for p in direct)
    assert np.allclose(got, want, atol=1e-6)
    # not a model of this family: one clear error
    assert main(["export-weights", str(tmp_path / "nothing"), str(tmp_path / "x.npz")]) == 1
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.shared_data
def test_long_protocol_reproduces_the_published_smoothed_eeg(eeg_s001r01):
    """Our reference pipeline (EDF → z-score → causal Hann(15) → z-score) equals the published
    dynamical-systems-reconstruction array of S001R01 (../shared/data/dsr), so D_stsp and D_H
    are computed on the same data as the published figures."""
    from conftest import shared_file

    from neurodyn.analysis.evaluate import long_protocol
    from neurodyn.data.binned import BinningOptions, bin_recording
    from neurodyn.io.registry import read_source

    published = np.load(shared_file(eeg_s001r01.parents[2] / "dsr" / "EEG_S001R01_smoothed_zscored.npy"))
    opts = BinningOptions.from_config(
        {"bin_size_s": None, "segment": "continuous", "zscore": True}, None, {"fraction": 0.0}
    )
    ds = bin_recording(read_source(eeg_s001r01), opts)
    x = ds["data"].values[0, : published.shape[0]].astype(np.float64)
    ours, _ = long_protocol(x, x, 0, {"hann_window": 15, "zscore": True})
    assert ours.shape == published.shape
    # the first window − 1 steps depend on how the start is padded; after that the arrays agree
    assert np.abs(ours[15:] - published[15:]).max() < 0.01
    assert np.corrcoef(ours[15:].ravel(), published[15:].ravel())[0, 1] > 0.9999


def test_input_drive_low_pass_and_options():
    from neurodyn.models.smc_lowrank.model import input_drive

    u = torch.zeros(1, 6, 1, dtype=F64)
    u[0, 0, 0] = 1.0
    W = torch.ones(3, 1, dtype=F64)
    a = torch.tensor(0.5, dtype=F64)
    plain = input_drive(u, W, a, filtered=False)
    low = input_drive(u, W, a, filtered=True)
    assert torch.allclose(plain[0, :, 0], u[0, :, 0])
    # ũ_t = a ũ_{t−1} + (1 − a) u_t: an impulse decays by a per step
    assert torch.allclose(low[0, :, 0], 0.5 * 0.5 ** torch.arange(6, dtype=F64))


@pytest.mark.parametrize(
    "options",
    [
        {"nonlinearity": "tanh"},
        {"nonlinearity": "relu", "poisson_link": "exp", "noise_cov": "diagonal"},
        {"proposal": "bootstrap", "resample": "ess", "smoother": "backward", "optimizer": "adam"},
    ],
)
def test_other_options_fit_and_analyse(options):
    from neurodyn.analysis.fixed_points import find_fixed_points

    ds = small_dataset("counts", seed=9)
    model = SMCLowRank.fit(ds, {**FAST, "epochs": 2, **options}, torch.device("cpu"))
    post = model.posterior(ds)
    assert np.isfinite(post["prediction"].values).all() and (post["prediction"].values >= 0).all()
    dyn = model.dynamics()
    states = torch.as_tensor(post["latents"].values.reshape(-1, 2)[:200])
    points = find_fixed_points(dyn, states=states)
    for p in points:
        z = torch.as_tensor(p.z)
        assert torch.allclose(dyn.step(z[None])[0], z, atol=1e-6)
    if options.get("nonlinearity") == "tanh":
        # searched numerically over the box |z_r| ≤ Σᵢ|N_ir| / (1 − a_r) that holds every fixed point
        region = dyn.fixed_point_region(None)
        assert dyn.structure is None and all(p.method == "newton" and p.found_by for p in points)
        assert all(
            bool(((torch.as_tensor(p.z) >= region.lo) & (torch.as_tensor(p.z) <= region.hi)).all()) for p in points
        )
        p_ = model.ssm().to(torch.float64)
        torch.testing.assert_close(region.hi, p_.N.abs().sum(0) / (1 - p_.a))


@pytest.mark.gpu
def test_fit_on_cuda_matches_cpu_bound_scale():
    ds = small_dataset("continuous", seed=10)
    cfg = {**FAST, "epochs": 3, "seed": 2}
    gpu = SMCLowRank.fit(ds, cfg, torch.device("cuda"))
    cpu = SMCLowRank.fit(ds, cfg, torch.device("cpu"))
    assert gpu.tensors["M"].device.type == "cuda"
    # different random streams, same model and data: bounds of the same size
    assert abs(gpu.meta["history"][-1][1] - cpu.meta["history"][-1][1]) < 0.2 * abs(cpu.meta["history"][-1][1])
    post = gpu.posterior(ds)
    assert np.isfinite(post["prediction"].values).all()
