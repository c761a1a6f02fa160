"""Tests for neurodyn.analysis.metrics.

Every expected value is computed independently of the module: with scipy's Poisson pmf,
explicit Python loops, dense numpy histograms, explicit DFT matrices, closed-form Gaussian KL
or an independent Monte Carlo estimate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.ndimage import gaussian_filter1d
from scipy.special import logsumexp

from neurodyn.analysis.metrics import (
    bits_per_spike,
    poisson_log_likelihood,
    power_spectrum_error,
    power_spectrum_hellinger,
    psth_r2,
    r2_score,
    spectral_peak_hz,
    state_space_divergence,
    welch_spectra,
)
from neurodyn.errors import NeurodynError


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def _simulated_counts(rng: np.random.Generator, shape=(6, 40, 5)):
    """Poisson counts with time- and channel-varying rates: (counts, rates), both `shape`."""
    n_trials, n_time, n_channels = shape
    time = np.arange(n_time)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, size=(1, 1, n_channels))
    base = rng.uniform(0.3, 2.0, size=(1, 1, n_channels))
    rates = base * (1.0 + 0.8 * np.sin(2 * np.pi * time / 17.0 + phase))
    rates = np.broadcast_to(rates, shape).copy()
    return rng.poisson(rates).astype(float), rates


# ------------------------------------------------------------------------------------------
# Poisson log-likelihood and bits per spike
# ------------------------------------------------------------------------------------------


def test_poisson_log_likelihood_matches_scipy_logpmf(rng):
    counts, rates = _simulated_counts(rng)
    expected = rates * rng.uniform(0.5, 1.5, size=rates.shape)
    expected[0, 0, 0] = 0.0  # clipped to 1e-9
    counts[0, 0, 0] = 0.0
    reference = stats.poisson.logpmf(counts, np.maximum(expected, 1e-9)).sum()
    assert poisson_log_likelihood(counts, expected) == pytest.approx(reference, rel=1e-12)

    mask = rng.random(counts.shape) > 0.3
    reference_masked = stats.poisson.logpmf(counts, np.maximum(expected, 1e-9))[mask].sum()
    # Unobserved entries may hold NaN: they must not reach the sum.
    counts_with_gaps = np.where(mask, counts, np.nan)
    expected_with_gaps = np.where(mask, expected, np.nan)
    value = poisson_log_likelihood(counts_with_gaps, expected_with_gaps, mask=mask)
    assert value == pytest.approx(reference_masked, rel=1e-12)


def _brute_force_bits_per_spike(counts, expected, mask):
    """Double loop (channel, entry) over (trial, time, channel) arrays."""
    n_trials, n_time, n_channels = counts.shape
    model_ll = null_ll = total_spikes = 0.0
    for channel in range(n_channels):
        observed_values = [counts[r, t, channel] for r in range(n_trials) for t in range(n_time) if mask[r, t, channel]]
        null_rate = max(sum(observed_values) / len(observed_values), 1e-9)
        for r in range(n_trials):
            for t in range(n_time):
                if not mask[r, t, channel]:
                    continue
                y = counts[r, t, channel]
                lam = max(expected[r, t, channel], 1e-9)
                model_ll += y * math.log(lam) - lam - math.lgamma(y + 1)
                null_ll += y * math.log(null_rate) - null_rate - math.lgamma(y + 1)
                total_spikes += y
    return (model_ll - null_ll) / (total_spikes * math.log(2))


def test_bits_per_spike_matches_brute_force_double_loop(rng):
    counts, rates = _simulated_counts(rng, shape=(4, 15, 3))
    expected = rates * rng.uniform(0.6, 1.4, size=rates.shape)
    mask = rng.random(counts.shape) > 0.25
    reference = _brute_force_bits_per_spike(counts, expected, mask)
    assert bits_per_spike(counts, expected, mask=mask) == pytest.approx(reference, rel=1e-10)
    full = np.ones(counts.shape, dtype=bool)
    reference_full = _brute_force_bits_per_spike(counts, expected, full)
    assert bits_per_spike(counts, expected) == pytest.approx(reference_full, rel=1e-10)


def test_bits_per_spike_is_zero_for_null_model_and_positive_for_true_rates(rng):
    counts, rates = _simulated_counts(rng, shape=(20, 60, 6))
    null_prediction = np.broadcast_to(counts.mean(axis=(0, 1)), counts.shape)
    assert bits_per_spike(counts, null_prediction) == pytest.approx(0.0, abs=1e-12)
    true_score = bits_per_spike(counts, rates)
    assert true_score > 0.05
    # Rates misaligned in time carry less information than the generating rates.
    assert bits_per_spike(counts, np.roll(rates, 8, axis=1)) < true_score


def test_bits_per_spike_without_spikes_raises():
    counts = np.zeros((2, 5, 3))
    with pytest.raises(NeurodynError, match="no spikes"):
        bits_per_spike(counts, np.ones_like(counts))


# ------------------------------------------------------------------------------------------
# R^2 metrics
# ------------------------------------------------------------------------------------------


def _brute_force_r2(pairs):
    """pairs: list of (observed, predicted) scalars of one channel -> R^2."""
    mean = sum(o for o, _ in pairs) / len(pairs)
    ss_tot = sum((o - mean) ** 2 for o, _ in pairs)
    ss_res = sum((o - p) ** 2 for o, p in pairs)
    return 1.0 - ss_res / ss_tot


def test_psth_r2_matches_per_trial_smoothing_brute_force(rng):
    counts, rates = _simulated_counts(rng, shape=(9, 30, 4))
    expected = rates * rng.uniform(0.8, 1.2, size=rates.shape)
    conditions = np.array(["left", "right", "up"] * 3)
    sigma = 2.5
    result = psth_r2(counts, expected, conditions, smooth_sigma_bins=sigma)

    for channel in range(counts.shape[2]):
        pairs = []
        for label in ("left", "right", "up"):
            trials = [r for r in range(9) if conditions[r] == label]
            # Smoothing each trial first, then averaging, must equal the module's result.
            smoothed = [gaussian_filter1d(counts[r, :, channel], sigma, mode="nearest") for r in trials]
            empirical = np.mean(smoothed, axis=0)
            predicted = np.mean([expected[r, :, channel] for r in trials], axis=0)
            pairs.extend(zip(empirical, predicted))
        assert result[channel] == pytest.approx(_brute_force_r2(pairs), rel=1e-10)


def test_psth_r2_masked_matches_brute_force(rng):
    counts, rates = _simulated_counts(rng, shape=(6, 12, 3))
    expected = rates * rng.uniform(0.8, 1.2, size=rates.shape)
    conditions = np.array([3, 7, 3, 7, 7, 3])
    mask = rng.random(counts.shape) > 0.3
    mask[:, 0, 0] = False  # a time bin without any observed trial in channel 0
    result = psth_r2(np.where(mask, counts, np.nan), expected, conditions, mask=mask)

    for channel in range(3):
        pairs = []
        for label in (3, 7):
            for t in range(12):
                trials = [r for r in range(6) if conditions[r] == label and mask[r, t, channel]]
                if not trials:
                    continue
                empirical = sum(counts[r, t, channel] for r in trials) / len(trials)
                predicted = sum(expected[r, t, channel] for r in trials) / len(trials)
                pairs.append((empirical, predicted))
        assert result[channel] == pytest.approx(_brute_force_r2(pairs), rel=1e-10)


def test_psth_r2_perfect_prediction_and_constant_channel(rng):
    counts, _ = _simulated_counts(rng, shape=(4, 10, 3))
    counts[:, :, 2] = 1.0  # constant channel: R^2 undefined
    conditions = np.array(["a", "b", "a", "b"])
    # Predicting every trial by its condition average reproduces the empirical PSTH exactly.
    expected = counts.copy()
    for label in ("a", "b"):
        rows = conditions == label
        expected[rows] = counts[rows].mean(axis=0)
    result = psth_r2(counts, expected, conditions)
    np.testing.assert_allclose(result[:2], 1.0, rtol=1e-12)
    assert np.isnan(result[2])


def test_r2_score_matches_brute_force_and_mask(rng):
    observed = rng.normal(size=(3, 8, 4))
    predicted = observed + 0.5 * rng.normal(size=observed.shape)
    mask = rng.random(observed.shape) > 0.2
    result = r2_score(observed, predicted, mask=mask)
    for channel in range(4):
        pairs = [
            (observed[r, t, channel], predicted[r, t, channel])
            for r in range(3)
            for t in range(8)
            if mask[r, t, channel]
        ]
        assert result[channel] == pytest.approx(_brute_force_r2(pairs), rel=1e-10)

    # Predicting each channel's mean scores exactly 0; a constant channel is NaN.
    observed_2d = rng.normal(size=(50, 3))
    observed_2d[:, 1] = 4.0
    mean_prediction = np.broadcast_to(observed_2d.mean(axis=0), observed_2d.shape)
    result_2d = r2_score(observed_2d, mean_prediction)
    assert result_2d[0] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(result_2d[1])
    np.testing.assert_allclose(r2_score(observed_2d[:, [0, 2]], observed_2d[:, [0, 2]]), 1.0)


# ------------------------------------------------------------------------------------------
# State-space divergence
# ------------------------------------------------------------------------------------------


def _dense_histogram_kl(x_true, x_gen, n_bins, alpha):
    """Reference: dense np.histogramdd on the protocol's grid."""
    spread = x_true.std(axis=0)
    ranges = [(lo - 0.1 * s, hi + 0.1 * s) for lo, hi, s in zip(x_true.min(axis=0), x_true.max(axis=0), spread)]
    true_hist, _ = np.histogramdd(x_true, bins=n_bins, range=ranges)
    gen_hist, _ = np.histogramdd(x_gen, bins=n_bins, range=ranges)
    p = (true_hist + alpha) / (true_hist + alpha).sum()
    q = (gen_hist + alpha) / (gen_hist + alpha).sum()
    return float(np.sum(p * np.log(p / q)))


