"""Goodness-of-fit metrics for latent dynamical models of neural recordings.

All functions are pure: they take numpy arrays, return numbers or numpy arrays and keep no
state. Bad arguments raise :class:`neurodyn.errors.NeurodynError` with a one-line message.

Modules
-------
:mod:`~neurodyn.analysis.metrics.prediction`
    Spike-count and prediction metrics: :func:`poisson_log_likelihood`, :func:`bits_per_spike`,
    :func:`psth_r2`, :func:`r2_score`.
:mod:`~neurodyn.analysis.metrics.state_space`
    State-space divergence: :func:`state_space_divergence`, :func:`state_space_coverage`.
:mod:`~neurodyn.analysis.metrics.spectra`
    Spectral metrics: :func:`power_spectrum_hellinger`, :func:`power_spectrum_error`,
    :func:`welch_spectra`, :func:`spectral_peak_hz`, :func:`latent_signal_coherence`.
:mod:`~neurodyn.analysis.metrics.behavior`
    Behaviour decoding (the Neural Latents Benchmark's ridge-regression R²):
    :func:`behavior_decoding`, :func:`fit_and_score_ridge`, :func:`ridge_fit`.
:mod:`~neurodyn.analysis.metrics._checks`
    Argument checking shared by the others (private).

This package re-exports every public name, so ``metrics.bits_per_spike`` and
``from neurodyn.analysis.metrics import bits_per_spike`` work without naming the module.

Conventions
-----------
Shapes
    ``channel`` is always the last axis. Spike-count metrics take ``(trial, time, channel)``
    (or ``(..., channel)`` where stated); trajectory metrics take ``(time, dim)`` or
    ``(trial, time, dim)``, the latter flattened to ``(trial * time, dim)``.
Masks
    ``mask`` is a boolean array of the data's shape, True = observed. Unobserved entries are
    left out of every sum and mean, and may hold anything (NaN included); observed entries must
    be finite.
Logarithms
    Natural logarithms throughout (nats), except :func:`bits_per_spike` (bits).

Definitions
-----------
Poisson log-likelihood
    ``sum(y log(lambda) - lambda - lgamma(y + 1))`` over observed entries, with the expected
    count ``lambda`` clipped below at 1e-9 so that a zero prediction is finite.
Co-smoothing bits per spike (Pei et al., 2021, NeurIPS Datasets and Benchmarks)
    ``(LL(model) - LL(null)) / (n_spikes * ln 2)``; the null model predicts, for every entry of
    a channel, that channel's mean count per bin over all observed entries of the evaluated data.
PSTH R^2
    Per condition, empirical PSTH = trial average of the counts, optionally Gaussian-smoothed
    along time; predicted PSTH = trial average of the expected counts, never smoothed. Per
    channel, ``R^2 = 1 - SS_res / SS_tot`` over all (condition, time) entries, ``SS_tot`` around
    the channel's grand mean of the empirical PSTH.
State-space divergence D_stsp (Koppe et al., 2019, PLOS Comput Biol; Mikhaeil et al., 2022,
NeurIPS; protocol of Pals et al., 2024, NeurIPS)
    ``KL(p_true || p_gen)``: the expectation is taken under the *true* state distribution, so
    regions the data visit but the model misses are penalised heavily, not vice versa. Below six
    dimensions both densities are Laplace-smoothed histograms on a grid spanned by ``x_true``;
    from six dimensions on they are mixtures of isotropic Gaussians centred on the time steps,
    and the KL is a Monte Carlo estimate with samples drawn from ``p_true``.
Power-spectrum Hellinger distance D_H (Mikhaeil et al., 2022, NeurIPS; Hess et al., 2023, ICML)
    Per channel, every trial is z-scored along time, its power spectrum ``|rfft|^2`` averaged
    over trials, the average Gaussian-smoothed along *frequency* and normalised to sum to one;
    ``H = sqrt(1 - sum(sqrt(p q)))``, in [0, 1].
Welch spectra
    One-sided Welch power spectral density (scipy.signal.welch, constant detrend) per trial,
    averaged over trials.
Spectral peak
    The frequency above 0 Hz at which the channel-averaged power spectrum is largest.
Behaviour R^2 (Pei et al., 2021, NeurIPS Datasets and Benchmarks)
    Ridge regression (with intercept) from the rates of every channel to the behaviour, each
    time bin a sample; penalty from ``logspace(-4, 0, 9)`` by 5-fold cross-validation over
    whole training trials; R^2 on the evaluation trials per behaviour dimension, averaged
    uniformly over dimensions.
"""

from neurodyn.analysis.metrics.behavior import (
    NLB_ALPHAS,
    RidgeDecoding,
    behavior_decoding,
    fit_and_score_ridge,
    ridge_fit,
)
from neurodyn.analysis.metrics.prediction import (
    MIN_EXPECTED_COUNT,
    bits_per_spike,
    poisson_log_likelihood,
    psth_r2,
    r2_score,
)
from neurodyn.analysis.metrics.spectra import (
    latent_signal_coherence,
    power_spectrum_error,
    power_spectrum_hellinger,
    spectral_peak_hz,
    welch_spectra,
)
from neurodyn.analysis.metrics.state_space import GMM_MIN_DIM, state_space_coverage, state_space_divergence

__all__ = [
    "GMM_MIN_DIM",
    "MIN_EXPECTED_COUNT",
    "NLB_ALPHAS",
    "RidgeDecoding",
    "behavior_decoding",
    "bits_per_spike",
    "fit_and_score_ridge",
    "latent_signal_coherence",
    "poisson_log_likelihood",
    "power_spectrum_error",
    "power_spectrum_hellinger",
    "psth_r2",
    "r2_score",
    "ridge_fit",
    "spectral_peak_hz",
    "state_space_coverage",
    "state_space_divergence",
    "welch_spectra",
]
