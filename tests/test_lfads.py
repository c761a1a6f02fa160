"""LFADS with a JSLDS co-trained generator (family ``lfads_jslds``): pieces, training and the interface."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from neurodyn.errors import ConfigError, DatasetContractError
from neurodyn.models import load_model
from neurodyn.models.lfads_jslds.model import (
    LFADSJSLDS,
    LFADSJSLDSOptions,
    ar1_log_density,
    gaussian_kl,
)

F64 = torch.float64
TINY = {
    "gen_dim": 12,
    "ic_enc_dim": 8,
    "ic_dim": 4,
    "factors_dim": 3,
    "epochs": 4,
    "batch_size": 8,
    "kl_ramp_epochs": 2,
    "l2_ramp_epochs": 2,
    "l2_gen_scale": 1e-3,
    "dtype": "float64",
    "posterior_samples": 4,
}


def counts_dataset(
    n_trials: int = 30, n_time: int = 20, n_channels: int = 10, seed: int = 0, with_inputs: bool = False
) -> xr.Dataset:
    """Poisson counts driven by a rotating 2-D latent (trials start at random phases)."""
    rng = np.random.default_rng(seed)
    angle = 2 * np.pi * 0.06
    rot = 0.98 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    z = np.zeros((n_trials, n_time, 2))
    z[:, 0] = rng.normal(size=(n_trials, 2)) * 1.5
    for t in range(1, n_time):
        z[:, t] = z[:, t - 1] @ rot.T
    C = rng.normal(size=(n_channels, 2))
    data = rng.poisson(np.exp(0.6 * z @ C.T - 0.5)).astype(np.uint32)
    split = np.array(["train"] * (n_trials - 8) + ["valid"] * 4 + ["test"] * 4, dtype=object)
    heldout = np.zeros(n_channels, bool)
    heldout[-3:] = True
    ds = xr.Dataset(
        {
            "data": (("trial", "time", "channel"), data, {"kind": "counts"}),
            "mask": (("trial", "time", "channel"), np.ones(data.shape, bool)),
            "split": (("trial",), split),
            "heldout": (("channel",), heldout),
        },
        coords={
            "trial": np.arange(n_trials),
            "time": np.arange(n_time) * 0.02,
            "channel": np.array([f"c{i}" for i in range(n_channels)], dtype=object),
        },
        attrs={"bin_size_s": 0.02},
    )
    if with_inputs:
        u = np.zeros((n_trials, n_time, 1), np.float32)
        u[:, 2, 0] = 1.0
        ds["inputs"] = (("trial", "time", "input"), u)
        ds = ds.assign_coords(input=np.array(["pulse"], dtype=object))
    return ds


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"gen_dim": 0}, "gen_dim"),
        ({"keep_prob": 0.0}, "keep_prob"),
        ({"cd_keep": 1.5}, "cd_keep"),
        ({"co_dim": -1}, "co_dim"),
        ({"lambda_a": -1.0}, "lambda_a"),
        ({"jslds": "yes"}, "jslds"),
        ({"valid_drop": 1.0}, "valid_drop"),
        ({"nonsense": 1}, "nonsense"),
        ({"lr": 0}, "lr"),
    ],
)
def test_config_is_checked(bad, field):
    with pytest.raises(ConfigError, match=f"models.lfads_jslds.{field}"):
        LFADSJSLDS.resolve_config(bad)


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"gen_dim": "four"}, "gen_dim"),
        ({"epochs": None}, "epochs"),
        ({"lambda_e": "lots"}, "lambda_e"),
        ({"gen_dims": 4}, "gen_dims"),
        ({"lr": math.inf}, "lr"),
        ({"lambda_a": -math.inf}, "lambda_a"),
        ({"kl_ic_scale": math.inf}, "kl_ic_scale"),
        ({"gen_clip": math.nan}, "gen_clip"),
        ({"dtype": "float16"}, "dtype"),
        ({"keep_prob": 1.01}, "keep_prob"),
        ({"valid_drop": 0}, "valid_drop"),
        ({"kl_ramp_epochs": -1}, "kl_ramp_epochs"),
        ({"patience": 0}, "patience"),
        ({"jslds": 1}, "jslds"),
    ],
)
def test_wrong_options_name_the_option(bad, field):
    with pytest.raises(ConfigError) as err:
        LFADSJSLDS.resolve_config(bad)
    assert err.value.field == f"models.lfads_jslds.{field}"


def test_options_take_what_a_user_means_and_keep_the_fit_settings_out():
    cfg = LFADSJSLDS.resolve_config({"family": "lfads_jslds", "seed": 3, "device": "cpu", "lr": "1e-3", "gen_clip": 5})
    assert cfg["lr"] == 0.001 and isinstance(cfg["lr"], float)
    assert cfg["gen_clip"] == 5.0 and isinstance(cfg["gen_clip"], float)
    assert "family" not in cfg and "seed" not in cfg and "device" not in cfg
    assert LFADSJSLDSOptions.parse({"epochs": 10.0}, "m").epochs == 10


def test_defaults_are_the_documented_ones():
    expected = {
        "gen_dim": 64,
        "ic_enc_dim": 64,
        "ic_dim": 32,
        "ci_enc_dim": 32,
        "con_dim": 32,
        "co_dim": 0,
        "factors_dim": 8,
        "gen_clip": 5.0,
        "keep_prob": 0.98,
        "cd_keep": 0.7,
        "valid_drop": 0.2,
        "ic_prior_var": 0.1,
        "co_prior_tau": 10.0,
        "co_prior_var": 0.1,
        "kl_ic_scale": 1.0,
        "kl_co_scale": 1.0,
        "kl_ramp_epochs": 50,
        "l2_gen_scale": 0.0,
        "l2_con_scale": 0.0,
        "l2_ramp_epochs": 50,
        "jslds": True,
        "lambda_rnn": 1.0,
        "lambda_jslds": 1.0,
        "lambda_e": 100.0,
        "lambda_a": 20.0,
        "epochs": 300,
        "batch_size": 32,
        "lr": 5e-3,
        "lr_end": 1e-4,
        "grad_clip": 200.0,
        "patience": 60,
        "posterior_samples": 16,
        "checkpoint_every": 10,
        "dtype": "float32",
    }
    resolved = LFADSJSLDS.resolve_config({})
    assert resolved == expected
    assert list(resolved) == list(expected)  # definition order, as model.json records it
    assert {k: type(v) for k, v in resolved.items()} == {k: type(v) for k, v in expected.items()}
    assert LFADSJSLDS.resolve_config(None) == expected
    assert all(o.help and "\n" not in o.help for o in LFADSJSLDSOptions.describe())


def test_continuous_data_and_all_heldout_are_refused():
    ds = counts_dataset()
    cont = ds.copy()
    cont["data"] = cont["data"].astype(np.float32)
    cont["data"].attrs["kind"] = "continuous"
    with pytest.raises(DatasetContractError, match="spike counts"):
        LFADSJSLDS.fit(cont, TINY, torch.device("cpu"))
    allout = ds.copy()
    allout["heldout"] = ("channel", np.ones(ds.sizes["channel"], bool))
    with pytest.raises(DatasetContractError, match="held out"):
        LFADSJSLDS.fit(allout, TINY, torch.device("cpu"))


def test_gaussian_kl_matches_monte_carlo_and_is_zero_at_the_prior():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.tensor([[0.3, -1.0]], dtype=F64), torch.tensor([[-0.5, 0.4]], dtype=F64)
    pm, plv = torch.tensor([0.1, 0.2], dtype=F64), torch.tensor([0.0, -1.0], dtype=F64)
    x = mean + torch.exp(0.5 * logvar) * torch.randn(400_000, 2, generator=g, dtype=F64)

    def logn(v, m, lv):
        return (-0.5 * (math.log(2 * math.pi) + lv + (v - m) ** 2 / torch.exp(lv))).sum(-1)

    mc = (logn(x, mean, logvar) - logn(x, pm, plv)).mean()
    assert float(gaussian_kl(mean, logvar, pm, plv)) == pytest.approx(float(mc), abs=5e-3)
    assert float(gaussian_kl(pm[None], plv[None], pm, plv)) == pytest.approx(0.0, abs=1e-12)


def test_ar1_density_equals_the_joint_gaussian():
    """The AR(1) prior's log density equals that of the stationary Gaussian with covariance
    σ² α^|i−j| (one dimension per process)."""
    T, tau, var = 7, 3.0, 0.4
    alpha = math.exp(-1 / tau)
    cov = var * alpha ** np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    u = torch.randn(3, T, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    got = ar1_log_density(u, torch.full((2,), math.log(tau), dtype=F64), torch.full((2,), math.log(var), dtype=F64))
    from scipy.stats import multivariate_normal

    want = [sum(multivariate_normal(np.zeros(T), cov).logpdf(u[b, :, d].numpy()) for d in range(2)) for b in range(3)]
    assert np.allclose(got.numpy(), want, atol=1e-9)


@pytest.mark.parametrize("options", [{"jslds": True}, {"jslds": False, "co_dim": 2}, {"co_dim": 2}])
def test_fit_roundtrip_sampling_and_dynamics(options, tmp_path):
    ds = counts_dataset(with_inputs=True)
    model = LFADSJSLDS.fit(ds, {**TINY, **options, "seed": 1}, torch.device("cpu"))
    history = np.asarray(model.meta["history"])
    assert history.shape == (4, 6) and np.isfinite(history[:, 1:3]).all()
    # training curves per epoch: losses, the JSLDS terms when co-trained, the (decaying) learning rate
    curves = model.training_curves()
    assert curves["x"] == "epoch" and curves["steps"] == [1, 2, 3, 4]
    labels = list(curves["series"])
    assert [label.split(" (")[0] for label in labels[:2]] == ["training loss", "validation loss"]
    assert any(label.startswith("JSLDS") for label in labels) == bool(options.get("jslds", True))
    lr = curves["series"]["learning rate"]
    assert lr == sorted(lr, reverse=True) and lr[0] < TINY.get("lr", 5e-3)
    assert curves["higher_is_better"] == {label: False for label in labels if label != "learning rate"}
    post = model.posterior(ds)
    assert post["latents"].shape == (30, 20, 12) and (post["prediction"].values > 0).all()
    assert ("jslds_latents" in post) == bool(options.get("jslds", True))
    assert ("inferred_inputs" in post) == ("co_dim" in options)
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, LFADSJSLDS)
    xr.testing.assert_allclose(again.posterior(ds), post)
    gen = again.sample(5, 25, seed=2)
    assert gen["data"].shape == (5, 25, 10) and np.isfinite(gen["prediction"].values).all()
    assert again.sample(5, 25, seed=2)["data"].equals(gen["data"])
    dyn = again.dynamics()
    assert dyn.latent_dim == 12 and dyn.input_dim == 1 + options.get("co_dim", 0)
    # the map is the generator: one step from the posterior states with zero input
    h = torch.as_tensor(post["latents"].values[:, 0])
    stepped = dyn.step(h, torch.zeros(dyn.input_dim, dtype=F64))
    net = again.net()
    assert torch.allclose(stepped, net.gen_step(h, torch.zeros(30, dyn.input_dim, dtype=F64)))


def test_jslds_branch_tracks_the_generator_and_regularisers_shrink():
    ds = counts_dataset(seed=3)
    cfg = {**TINY, "epochs": 25, "lr": 1e-2, "seed": 0}
    model = LFADSJSLDS.fit(ds, cfg, torch.device("cpu"))
    history = np.asarray(model.meta["history"])
    # mean ‖h − a‖² and mean ‖F(e*) − e*‖² fall during training
    assert history[-5:, 3].mean() < 0.5 * history[:3, 3].mean()
    assert history[-5:, 4].mean() < 0.5 * history[:3, 4].mean()
    post = model.posterior(ds)
    h, a = post["latents"].values, post["jslds_latents"].values
    rel = np.linalg.norm(h - a, axis=-1) / np.linalg.norm(h, axis=-1)
    assert rel.mean() < 0.5


def test_killed_fit_resumes_from_checkpoint(tmp_path, monkeypatch):
    from neurodyn.models.lfads_jslds import model as lfads

    ds = counts_dataset(seed=4)
    cfg = {**TINY, "epochs": 6, "checkpoint_every": 2, "seed": 5}
    full = LFADSJSLDS.fit(ds, cfg, torch.device("cpu"))
    calls = {"n": 0}
    original = lfads._loss_terms

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 18:  # part-way through epoch 5 (3 training batches + 1 validation per epoch)
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(lfads, "_loss_terms", dying)
    with pytest.raises(KeyboardInterrupt):
        LFADSJSLDS.fit(ds, cfg, torch.device("cpu"), checkpoint_dir=tmp_path)
    monkeypatch.setattr(lfads, "_loss_terms", original)
    assert (tmp_path / "checkpoint.pt").is_file()
    resumed = LFADSJSLDS.fit(ds, cfg, torch.device("cpu"), checkpoint_dir=tmp_path, resume=True)
    assert np.allclose(resumed.meta["history"], full.meta["history"], atol=1e-10)
    for key, value in full.tensors.items():
        assert torch.allclose(resumed.tensors[key], value, atol=1e-10), key


def test_early_stopping_keeps_the_best_validation_epoch():
    ds = counts_dataset(seed=6)
    model = LFADSJSLDS.fit(ds, {**TINY, "epochs": 40, "patience": 3, "lr": 5e-2, "seed": 2}, torch.device("cpu"))
    fit = model.meta["fit"]
    history = np.asarray(model.meta["history"])
    eligible = history[history[:, 0] >= 2]
    assert fit["best_epoch"] == int(eligible[np.argmin(eligible[:, 2]), 0])
    assert fit["stopped_early"] == (len(history) < 40)
    if fit["stopped_early"]:
        assert len(history) - fit["best_epoch"] == 3


@pytest.mark.gpu
def test_fit_on_cuda():
    ds = counts_dataset()
    model = LFADSJSLDS.fit(ds, {**TINY, "dtype": "float32"}, torch.device("cuda"))
    assert model.device.type == "cuda"
    post = model.posterior(ds)
    assert np.isfinite(post["prediction"].values).all()


def demo_spikes_dataset(tmp_path) -> xr.Dataset:
    """The default workflow's spiking dataset (config/config.yaml, ``demo_spikes``), built with the
    workflow's own stages: teacher recording → NWB → binned store."""
    import yaml
    from conftest import REPO

    from neurodyn.data.dataset import open_dataset
    from neurodyn.stages import bin_stage, ingest_stage, synthesize_stage

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    files = synthesize_stage(config["synthetic"]["demo"], tmp_path / "synthetic")
    dataset_cfg = config["datasets"]["demo_spikes"]
    recording = ingest_stage(files["nwb"], dataset_cfg["source"], tmp_path / "recording.zarr")
    return open_dataset(bin_stage(recording, dataset_cfg, tmp_path / "dataset.zarr"))