@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_histogram_divergence_matches_dense_histogramdd(rng, n_dims):
    x_true = rng.normal(size=(2000, n_dims))
    # Wider generated cloud: part of it falls outside the grid and must be dropped.
    x_gen = 1.5 * rng.normal(size=(1500, n_dims)) + 0.3
    # Points exactly on the grid's lower and upper corners belong to the first and last bins.
    spread = x_true.std(axis=0)
    corners = np.stack([x_true.min(axis=0) - 0.1 * spread, x_true.max(axis=0) + 0.1 * spread])
    x_gen = np.concatenate([x_gen, np.repeat(corners, 40, axis=0)])
    for alpha in (1e-5, 0.5):
        reference = _dense_histogram_kl(x_true, x_gen, 12, alpha)
        value = state_space_divergence(x_true, x_gen, n_bins=12, alpha=alpha)
        assert value == pytest.approx(reference, rel=1e-9)


def test_state_space_divergence_flattens_trials(rng):
    trials = rng.normal(size=(4, 100, 2))
    gen = rng.normal(size=(3, 90, 2)) + 0.2
    assert state_space_divergence(trials, gen) == pytest.approx(
        state_space_divergence(trials.reshape(-1, 2), gen.reshape(-1, 2)), rel=1e-12
    )


def test_state_space_coverage_counts_the_generated_steps_the_histogram_keeps(rng):
    from neurodyn.analysis.metrics import state_space_coverage

    x_true = rng.normal(size=(500, 3))
    spread = x_true.std(axis=0)
    lower, upper = x_true.min(axis=0) - 0.1 * spread, x_true.max(axis=0) + 0.1 * spread
    x_gen = rng.normal(scale=2.0, size=(400, 3))
    expected = np.mean([all(lower[d] <= p[d] <= upper[d] for d in range(3)) for p in x_gen])
    assert 0 < expected < 1
    assert state_space_coverage(x_true, x_gen) == pytest.approx(expected, abs=0)
    assert state_space_coverage(x_true, x_true) == 1.0
    # a run that never enters the box: D_stsp reads the uniform histogram's value whatever the run
    far, farther = np.full((50, 3), 100.0), rng.normal(size=(80, 3)) - 1e3
    assert state_space_coverage(x_true, far) == 0.0
    assert state_space_divergence(x_true, far) == pytest.approx(state_space_divergence(x_true, farther), rel=1e-12)
    assert state_space_coverage(rng.normal(size=(50, 6)), rng.normal(size=(50, 6))) is None
    with pytest.raises(NeurodynError, match="x_gen"):
        state_space_coverage(x_true, x_gen[:, :2])


