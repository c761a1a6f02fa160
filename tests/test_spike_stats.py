"""Tests for neurodyn.analysis.spike_stats.

Expected values come from the generating processes (known rates, Poisson/gamma/clock-like
renewal processes, analytic correlations of shared Poisson sources and of doubly stochastic
counts), from hand-worked examples, or from plain reference computations (np.corrcoef, Python
loops over pairs). Statistical tolerances are five standard errors of the estimator, with the
standard error stated next to each check.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from neurodyn.analysis.spike_stats import (
    compare_spike_statistics,
    firing_rates,
    isi_cv,
    pairwise_correlations,
)
from neurodyn.errors import ConfigError

DT = 1e-3  # 1 ms bins: rates <= 20 Hz give <= 0.02 expected spikes per bin


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def _bin_spike_times(times: list[np.ndarray], n_time: int, dt: float) -> np.ndarray:
    """Spike times (s) of each trial -> (trial, time) counts in bins of width dt."""
    counts = np.zeros((len(times), n_time))
    for trial, trial_times in enumerate(times):
        counts[trial] = np.bincount((trial_times // dt).astype(int), minlength=n_time)[:n_time]
    return counts


def _gamma_counts(rng: np.random.Generator, rate: float, shape: float, n_trials: int, n_time: int) -> np.ndarray:
    """(trial, time) counts of a stationary gamma renewal process (mean rate `rate`, shape `shape`)."""
    duration, burn_in = n_time * DT, 2.0
    n_draws = int(rate * (duration + burn_in) * 1.5) + 100
    times = []
    for _ in range(n_trials):
        spikes = np.cumsum(rng.gamma(shape, 1.0 / (shape * rate), size=n_draws)) - burn_in
        assert spikes[-1] > duration
        times.append(spikes[(spikes >= 0) & (spikes < duration)])
    return _bin_spike_times(times, n_time, DT)


def _cv_standard_error(shape: float, n_intervals: int) -> float:
    """Delta-method standard error of the sample CV of n gamma(shape) intervals.

    With the gamma moments (mu = k theta, sigma^2 = k theta^2, mu3 = 2 k theta^3,
    mu4 = (3 + 6/k) sigma^4), Var(CV) = [sigma^4/mu^4 + (mu4 - sigma^4)/(4 sigma^2 mu^2)
    - mu3/mu^3] / n = (k + 1) / (2 k^2 n).
    """
    return math.sqrt((shape + 1) / (2 * shape**2 * n_intervals))


def _corr_standard_error(r: float, n: int) -> float:
    """Normal-theory standard error of a Pearson correlation estimated from n samples."""
    return (1 - r**2) / math.sqrt(n)


def _shared_poisson_corr_standard_error(shared: float, private: float, n: int) -> float:
    """Standard error of r for n bins of X = S + A, Y = S + B (S ~ Pois(shared), A, B ~ Pois(private)).

    Sparse Poisson counts are far from normal, so (1 - r^2) / sqrt(n) underestimates it (about
    half of the 0.005 seen over 300 seeds in the test below). This is the general large-sample
    variance of r (Kendall & Stuart, Vol. 1, 10.9) with the central moments mu_ij of the exact
    joint distribution, summed over a truncated (s, a, b) grid.
    """
    k = np.arange(25)
    p_shared, p_private = stats.poisson.pmf(k, shared), stats.poisson.pmf(k, private)
    s, a, b = np.meshgrid(k, k, k, indexing="ij")
    prob = p_shared[:, None, None] * p_private[None, :, None] * p_private[None, None, :]
    x, y = s + a - (shared + private), s + b - (shared + private)

    def mu(i: int, j: int) -> float:
        return float((prob * x**i * y**j).sum())

    r = mu(1, 1) / math.sqrt(mu(2, 0) * mu(0, 2))
    terms = (
        mu(4, 0) / mu(2, 0) ** 2
        + mu(0, 4) / mu(0, 2) ** 2
        + 2 * mu(2, 2) / (mu(2, 0) * mu(0, 2))
        + 4 * mu(2, 2) / mu(1, 1) ** 2
        - 4 * mu(3, 1) / (mu(1, 1) * mu(2, 0))
        - 4 * mu(1, 3) / (mu(1, 1) * mu(0, 2))
    )
    return math.sqrt(r**2 * terms / (4 * n))


# --------------------------------------------------------------------------------------------
# Firing rates
# --------------------------------------------------------------------------------------------


def test_poisson_rates_are_recovered(rng):
    rates = np.array([0.5, 2.0, 5.0, 10.0, 20.0])
    counts = rng.poisson(rates * DT, size=(20, 10_000, rates.size))
    total_s = 20 * 10_000 * DT
    estimate = firing_rates(counts, DT)
    assert estimate.shape == (rates.size,)
    # The spike total over T seconds is Poisson(rate * T): standard error sqrt(rate / T).
    np.testing.assert_array_less(np.abs(estimate - rates), 5 * np.sqrt(rates / total_s))


def test_rates_follow_the_definition_exactly():
    counts = np.array([[[1, 0], [2, 0], [0, 0]], [[3, 1], [0, 0], [0, 5]]], dtype=float)  # (2, 3, 2)
    np.testing.assert_allclose(firing_rates(counts, 0.5), [6 / 3.0, 6 / 3.0])


def test_rates_ignore_garbage_in_masked_bins(rng):
    counts = rng.poisson(0.3, size=(4, 50, 3)).astype(float)
    mask = rng.random(counts.shape) > 0.3
    garbage = np.where(mask, counts, rng.choice([np.nan, -7.0, 1e9, np.inf], size=counts.shape))
    expected = [counts[..., c][mask[..., c]].sum() / (mask[..., c].sum() * 0.01) for c in range(3)]
    np.testing.assert_allclose(firing_rates(garbage, 0.01, mask), expected)
    np.testing.assert_allclose(firing_rates(np.where(mask, counts, 0), 0.01, mask), expected)


def test_rate_of_a_never_observed_channel_is_nan():
    counts = np.ones((2, 5, 2))
    mask = np.ones_like(counts, dtype=bool)
    mask[..., 1] = False
    rates = firing_rates(counts, 0.1, mask)
    assert rates[0] == pytest.approx(10.0)
    assert np.isnan(rates[1])


# --------------------------------------------------------------------------------------------
# ISI coefficient of variation
# --------------------------------------------------------------------------------------------


def test_isi_of_spikes_sharing_a_bin_are_spread_evenly():
    # Bin 0 holds 2 spikes (at 0.25 s and 0.75 s), bin 2 one (at 2.5 s): intervals 0.5 and 1.75.
    counts = np.array([2, 0, 1], dtype=float)[None, :, None]
    expected = np.std([0.5, 1.75], ddof=1) / np.mean([0.5, 1.75])
    np.testing.assert_allclose(isi_cv(counts, 1.0, min_intervals=2), [expected])
    # Four spikes in one bin are bin/4 apart: three equal intervals, CV 0.
    np.testing.assert_allclose(isi_cv(np.array([[[4.0]]]), 1.0, min_intervals=2), [0.0], atol=1e-12)


def test_poisson_isi_cv_is_one(rng):
    rates = np.array([5.0, 10.0, 20.0])
    n_trials, n_time = 100, 10_000
    counts = rng.poisson(rates * DT, size=(n_trials, n_time, rates.size))
    cv = isi_cv(counts, DT)
    n_intervals = counts.sum(axis=(0, 1)) - n_trials
    # Standard error of the CV of n exponential intervals: 1 / sqrt(n) (gamma shape 1). Binning
    # at r * dt <= 0.02 biases the CV by < 0.003 (module docstring), allowed for with 0.005.
    tolerance = 5 / np.sqrt(n_intervals) + 0.005
    np.testing.assert_array_less(np.abs(cv - 1.0), tolerance)


@pytest.mark.parametrize("shape", [1.0, 2.0, 4.0, 8.0])
def test_gamma_process_isi_cv_is_one_over_sqrt_shape(rng, shape):
    n_trials, n_time, rate = 100, 10_000, 20.0
    counts = _gamma_counts(rng, rate, shape, n_trials, n_time)[..., None]
    cv = isi_cv(counts, DT)[0]
    n_intervals = int(counts.sum()) - n_trials
    # Five delta-method standard errors, plus 0.005 for binning: 1 ms quantisation adds a
    # variance of ~dt^2/6 to intervals of mean 50 ms (CV change < 1e-3), and sub-bin intervals,
    # whose density vanishes at 0 for shape > 1, bias a shape-1 train by < 0.003.
    tolerance = 5 * _cv_standard_error(shape, n_intervals) + 0.005
    assert abs(cv - 1 / math.sqrt(shape)) < tolerance


def test_clock_like_train_has_zero_cv(rng):
    n_trials, n_time = 10, 5_000
    # A period of exactly 50 bins: every interval is 50 ms, CV 0 up to rounding.
    whole = np.zeros((n_trials, n_time, 1))
    whole[:, rng.integers(0, 50) :: 50, 0] = 1
    assert isi_cv(whole, DT)[0] == pytest.approx(0.0, abs=1e-9)
    # A period of 47.3 ms: each spike time is off by < dt / 2, so every interval by < dt, and the
    # CV is below dt / 47.3 ms (about 0.02), far below the Poisson value 1.
    period, duration = 0.0473, n_time * DT
    times = [np.arange(rng.uniform(0, period), duration, period) for _ in range(n_trials)]
    cv = isi_cv(_bin_spike_times(times, n_time, DT)[..., None], DT)[0]
    assert 0 < cv < DT / period


def test_isi_cv_is_nan_below_min_intervals():
    counts = np.zeros((2, 100, 2))
    counts[0, [10, 20, 30, 40], 0] = 1  # 3 intervals in trial 0
    counts[1, [5, 15, 25], 0] = 1  # 2 intervals in trial 1: 5 in all
    counts[0, [10, 20, 30], 1] = 1  # 2 intervals
    cv = isi_cv(counts, DT, min_intervals=5)
    assert cv[0] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(cv[1])
    assert isi_cv(counts, DT, min_intervals=2)[1] == pytest.approx(0.0, abs=1e-9)


def test_intervals_do_not_bridge_masked_bins_or_trials():
    # Spikes every 10 bins with a 30-bin gap: bridging would add an interval of 30.
    counts = np.zeros((1, 60, 1))
    counts[0, [0, 10, 20, 50], 0] = 1
    assert isi_cv(counts, DT, min_intervals=2)[0] > 0.5
    mask = np.ones_like(counts, dtype=bool)
    mask[0, 25:45] = False
    counts[0, 25:45, 0] = [np.nan, -1.0, 7.0, 3.5] * 5  # garbage that must be ignored
    assert isi_cv(counts, DT, mask, min_intervals=2)[0] == pytest.approx(0.0, abs=1e-9)
    # Trial boundaries and channel boundaries are never bridged either.
    two_trials = np.zeros((2, 30, 2))
    two_trials[0, [0, 10, 20], :] = 1
    two_trials[1, [9, 19, 29], :] = 1
    np.testing.assert_allclose(isi_cv(two_trials, DT, min_intervals=2), [0.0, 0.0], atol=1e-9)


# --------------------------------------------------------------------------------------------
# Pairwise correlations
# --------------------------------------------------------------------------------------------


def test_correlations_match_corrcoef_without_mask(rng):
    counts = rng.poisson(rng.uniform(0.2, 3.0, size=(1, 1, 6)), size=(5, 80, 6)).astype(float)
    expected = np.corrcoef(counts.reshape(-1, 6).T)
    np.fill_diagonal(expected, np.nan)
    np.testing.assert_allclose(pairwise_correlations(counts), expected, rtol=1e-12, atol=1e-12)


def test_shared_poisson_source_gives_shared_over_total_rate(rng):
    n_trials, n_time = 50, 2_000
    shared, private = 0.04, 0.06  # expected spikes per bin (4 Hz and 6 Hz at 10 ms bins)
    source = rng.poisson(shared, size=(n_trials, n_time))
    counts = np.stack(
        [
            source + rng.poisson(private, size=(n_trials, n_time)),
            source + rng.poisson(private, size=(n_trials, n_time)),
            rng.poisson(shared + private, size=(n_trials, n_time)),
        ],
        axis=-1,
    )
    corr = pairwise_correlations(counts)
    n = n_trials * n_time
    # Cov = Var(shared) = shared, Var(each) = shared + private: r = shared / (shared + private).
    expected = shared / (shared + private)
    assert abs(corr[0, 1] - expected) < 5 * _shared_poisson_corr_standard_error(shared, private, n)
    # Independent channels: the standard error of r is 1 / sqrt(n) whatever the distribution.
    assert abs(corr[0, 2]) < 5 / math.sqrt(n)
    assert abs(corr[1, 2]) < 5 / math.sqrt(n)
    np.testing.assert_array_equal(corr, corr.T)
    assert np.isnan(np.diag(corr)).all()


def test_bin_factor_reveals_slow_common_fluctuations(rng):
    # Two channels, conditionally independent Poisson given a shared rate that is constant over
    # blocks of 50 bins and Uniform(lo, hi) per block. Summing m bins (m divides 50) gives
    # Cov = m^2 v and Var = m mu + m^2 v (mu, v: mean and variance of the rate per bin), so
    # r(m) = m v / (mu + m v): 0.065, 0.41 and 0.78 for m = 1, 10, 50.
    n_trials, n_time, block, lo, hi = 100, 2_000, 50, 0.05, 0.55
    mu, v = (lo + hi) / 2, (hi - lo) ** 2 / 12
    rate = rng.uniform(lo, hi, size=(n_trials, n_time // block, 1)).repeat(block, axis=1)
    counts = rng.poisson(np.broadcast_to(rate, (n_trials, n_time, 2)))
    previous = -1.0
    for m in (1, 10, 50):
        r = pairwise_correlations(counts, bin_factor=m)[0, 1]
        expected = m * v / (mu + m * v)
        # Standard error with n = number of coarse bins (checked against 30 seeds: 0.0024,
        # 0.0059, 0.0060 observed vs 0.0022, 0.0059, 0.0063 predicted).
        assert abs(r - expected) < 5 * _corr_standard_error(expected, n_trials * n_time // m)
        assert r > previous
        previous = r
        coarse = counts.reshape(n_trials, n_time // m, m, 2).sum(axis=2).reshape(-1, 2)
        assert r == pytest.approx(np.corrcoef(coarse.T)[0, 1], abs=1e-12)


def test_bin_factor_drops_trailing_bins(rng):
    counts = rng.poisson(1.0, size=(3, 23, 3)).astype(float)
    coarse = counts[:, :20].reshape(3, 4, 5, 3).sum(axis=2).reshape(-1, 3)
    expected = np.corrcoef(coarse.T)
    np.fill_diagonal(expected, np.nan)
    np.testing.assert_allclose(pairwise_correlations(counts, bin_factor=5), expected, atol=1e-12)


def test_silent_channel_correlations_are_nan(rng):
    counts = rng.poisson(1.0, size=(2, 40, 3)).astype(float)
    counts[..., 1] = 0
    corr = pairwise_correlations(counts)
    assert np.isnan(corr[1]).all() and np.isnan(corr[:, 1]).all()
    assert np.isfinite(corr[0, 2])
    counts[..., 1] = 3  # constant but not silent: equally undefined
    assert np.isnan(pairwise_correlations(counts)[1]).all()


def test_correlations_use_pairwise_observed_bins_and_ignore_garbage(rng):
    counts = rng.poisson(1.5, size=(3, 40, 4)).astype(float)
    mask = rng.random(counts.shape) > 0.25
    garbage = np.where(mask, counts, rng.choice([np.nan, -2.0, 1e12], size=counts.shape))
    corr = pairwise_correlations(garbage, mask)
    for i in range(4):
        for j in range(4):
            if i == j:
                assert np.isnan(corr[i, j])
                continue
            both = mask[..., i] & mask[..., j]
            expected = np.corrcoef(counts[..., i][both], counts[..., j][both])[0, 1]
            assert corr[i, j] == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------------------------
# Masks: a masked stretch is the same as splitting the trial there
# --------------------------------------------------------------------------------------------


def test_masked_gap_equals_split_trials(rng):
    n_trials, half, gap, n_channels = 6, 400, 100, 3
    split = rng.poisson([0.05, 0.1, 0.2], size=(2 * n_trials, half, n_channels)).astype(float)
    joined = np.full((n_trials, 2 * half + gap, n_channels), np.nan)
    joined[:, :half] = split[:n_trials]
    joined[:, half + gap :] = split[n_trials:]
    joined[:, half : half + 50] = 1e6  # garbage of every kind inside the masked gap
    joined[:, half + 50 : half + gap] = -4.0
    mask = np.ones(joined.shape, dtype=bool)
    mask[:, half : half + gap] = False

    np.testing.assert_allclose(firing_rates(joined, DT, mask), firing_rates(split, DT))
    np.testing.assert_allclose(isi_cv(joined, DT, mask), isi_cv(split, DT), rtol=1e-9)
    for bin_factor in (1, 5):  # 5 divides both halves and the gap, so coarse bins line up
        np.testing.assert_allclose(
            pairwise_correlations(joined, mask, bin_factor),
            pairwise_correlations(split, bin_factor=bin_factor),
            atol=1e-12,
        )
    # Without the mask the gap would be read (and rejected as not finite).
    with pytest.raises(ConfigError):
        firing_rates(joined, DT)


def test_coarse_bin_touching_a_masked_bin_is_dropped():
    counts = np.array([[[1, 0], [0, 1], [5, 5], [1, 1], [0, 0], [2, 0], [1, 1], [0, 2]]], dtype=float)
    mask = np.ones(counts.shape, dtype=bool)
    mask[0, 2] = False  # spoils the coarse bin of fine bins 2-3
    # Coarse bins (factor 2) kept: [1, 1], [2, 0], [1, 3]; correlation over those three.
    expected = np.corrcoef([[1, 2, 1], [1, 0, 3]])[0, 1]
    assert pairwise_correlations(counts, mask, bin_factor=2)[0, 1] == pytest.approx(expected)


# --------------------------------------------------------------------------------------------
# Recorded versus generated
# --------------------------------------------------------------------------------------------


def _assert_json_safe(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            _assert_json_safe(item)
    elif isinstance(value, list):
        for item in value:
            _assert_json_safe(item)
    else:
        assert value is None or type(value) in (int, float), f"{value!r} ({type(value)})"
        assert not (isinstance(value, float) and not math.isfinite(value))


def _assert_nested_close(actual: object, expected: object) -> None:
    """Equal structure and None positions; floats equal to rounding (summation order may differ)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys()
        for key in expected:
            _assert_nested_close(actual[key], expected[key])
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            _assert_nested_close(a, e)
    elif expected is None:
        assert actual is None
    else:
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12)


