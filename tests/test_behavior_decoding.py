"""Behaviour decoding: the Neural Latents Benchmark's ridge-regression R² (Pei et al. 2021), as a pure
function and as evaluate() reports it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodyn.analysis.metrics import NLB_ALPHAS, behavior_decoding, fit_and_score_ridge, ridge_fit
from neurodyn.analysis.metrics.behavior import r2_per_dimension
from neurodyn.data.dataset import build_dataset
from neurodyn.errors import NeurodynError
from neurodyn.models import get_family


def linear_case(rng, r2_true: float, *, n_train=80, n_eval=40, n_time=50, n_channels=30, n_behavior=2):
    """Rates (trial, time, channel) of independent unit-variance features and behaviour = rates W +
    noise whose variance makes the population R² of the best linear decoder ``r2_true`` in every
    dimension: var(signal) / (var(signal) + var(noise))."""
    rates = rng.normal(size=(n_train + n_eval, n_time, n_channels)) + 3.0
    W = rng.normal(size=(n_channels, n_behavior))
    signal_var = (W**2).sum(0)  # the features are independent with unit variance
    noise_sd = np.sqrt(signal_var * (1 - r2_true) / r2_true)
    behavior = rates @ W + 0.7 + rng.normal(size=(n_train + n_eval, n_time, n_behavior)) * noise_sd
    return rates[:n_train], behavior[:n_train], rates[n_train:], behavior[n_train:]


@pytest.mark.parametrize("r2_true", [0.3, 0.8])
def test_linear_behaviour_is_decoded_with_its_theoretical_r2(r2_true):
    result = behavior_decoding(*linear_case(np.random.default_rng(0), r2_true))
    # 4000 training samples for 31 coefficients: the evaluation R² sits within sampling error of the truth
    assert result.r2 == pytest.approx(r2_true, abs=0.03)
    np.testing.assert_allclose(result.r2_per_dim, r2_true, atol=0.04)
    assert result.r2 == pytest.approx(result.r2_per_dim.mean())  # uniform average over dimensions
    assert result.alpha in NLB_ALPHAS and result.n_folds == 5
    assert result.n_train == 80 * 50 and result.n_eval == 40 * 50


def test_behaviour_independent_of_the_rates_is_not_decoded():
    rng = np.random.default_rng(1)
    train_x, _, eval_x, _ = linear_case(rng, 0.5)
    result = behavior_decoding(train_x, rng.normal(size=(80, 50, 2)), eval_x, rng.normal(size=(40, 50, 2)))
    assert -0.05 < result.r2 <= 0.01


def test_penalty_is_chosen_on_the_training_trials_only():
    rng = np.random.default_rng(2)
    train_x, train_y, eval_x, eval_y = linear_case(rng, 0.1, n_train=12, n_channels=40)
    first = behavior_decoding(train_x, train_y, eval_x, eval_y)
    other = behavior_decoding(train_x, train_y, eval_x, rng.normal(size=eval_y.shape))
    assert other.alpha == first.alpha and np.array_equal(other.cv_r2, first.cv_r2)
    assert other.r2 != first.r2
    # the chosen penalty is the best of the cross-validated grid (ties: the smallest)
    assert first.alpha == NLB_ALPHAS[int(np.argmax(first.cv_r2))]


def test_cross_validation_folds_hold_out_whole_trials():
    """Behaviour constant within a trial, and rates that only say which trial a bin is from: a fold
    that split trials would decode it from the trial's other bins; folds of whole trials cannot."""
    rng = np.random.default_rng(3)
    n_trials, n_time = 20, 30
    code = np.repeat(np.eye(n_trials)[:, None, :], n_time, axis=1)  # one feature per trial
    behavior = np.repeat(rng.normal(size=(n_trials, 1, 1)), n_time, axis=1)
    x, y = code.reshape(-1, n_trials), behavior.reshape(-1, 1)
    trials = np.repeat(np.arange(n_trials), n_time)
    by_trial = fit_and_score_ridge(x, y, x[:30], y[:30], train_groups=trials)
    assert np.nanmax(by_trial.cv_r2) < 0.0  # an unseen trial's feature is all zeros: no information
    # a single group falls back to contiguous blocks of samples: here 120 samples, i.e. 4 whole trials
    one_group = fit_and_score_ridge(x, y, x[:30], y[:30])
    np.testing.assert_allclose(one_group.cv_r2, by_trial.cv_r2)


def test_unusable_bins_are_left_out_and_bad_rates_refused():
    rng = np.random.default_rng(4)
    train_x, train_y, eval_x, eval_y = linear_case(rng, 0.6, n_train=20, n_eval=10, n_time=10)
    train_y[0, :4, 1] = np.nan  # behaviour missing in some bins: dropped
    use = np.ones(train_x.shape[:2], bool)
    use[1] = False  # a trial not observed: dropped
    train_x[1] = np.nan  # its rates may be anything
    result = behavior_decoding(train_x, train_y, eval_x, eval_y, train_use=use)
    assert result.n_train == 20 * 10 - 4 - 10 and np.isfinite(result.r2)
    with pytest.raises(NeurodynError, match="train_x"):
        behavior_decoding(train_x, train_y, eval_x, eval_y)  # the NaN rates are now used
    with pytest.raises(NeurodynError, match="behavior"):
        behavior_decoding(train_x, train_y[:, :5], eval_x, eval_y, train_use=use)
    with pytest.raises(NeurodynError, match="alphas"):
        behavior_decoding(train_x, train_y, eval_x, eval_y, train_use=use, alphas=[0.0])