@pytest.mark.parametrize("n_dims", [3, 8])
def test_state_space_divergence_zero_for_identical_and_orders_shifts(rng, n_dims):
    x_true = rng.normal(size=(3000, n_dims))
    assert state_space_divergence(x_true, x_true.copy()) == pytest.approx(0.0, abs=1e-12)
    perturbed = x_true + 0.05 * rng.normal(size=x_true.shape)
    shifted = x_true + 1.5
    small = state_space_divergence(x_true, perturbed)
    large = state_space_divergence(x_true, shifted)
    assert large > small + 0.5


def test_gmm_divergence_matches_closed_form_gaussian_kl():
    # With every centre at one point, each mixture is exactly N(centre, sigma^2 I), so
    # KL = |mu_true - mu_gen|^2 / (2 sigma^2).
    n_dims, sigma = 7, 1.5
    mu_true = np.linspace(-1.0, 1.0, n_dims)
    offset = np.full(n_dims, 1.5 / math.sqrt(n_dims))  # |offset| = 1.5
    x_true = np.tile(mu_true, (5, 1))
    x_gen = np.tile(mu_true + offset, (8, 1))
    exact = float(offset @ offset) / (2 * sigma**2)
    value = state_space_divergence(x_true, x_gen, gmm_sigma=sigma, n_mc=20_000, seed=3)
    # Standard error of the estimate: |offset| / sigma / sqrt(n_mc) = 0.007.
    assert value == pytest.approx(exact, abs=0.03)