def _correlated_counts(rng: np.random.Generator, rates_hz: np.ndarray, n_trials: int, n_time: int) -> np.ndarray:
    """(trial, time, channel) counts at 10 ms bins: channel-specific rates plus a shared source."""
    dt = 0.01
    shared = rng.poisson(0.02, size=(n_trials, n_time, 1))
    weights = np.linspace(0.0, 1.0, rates_hz.size)  # how strongly each channel takes the shared spikes
    private = rng.poisson(rates_hz * dt, size=(n_trials, n_time, rates_hz.size))
    return private + np.round(weights * shared)


def test_identical_inputs_agree_perfectly(rng):
    rates = np.array([2.0, 5.0, 8.0, 12.0, 20.0])
    counts = _correlated_counts(rng, rates, 40, 500)
    result = compare_spike_statistics(counts, counts.copy(), 0.01)
    _assert_json_safe(result)
    assert result["n_channels"] == 5
    r = result["rates"]
    assert r["pearson_r"] == pytest.approx(1.0)
    assert r["mean_abs_error_hz"] == 0.0
    assert r["mean_relative_error"] == 0.0
    assert r["log_rate_rmse"] == 0.0
    assert r["recorded_hz"] == r["generated_hz"]
    assert r["n_channels_used"] == 5
    c = result["isi_cv"]
    assert c["pearson_r"] == pytest.approx(1.0)
    assert c["mean_abs_difference"] == 0.0
    assert c["recorded_median"] == c["generated_median"]
    assert c["n_channels_used"] == 5
    p = result["pairwise_correlations"]
    assert p["pearson_r"] == pytest.approx(1.0)
    assert p["rmse"] == 0.0
    assert p["recorded_mean"] == p["generated_mean"]
    assert p["n_pairs_used"] == 10


