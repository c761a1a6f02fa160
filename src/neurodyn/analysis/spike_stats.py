"""Spike statistics of binned counts, and their agreement between recorded and generated data.

A generative model of neural activity should not only predict the recorded trials but, run
freely, produce spike trains whose statistics match the data's. Pals et al. (2024, NeurIPS,
"Inferring stochastic low-rank recurrent neural networks from neural data", Fig. 3b and
Supplement) judge their fitted models this way: single-neuron firing rates, inter-spike
interval (ISI) statistics and pairwise correlations of model-generated spikes are compared
with those of held-out recorded spikes. This module computes those three statistics from
binned count arrays and summarises their agreement.

All functions are pure numpy and keep no state. Bad arguments raise
:class:`neurodyn.errors.ConfigError` naming the argument.

Conventions
-----------
Shapes
    Counts are ``(trial, time, channel)``: non-negative spike counts per bin. Recorded and
    generated sets must have the same number of channels; trial and time lengths may differ.
Masks
    ``mask`` is a boolean array of the counts' shape, True = observed. Unobserved bins are left
    out of every statistic and may hold anything (NaN, negative numbers); observed bins must be
    finite and non-negative. A masked bin splits its trial: no inter-spike interval and no
    coarse (``bin_factor``) bin spans it.

Definitions
-----------
Firing rate
    Per channel, the spikes summed over its observed bins divided by the observed duration
    (number of observed bins times ``bin_size_s``), in Hz.
ISI coefficient of variation
    Per channel, ``std(ISI) / mean(ISI)`` (sample standard deviation, ``ddof=1``) over all
    intervals between consecutive spikes of one channel within one unbroken observed stretch of
    one trial; the censored stretches before the first and after the last spike of a stretch are
    not intervals. Spike times are reconstructed from the counts: ``k`` spikes in bin ``t`` are
    placed evenly inside the bin, at ``(t + (j + 0.5) / k) * bin_size_s`` for ``j = 0..k-1``
    (one spike sits at the bin centre; ``k`` spikes are ``bin_size_s / k`` apart).
    This has bin resolution, and two biases follow. (i) Interval lengths are quantised: every
    spike time is off by up to half a bin, which adds a variance of about ``bin_size_s**2 / 6``
    per interval when the errors of successive spikes are independent, so a perfectly regular
    train has a CV of order ``bin_size_s / (sqrt(6) * mean ISI)`` and always below
    ``bin_size_s / mean ISI``, instead of 0 (exactly 0 when its period is a whole number of bins). (ii) Intervals shorter than a bin cannot be resolved: their true lengths
    are replaced by ``bin_size_s / k``. For a Poisson train of rate ``r`` the even spreading
    largely offsets the lost short intervals (keeping only one spike per bin would give geometric
    intervals with CV ``sqrt(1 - r * bin_size_s)``): in simulation the CV stays within 0.003 of 1
    up to ``r * bin_size_s = 0.1``, but is about 0.99 at 0.3 and 0.9 at 1 expected spike per bin.
    Use bins much shorter than the typical ISI (e.g. 1 ms for rates up to tens of Hz), and
    compare recorded and generated trains at the same bin size, where the biases are shared.
Pairwise correlation
    Per channel pair, the Pearson correlation of the two count series over the bins observed in
    both (pairwise-complete), after optionally summing ``bin_factor`` consecutive bins within a
    trial (a coarse bin is observed only if all its fine bins are; trailing bins that do not
    fill a coarse bin are dropped). Larger ``bin_factor`` reveals correlations from common
    fluctuations slower than a bin. NaN on the diagonal, for channels constant (e.g. silent)
    over the shared bins, and for pairs sharing fewer than two bins.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurodyn.errors import ConfigError

__all__ = [
    "compare_spike_statistics",
    "firing_rates",
    "isi_cv",
    "pairwise_correlations",
]

# A variance this small relative to the squared scale of the values is rounding noise: the
# series is treated as constant and its correlations are undefined (NaN).
_RELATIVE_ZERO_STD = 1e-9


# --------------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------------


def _check_counts(name: str, value: object) -> np.ndarray:
    """Return ``value`` as a float64 ``(trial, time, channel)`` array, with shape checks only.

    value: (trial, time, channel) -> (trial, time, channel) float64.
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ConfigError(name, f"cannot be read as a numeric array ({error})") from None
    if array.ndim != 3:
        raise ConfigError(name, f"expected shape (trial, time, channel), got shape {array.shape}")
    if array.size == 0:
        raise ConfigError(name, f"is empty (shape {array.shape})")
    return array