def test_ridge_fit_solves_the_penalised_normal_equations():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 6)) + 2.0
    x[:, 5] = x[:, 4]  # collinear features: the penalty keeps the problem well posed
    y = rng.normal(size=(200, 3))
    alphas = np.array([1e-3, 1.0, 30.0])
    weights, intercepts = ridge_fit(x, y, alphas)
    xc, yc = x - x.mean(0), y - y.mean(0)
    for a, w, b in zip(alphas, weights, intercepts):
        expected = np.linalg.solve(xc.T @ xc + a * np.eye(6), xc.T @ yc)
        np.testing.assert_allclose(w, expected, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(b, y.mean(0) - x.mean(0) @ expected, rtol=1e-6, atol=1e-9)
    # R² per dimension: a constant dimension has none and is left out of the average
    truth = np.stack([np.arange(10.0), np.full(10, 3.0)], axis=1)
    r2 = r2_per_dimension(truth, truth + 0.5)
    assert r2[0] == pytest.approx(1 - 10 * 0.25 / ((np.arange(10.0) - 4.5) ** 2).sum()) and np.isnan(r2[1])


def behaviour_dataset(seed: int = 0, n_trials: int = 60, n_time: int = 40, n_channels: int = 16):
    """Poisson counts from a 2-D rotating latent, with a 2-D behaviour that is a noisy linear read-out
    of the latent (unknown in some bins) — the model's rates carry it, the counts carry it noisily."""
    rng = np.random.default_rng(seed)
    dt, angle = 0.02, 2 * np.pi * 2.0 * 0.02
    A = 0.98 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    z = np.zeros((n_trials, n_time, 2))
    z[:, 0] = rng.normal(size=(n_trials, 2)) * 1.5
    for t in range(1, n_time):
        z[:, t] = z[:, t - 1] @ A.T + 0.1 * rng.normal(size=(n_trials, 2))
    C = rng.normal(size=(n_channels, 2))
    counts = rng.poisson(np.exp(0.4 * z @ C.T + np.log(2.0))).astype(np.uint16)
    behavior = z @ np.array([[1.0, 0.5], [-0.5, 1.0]]) + 0.2 * rng.normal(size=(n_trials, n_time, 2))
    behavior[:, :3] = np.nan  # e.g. before the cursor is tracked
    ds = build_dataset(
        data=counts,
        kind="counts",
        data_units="count",
        time=np.arange(n_time) * dt + dt / 2,
        trial_ids=np.arange(n_trials),
        channel_ids=np.arange(n_channels),
        heldout=np.arange(n_channels) % 4 == 0,
        split=np.where(np.arange(n_trials) % 5 == 0, "test", "train"),
        mask=np.ones(counts.shape, bool),
        align_times=np.arange(n_trials) * 2.0,
        behavior=(behavior, ["cursor_x", "cursor_y"]),
        attrs={
            "bin_size_s": dt,
            "align_event": "start",
            "source": "simulated",
            "source_sha256": "-",
            "config_hash": "-",
        },
    )
    return ds


def test_evaluate_reports_behaviour_r2_of_the_model_and_the_recording(tmp_path):
    from neurodyn.analysis.evaluate import AnalysisResult, evaluate

    ds = behaviour_dataset()
    model = get_family("lds").fit(ds, {"latent_dim": 2}, torch.device("cpu"))
    result = evaluate(model, ds, {"distill": False})
    m, section = result.metrics, result.behavior_decoding
    # both the model's rates and the smoothed counts carry the latent the behaviour reads out
    assert 0.5 < m["behavior_r2"] < 1 and 0.5 < m["behavior_r2_recorded"] < 1
    assert section["behavior"] == ["cursor_x", "cursor_y"] and section["eval_split"] == "test"
    assert section["n_train_trials"] == 48 and section["n_eval_trials"] == 12
    for name, key in (("model", "behavior_r2"), ("recorded", "behavior_r2_recorded")):
        assert section[name]["r2"] == pytest.approx(m[key]) and section[name]["alpha"] in NLB_ALPHAS
        assert section[name]["n_train_samples"] == 48 * 37 and section[name]["n_eval_samples"] == 12 * 37
        assert len(section[name]["r2_per_dim"]) == 2
    # the same decoder by hand, from the model's rates on the training and the evaluation trials
    train, test = ds.isel(trial=ds["split"].values == "train"), ds.isel(trial=ds["split"].values == "test")
    by_hand = behavior_decoding(
        model.posterior(train)["prediction"].values,
        train["behavior"].values,
        model.posterior(test)["prediction"].values,
        test["behavior"].values,
    )
    assert by_hand.r2 == pytest.approx(m["behavior_r2"])
    # every metric evaluate() writes is registered with a definition (the report's glossary)
    from neurodyn.analysis.metrics.registry import metric_registry

    registry = metric_registry([type(model)])
    assert set(m) - {"eval_split"} <= set(registry), set(m) - set(registry)  # eval_split: the split's name
    assert "Pei et al. 2021" in registry["behavior_r2"].definition
    assert "Pei et al. 2021" in registry["behavior_r2_recorded"].definition
    # saved in metrics.json and read back
    result.save(tmp_path)
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert payload["behavior_decoding"]["model"]["r2"] == pytest.approx(m["behavior_r2"])
    assert AnalysisResult.load(tmp_path).behavior_decoding == json.loads(json.dumps(section))