def test_doubled_rates_give_relative_error_one(rng):
    rates = np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    recorded = rng.poisson(rates * DT, size=(30, 10_000, rates.size))
    generated = rng.poisson(2 * rates * DT, size=(20, 12_000, rates.size))  # other trials and length
    result = compare_spike_statistics(recorded, generated, DT)
    _assert_json_safe(result)
    r = result["rates"]
    # Relative standard error of a rate estimated from N >= 600 spikes is 1 / sqrt(N) <= 0.041,
    # so each ratio gen / rec is 2 within about 0.12 (3 SE); the mean over channels is closer.
    assert r["mean_relative_error"] == pytest.approx(1.0, abs=0.1)
    assert r["log_rate_rmse"] == pytest.approx(math.log(2), abs=0.05)
    assert r["mean_abs_error_hz"] == pytest.approx(rates.mean(), rel=0.1)
    assert r["pearson_r"] > 0.95
    # Both sets are Poisson: the ISI CVs agree even though the rates do not.
    assert result["isi_cv"]["mean_abs_difference"] < 0.1


def test_compare_output_is_json_safe_with_undefined_values(rng):
    recorded = rng.poisson(0.05, size=(5, 300, 4)).astype(float)
    recorded[..., 2] = 0  # silent: log-rate, ISI CV and correlations undefined
    generated = rng.poisson(0.05, size=(3, 200, 4)).astype(float)
    result = compare_spike_statistics(recorded, generated, DT)
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text) == result
    _assert_json_safe(result)
    assert result["isi_cv"]["recorded"][2] is None
    assert result["pairwise_correlations"]["recorded_mean_per_channel"][2] is None
    assert result["rates"]["recorded_hz"][2] == 0.0
    assert result["rates"]["n_channels_log_rate"] == 3
    assert result["pairwise_correlations"]["n_pairs_used"] == 3