def test_gmm_divergence_matches_independent_monte_carlo(rng):
    n_dims, sigma = 6, 0.8
    x_true = rng.normal(size=(60, n_dims))
    x_gen = 1.3 * rng.normal(size=(45, n_dims)) + 0.4

    def log_mixture(points, centres):
        sq = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        return (
            logsumexp(-sq / (2 * sigma**2), axis=1)
            - math.log(len(centres))
            - 0.5 * n_dims * math.log(2 * math.pi * sigma**2)
        )

    reference_rng = np.random.default_rng(999)
    n_reference = 100_000
    draws = x_true[reference_rng.integers(0, len(x_true), n_reference)]
    draws = draws + sigma * reference_rng.standard_normal((n_reference, n_dims))
    log_ratio = log_mixture(draws, x_true) - log_mixture(draws, x_gen)
    reference = log_ratio.mean()

    n_mc = 20_000
    value = state_space_divergence(x_true, x_gen, gmm_sigma=sigma, n_mc=n_mc, seed=1)
    tolerance = 4 * log_ratio.std() * math.sqrt(1 / n_mc + 1 / n_reference)
    assert abs(value - reference) < tolerance


# ------------------------------------------------------------------------------------------
# Spectral metrics
# ------------------------------------------------------------------------------------------


def _sinusoid_plus_noise(rng, n_trials, n_time, n_channels, period=25.0, noise=0.3):
    time = np.arange(n_time)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n_trials, 1, n_channels))
    return np.sin(2 * np.pi * time / period + phase) + noise * rng.normal(size=(n_trials, n_time, n_channels))


