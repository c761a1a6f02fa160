"""Spike-count and prediction metrics: Poisson log-likelihood, co-smoothing bits per spike
(Pei et al., 2021, NeurIPS Datasets and Benchmarks), condition-averaged PSTH R^2 and the R^2 score."""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.special import gammaln

from neurodyn.analysis.metrics._checks import (
    as_float_array,
    check_finite,
    check_ndim,
    check_positive,
    check_same_shape,
    observed_mask,
)
from neurodyn.errors import NeurodynError

# Expected counts are clipped to this floor so that log(lambda) stays finite.
MIN_EXPECTED_COUNT = 1e-9

# A sum of squares this small relative to the sum of squared values is rounding noise, so the
# quantity is treated as constant (R^2 undefined).
_RELATIVE_ZERO_VARIANCE = 1e-24


def _counts_and_expected(
    counts: np.ndarray, expected: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a (counts, expected, mask) triple and neutralise unobserved entries.

    counts, expected, mask: same shape (..., channel) -> (counts, expected, observed), with
    unobserved counts set to 0 and unobserved expected counts set to 1 so that they are
    finite; callers still have to weight by ``observed``.
    """
    counts = as_float_array("counts", counts)
    expected = as_float_array("expected", expected)
    check_same_shape("counts", counts, "expected", expected)
    observed = observed_mask(mask, counts.shape)
    check_finite("counts", counts, observed)
    check_finite("expected", expected, observed)
    if (counts[observed] < 0).any():
        raise NeurodynError("counts: contains negative values")
    if (expected[observed] < 0).any():
        raise NeurodynError("expected: contains negative expected counts")
    counts = np.where(observed, counts, 0.0)
    expected = np.where(observed, np.maximum(expected, MIN_EXPECTED_COUNT), 1.0)
    return counts, expected, observed


def _poisson_log_likelihood_terms(counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per-entry Poisson log-likelihood ``y log(lambda) - lambda - lgamma(y + 1)``.

    counts, expected: same shape (...), expected already clipped > 0 -> same shape (...).
    """
    return counts * np.log(expected) - expected - gammaln(counts + 1.0)


def _masked_r2(observed_values: np.ndarray, predicted_values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-channel R^2 over the leading axes, using only entries with ``weight`` True.

    observed_values, predicted_values, weight: (entry, channel) -> (channel,); NaN where the
    observed values of a channel have no variance or no entry is used.
    """
    n_used = weight.sum(axis=0)
    weighted = np.where(weight, observed_values, 0.0)
    channel_mean = weighted.sum(axis=0) / np.maximum(n_used, 1)
    ss_tot = np.where(weight, (observed_values - channel_mean) ** 2, 0.0).sum(axis=0)
    ss_res = np.where(weight, (observed_values - predicted_values) ** 2, 0.0).sum(axis=0)
    sum_sq = (weighted**2).sum(axis=0)
    undefined = (n_used == 0) | (ss_tot <= _RELATIVE_ZERO_VARIANCE * sum_sq)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - ss_res / ss_tot
    return np.where(undefined, np.nan, r2)


def poisson_log_likelihood(counts: np.ndarray, expected: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Total Poisson log-likelihood of spike counts under predicted expected counts.

    Sum over observed entries of ``y log(lambda) - lambda - lgamma(y + 1)``, in nats; expected
    counts below 1e-9 are clipped to 1e-9.

    Args:
        counts: (..., channel) non-negative spike counts per bin.
        expected: (..., channel) expected count per bin (>= 0), same shape as ``counts``.
        mask: (..., channel) boolean, True = observed; None = all observed.

    Returns:
        The log-likelihood summed over all observed entries.
    """
    counts, expected, observed = _counts_and_expected(counts, expected, mask)
    terms = _poisson_log_likelihood_terms(counts, expected)
    return float(np.sum(terms, where=observed))


def bits_per_spike(counts: np.ndarray, expected: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Co-smoothing bits per spike (Pei et al., 2021, NeurIPS Datasets and Benchmarks).

    ``(LL(model) - LL(null)) / (n_spikes * ln 2)`` where the null model predicts, for every
    entry of a channel, that channel's mean count per bin over all observed (trial, time)
    entries of ``counts`` itself, and ``n_spikes`` is the total observed spike count.
    Positive values mean the model predicts better than each channel's mean rate.

    Args:
        counts: (trial, time, channel) non-negative spike counts.
        expected: (trial, time, channel) predicted expected counts per bin.
        mask: (trial, time, channel) boolean, True = observed; None = all observed.

    Returns:
        Bits per spike (a float, unbounded below, typically < 1 above).
    """
    counts_array = as_float_array("counts", counts)
    check_ndim("counts", counts_array, (3,), "(trial, time, channel)")
    counts, expected, observed = _counts_and_expected(counts_array, expected, mask)
    n_spikes = float(np.sum(counts, where=observed))
    if n_spikes <= 0:
        raise NeurodynError("counts: contains no spikes in the observed entries")

    n_observed = observed.sum(axis=(0, 1))
    channel_mean = counts.sum(axis=(0, 1)) / np.maximum(n_observed, 1)
    null_expected = np.broadcast_to(np.maximum(channel_mean, MIN_EXPECTED_COUNT), counts.shape)

    model_ll = np.sum(_poisson_log_likelihood_terms(counts, expected), where=observed)
    null_ll = np.sum(_poisson_log_likelihood_terms(counts, null_expected), where=observed)
    return float((model_ll - null_ll) / (n_spikes * math.log(2.0)))


def _condition_codes(conditions: object, n_trials: int) -> np.ndarray:
    """Integer code per trial, numbering condition labels in order of first appearance.

    conditions: (trial,) hashable labels -> (trial,) int codes in [0, n_conditions).
    """
    labels = np.asarray(conditions)
    if labels.ndim != 1 or labels.shape[0] != n_trials:
        raise NeurodynError(f"conditions: expected shape ({n_trials},) (one label per trial), got {labels.shape}")
    code_of_label: dict[Hashable, int] = {}
    codes = np.empty(n_trials, dtype=np.intp)
    for trial, label in enumerate(labels.tolist()):
        # NaN != NaN, so a NaN label would silently form one condition per trial.
        if isinstance(label, float) and math.isnan(label):
            raise NeurodynError(f"conditions: label of trial {trial} is NaN")
        try:
            codes[trial] = code_of_label.setdefault(label, len(code_of_label))
        except TypeError:
            raise NeurodynError(f"conditions: label of trial {trial} ({label!r}) is not hashable") from None
    return codes


def psth_r2(
    counts: np.ndarray,
    expected: np.ndarray,
    conditions: np.ndarray,
    *,
    smooth_sigma_bins: float = 0.0,
    mask: np.ndarray | None = None,
    target: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
) -> np.ndarray:
    """Per-channel R^2 between empirical and predicted condition-averaged PSTHs.

    For each condition, the empirical PSTH is the mean of ``counts`` over that condition's
    trials, Gaussian-smoothed along time with sigma ``smooth_sigma_bins`` (mode 'nearest') when
    that is > 0; the predicted PSTH is the mean of ``expected`` over the same trials, not
    smoothed. ``R^2 = 1 - SS_res / SS_tot`` per channel over all (condition, time) entries, with
    ``SS_tot`` taken around the channel's grand mean of the empirical PSTH.

    With a mask, the trial averages use only observed entries, and the empirical PSTH is
    smoothed by normalised convolution (smoothed PSTH times availability, divided by smoothed
    availability), so (condition, time) entries without any observed trial neither contribute
    nor leak into their neighbours; they are left out of the R^2. Without gaps this equals
    smoothing each trial and then averaging.

    Args:
        counts: (trial, time, channel) spike counts.
        expected: (trial, time, channel) predicted expected counts.
        conditions: (trial,) condition label per trial (any hashable values, strings allowed).
        smooth_sigma_bins: Gaussian smoothing width in time bins for the empirical PSTH; 0 = none.
        mask: (trial, time, channel) boolean, True = observed; None = all observed.
        target: (counts, conditions, mask) of the trials the empirical PSTH is averaged over, when
            that is not the evaluation trials themselves: the Neural Latents Benchmark's PSTH R²
            (Pei et al. 2021) takes it over all trials of each condition, the predicted PSTH over
            the evaluation trials. Same time and channel axes; its mask may be None.

    Returns:
        (channel,) R^2 per channel; NaN where the empirical PSTH is constant (SS_tot == 0).
    """
    counts_array = as_float_array("counts", counts)
    check_ndim("counts", counts_array, (3,), "(trial, time, channel)")
    counts, expected, observed = _counts_and_expected(counts_array, expected, mask)
    smooth_sigma_bins = check_positive("smooth_sigma_bins", smooth_sigma_bins, allow_zero=True)
    if target is None:
        codes = _condition_codes(conditions, counts.shape[0])
        n_conditions = int(codes.max()) + 1
        empirical, available = _condition_means(counts, observed, codes, n_conditions)
        predicted, _ = _condition_means(expected, observed, codes, n_conditions)
    else:
        target_counts = as_float_array("target counts", target[0])
        check_ndim("target counts", target_counts, (3,), "(trial, time, channel)")
        if target_counts.shape[1:] != counts.shape[1:]:
            raise NeurodynError(
                f"target counts: expected (trial, {counts.shape[1]}, {counts.shape[2]}), got {target_counts.shape}"
            )
        target_observed = observed_mask(target[2], target_counts.shape)
        check_finite("target counts", target_counts, target_observed)
        n_eval = counts.shape[0]
        labels = np.concatenate([np.asarray(conditions, dtype=object), np.asarray(target[1], dtype=object)])
        codes = _condition_codes(labels, labels.shape[0])
        n_conditions = int(codes.max()) + 1
        empirical, available = _condition_means(target_counts, target_observed, codes[n_eval:], n_conditions)
        predicted, predicted_available = _condition_means(expected, observed, codes[:n_eval], n_conditions)
        # only conditions (and bins) with evaluation trials are scored
        empirical_available = available
        available = available & predicted_available

    if smooth_sigma_bins > 0:
        # smoothed over every bin the empirical PSTH has, whether or not it is scored
        has = available if target is None else empirical_available
        smoothed_sum = gaussian_filter1d(empirical * has, smooth_sigma_bins, axis=1, mode="nearest")
        smoothed_availability = gaussian_filter1d(has.astype(np.float64), smooth_sigma_bins, axis=1, mode="nearest")
        # Wherever an entry is available the kernel's own centre weight keeps this > 0.
        empirical = np.where(has, smoothed_sum / np.maximum(smoothed_availability, 1e-300), 0)

    n_channels = counts.shape[-1]
    return _masked_r2(
        empirical.reshape(-1, n_channels),
        predicted.reshape(-1, n_channels),
        available.reshape(-1, n_channels),
    )


def _condition_means(
    values: np.ndarray, observed: np.ndarray, codes: np.ndarray, n_conditions: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean over each condition's trials of the observed entries: values, observed (trial, time,
    channel), codes (trial,) → means (condition, time, channel) and where any trial was observed."""
    # (trial, condition) indicator; the einsum sums each condition's trials in one pass.
    membership = (codes[:, None] == np.arange(n_conditions)[None, :]).astype(np.float64)
    weight = observed.astype(np.float64)
    n_trials_used = np.einsum("rc,rtn->ctn", membership, weight)
    means = np.einsum("rc,rtn->ctn", membership, values * weight) / np.maximum(n_trials_used, 1.0)
    return means, n_trials_used > 0


def r2_score(observed: np.ndarray, predicted: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-channel coefficient of determination over all leading axes.

    ``R^2 = 1 - sum((y - y_hat)^2) / sum((y - mean(y))^2)`` per channel, sums and mean over the
    observed entries of all leading axes.

    Args:
        observed: (..., channel) observed values, at least two axes.
        predicted: (..., channel) predictions, same shape.
        mask: (..., channel) boolean, True = observed; None = all observed.

    Returns:
        (channel,) R^2 per channel; NaN where the observed values of a channel are constant.
    """
    observed_array = as_float_array("observed", observed)
    predicted_array = as_float_array("predicted", predicted)
    if observed_array.ndim < 2:
        raise NeurodynError(f"observed: expected shape (..., channel) with >= 2 axes, got {observed_array.shape}")
    check_same_shape("observed", observed_array, "predicted", predicted_array)
    weight = observed_mask(mask, observed_array.shape)
    check_finite("observed", observed_array, weight)
    check_finite("predicted", predicted_array, weight)
    n_channels = observed_array.shape[-1]
    return _masked_r2(
        observed_array.reshape(-1, n_channels),
        predicted_array.reshape(-1, n_channels),
        weight.reshape(-1, n_channels),
    )