def _check_mask(name: str, mask: object, shape: tuple[int, ...]) -> np.ndarray:
    """Return the observation mask (all True when ``mask`` is None).

    mask: ``shape`` bool or None -> ``shape`` bool.
    """
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask_array = np.asarray(mask)
    if mask_array.dtype != np.bool_:
        raise ConfigError(name, f"must be a boolean array (True = observed), got dtype {mask_array.dtype}")
    if mask_array.shape != shape:
        raise ConfigError(name, f"shape {mask_array.shape} differs from the counts' shape {shape}")
    if not mask_array.any():
        raise ConfigError(name, "no bin is observed (mask is all False)")
    return mask_array


def _observed_counts(
    counts_name: str, counts: object, mask_name: str, mask: object, *, integer: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Validate counts and mask; return the counts with unobserved bins set to 0, and the mask.

    counts, mask: (trial, time, channel) -> both (trial, time, channel).
    """
    array = _check_counts(counts_name, counts)
    observed = _check_mask(mask_name, mask, array.shape)
    values = array.ravel() if mask is None else array[observed]
    n_bad = int(np.count_nonzero(~np.isfinite(values)))
    if n_bad:
        raise ConfigError(counts_name, f"{n_bad} observed bins are NaN or infinite")
    n_negative = int(np.count_nonzero(values < 0))
    if n_negative:
        raise ConfigError(counts_name, f"{n_negative} observed bins hold negative counts")
    if integer and not np.array_equal(values, np.round(values)):
        raise ConfigError(counts_name, "inter-spike intervals need whole spike counts, found fractional values")
    return (array if mask is None else np.where(observed, array, 0.0)), observed


def _check_bin_size(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(name, f"must be a positive number of seconds, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(name, f"must be a finite number of seconds > 0, got {value}")
    return value


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(name, f"must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Statistics on validated arrays
# --------------------------------------------------------------------------------------------


def _rates(counts: np.ndarray, observed: np.ndarray, bin_size_s: float) -> np.ndarray:
    """counts, observed: (trial, time, channel), unobserved counts 0 -> (channel,) Hz."""
    n_observed = observed.sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = counts.sum(axis=(0, 1)) / (n_observed * bin_size_s)
    return np.where(n_observed > 0, rates, np.nan)


def _isi_cv(counts: np.ndarray, observed: np.ndarray, bin_size_s: float, min_intervals: int) -> np.ndarray:
    """counts (whole numbers, unobserved 0), observed: (trial, time, channel) -> (channel,).

    Fully vectorised: spikes are expanded with ``np.repeat`` in channel-major order, every
    unbroken observed stretch of a (channel, trial) gets its own segment id, and intervals are
    the differences of consecutive spike times that share a segment id.
    """
    n_trials, n_time, n_channels = counts.shape
    # (channel, trial, time) so that a channel's spikes are contiguous and time-ordered per trial.
    flat_counts = np.ascontiguousarray(counts.transpose(2, 0, 1)).ravel().astype(np.int64)
    flat_observed = np.ascontiguousarray(observed.transpose(2, 0, 1))
    previous_observed = np.zeros_like(flat_observed)
    previous_observed[..., 1:] = flat_observed[..., :-1]
    # A segment starts at every observed bin whose predecessor in the trial is not observed.
    segment_of_bin = np.cumsum((flat_observed & ~previous_observed).ravel())

    spiking_bins = np.flatnonzero(flat_counts)
    per_bin = flat_counts[spiking_bins]
    n_spikes = int(per_bin.sum())
    spike_bin = np.repeat(spiking_bins, per_bin)
    spikes_in_bin = np.repeat(per_bin, per_bin)
    # Rank of each spike within its bin: 0..k-1.
    rank = np.arange(n_spikes) - np.repeat(np.cumsum(per_bin) - per_bin, per_bin)
    spike_time = ((spike_bin % n_time) + (rank + 0.5) / spikes_in_bin) * bin_size_s

    same_segment = segment_of_bin[spike_bin[1:]] == segment_of_bin[spike_bin[:-1]]
    intervals = np.diff(spike_time)[same_segment]
    channel = (spike_bin[1:] // (n_trials * n_time))[same_segment]

    n_intervals = np.bincount(channel, minlength=n_channels)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(channel, weights=intervals, minlength=n_channels) / n_intervals
        squared_deviation = (intervals - mean[channel]) ** 2
        variance = np.bincount(channel, weights=squared_deviation, minlength=n_channels) / (n_intervals - 1)
        cv = np.sqrt(variance) / mean
    return np.where(n_intervals >= max(min_intervals, 2), cv, np.nan)


def _coarse_bins(counts: np.ndarray, observed: np.ndarray, bin_factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``bin_factor`` consecutive bins within each trial.

    counts, observed: (trial, time, channel) -> (trial, time // bin_factor, channel) each; a
    coarse bin is observed only if all of its fine bins are.
    """
    if bin_factor == 1:
        return counts, observed
    n_trials, n_time, n_channels = counts.shape
    n_coarse = n_time // bin_factor
    shape = (n_trials, n_coarse, bin_factor, n_channels)
    kept = n_coarse * bin_factor
    coarse_counts = counts[:, :kept].reshape(shape).sum(axis=2)
    coarse_observed = observed[:, :kept].reshape(shape).all(axis=2)
    return np.where(coarse_observed, coarse_counts, 0.0), coarse_observed


def _correlations(counts: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Pairwise-complete Pearson correlations.

    counts (unobserved 0), observed: (..., channel) -> (channel, channel), NaN diagonal.
    """
    n_channels = counts.shape[-1]
    weights = observed.reshape(-1, n_channels).astype(np.float64)
    values = counts.reshape(-1, n_channels)
    # Centre on each channel's observed mean first: the formulas below are shift-invariant per
    # channel, and centring avoids cancellation in the sums of squares.
    n_per_channel = weights.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(n_per_channel > 0, values.sum(axis=0) / n_per_channel, 0.0)
    x = (values - centre) * weights
    n_shared = weights.T @ weights  # bins observed in both channels of a pair
    sum_x = x.T @ weights  # [i, j]: sum of x_i over bins shared with j
    sum_sq = (x * x).T @ weights  # [i, j]: sum of x_i**2 over bins shared with j
    cross = x.T @ x
    with np.errstate(invalid="ignore", divide="ignore"):
        covariance = cross - sum_x * sum_x.T / n_shared
        variance = sum_sq - sum_x**2 / n_shared  # [i, j]: variance of i over the bins shared with j
        scale = np.maximum(np.abs(centre), 1.0)[:, None]
        constant = variance <= n_shared * (_RELATIVE_ZERO_STD * scale) ** 2
        correlation = covariance / np.sqrt(variance * variance.T)
    undefined = constant | constant.T | (n_shared < 2)
    correlation = np.where(undefined, np.nan, np.clip(correlation, -1.0, 1.0))
    np.fill_diagonal(correlation, np.nan)
    return correlation


# --------------------------------------------------------------------------------------------
# Public statistics
# --------------------------------------------------------------------------------------------


def firing_rates(counts: np.ndarray, bin_size_s: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean firing rate of each channel over its observed bins.

    Parameters
    ----------
    counts : (trial, time, channel) array
        Non-negative spike counts per bin (finite where observed).
    bin_size_s : float
        Bin width in seconds.
    mask : (trial, time, channel) bool array, optional
        True = observed; unobserved bins are ignored. Default: all observed.

    Returns
    -------
    (channel,) float array
        Spikes per second; NaN for a channel with no observed bin.
    """
    bin_size_s = _check_bin_size("bin_size_s", bin_size_s)
    values, observed = _observed_counts("counts", counts, "mask", mask)
    return _rates(values, observed, bin_size_s)


def isi_cv(counts: np.ndarray, bin_size_s: float, mask: np.ndarray | None = None, min_intervals: int = 5) -> np.ndarray:
    """Coefficient of variation of each channel's inter-spike intervals.

    Intervals are taken between consecutive spikes within one trial and one unbroken observed
    stretch (masked bins split a trial); spikes sharing a bin are spread evenly within it (see
    the module docstring for this choice and its bin-resolution bias). About 1 for a Poisson
    process, 0 for a clock-like train, ``1 / sqrt(k)`` for a gamma renewal process of shape k.

    Parameters
    ----------
    counts : (trial, time, channel) array
        Non-negative whole spike counts per bin (finite where observed).
    bin_size_s : float
        Bin width in seconds (the CV is scale-free, but the intervals are built in seconds).
    mask : (trial, time, channel) bool array, optional
        True = observed. Default: all observed.
    min_intervals : int, default 5
        Channels with fewer intervals (at least 2 are always needed) get NaN.

    Returns
    -------
    (channel,) float array
        ``std(ISI, ddof=1) / mean(ISI)``, NaN where fewer than ``min_intervals`` intervals.
    """
    bin_size_s = _check_bin_size("bin_size_s", bin_size_s)
    min_intervals = _check_int("min_intervals", min_intervals, 1)
    values, observed = _observed_counts("counts", counts, "mask", mask, integer=True)
    return _isi_cv(values, observed, bin_size_s, min_intervals)


def pairwise_correlations(counts: np.ndarray, mask: np.ndarray | None = None, bin_factor: int = 1) -> np.ndarray:
    """Pearson correlation matrix of the channels' spike counts.

    Parameters
    ----------
    counts : (trial, time, channel) array
        Non-negative spike counts per bin (finite where observed).
    mask : (trial, time, channel) bool array, optional
        True = observed. Each pair uses the bins observed in both channels. Default: all observed.
    bin_factor : int, default 1
        Sum this many consecutive bins within a trial before correlating (a coarse bin counts as
        observed only if all its bins are; a trailing remainder of ``time % bin_factor`` bins is
        dropped). Must not exceed the number of time bins.

    Returns
    -------
    (channel, channel) float array
        Symmetric; NaN on the diagonal, for channels constant (e.g. silent) over the bins shared
        with the other channel, and for pairs sharing fewer than two bins.
    """
    values, observed = _observed_counts("counts", counts, "mask", mask)
    bin_factor = _check_int("bin_factor", bin_factor, 1)
    if bin_factor > values.shape[1]:
        raise ConfigError("bin_factor", f"{bin_factor} exceeds the {values.shape[1]} time bins of counts")
    return _correlations(*_coarse_bins(values, observed, bin_factor))


# --------------------------------------------------------------------------------------------
# Recorded versus generated
# --------------------------------------------------------------------------------------------


def _json_number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _json_list(values: np.ndarray) -> list[float | None]:
    return [_json_number(value) for value in np.asarray(values, dtype=np.float64).ravel()]


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two equal-length 1-D arrays; NaN with < 2 entries or a constant input."""
    if a.size < 2:
        return math.nan
    a = a - a.mean()
    b = b - b.mean()
    norm = math.sqrt(float(a @ a) * float(b @ b))
    if norm == 0.0:
        return math.nan
    return float(np.clip((a @ b) / norm, -1.0, 1.0))


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else math.nan


def _row_means(matrix: np.ndarray) -> np.ndarray:
    """(channel, channel) with NaNs -> (channel,) mean of each row's finite entries (NaN if none)."""
    finite = np.isfinite(matrix)
    n_finite = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(finite, matrix, 0.0).sum(axis=1) / n_finite
    return np.where(n_finite > 0, means, np.nan)


def _rate_agreement(recorded: np.ndarray, generated: np.ndarray) -> dict[str, Any]:
    both = np.isfinite(recorded) & np.isfinite(generated)
    rec, gen = recorded[both], generated[both]
    positive = rec > 0
    both_positive = positive & (gen > 0)
    log_ratio = np.log(gen[both_positive] / rec[both_positive])
    return {
        "recorded_hz": _json_list(recorded),
        "generated_hz": _json_list(generated),
        "pearson_r": _json_number(_pearson(rec, gen)),
        "mean_abs_error_hz": _json_number(_mean(np.abs(gen - rec))),
        "mean_relative_error": _json_number(_mean(np.abs(gen[positive] - rec[positive]) / rec[positive])),
        "log_rate_rmse": _json_number(math.sqrt(_mean(log_ratio**2)) if log_ratio.size else math.nan),
        "n_channels_used": int(both.sum()),
        "n_channels_log_rate": int(both_positive.sum()),
    }


def _cv_agreement(recorded: np.ndarray, generated: np.ndarray) -> dict[str, Any]:
    both = np.isfinite(recorded) & np.isfinite(generated)
    rec, gen = recorded[both], generated[both]
    return {
        "recorded": _json_list(recorded),
        "generated": _json_list(generated),
        "recorded_median": _json_number(_median(recorded)),
        "generated_median": _json_number(_median(generated)),
        "pearson_r": _json_number(_pearson(rec, gen)),
        "mean_abs_difference": _json_number(_mean(np.abs(gen - rec))),
        "n_channels_used": int(both.sum()),
    }


def _correlation_agreement(recorded: np.ndarray, generated: np.ndarray, bin_factor: int) -> dict[str, Any]:
    upper = np.triu_indices(recorded.shape[0], k=1)
    rec, gen = recorded[upper], generated[upper]
    both = np.isfinite(rec) & np.isfinite(gen)
    rec, gen = rec[both], gen[both]
    return {
        "bin_factor": bin_factor,
        "recorded_mean_per_channel": _json_list(_row_means(recorded)),
        "generated_mean_per_channel": _json_list(_row_means(generated)),
        "recorded_mean": _json_number(_mean(rec)),
        "generated_mean": _json_number(_mean(gen)),
        "pearson_r": _json_number(_pearson(rec, gen)),
        "rmse": _json_number(math.sqrt(_mean((gen - rec) ** 2)) if rec.size else math.nan),
        "n_pairs_used": int(both.sum()),
    }


def compare_spike_statistics(
    recorded: np.ndarray,
    generated: np.ndarray,
    bin_size_s: float,
    recorded_mask: np.ndarray | None = None,
    *,
    corr_bin_factor: int = 1,
    isi_min_intervals: int = 5,
) -> dict[str, Any]:
    """Compare rates, ISI variability and pairwise correlations of generated and recorded spikes.

    Following Pals et al. (2024, NeurIPS), a generative model is judged by whether its
    free-running samples reproduce the single-neuron and pairwise statistics of held-out data.

    Parameters
    ----------
    recorded : (trial, time, channel) array
        Recorded (held-out) spike counts: non-negative whole numbers where observed.
    generated : (trial', time', channel) array
        Model-generated spike counts (samples, not expected rates); trial and time may differ
        from ``recorded``, the channels must match.
    bin_size_s : float
        Bin width in seconds, shared by both sets.
    recorded_mask : (trial, time, channel) bool array, optional
        True = observed in ``recorded``; generated counts are all observed.
    corr_bin_factor : int, default 1
        ``bin_factor`` for :func:`pairwise_correlations`, applied to both sets.
    isi_min_intervals : int, default 5
        ``min_intervals`` for :func:`isi_cv`, applied to both sets.

    Returns
    -------
    dict
        JSON-safe (Python ints, floats, lists and None; every non-finite value is None):

        ``n_channels``, ``bin_size_s``
        ``rates``: ``recorded_hz``, ``generated_hz`` (per channel); ``pearson_r`` across
        channels; ``mean_abs_error_hz`` = mean |gen - rec|; ``mean_relative_error`` = mean
        |gen - rec| / rec over channels with rec > 0 (1.0 when every rate is doubled);
        ``log_rate_rmse`` = RMS of ln(gen / rec) over channels where both are > 0 (ln 2 for
        doubled rates); ``n_channels_used`` (both rates finite), ``n_channels_log_rate``.
        ``isi_cv``: ``recorded``, ``generated`` (per channel, None where too few intervals);
        ``recorded_median``, ``generated_median`` (each over its own finite CVs);
        ``pearson_r`` and ``mean_abs_difference`` over channels where both are finite;
        ``n_channels_used``.
        ``pairwise_correlations``: ``bin_factor``; ``recorded_mean_per_channel``,
        ``generated_mean_per_channel`` (each channel's mean correlation with the others);
        over the upper-triangle pairs finite in both matrices (``n_pairs_used``):
        ``recorded_mean``, ``generated_mean``, ``pearson_r`` between the two sets of entries
        and ``rmse`` of their differences.
    """
    bin_size_s = _check_bin_size("bin_size_s", bin_size_s)
    corr_bin_factor = _check_int("corr_bin_factor", corr_bin_factor, 1)
    isi_min_intervals = _check_int("isi_min_intervals", isi_min_intervals, 1)
    rec, rec_observed = _observed_counts("recorded", recorded, "recorded_mask", recorded_mask, integer=True)
    gen, gen_observed = _observed_counts("generated", generated, "generated", None, integer=True)
    if gen.shape[2] != rec.shape[2]:
        raise ConfigError("generated", f"has {gen.shape[2]} channels, recorded has {rec.shape[2]}")
    for name, array in (("recorded", rec), ("generated", gen)):
        if corr_bin_factor > array.shape[1]:
            raise ConfigError("corr_bin_factor", f"{corr_bin_factor} exceeds the {array.shape[1]} time bins of {name}")

    return {
        "n_channels": int(rec.shape[2]),
        "bin_size_s": bin_size_s,
        "rates": _rate_agreement(_rates(rec, rec_observed, bin_size_s), _rates(gen, gen_observed, bin_size_s)),
        "isi_cv": _cv_agreement(
            _isi_cv(rec, rec_observed, bin_size_s, isi_min_intervals),
            _isi_cv(gen, gen_observed, bin_size_s, isi_min_intervals),
        ),
        "pairwise_correlations": _correlation_agreement(
            _correlations(*_coarse_bins(rec, rec_observed, corr_bin_factor)),
            _correlations(*_coarse_bins(gen, gen_observed, corr_bin_factor)),
            corr_bin_factor,
        ),
    }
