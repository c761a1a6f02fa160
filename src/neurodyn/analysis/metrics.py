"""Goodness-of-fit metrics for latent dynamical models of neural recordings.

All functions are pure: they take numpy arrays, return numbers or numpy arrays and keep no
state. Bad arguments raise :class:`neurodyn.errors.NeurodynError` with a one-line message.

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
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import numpy as np
from scipy import signal
from scipy.ndimage import gaussian_filter1d
from scipy.special import gammaln

from neurodyn.errors import NeurodynError

__all__ = [
    "bits_per_spike",
    "poisson_log_likelihood",
    "power_spectrum_hellinger",
    "psth_r2",
    "r2_score",
    "state_space_divergence",
    "welch_spectra",
]

# Expected counts are clipped to this floor so that log(lambda) stays finite.
MIN_EXPECTED_COUNT = 1e-9

# Below this many dimensions the state-space KL uses histograms, from here on Gaussian mixtures
# (a 30-bin grid in 6 dimensions has 7e8 cells, far more than any recording has time steps).
GMM_MIN_DIM = 6

# A sum of squares this small relative to the sum of squared values is rounding noise, so the
# quantity is treated as constant (R^2 undefined).
_RELATIVE_ZERO_VARIANCE = 1e-24

# Element budget for one block of the (sample, component) distance matrix in the GMM estimate.
_GMM_BLOCK_ELEMENTS = 1 << 24


# --------------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------------


def _as_float_array(name: str, value: object) -> np.ndarray:
    """Convert ``value`` to a float64 array, rejecting non-numeric and empty input.

    value: any shape -> returned array: same shape.
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise NeurodynError(f"{name}: cannot be read as a numeric array ({error})") from None
    if array.size == 0:
        raise NeurodynError(f"{name}: is empty (shape {array.shape})")
    return array


def _check_ndim(name: str, array: np.ndarray, allowed: tuple[int, ...], layout: str) -> None:
    """Raise unless ``array.ndim`` is one of ``allowed``; ``layout`` names the expected axes."""
    if array.ndim not in allowed:
        raise NeurodynError(f"{name}: expected shape {layout}, got shape {array.shape}")


def _check_same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise NeurodynError(f"{name_b}: shape {b.shape} differs from {name_a} shape {a.shape}")


def _observed_mask(mask: object, shape: tuple[int, ...]) -> np.ndarray:
    """Return the observation mask (all True when ``mask`` is None).

    mask: ``shape`` boolean or None -> (``shape``) boolean.
    """
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask_array = np.asarray(mask)
    if mask_array.dtype != np.bool_:
        raise NeurodynError(f"mask: must be a boolean array, got dtype {mask_array.dtype}")
    if mask_array.shape != shape:
        raise NeurodynError(f"mask: shape {mask_array.shape} differs from data shape {shape}")
    if not mask_array.any():
        raise NeurodynError("mask: no entry is observed (mask is all False)")
    return mask_array


def _check_finite(name: str, array: np.ndarray, observed: np.ndarray | None = None) -> None:
    """Raise if an (observed) entry of ``array`` is NaN or infinite."""
    bad = ~np.isfinite(array)
    if observed is not None:
        bad &= observed
    if bad.any():
        where = "observed entries" if observed is not None else "entries"
        raise NeurodynError(f"{name}: {int(bad.sum())} {where} are NaN or infinite")


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise NeurodynError(f"{name}: must be a finite number {bound}, got {value}")
    return value