def test_hellinger_identical_symmetric_bounded_and_separates_oscillation(rng):
    noise_a = rng.normal(size=(5, 1000, 3))
    noise_b = rng.normal(size=(4, 1000, 3))
    oscillation = _sinusoid_plus_noise(rng, 5, 1000, 3)

    identical, per_channel_identical, _ = power_spectrum_hellinger(noise_a, noise_a.copy())
    assert identical == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(per_channel_identical, 0.0, atol=1e-7)

    same_kind, _, _ = power_spectrum_hellinger(noise_a, noise_b)
    different, per_channel, _ = power_spectrum_hellinger(noise_a, oscillation)
    reverse, per_channel_reverse, _ = power_spectrum_hellinger(oscillation, noise_a)
    assert different > 0.3 > 0.1 > same_kind
    assert reverse == pytest.approx(different, rel=1e-12)
    np.testing.assert_allclose(per_channel_reverse, per_channel, rtol=1e-12)
    assert np.all((per_channel >= 0) & (per_channel <= 1))

    # Disjoint spectral support (no smoothing) is as far apart as it gets: H = 1.
    time = np.arange(200)
    low = np.sin(2 * np.pi * 5 * time / 200)[:, None]
    high = np.sin(2 * np.pi * 40 * time / 200)[:, None]
    disjoint, _, sigma_used = power_spectrum_hellinger(low, high, smoothing_sigma=0.0)
    assert disjoint == pytest.approx(1.0, abs=1e-6)
    assert sigma_used == 0.0


