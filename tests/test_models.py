"""The model interface through the LDS baseline, readouts, fixed points and spectra."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from neurodyn.analysis.fixed_points import classify, find_fixed_points
from neurodyn.analysis.fixed_points.affine import affine_fixed_point
from neurodyn.analysis.spectral import discrete_to_continuous, eigen_timescales
from neurodyn.data.dataset import build_dataset
from neurodyn.errors import ConfigError, DatasetContractError, InputFileError
from neurodyn.models import get_family, load_model
from neurodyn.models.lds import LDSBaseline, LDSOptions
from neurodyn.models.readout import fit_gaussian_readout, fit_poisson_glm

CPU = torch.device("cpu")


def linear_system_dataset(kind: str, *, n_trials=60, n_time=80, n_channels=24, seed=0, dt=0.01):
    """Trials of a 2-D rotating, decaying latent read out linearly (continuous) or as Poisson."""
    rng = np.random.default_rng(seed)
    radius, angle = 0.97, 2 * np.pi * 5.0 * dt  # 5 Hz rotation, tau = -dt / ln 0.97
    A = radius * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    z = np.zeros((n_trials, n_time, 2))
    z[:, 0] = rng.normal(size=(n_trials, 2)) * 2
    for t in range(1, n_time):
        z[:, t] = z[:, t - 1] @ A.T + 0.1 * rng.normal(size=(n_trials, 2))
    C = rng.normal(size=(n_channels, 2))
    if kind == "continuous":
        truth = z @ C.T
        data = (truth + 0.05 * rng.normal(size=(n_trials, n_time, n_channels))).astype(np.float32)
        units = "uV"
    else:
        truth = np.exp(0.3 * z @ C.T + np.log(0.5))
        data = rng.poisson(truth).astype(np.uint16)
        units = "count"
    split = np.where(np.arange(n_trials) % 5 == 0, "test", "train")
    ds = build_dataset(
        data=data,
        kind=kind,
        data_units=units,
        time=np.arange(n_time) * dt + dt / 2,
        trial_ids=np.arange(n_trials),
        channel_ids=np.arange(n_channels),
        heldout=np.arange(n_channels) % 4 == 0,
        split=split,
        mask=np.ones(data.shape, bool),
        align_times=np.arange(n_trials) * 2.0,
        attrs={
            "bin_size_s": dt,
            "align_event": "start",
            "source": "simulated",
            "source_sha256": "-",
            "config_hash": "-",
        },
    )
    ds["truth"] = (("trial", "time", "channel"), truth, {"units": units, "long_name": "generating mean"})
    return ds, A


@pytest.mark.parametrize(
    ("given", "option"),
    [
        ({"latent_dim": "four"}, "latent_dim"),
        ({"latent_dim": None}, "latent_dim"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"latent_dim": 2.5}, "latent_dim"),
        ({"smoothing_s": "x"}, "smoothing_s"),
        ({"smoothing_s": -0.01}, "smoothing_s"),
        ({"ridge": -1}, "ridge"),
        ({"readout_l2": -1e-3}, "readout_l2"),
        ({"transform": "log"}, "transform"),
        ({"latent_dims": 3}, "latent_dims"),
    ],
)
def test_lds_wrong_options_name_the_option(given, option):
    with pytest.raises(ConfigError) as err:
        get_family("lds").resolve_config(given)
    assert err.value.field == f"models.lds.{option}"


def test_lds_options_parse_what_is_meant():
    cfg = LDSBaseline.resolve_config({"ridge": "1e-3", "smoothing_s": 0, "latent_dim": 4.0, "family": "lds", "seed": 1})
    assert cfg["ridge"] == 0.001 and isinstance(cfg["ridge"], float)
    assert cfg["smoothing_s"] == 0.0 and isinstance(cfg["smoothing_s"], float)
    assert cfg["latent_dim"] == 4 and isinstance(cfg["latent_dim"], int)
    assert "family" not in cfg and "seed" not in cfg
    assert LDSBaseline.Options is LDSOptions


def test_lds_defaults_are_the_former_defaults():
    expected = {"latent_dim": 6, "smoothing_s": 0.05, "transform": "auto", "ridge": 1e-4, "readout_l2": 1e-3}
    cfg = LDSBaseline.resolve_config({})
    assert cfg == expected and list(cfg) == list(expected)
    assert LDSOptions.defaults() == expected
    assert all(o.help and "\n" not in o.help for o in LDSOptions.describe())


def test_lds_records_the_resolved_options():
    ds, _ = linear_system_dataset("continuous", n_trials=10)
    model = get_family("lds").fit(ds, {"latent_dim": 2, "ridge": "1e-3", "seed": 0}, CPU)
    assert model.meta["config"] == {**LDSOptions.defaults(), "latent_dim": 2, "ridge": 0.001}


def test_lds_recovers_eigenvalues_of_a_known_system():
    ds, A = linear_system_dataset("continuous")
    model = get_family("lds").fit(ds, {"latent_dim": 2, "smoothing_s": 0.0}, CPU)
    fitted = np.sort_complex(torch.linalg.eigvals(model.tensors["A"]).numpy())
    true = np.sort_complex(np.linalg.eigvals(A))
    np.testing.assert_allclose(fitted, true, atol=0.01)
    tau, freq = eigen_timescales(fitted, 0.01)
    np.testing.assert_allclose(freq, 5.0, atol=0.2)


def test_lds_poisson_readout_predicts_heldout_channels():
    from neurodyn.analysis.metrics import bits_per_spike

    ds, _ = linear_system_dataset("counts")
    model = get_family("lds").fit(ds, {"latent_dim": 2, "smoothing_s": 0.03}, CPU)
    test = ds.isel(trial=ds["split"].values == "test")
    pred = model.posterior(test)["prediction"].values
    heldout = ds["heldout"].values
    counts = test["data"].values[:, :, heldout]
    oracle = bits_per_spike(counts, test["truth"].values[:, :, heldout])
    achieved = bits_per_spike(counts, pred[:, :, heldout])
    # latents come from smoothed held-in spikes only, so the model cannot reach the oracle,
    # but it must recover a substantial part of the information the generating rates carry
    assert oracle > 0 and 0.5 * oracle < achieved < oracle


def test_save_load_round_trip_and_sampling(tmp_path):
    ds, _ = linear_system_dataset("counts", n_trials=20)
    model = get_family("lds").fit(ds, {"latent_dim": 3}, CPU)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(model.posterior(ds)["prediction"].values, loaded.posterior(ds)["prediction"].values)
    a = loaded.sample(5, 30, seed=3)
    b = loaded.sample(5, 30, seed=3)
    c = loaded.sample(5, 30, seed=4)
    np.testing.assert_array_equal(a["data"].values, b["data"].values)
    assert not np.array_equal(a["data"].values, c["data"].values)
    assert a["data"].shape == (5, 30, 24) and a["data"].dtype == np.uint32
    assert a["latents"].shape == (5, 30, 3)


def test_load_refuses_pickled_objects_and_missing_files(tmp_path):
    ds, _ = linear_system_dataset("counts", n_trials=10)
    get_family("lds").fit(ds, {"latent_dim": 2}, CPU).save(tmp_path / "m")
    torch.save({"A": torch.zeros(2), "payload": {"not": "a tensor", "fn": print}}, tmp_path / "m" / "weights.pt")
    with pytest.raises(InputFileError, match="refusing to unpickle"):
        load_model(tmp_path / "m")
    with pytest.raises(InputFileError, match="not a saved model"):
        load_model(tmp_path)


def test_posterior_refuses_other_channels():
    ds, _ = linear_system_dataset("counts", n_trials=10)
    model = get_family("lds").fit(ds, {"latent_dim": 2}, CPU)
    with pytest.raises(DatasetContractError, match="channels differ"):
        model.posterior(ds.isel(channel=slice(0, 10)))


def test_dynamics_step_and_exact_fixed_point():
    ds, _ = linear_system_dataset("continuous", n_trials=20)
    model = get_family("lds").fit(ds, {"latent_dim": 2, "smoothing_s": 0.0}, CPU)
    dyn = model.dynamics()
    z = torch.randn(7, 2, dtype=torch.float64)
    expected = z @ model.tensors["A"].T + model.tensors["b"]
    torch.testing.assert_close(dyn.step(z, None), expected)
    (point,) = find_fixed_points(dyn)
    z_star = torch.as_tensor(point.z)
    torch.testing.assert_close(dyn.step(z_star[None], None)[0], z_star)
    assert point.stable and classify(point.eigenvalues) == "stable spiral"


def test_affine_fixed_point_stability_and_singular_case():
    A = torch.tensor([[1.2, 0.0], [0.0, 0.5]], dtype=torch.float64)
    B = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    b = torch.tensor([0.2, 1.0], dtype=torch.float64)
    point = affine_fixed_point(A, B, b, torch.tensor([0.3], dtype=torch.float64))
    np.testing.assert_allclose(point.z, [-(0.2 + 0.3) / 0.2, 2.0])
    assert not point.stable and classify(point.eigenvalues) == "saddle"
    assert affine_fixed_point(torch.eye(2, dtype=torch.float64), B, b) is None  # I - A singular


def test_eigen_timescales_and_continuous_rates():
    dt = 0.02
    eig = np.array([0.9 * np.exp(1j * 0.3), 0.9 * np.exp(-1j * 0.3), -0.5, 1.0, 1.1])
    tau, freq = eigen_timescales(eig, dt)
    np.testing.assert_allclose(tau[:3], [-dt / np.log(0.9), -dt / np.log(0.9), -dt / np.log(0.5)])
    assert tau[3] == np.inf and np.isclose(tau[4], dt / np.log(1.1))
    np.testing.assert_allclose(freq, [0.3 / (2 * np.pi * dt)] * 2 + [1 / (2 * dt), 0.0, 0.0])
    np.testing.assert_allclose(np.exp(discrete_to_continuous(eig, dt) * dt), eig)


def test_poisson_glm_recovers_coefficients():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(20000, 3, generator=gen, dtype=torch.float64)
    C = torch.tensor([[0.5, -0.3, 0.1], [0.0, 0.8, -0.4]], dtype=torch.float64)
    d = torch.tensor([-1.0, 0.5], dtype=torch.float64)
    y = torch.poisson(torch.exp(z @ C.T + d), generator=gen)
    C_hat, d_hat = fit_poisson_glm(z, y, l2=1e-6)
    torch.testing.assert_close(C_hat, C, atol=0.03, rtol=0)
    torch.testing.assert_close(d_hat, d, atol=0.03, rtol=0)
    # a zero weight removes samples: fitting on half the data equals weighting the other half out
    w = torch.zeros_like(y)
    w[:10000] = 1
    C_w, d_w = fit_poisson_glm(z, y, w, l2=1e-6)
    C_h, d_h = fit_poisson_glm(z[:10000], y[:10000], l2=1e-6)
    torch.testing.assert_close(C_w, C_h)
    torch.testing.assert_close(d_w, d_h)


def test_gaussian_readout_recovers_coefficients_and_noise():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(5000, 2, generator=gen, dtype=torch.float64)
    C = torch.tensor([[1.0, 2.0], [-0.5, 0.0], [0.3, 0.3]], dtype=torch.float64)
    y = z @ C.T + 0.7 + 0.2 * torch.randn(5000, 3, generator=gen, dtype=torch.float64)
    C_hat, d_hat, noise = fit_gaussian_readout(z, y, l2=0.0)
    torch.testing.assert_close(C_hat, C, atol=0.02, rtol=0)
    torch.testing.assert_close(d_hat, torch.full((3,), 0.7, dtype=torch.float64), atol=0.02, rtol=0)
    torch.testing.assert_close(noise, torch.full((3,), 0.04, dtype=torch.float64), atol=0.005, rtol=0)


@pytest.mark.gpu
def test_lds_on_cuda_matches_cpu():
    ds, _ = linear_system_dataset("counts", n_trials=20)
    cpu = get_family("lds").fit(ds, {"latent_dim": 3}, CPU)
    gpu = get_family("lds").fit(ds, {"latent_dim": 3}, torch.device("cuda"))
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(
        gpu.posterior(ds)["prediction"].values, cpu.posterior(ds)["prediction"].values, rtol=1e-6, atol=1e-9
    )
    sample = gpu.sample(4, 10, seed=0)
    assert sample["data"].shape == (4, 10, 24)


def test_dstsp_compares_the_observed_channels_below_six_as_published():
    from neurodyn.analysis.evaluate import evaluate

    ds, _ = linear_system_dataset("continuous", n_trials=20)
    few = ds.isel(channel=slice(0, 4))
    model = get_family("lds").fit(few, {"latent_dim": 2}, torch.device("cpu"))
    runs = {
        space: evaluate(model, few, {"eval_split": "train", "dstsp_space": space, "dstsp_dims": 2}).metrics
        for space in ("auto", "observed", "pca")
    }
    assert runs["auto"]["d_stsp_pca_dims"] == 0 and runs["pca"]["d_stsp_pca_dims"] == 2
    assert runs["auto"]["d_stsp"] == runs["observed"]["d_stsp"] != runs["pca"]["d_stsp"]
    # from 6 channels (here 24) auto compares principal components
    wide = get_family("lds").fit(ds, {"latent_dim": 2}, torch.device("cpu"))
    assert evaluate(wide, ds, {"eval_split": "train", "dstsp_dims": 3}).metrics["d_stsp_pca_dims"] == 3
    # how much of the free run the histograms keep: most of it here, none once it leaves the range
    assert 0.5 < runs["observed"]["d_stsp_coverage"] <= 1.0
    real_sample = model.sample

    def elsewhere(*args, **kwargs):
        out = real_sample(*args, **kwargs)
        out["data"][:] = out["data"] + 1e3
        return out

    model.sample = elsewhere
    away = evaluate(model, few, {"eval_split": "train", "dstsp_space": "observed"}).metrics
    assert away["d_stsp_coverage"] == 0.0 and np.isfinite(away["d_stsp"])


def test_a_diverging_free_run_is_flagged_and_its_generation_metrics_left_out():
    from neurodyn.analysis.evaluate import evaluate

    ds, _ = linear_system_dataset("continuous", n_trials=20)
    model = get_family("lds").fit(ds, {"latent_dim": 2}, torch.device("cpu"))
    result = evaluate(model, ds, {"eval_split": "train"})
    assert result.metrics["generation_diverged"] is False and result.metrics["pse_low"] is not None
    real_sample = model.sample

    def exploding(*args, **kwargs):
        out = real_sample(*args, **kwargs)
        out["data"][:, -5:] = np.inf  # the run blows up near its end
        return out

    model.sample = exploding
    result = evaluate(model, ds, {"eval_split": "train"})
    m = result.metrics
    assert m["generation_diverged"] is True
    assert all(m[k] is None for k in ("d_stsp", "d_stsp_coverage", "d_h", "pse", "pse_low", "pse_high"))
    assert m["r2_heldin"] is not None and np.isnan(result.arrays["psd_generated"].values).all()

    # a run that has left the data's world is diverged while its values are still finite (float32
    # holds 3e38), in the trial protocol and in the long one, whose z-scoring would otherwise hide it
    def scaled(factor):
        def sample(*args, **kwargs):
            out = real_sample(*args, **kwargs)
            out["data"][:] = out["data"] * factor
            return out

        return sample

    for protocol in ({"eval_split": "train"}, {"eval_split": "train", "generation": "long", "zscore": True}):
        model.sample = scaled(1e6)
        assert evaluate(model, ds, protocol).metrics["generation_diverged"] is True
        model.sample = scaled(10.0)  # far off, but not a runaway: scored
        m = evaluate(model, ds, protocol).metrics
        assert m["generation_diverged"] is False and m["d_stsp"] is not None


def test_free_run_diverged_judges_against_the_recorded_range():
    from neurodyn.analysis.evaluate import RUNAWAY_FACTOR, free_run_diverged

    real = np.array([[0.0, 5.0], [1.0, 7.0], [np.nan, 6.0], [0.5, 6.0]])  # largest reach: 1.0, around 6
    assert not free_run_diverged(real, np.array([[0.5, 6.0 + 0.99 * RUNAWAY_FACTOR]]))
    assert free_run_diverged(real, np.array([[0.5, 6.0 + 1.01 * RUNAWAY_FACTOR]]))
    assert free_run_diverged(real, np.array([[np.inf, 6.0]]))
    unobserved = np.full((4, 1), np.nan)  # never judged
    assert not free_run_diverged(unobserved, np.array([[1e30]]))


def test_transfer_function_poles_are_the_jacobian_eigenvalues():
    from neurodyn.analysis.spectral import resolvent_response, resonance, transfer_function

    rng = np.random.default_rng(3)
    for L, I, O in ((3, 1, 1), (5, 2, 3)):
        J = rng.normal(size=(L, L)) / np.sqrt(L)
        J *= 0.9 / np.abs(np.linalg.eigvals(J)).max()  # a random stable map
        B, C = rng.normal(size=(L, I)), rng.normal(size=(O, L))
        lam, V = np.linalg.eig(J)
        W = np.linalg.inv(V)  # rows: left eigenvectors
        points = np.exp(1j * np.linspace(0, np.pi, 50)) * 1.1 + 0.05j
        H = resolvent_response(J, B, C, points)
        # partial fractions: H(s) = Σ_k (C v_k)(w_kᵀ B) / (s − λ_k), poles exactly at the eigenvalues
        expected = sum(
            np.einsum("o,i->oi", C @ V[:, k], W[k] @ B)[None] / (points - lam[k])[:, None, None] for k in range(L)
        )
        np.testing.assert_allclose(H, expected, rtol=1e-9, atol=1e-12)
        # approaching an eigenvalue, the response grows like 1 / distance
        k = int(np.argmax(np.abs(lam)))
        near = resolvent_response(J, B, C, lam[k] + np.array([1e-4, 1e-6]))
        ratio = np.abs(near[1]).max() / np.abs(near[0]).max()
        assert 50 < ratio < 200
    # a lightly damped rotation resonates at its own frequency
    dt, f0 = 0.01, 7.0
    theta = 2 * np.pi * f0 * dt
    J = 0.98 * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    freqs = np.linspace(0, 50, 501)
    out = resonance(freqs, transfer_function(J, np.eye(2), np.eye(2), freqs, dt))
    assert abs(out["peak_hz"] - f0) <= 0.1 and out["selectivity"] > 5
    # continuous time: a stable node has its largest gain at 0 Hz
    cont = resonance(freqs, transfer_function(-np.eye(2), np.eye(2), np.eye(2), freqs, dt, continuous=True))
    assert cont["peak_hz"] == 0.0 and cont["dc_gain"] == pytest.approx(1.0)


def test_transfer_function_on_a_pole_is_infinite_not_an_error():
    from neurodyn.analysis.spectral import resonance, transfer_function

    freqs = np.linspace(0, 50, 11)
    out = resonance(freqs, transfer_function(np.eye(2), np.eye(2), np.eye(2), freqs, 0.01))  # a line attractor
    assert np.isinf(out["gain"][0]) and np.isfinite(out["gain"][1:]).all() and np.isinf(out["peak_gain"])


def test_analysis_result_round_trips_through_its_folder(tmp_path):
    from neurodyn.analysis.evaluate import AnalysisResult, evaluate

    ds, _ = linear_system_dataset("continuous", n_trials=20)
    model = get_family("lds").fit(ds, {"latent_dim": 2}, torch.device("cpu"))
    result = evaluate(model, ds, {"eval_split": "train", "distill": False})
    result.about = {"family": "lds", "model": "m"}
    paths = result.save(tmp_path / "analysis")
    assert sorted(p.name for p in paths.values()) == ["arrays.zarr", "fixed_points.json", "metrics.json"]
    again = AnalysisResult.load(tmp_path / "analysis")
    assert again.metrics == result.metrics and again.fixed_points == result.fixed_points
    assert again.about == {"family": "lds", "model": "m"} and again.distillation is None
    xr.testing.assert_allclose(again.arrays, result.arrays)
    (tmp_path / "analysis" / "fixed_points.json").unlink()
    with pytest.raises(InputFileError, match="incomplete analysis outputs"):
        AnalysisResult.load(tmp_path / "analysis")


def test_spectral_peaks_find_the_5_hz_rhythm_and_fixed_points_name_their_rotation():
    """A 5 Hz decaying rotation: the recorded and the generated spectra peak at 5 Hz (Welch bins
    of 1.25 Hz); the fixed point's entry names its linearised rotation (``rotation_hz``) beside
    every mode; the old "leading oscillation" is gone. The LDS has no iterative training: no
    training curves."""
    from neurodyn.analysis.evaluate import evaluate

    ds, _ = linear_system_dataset("continuous", n_trials=30)
    model = get_family("lds").fit(ds, {"latent_dim": 2}, torch.device("cpu"))
    result = evaluate(model, ds, {"eval_split": "train", "distill": False})
    m = result.metrics
    assert "leading_oscillation_hz" not in m
    assert m["recorded_peak_hz"] == pytest.approx(5.0) and m["generated_peak_hz"] == pytest.approx(5.0, abs=1.25)
    (point,) = result.fixed_points
    assert "leading_oscillation_hz" not in point and len(point["frequencies_hz"]) == len(point["time_constants_s"]) == 2
    # the fitted map's one rotating mode (a conjugate pair), as the full lists give it
    assert point["rotation_hz"] == point["frequencies_hz"][0] > 0
    assert point["rotation_time_constant_s"] == point["time_constants_s"][0] > 0
    assert model.training_curves() == {} and result.about["training"] == {}
    assert "behavior_r2" not in m and result.behavior_decoding is None  # no behaviour in this dataset