def _check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NeurodynError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def _counts_and_expected(
    counts: np.ndarray, expected: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a (counts, expected, mask) triple and neutralise unobserved entries.

    counts, expected, mask: same shape (..., channel) -> (counts, expected, observed), with
    unobserved counts set to 0 and unobserved expected counts set to 1 so that they are
    finite; callers still have to weight by ``observed``.
    """
    counts = _as_float_array("counts", counts)
    expected = _as_float_array("expected", expected)
    _check_same_shape("counts", counts, "expected", expected)
    observed = _observed_mask(mask, counts.shape)
    _check_finite("counts", counts, observed)
    _check_finite("expected", expected, observed)
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


# --------------------------------------------------------------------------------------------
# Spike-count metrics
# --------------------------------------------------------------------------------------------


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
    counts_array = _as_float_array("counts", counts)
    _check_ndim("counts", counts_array, (3,), "(trial, time, channel)")
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

    Returns:
        (channel,) R^2 per channel; NaN where the empirical PSTH is constant (SS_tot == 0).
    """
    counts_array = _as_float_array("counts", counts)
    _check_ndim("counts", counts_array, (3,), "(trial, time, channel)")
    counts, expected, observed = _counts_and_expected(counts_array, expected, mask)
    smooth_sigma_bins = _check_positive("smooth_sigma_bins", smooth_sigma_bins, allow_zero=True)
    codes = _condition_codes(conditions, counts.shape[0])

    n_conditions = int(codes.max()) + 1
    # (trial, condition) indicator; the einsum sums each condition's trials in one pass.
    membership = (codes[:, None] == np.arange(n_conditions)[None, :]).astype(np.float64)
    weight = observed.astype(np.float64)
    n_trials_used = np.einsum("rc,rtn->ctn", membership, weight)
    available = n_trials_used > 0
    divisor = np.maximum(n_trials_used, 1.0)
    empirical = np.einsum("rc,rtn->ctn", membership, counts * weight) / divisor
    predicted = np.einsum("rc,rtn->ctn", membership, expected * weight) / divisor

    if smooth_sigma_bins > 0:
        smoothed_sum = gaussian_filter1d(empirical * available, smooth_sigma_bins, axis=1, mode="nearest")
        smoothed_availability = gaussian_filter1d(
            available.astype(np.float64), smooth_sigma_bins, axis=1, mode="nearest"
        )
        # Wherever an entry is available the kernel's own centre weight keeps this > 0.
        empirical = np.where(available, smoothed_sum / np.maximum(smoothed_availability, 1e-300), 0)

    n_channels = counts.shape[-1]
    return _masked_r2(
        empirical.reshape(-1, n_channels),
        predicted.reshape(-1, n_channels),
        available.reshape(-1, n_channels),
    )


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
    observed_array = _as_float_array("observed", observed)
    predicted_array = _as_float_array("predicted", predicted)
    if observed_array.ndim < 2:
        raise NeurodynError(f"observed: expected shape (..., channel) with >= 2 axes, got {observed_array.shape}")
    _check_same_shape("observed", observed_array, "predicted", predicted_array)
    weight = _observed_mask(mask, observed_array.shape)
    _check_finite("observed", observed_array, weight)
    _check_finite("predicted", predicted_array, weight)
    n_channels = observed_array.shape[-1]
    return _masked_r2(
        observed_array.reshape(-1, n_channels),
        predicted_array.reshape(-1, n_channels),
        weight.reshape(-1, n_channels),
    )


# --------------------------------------------------------------------------------------------
# State-space divergence
# --------------------------------------------------------------------------------------------


def _as_trajectory(name: str, value: object) -> np.ndarray:
    """Validate a trajectory and flatten trials into time.

    value: (time, dim) or (trial, time, dim) -> (time', dim).
    """
    array = _as_float_array(name, value)
    _check_ndim(name, array, (2, 3), "(time, dim) or (trial, time, dim)")
    _check_finite(name, array)
    return array.reshape(-1, array.shape[-1])


def _histogram_kl(x_true: np.ndarray, x_gen: np.ndarray, n_bins: int, alpha: float) -> float:
    """KL(p_true || p_gen) between Laplace-smoothed histograms on a grid spanned by x_true.

    x_true: (time, dim); x_gen: (time', dim) -> KL in nats.

    Only occupied cells are counted explicitly (flattened cell index, np.unique, np.bincount);
    the cells empty in both histograms all carry the same smoothed probabilities, so their
    total contribution is added in closed form instead of allocating n_bins**dim cells.
    """
    n_dims = x_true.shape[1]
    n_cells = n_bins**n_dims  # Python int: exact
    if n_cells >= 2**62:
        raise NeurodynError(f"n_bins: {n_bins}**{n_dims} grid cells overflow a 64-bit index")

    spread = x_true.std(axis=0)
    lower = x_true.min(axis=0) - 0.1 * spread
    upper = x_true.max(axis=0) + 0.1 * spread
    width = (upper - lower) / n_bins

    def cell_index(points: np.ndarray) -> np.ndarray:
        """points: (n, dim) -> (m,) flattened cell index of the points inside the grid."""
        inside = np.all((points >= lower) & (points <= upper), axis=1)
        points = points[inside]
        # A dimension in which x_true is constant has zero width: its only cell is index 0.
        safe_width = np.where(width > 0, width, 1.0)
        per_dim = np.floor((points - lower) / safe_width).astype(np.int64)
        # The upper edge belongs to the last bin (as in numpy.histogram).
        per_dim = np.clip(per_dim, 0, n_bins - 1)
        strides = n_bins ** np.arange(n_dims - 1, -1, -1, dtype=np.int64)
        return per_dim @ strides

    true_cells = cell_index(x_true)
    gen_cells = cell_index(x_gen)
    occupied, compact = np.unique(np.concatenate([true_cells, gen_cells]), return_inverse=True)
    true_counts = np.bincount(compact[: true_cells.size], minlength=occupied.size)
    gen_counts = np.bincount(compact[true_cells.size :], minlength=occupied.size)

    true_total = true_cells.size + alpha * n_cells
    gen_total = gen_cells.size + alpha * n_cells
    p_true = (true_counts + alpha) / true_total
    p_gen = (gen_counts + alpha) / gen_total
    kl_occupied = float(np.sum(p_true * np.log(p_true / p_gen)))
    n_empty = n_cells - occupied.size
    kl_empty = n_empty * (alpha / true_total) * math.log(gen_total / true_total)
    return kl_occupied + kl_empty


def _subsample_rows(points: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Random subset of at most ``max_rows`` rows, kept in time order.

    points: (time, dim) -> (min(time, max_rows), dim).

    A random rather than an evenly strided subset avoids aliasing with periodic trajectories.
    """
    if points.shape[0] <= max_rows:
        return points
    keep = np.sort(rng.choice(points.shape[0], size=max_rows, replace=False))
    return points[keep]


def _gmm_log_density(samples, centres, sigma: float):
    """Log density of an equal-weight isotropic Gaussian mixture, evaluated in blocks.

    samples: (sample, dim) torch tensor; centres: (component, dim) torch tensor
    -> (sample,) torch tensor of log p(sample).
    """
    import torch

    n_components, n_dims = centres.shape
    log_normaliser = math.log(n_components) + 0.5 * n_dims * math.log(2.0 * math.pi * sigma**2)
    centre_sq_norms = (centres**2).sum(dim=1)
    block = max(1, _GMM_BLOCK_ELEMENTS // n_components)
    log_densities = []
    for start in range(0, samples.shape[0], block):
        chunk = samples[start : start + block]
        sq_dist = (chunk**2).sum(dim=1, keepdim=True) + centre_sq_norms - 2.0 * chunk @ centres.T
        # The expanded form can dip slightly below 0 through rounding.
        sq_dist = sq_dist.clamp_min(0.0)
        log_densities.append(torch.logsumexp(-0.5 * sq_dist / sigma**2, dim=1) - log_normaliser)
    return torch.cat(log_densities)


def _gmm_kl(x_true: np.ndarray, x_gen: np.ndarray, sigma: float, n_mc: int, max_steps: int, seed: int) -> float:
    """Monte Carlo KL(p_true || p_gen) between Gaussian mixtures centred on the time steps.

    x_true: (time, dim); x_gen: (time', dim) -> KL estimate in nats.

    Subsampling and Monte Carlo draws use numpy's seeded generator so that the estimate is
    identical on CPU and GPU; only the density evaluation runs in torch.
    """
    # torch is imported here so that the cheap metrics do not pay for importing it.
    import torch

    rng = np.random.default_rng(seed)
    true_centres = _subsample_rows(x_true, max_steps, rng)
    gen_centres = _subsample_rows(x_gen, max_steps, rng)
    chosen = rng.integers(0, true_centres.shape[0], size=n_mc)
    samples = true_centres[chosen] + sigma * rng.standard_normal((n_mc, x_true.shape[1]))

    # Centring on the data keeps the expanded squared distances free of cancellation error.
    origin = true_centres.mean(axis=0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def to_tensor(array: np.ndarray):
        return torch.as_tensor(array - origin, dtype=torch.float64, device=device)

    with torch.no_grad():
        samples_t = to_tensor(samples)
        log_ratio = _gmm_log_density(samples_t, to_tensor(true_centres), sigma) - _gmm_log_density(
            samples_t, to_tensor(gen_centres), sigma
        )
        return float(log_ratio.mean().item())


def state_space_divergence(
    x_true: np.ndarray,
    x_gen: np.ndarray,
    *,
    n_bins: int = 30,
    alpha: float = 1e-5,
    gmm_sigma: float = 1.0,
    n_mc: int = 1000,
    max_steps: int = 10_000,
    seed: int = 0,
) -> float:
    """State-space divergence D_stsp = KL(p_true || p_gen) between state distributions.

    Koppe et al., 2019, PLOS Comput Biol; Mikhaeil et al., 2022, NeurIPS; protocol as used by
    Pals et al., 2024, NeurIPS.

    * dim < 6: histograms with ``n_bins`` bins per dimension over
      ``[min - 0.1 std, max + 0.1 std]`` of ``x_true`` in each dimension; generated points
      outside that box are dropped; ``p = (count + alpha) / sum(count + alpha)`` for both;
      ``KL = sum(p_true log(p_true / p_gen))``.
    * dim >= 6: each distribution is an equal-weight mixture of isotropic Gaussians with std
      ``gmm_sigma`` centred on its time steps (each subsampled at random to at most
      ``max_steps``); ``n_mc`` samples are drawn from ``p_true`` and the KL estimated as the
      mean of ``log p_true(s) - log p_gen(s)``.

    Args:
        x_true: (time, dim) or (trial, time, dim) reference trajectory (trials are flattened).
        x_gen: (time', dim) or (trial', time', dim) generated trajectory, same dim.
        n_bins: histogram bins per dimension (dim < 6).
        alpha: pseudo-count added to every histogram cell (dim < 6).
        gmm_sigma: std of each mixture component (dim >= 6).
        n_mc: Monte Carlo samples drawn from p_true (dim >= 6).
        max_steps: most time steps used as mixture centres per distribution (dim >= 6).
        seed: seed for subsampling and Monte Carlo draws (dim >= 6).

    Returns:
        KL(p_true || p_gen) in nats (>= 0 for histograms; the Monte Carlo estimate can be
        slightly negative when the two distributions nearly coincide).
    """
    x_true = _as_trajectory("x_true", x_true)
    x_gen = _as_trajectory("x_gen", x_gen)
    if x_gen.shape[1] != x_true.shape[1]:
        raise NeurodynError(f"x_gen: has {x_gen.shape[1]} dimensions but x_true has {x_true.shape[1]}")
    if x_true.shape[1] < GMM_MIN_DIM:
        n_bins = _check_positive_int("n_bins", n_bins)
        alpha = _check_positive("alpha", alpha)
        return _histogram_kl(x_true, x_gen, n_bins, alpha)
    gmm_sigma = _check_positive("gmm_sigma", gmm_sigma)
    n_mc = _check_positive_int("n_mc", n_mc)
    max_steps = _check_positive_int("max_steps", max_steps)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NeurodynError(f"seed: must be a non-negative integer, got {seed!r}")
    return _gmm_kl(x_true, x_gen, gmm_sigma, n_mc, max_steps, int(seed))


# --------------------------------------------------------------------------------------------
# Spectral metrics
# --------------------------------------------------------------------------------------------


def _as_trial_signal(name: str, value: object) -> np.ndarray:
    """Validate a multichannel signal and give it a trial axis.

    value: (time, channel) or (trial, time, channel) -> (trial, time, channel).
    """
    array = _as_float_array(name, value)
    _check_ndim(name, array, (2, 3), "(time, channel) or (trial, time, channel)")
    _check_finite(name, array)
    return array[None] if array.ndim == 2 else array


def _trial_averaged_power(signal_trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of z-scored trials, averaged over the non-constant trials.

    signal_trials: (trial, time, channel) -> (power (freq, channel), usable (channel,) bool);
    a channel is unusable when it is constant in every trial.
    """
    centred = signal_trials - signal_trials.mean(axis=1, keepdims=True)
    std = centred.std(axis=1)
    scale = np.abs(signal_trials).max(axis=1)
    # A constant signal can leave a std of a few ulp after centring; that is not a signal.
    varying = std > 1e-12 * np.maximum(scale, np.finfo(np.float64).tiny)
    z_scored = centred / np.where(varying, std, 1.0)[:, None, :]
    power = np.abs(np.fft.rfft(z_scored, axis=1)) ** 2
    power *= varying[:, None, :]
    n_varying = varying.sum(axis=0)
    return power.sum(axis=0) / np.maximum(n_varying, 1), n_varying > 0


def power_spectrum_hellinger(
    x_true: np.ndarray, x_gen: np.ndarray, *, smoothing_sigma: float = 20.0
) -> tuple[float, np.ndarray, float]:
    """Hellinger distance D_H between smoothed, normalised power spectra.

    Mikhaeil et al., 2022, NeurIPS; Hess et al., 2023, ICML. Per channel: each trial is
    z-scored along time, ``|rfft|^2`` is averaged over trials, Gaussian-smoothed along frequency
    (scipy.ndimage.gaussian_filter1d, default 'reflect' boundary) and normalised to sum to 1,
    giving p (true) and q (generated); ``H = sqrt(max(0, 1 - sum(sqrt(p q))))``.

    The two inputs may differ in trial count and length; the longer signals are truncated to
    the shorter length so that both spectra share one frequency grid. The smoothing sigma is
    clamped to a tenth of the number of frequency bins, and the value used is returned.

    Args:
        x_true: (time, channel) or (trial, time, channel) reference signal.
        x_gen: (time', channel) or (trial', time', channel) generated signal, same channels.
        smoothing_sigma: Gaussian smoothing width in frequency bins (>= 0; 0 = none).

    Returns:
        (mean over channels (NaN channels skipped), per-channel distances (channel,),
        effective smoothing sigma). A channel that is constant in every trial of either input
        gets NaN.
    """
    p, q, usable, effective_sigma, _ = _normalised_spectra(x_true, x_gen, smoothing_sigma)
    overlap = np.sqrt(p * q).sum(axis=0)
    per_channel = np.where(usable, np.sqrt(np.clip(1.0 - overlap, 0.0, None)), np.nan)
    return float(np.nanmean(per_channel)), per_channel, effective_sigma


def _normalised_spectra(x_true: np.ndarray, x_gen: np.ndarray, smoothing_sigma: float):
    """(p, q, usable, sigma, n_time): smoothed power spectra (freq, channel), each channel summing to 1,
    of z-scored trials (truncated to a common length), the channels usable in both, and the
    smoothing sigma used (clamped to a tenth of the number of frequency bins), and the common length."""
    true_trials = _as_trial_signal("x_true", x_true)
    gen_trials = _as_trial_signal("x_gen", x_gen)
    if gen_trials.shape[2] != true_trials.shape[2]:
        raise NeurodynError(f"x_gen: has {gen_trials.shape[2]} channels but x_true has {true_trials.shape[2]}")
    smoothing_sigma = _check_positive("smoothing_sigma", smoothing_sigma, allow_zero=True)
    n_time = min(true_trials.shape[1], gen_trials.shape[1])
    if n_time < 2:
        raise NeurodynError(f"x_true, x_gen: need at least 2 time steps, got {n_time}")

    true_power, true_usable = _trial_averaged_power(true_trials[:, :n_time])
    gen_power, gen_usable = _trial_averaged_power(gen_trials[:, :n_time])
    effective_sigma = min(smoothing_sigma, true_power.shape[0] / 10.0)

    def normalised(power: np.ndarray) -> np.ndarray:
        if effective_sigma > 0:
            power = gaussian_filter1d(power, effective_sigma, axis=0)
        total = power.sum(axis=0)
        return power / np.where(total > 0, total, 1.0)

    usable = true_usable & gen_usable
    if not usable.any():
        raise NeurodynError("x_true, x_gen: every channel is constant in one of the inputs")
    return normalised(true_power), normalised(gen_power), usable, float(effective_sigma), n_time


def power_spectrum_error(
    x_true: np.ndarray, x_gen: np.ndarray, fs: float, *, split_hz: float = 50.0, smoothing_sigma: float = 0.0
) -> dict[str, Any]:
    """Normalised mean squared error between power spectra, over all frequencies and split into a
    low (≤ ``split_hz``) and a high (> ``split_hz``) band.

    Schmidt et al. 2021 (ICLR), Fig. 3B–C: the error between the power spectra of true and
    generated series, split at 50 Hz, shows which time scales a reconstruction captures. Spectra
    are those of :func:`power_spectrum_hellinger` (z-scored trials, ``|rfft|²`` averaged over
    trials, optional Gaussian smoothing in frequency bins, normalised to sum 1 per channel). Per
    channel and band B the error is Σ_B (p − q)² / Σ_B (p² + q²), which lies in [0, 1] (0:
    identical, 1: no power at common frequencies), so both bands are on the same scale whatever
    their share of power, and a band where the true spectrum is nearly empty (e.g. above a
    smoothing filter's cut-off) cannot blow the error up as a division by Σ_B p² alone would.

    Args:
        x_true, x_gen: (time, channel) or (trial, time, channel) signals sampled at ``fs`` Hz.
        split_hz: boundary of the two bands; a band with no frequency bin gives None.

    Returns:
        dict with ``all``, ``low``, ``high`` (means over usable channels, or None) and
        ``per_channel`` — a dict of the same three keys, each a (channel,) array (NaN: unusable).
    """
    fs = _check_positive("fs", fs)
    split_hz = _check_positive("split_hz", split_hz)
    p, q, usable, _, n_time = _normalised_spectra(x_true, x_gen, smoothing_sigma)
    freqs = np.fft.rfftfreq(n_time, d=1.0 / fs)
    out: dict[str, Any] = {"per_channel": {}}
    for band, in_band in (("all", np.ones_like(freqs, bool)), ("low", freqs <= split_hz), ("high", freqs > split_hz)):
        if not in_band.any():
            out[band], out["per_channel"][band] = None, np.full(p.shape[1], np.nan)
            continue
        num = ((p[in_band] - q[in_band]) ** 2).sum(0)
        den = (p[in_band] ** 2 + q[in_band] ** 2).sum(0)
        per = np.where(usable & (den > 0), num / np.where(den > 0, den, 1.0), np.nan)
        out["per_channel"][band] = per
        out[band] = float(np.nanmean(per)) if np.isfinite(per).any() else None
    return out


def welch_spectra(x: np.ndarray, fs: float, *, nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Trial-averaged Welch power spectral density per channel.

    scipy.signal.welch along time with constant detrending and its default Hann window and 50 %
    overlap, computed per trial and averaged over trials (one-sided density, units of x^2/Hz).

    Args:
        x: (trial, time, channel) or (time, channel) signal.
        fs: sampling rate in Hz.
        nperseg: segment length in samples; default min(time, 256).

    Returns:
        (freqs (freq,), psd (channel, freq)).
    """
    trials = _as_trial_signal("x", x)
    fs = _check_positive("fs", fs)
    n_time = trials.shape[1]
    if nperseg is None:
        nperseg = min(n_time, 256)
    nperseg = _check_positive_int("nperseg", nperseg)
    if nperseg > n_time:
        raise NeurodynError(f"nperseg: {nperseg} exceeds the {n_time} time steps of x")
    freqs, psd = signal.welch(trials, fs=fs, nperseg=nperseg, detrend="constant", axis=1)
    # psd: (trial, freq, channel) -> (channel, freq)
    return freqs, psd.mean(axis=0).T


def latent_signal_coherence(
    latents: np.ndarray, signals: np.ndarray, fs: float, *, nperseg: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude-squared coherence between every latent and every recorded channel.

    Welch estimates (scipy.signal.csd / welch, Hann window, 50 % overlap, constant detrend) of the
    cross- and auto-spectra are averaged over trials before forming |S_xy|² / (S_xx S_yy), so the
    estimate uses every segment of every trial.

    Args:
        latents: (trial, time, latent) or (time, latent), e.g. posterior means.
        signals: (trial, time, channel) or (time, channel), the same bins (e.g. EEG or LFP).
        fs: sampling rate in Hz; nperseg: segment length (default min(time, 256)).

    Returns:
        (freqs (freq,), coherence (latent, channel, freq) in [0, 1]; NaN where a spectrum is 0).
    """
    z = _as_trial_signal("latents", latents)
    x = _as_trial_signal("signals", signals)
    if z.shape[:2] != x.shape[:2]:
        raise NeurodynError(f"latents, signals: need the same trials and bins, got {z.shape[:2]} and {x.shape[:2]}")
    fs = _check_positive("fs", fs)
    n_time = z.shape[1]
    nperseg = _check_positive_int("nperseg", min(n_time, 256) if nperseg is None else nperseg)
    if nperseg > n_time:
        raise NeurodynError(f"nperseg: {nperseg} exceeds the {n_time} time steps")
    options = {"fs": fs, "nperseg": nperseg, "detrend": "constant", "axis": 1}
    freqs, s_zz = signal.welch(z, **options)  # (trial, freq, latent)
    _, s_xx = signal.welch(x, **options)  # (trial, freq, channel)
    _, s_zx = signal.csd(z[:, :, :, None], x[:, :, None, :], **options)  # (trial, freq, latent, channel)
    s_zz, s_xx, s_zx = s_zz.mean(0), s_xx.mean(0), s_zx.mean(0)
    denom = s_zz[:, :, None] * s_xx[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        coherence = np.where(denom > 0, np.abs(s_zx) ** 2 / denom, np.nan)
    return freqs, np.moveaxis(coherence, 0, -1)