def test_hellinger_matches_explicit_dft_computation(rng):
    x_true = _sinusoid_plus_noise(rng, 3, 64, 1, period=9.0)
    x_gen = rng.normal(size=(2, 64, 1))
    sigma = 2.0

    def spectrum(trials):
        n_time = trials.shape[1]
        freqs = np.arange(n_time // 2 + 1)
        dft = np.exp(-2j * np.pi * np.outer(freqs, np.arange(n_time)) / n_time)
        powers = []
        for trial in trials[:, :, 0]:
            z = (trial - trial.mean()) / trial.std()
            powers.append(np.abs(dft @ z) ** 2)
        smoothed = gaussian_filter1d(np.mean(powers, axis=0), sigma)
        return smoothed / smoothed.sum()

    expected = math.sqrt(1 - np.sum(np.sqrt(spectrum(x_true) * spectrum(x_gen))))
    mean, per_channel, sigma_used = power_spectrum_hellinger(x_true, x_gen, smoothing_sigma=sigma)
    assert sigma_used == sigma
    assert per_channel[0] == pytest.approx(expected, rel=1e-9)
    assert mean == pytest.approx(expected, rel=1e-9)


def test_hellinger_truncates_longer_input_and_clamps_sigma(rng):
    x_true = rng.normal(size=(3, 200, 2))
    x_gen = _sinusoid_plus_noise(rng, 2, 330, 2)
    long_version = power_spectrum_hellinger(x_true, x_gen, smoothing_sigma=4.0)
    truncated = power_spectrum_hellinger(x_true, x_gen[:, :200], smoothing_sigma=4.0)
    assert long_version[0] == pytest.approx(truncated[0], rel=1e-12)
    np.testing.assert_allclose(long_version[1], truncated[1], rtol=1e-12)

    # 200 samples -> 101 frequency bins -> sigma clamped to 10.1 bins.
    clamped = power_spectrum_hellinger(x_true, x_gen, smoothing_sigma=1000.0)
    explicit = power_spectrum_hellinger(x_true, x_gen, smoothing_sigma=10.1)
    assert clamped[2] == pytest.approx(10.1)
    assert clamped[0] == pytest.approx(explicit[0], rel=1e-12)


def test_hellinger_constant_channels_are_nan(rng):
    x_true = rng.normal(size=(100, 3))
    x_gen = rng.normal(size=(100, 3))
    x_gen[:, 1] = 0.7
    mean, per_channel, _ = power_spectrum_hellinger(x_true, x_gen)
    assert np.isnan(per_channel[1]) and not np.isnan(per_channel[[0, 2]]).any()
    assert mean == pytest.approx(per_channel[[0, 2]].mean(), rel=1e-12)
    with pytest.raises(NeurodynError, match="constant"):
        power_spectrum_hellinger(x_true, np.ones((100, 3)))


def test_welch_spectra_variance_peak_and_trial_average(rng):
    fs = 100.0
    noise = 2.0 * rng.normal(size=(8, 2048, 2))
    freqs, psd = welch_spectra(noise, fs)
    assert psd.shape == (2, freqs.size) and freqs.size == 129  # nperseg 256
    # A one-sided PSD integrates to the variance (4 for std 2).
    variance = psd.sum(axis=1) * (freqs[1] - freqs[0])
    np.testing.assert_allclose(variance, 4.0, rtol=0.05)

    time = np.arange(1000) / fs
    sine = np.stack([np.sin(2 * np.pi * 12.5 * time), np.sin(2 * np.pi * 30.0 * time)], axis=1)
    freqs_sine, psd_sine = welch_spectra(sine, fs, nperseg=200)
    np.testing.assert_allclose(freqs_sine[psd_sine.argmax(axis=1)], [12.5, 30.0])

    # Trial averaging: the mean of single-trial spectra.
    per_trial = [welch_spectra(trial, fs)[1] for trial in noise]
    np.testing.assert_allclose(psd, np.mean(per_trial, axis=0), rtol=1e-12)
    short_freqs, _ = welch_spectra(noise[:, :100], fs)
    assert short_freqs.size == 51  # nperseg defaults to the 100 available samples


def test_spectral_peak_is_the_channel_averaged_maximum_above_zero_hz(rng):
    fs = 100.0
    time = np.arange(2000) / fs
    # channel 0: a strong 7 Hz rhythm; channel 1: a weaker 20 Hz one; both over a large DC offset
    x = np.stack([5.0 * np.sin(2 * np.pi * 7.0 * time), np.sin(2 * np.pi * 20.0 * time)], axis=1) + 100.0
    x = x + 0.1 * rng.normal(size=x.shape)
    freqs, psd = welch_spectra(x, fs, nperseg=200)
    assert spectral_peak_hz(freqs, psd) == pytest.approx(7.0)
    assert spectral_peak_hz(freqs, psd[1]) == pytest.approx(20.0)  # one channel, (freq,)
    # a diverged channel (NaN) is left out; all diverged, flat or only 0 Hz: no peak
    assert spectral_peak_hz(freqs, np.stack([np.full(freqs.size, np.nan), psd[1]])) == pytest.approx(20.0)
    assert spectral_peak_hz(freqs, np.full_like(psd, np.nan)) is None
    assert spectral_peak_hz(freqs, np.zeros_like(psd)) is None
    assert spectral_peak_hz(freqs[:1], psd[:, :1]) is None
    # ties keep the lowest frequency; power at 0 Hz never counts
    flat_but_dc = np.ones(freqs.size)
    flat_but_dc[0] = 1e6
    flat_but_dc[[10, 30]] = 2.0
    assert spectral_peak_hz(freqs, flat_but_dc) == pytest.approx(freqs[10])
    with pytest.raises(NeurodynError, match="psd"):
        spectral_peak_hz(freqs, psd[:, :-1])


# ------------------------------------------------------------------------------------------
# Argument checking
# ------------------------------------------------------------------------------------------

_COUNTS = np.ones((2, 4, 3))
_NAN_COUNTS = np.where(np.arange(24).reshape(2, 4, 3) == 5, np.nan, 1.0)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: poisson_log_likelihood(_COUNTS, np.ones((2, 4, 2))), "expected"),
        (lambda: poisson_log_likelihood(_NAN_COUNTS, _COUNTS), "counts"),
        (lambda: poisson_log_likelihood(np.ones((0, 3)), np.ones((0, 3))), "counts"),
        (lambda: poisson_log_likelihood(-_COUNTS, _COUNTS), "counts"),
        (lambda: poisson_log_likelihood(_COUNTS, -_COUNTS), "expected"),
        (lambda: poisson_log_likelihood(_COUNTS, _COUNTS, mask=np.ones((2, 4, 3))), "mask"),
        (lambda: poisson_log_likelihood(_COUNTS, _COUNTS, mask=np.ones((2, 4), bool)), "mask"),
        (lambda: bits_per_spike(np.ones((4, 3)), np.ones((4, 3))), "counts"),
        (lambda: psth_r2(_COUNTS, _COUNTS, ["a", "b", "c"]), "conditions"),
        (lambda: psth_r2(_COUNTS, _COUNTS, [1.0, np.nan]), "conditions"),
        (lambda: psth_r2(_COUNTS, _COUNTS, ["a", "b"], smooth_sigma_bins=-1), "smooth_sigma"),
        (lambda: r2_score(np.ones(3), np.ones(3)), "observed"),
        (lambda: r2_score(_NAN_COUNTS, _COUNTS), "observed"),
        (lambda: state_space_divergence(np.ones((5, 2)), np.ones((5, 3))), "x_gen"),
        (lambda: state_space_divergence(np.ones(5), np.ones(5)), "x_true"),
        (lambda: state_space_divergence(_NAN_COUNTS, _COUNTS), "x_true"),
        (lambda: state_space_divergence(np.ones((5, 2)), np.ones((5, 2)), n_bins=0), "n_bins"),
        (lambda: state_space_divergence(np.ones((5, 7)), np.ones((5, 7)), gmm_sigma=0), "gmm"),
        (lambda: power_spectrum_hellinger(np.ones((9, 2)), np.ones((9, 3))), "x_gen"),
        (lambda: power_spectrum_hellinger(np.ones((0, 2)), np.ones((9, 2))), "x_true"),
        (lambda: welch_spectra(np.ones((50, 2)), fs=0.0), "fs"),
        (lambda: welch_spectra(np.ones((50, 2)), fs=10.0, nperseg=80), "nperseg"),
    ],
)
def test_bad_arguments_raise_one_line_error_naming_argument(call, argument):
    with pytest.raises(NeurodynError) as caught:
        call()
    message = str(caught.value)
    assert argument in message and "\n" not in message