def test_compare_respects_recorded_mask(rng):
    recorded = rng.poisson(0.2, size=(4, 300, 3)).astype(float)
    generated = rng.poisson(0.2, size=(2, 200, 3)).astype(float)
    padded = np.concatenate([recorded, np.full((2, 300, 3), -1.0)], axis=0)  # two garbage trials
    mask = np.ones(padded.shape, dtype=bool)
    mask[4:] = False
    expected = compare_spike_statistics(recorded, generated, 0.01, corr_bin_factor=3)
    _assert_nested_close(compare_spike_statistics(padded, generated, 0.01, mask, corr_bin_factor=3), expected)


# --------------------------------------------------------------------------------------------
# Invalid input
# --------------------------------------------------------------------------------------------

GOOD = np.ones((2, 10, 3))


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: firing_rates(np.ones((10, 3)), DT), "counts"),
        (lambda: firing_rates(np.ones((0, 10, 3)), DT), "counts"),
        (lambda: firing_rates([["a"]], DT), "counts"),
        (lambda: firing_rates(-GOOD, DT), "counts"),
        (lambda: firing_rates(np.where(GOOD > 0, np.nan, 0), DT), "counts"),
        (lambda: firing_rates(GOOD, 0.0), "bin_size_s"),
        (lambda: firing_rates(GOOD, float("nan")), "bin_size_s"),
        (lambda: firing_rates(GOOD, "1ms"), "bin_size_s"),
        (lambda: firing_rates(GOOD, DT, GOOD), "mask"),
        (lambda: firing_rates(GOOD, DT, np.ones((2, 10, 2), dtype=bool)), "mask"),
        (lambda: firing_rates(GOOD, DT, np.zeros(GOOD.shape, dtype=bool)), "mask"),
        (lambda: isi_cv(GOOD * 0.5, DT), "counts"),
        (lambda: isi_cv(GOOD, DT, min_intervals=0), "min_intervals"),
        (lambda: isi_cv(GOOD, DT, min_intervals=2.5), "min_intervals"),
        (lambda: pairwise_correlations(GOOD, bin_factor=0), "bin_factor"),
        (lambda: pairwise_correlations(GOOD, bin_factor=11), "bin_factor"),
        (lambda: compare_spike_statistics(GOOD, np.ones((2, 10, 4)), DT), "generated"),
        (lambda: compare_spike_statistics(GOOD, -GOOD, DT), "generated"),
        (lambda: compare_spike_statistics(-GOOD, GOOD, DT), "recorded"),
        (lambda: compare_spike_statistics(GOOD, GOOD, DT, GOOD), "recorded_mask"),
        (lambda: compare_spike_statistics(GOOD, GOOD, -1.0), "bin_size_s"),
        (lambda: compare_spike_statistics(GOOD, GOOD, DT, corr_bin_factor=20), "corr_bin_factor"),
        (lambda: compare_spike_statistics(GOOD, GOOD, DT, isi_min_intervals=0), "isi_min_intervals"),
    ],
)
def test_invalid_input_raises_config_error_naming_the_argument(call, field):
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.field == field
    assert f"'{field}'" in str(info.value)