def test_lfads_beats_the_baseline_co_smoothing_on_the_teacher_dataset(tmp_path):
    """On the synthetic teacher's spikes, LFADS predicts the held-out units better (co-bps on the
    test trials) than the PCA + LDS baseline with the default workflow's settings."""
    import yaml
    from conftest import REPO

    from neurodyn.analysis.evaluate import evaluate
    from neurodyn.models import get_family

    torch.set_num_threads(1)
    ds = demo_spikes_dataset(tmp_path)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    analysis = {**config["analysis"], "distill": False}
    baseline = get_family("lds").fit(
        ds, {k: v for k, v in config["models"]["lds"].items() if k != "gpus"}, torch.device("cpu")
    )
    lfads = LFADSJSLDS.fit(
        ds,
        {
            "gen_dim": 32,
            "ic_enc_dim": 32,
            "ic_dim": 16,
            "factors_dim": 6,
            "epochs": 200,
            "batch_size": 16,
            "lr": 0.02,
            "kl_ramp_epochs": 20,
            "patience": 30,
            "jslds": False,
            "seed": 0,
        },
        torch.device("cpu"),
    )
    base_bps = evaluate(baseline, ds, analysis).metrics["co_bps"]
    lfads_bps = evaluate(lfads, ds, analysis).metrics["co_bps"]
    assert lfads_bps > base_bps > 0.05, (lfads_bps, base_bps)