def test_power_spectrum_error_bands_see_where_spectra_differ():
    fs, n = 1000.0, 4000
    t = np.arange(n) / fs
    rng = np.random.default_rng(0)
    noise = 0.3 * rng.normal(size=(n, 1))
    slow, fast = np.sin(2 * np.pi * 10 * t)[:, None], np.sin(2 * np.pi * 200 * t)[:, None]
    truth = slow + fast + noise
    same = power_spectrum_error(truth, truth.copy(), fs)
    assert same["all"] == 0 and same["low"] == 0 and same["high"] == 0
    # moving the slow component to 20 Hz changes only the low band
    moved_slow = np.sin(2 * np.pi * 20 * t)[:, None] + fast + noise
    err = power_spectrum_error(truth, moved_slow, fs)
    assert err["low"] > 0.5 and err["high"] < 0.05
    # moving the fast component to 300 Hz changes only the high band
    moved_fast = slow + np.sin(2 * np.pi * 300 * t)[:, None] + noise
    err = power_spectrum_error(truth, moved_fast, fs)
    assert err["high"] > 0.5 and err["low"] < 0.05
    # a split above the Nyquist frequency leaves the high band empty
    assert power_spectrum_error(truth, moved_fast, fs, split_hz=600.0)["high"] is None
    # the error is the normalised squared difference of the normalised spectra
    p = np.abs(np.fft.rfft((truth - truth.mean()) / truth.std(), axis=0)) ** 2
    q = np.abs(np.fft.rfft((moved_fast - moved_fast.mean()) / moved_fast.std(), axis=0)) ** 2
    p, q = p / p.sum(), q / q.sum()
    np.testing.assert_allclose(err["all"], ((p - q) ** 2).sum() / (p**2 + q**2).sum(), rtol=1e-10)
    # disjoint spectra score 1, the largest possible error
    lone = power_spectrum_error(np.sin(2 * np.pi * 10 * t)[:, None], np.sin(2 * np.pi * 300 * t)[:, None], fs)
    assert lone["all"] == pytest.approx(1.0, abs=1e-6)


def test_psth_r2_with_the_benchmark_target_matches_its_definition():
    """NLB (Pei et al. 2021): the recorded PSTH of each condition averages all of its trials (then
    smoothed), the predicted one the evaluation trials; R² per neuron over (condition, time)."""
    rng = np.random.default_rng(3)
    n_trials, T, N, sigma = 60, 25, 5, 1.5
    conditions = np.array(["a", "b", "c"] * 20)
    rates = rng.uniform(0.5, 3.0, size=(3, T, N))
    code = {"a": 0, "b": 1, "c": 2}
    counts = rng.poisson(rates[[code[c] for c in conditions]]).astype(float)
    evaluation = np.arange(n_trials) % 4 == 0  # 15 evaluation trials, 5 per condition
    predicted = rates[[code[c] for c in conditions[evaluation]]] * rng.uniform(0.8, 1.2, size=(evaluation.sum(), T, N))
    ours = psth_r2(
        counts[evaluation],
        predicted,
        conditions[evaluation],
        smooth_sigma_bins=sigma,
        target=(counts, conditions, None),
    )
    # the definition, written out independently
    truth = np.stack([gaussian_filter1d(counts[conditions == c].mean(0), sigma, axis=0, mode="nearest") for c in "abc"])
    pred = np.stack([predicted[conditions[evaluation] == c].mean(0) for c in "abc"])
    truth, pred = truth.reshape(-1, N), pred.reshape(-1, N)
    expected = 1 - ((truth - pred) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    # the evaluation-trials-only target is a different (noisier) number
    eval_only = psth_r2(counts[evaluation], predicted, conditions[evaluation], smooth_sigma_bins=sigma)
    assert np.abs(eval_only - ours).max() > 1e-3
    with pytest.raises(NeurodynError, match="target counts"):
        psth_r2(counts[evaluation], predicted, conditions[evaluation], target=(counts[:, :3], conditions, None))


def test_a_band_without_recorded_power_is_absent_not_one():
    """The smoothed-EEG case: at 160 Hz after Hann smoothing nothing is left above 50 Hz, so a near
    copy must not score ≈ 1 there; the low band still scores, and a band with power still does."""
    from scipy import signal

    fs, n = 160.0, 9600
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(n, 4))
    window = signal.windows.hann(41)
    smooth = signal.fftconvolve(raw, (window / window.sum())[:, None], mode="same", axes=0)
    near_copy = smooth + 1e-3 * rng.normal(size=smooth.shape)
    # an independent check of the premise: under 0.1 % of the smoothed signal's power lies above 50 Hz
    f, pxx = signal.periodogram(smooth - smooth.mean(0), fs=fs, axis=0)
    assert (pxx[f > 50].sum(0) / pxx.sum(0)).max() < 1e-3
    err = power_spectrum_error(smooth, near_copy, fs)
    assert err["high"] is None and np.isnan(err["per_channel"]["high"]).all()
    assert err["low"] is not None and err["low"] < 0.05
    # without the rule, the same numbers read as a large error in the empty band
    ungated = power_spectrum_error(smooth, near_copy, fs, min_band_power=0.0)
    assert ungated["high"] > 0.5
    # broadband signals keep their high band
    assert power_spectrum_error(raw, raw + 0.1 * rng.normal(size=raw.shape), fs)["high"] < 0.1
    with pytest.raises(NeurodynError, match="min_band_power"):
        power_spectrum_error(smooth, near_copy, fs, min_band_power=1.5)


def test_latent_signal_coherence_finds_the_shared_rhythm():
    from neurodyn.analysis.metrics import latent_signal_coherence

    rng = np.random.default_rng(0)
    fs, n = 200.0, 4096
    t = np.arange(n) / fs
    rhythm = np.sin(2 * np.pi * 12 * t)
    latents = np.stack([rhythm + 0.5 * rng.normal(size=n), rng.normal(size=n)], axis=1)
    signals = np.stack([0.7 * rhythm + 0.5 * rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)], axis=1)
    freqs, coh = latent_signal_coherence(latents[None], signals[None], fs)
    assert coh.shape == (2, 3, freqs.size) and np.nanmax(coh) <= 1 + 1e-12
    at = int(np.argmin(np.abs(freqs - 12)))
    assert coh[0, 0, at] > 0.8  # the shared 12 Hz rhythm
    assert coh[1, 0, at] < 0.3 and coh[0, 1, at] < 0.3  # independent noise elsewhere
    # it matches scipy's own coherence for one trial and one pair
    from scipy import signal as sps

    _, ref = sps.coherence(latents[:, 0], signals[:, 0], fs=fs, nperseg=256)
    np.testing.assert_allclose(coh[0, 0], ref, rtol=1e-8, atol=1e-12)
    with pytest.raises(NeurodynError, match="same trials and bins"):
        latent_signal_coherence(latents[None], signals[None, :100], fs)
