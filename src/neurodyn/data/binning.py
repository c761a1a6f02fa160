"""Binning of spike trains, observation intervals and sampled signals into trial windows.

Conventions shared by every function here:

* A *window* ``w`` starts at absolute time ``starts[w]`` and has ``n_bins`` bins of width
  ``bin_size``; bin ``j`` of window ``w`` is the half-open interval
  ``[starts[w] + j * bin_size, starts[w] + (j + 1) * bin_size)`` with both edges computed exactly
  as :func:`bin_edges` computes them (float64). Every membership test compares against those
  edges, so counts agree exactly with any count that uses the same edges.
* Windows may overlap (e.g. long windows around close events); a spike then counts in each.
* Spikes are processed in chunks of ``chunk_spikes``: temporaries stay small enough to be
  reused from cache instead of being freshly paged in, which costs more than the arithmetic.
"""

from __future__ import annotations

import numpy as np

DEFAULT_CHUNK_SPIKES = 1 << 17


def bin_edges(starts: np.ndarray, bin_size: float, n_bins: int) -> np.ndarray:
    """Bin edges of every window.

    starts: (window,) seconds → (window, n_bins + 1) seconds.
    """
    return np.asarray(starts, dtype=np.float64)[:, None] + np.arange(n_bins + 1) * bin_size


def n_whole_bins(duration: float, bin_size: float) -> int:
    """Number of whole bins in ``duration``, forgiving float round-off (0.7 / 0.02 → 35)."""
    ratio = duration / bin_size
    nearest = round(ratio)
    return int(nearest) if abs(ratio - nearest) < 1e-6 else int(np.floor(ratio))


def _exact_bin_index(t: np.ndarray, start: np.ndarray, bin_size: float) -> np.ndarray:
    """Index j with start + j*bin_size <= t < start + (j+1)*bin_size, edges as in bin_edges."""
    j = np.floor((t - start) / bin_size)
    j -= t < start + j * bin_size
    j += t >= start + (j + 1) * bin_size
    return j.astype(np.int64)


def spike_counts(
    spike_times: np.ndarray,
    spike_units: np.ndarray,
    n_units: int,
    starts: np.ndarray,
    bin_size: float,
    n_bins: int,
    *,
    chunk_spikes: int = DEFAULT_CHUNK_SPIKES,
) -> np.ndarray:
    """Count spikes per window, bin and unit, for all spikes at once (no per-unit loop).

    spike_times: (spike,) seconds, any order; spike_units: (spike,) unit index in [0, n_units);
    starts: (window,) window starts in seconds, any order.
    Returns counts: (window, n_bins, n_units) uint32.

    Each spike is located among the windows with ``searchsorted`` and its bin computed by
    division then corrected against the exact edges. Counts accumulate unit-major, so that in
    the NWB layout (spikes grouped by unit) a chunk touches a short, contiguous stretch of the
    counts, counted with one local ``bincount``; a transpose at the end gives unit-minor order.
    """
    starts = np.asarray(starts, dtype=np.float64)
    n_windows = starts.size
    per_unit = n_windows * n_bins
    counts = np.zeros(n_units * per_unit, dtype=np.uint32)  # (unit, window, bin), flattened
    if n_windows and spike_times.size:
        order = np.argsort(starts, kind="stable")
        sorted_starts = starts[order]
        ends = sorted_starts + n_bins * bin_size
        disjoint = bool(np.all(sorted_starts[1:] >= ends[:-1]))
        length = n_bins * bin_size
        for lo_spike in range(0, spike_times.size, chunk_spikes):
            t = np.asarray(spike_times[lo_spike : lo_spike + chunk_spikes], dtype=np.float64)
            u = np.asarray(spike_units[lo_spike : lo_spike + chunk_spikes], dtype=np.int64)
            last_started = np.searchsorted(sorted_starts, t, side="right")  # windows [0, k) start <= t
            if disjoint:
                # at most one window can hold a spike: the last one starting at or before it
                keep = last_started > 0
                t, u, window = t[keep], u[keep], last_started[keep] - 1
            else:
                # candidate windows start in (t - length, t]; widen by one to absorb round-off
                first = np.maximum(np.searchsorted(sorted_starts, t - length, side="right") - 1, 0)
                n_cand = last_started - first
                spike_of_pair = np.repeat(np.arange(t.size), n_cand)
                rank_in_group = np.arange(spike_of_pair.size) - np.repeat(np.cumsum(n_cand) - n_cand, n_cand)
                window = first[spike_of_pair] + rank_in_group
                t, u = t[spike_of_pair], u[spike_of_pair]
            j = _exact_bin_index(t, sorted_starts[window], bin_size)
            inside = (j >= 0) & (j < n_bins)
            _add_occurrences(counts, u[inside] * per_unit + order[window[inside]] * n_bins + j[inside], chunk_spikes)
    return np.ascontiguousarray(counts.reshape(n_units, n_windows, n_bins).transpose(1, 2, 0))


def _add_occurrences(counts: np.ndarray, flat: np.ndarray, chunk_spikes: int) -> None:
    """counts[i] += (number of times i occurs in flat), in place.

    A bincount over the stretch [min, max] the indices span is cheapest when that stretch is
    short (spikes grouped by unit); otherwise sort and count runs of equal indices.
    """
    if flat.size == 0:
        return
    lo, hi = int(flat.min()), int(flat.max())
    if hi - lo < 8 * max(chunk_spikes, flat.size):
        counts[lo : hi + 1] += np.bincount(flat - lo, minlength=hi - lo + 1).astype(counts.dtype)
        return
    flat = np.sort(flat)
    run_starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    run_lengths = np.diff(np.append(run_starts, flat.size))
    counts[flat[run_starts]] += run_lengths.astype(counts.dtype)


def merge_intervals(intervals: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
    """Union of [start, stop] intervals. intervals: (k, 2) → (m, 2) sorted, disjoint."""
    intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    if intervals.shape[0] == 0:
        return intervals
    intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
    # an interval starts a new group when it begins after every earlier interval has ended
    running_stop = np.maximum.accumulate(intervals[:, 1])
    new_group = np.concatenate([[True], intervals[1:, 0] > running_stop[:-1] + tolerance])
    group = np.cumsum(new_group) - 1
    merged = np.empty((group[-1] + 1, 2))
    merged[:, 0] = intervals[new_group, 0]
    merged[:, 1] = np.maximum.reduceat(intervals[:, 1], np.flatnonzero(new_group))
    return merged


def observed_mask(obs_intervals: list[np.ndarray], edges: np.ndarray, tolerance: float) -> np.ndarray:
    """Which bins lie inside each unit's observation intervals.

    obs_intervals: per unit an (interval, 2) array of [start, stop] seconds;
    edges: (window, n_bins + 1) from :func:`bin_edges`; tolerance: seconds of slack for round-off.
    Returns (window, n_bins, unit) bool, True where the whole bin is observed.
    """
    left = edges[:, :-1].ravel()
    right = edges[:, 1:].ravel()
    mask = np.empty((edges.shape[0], edges.shape[1] - 1, len(obs_intervals)), dtype=bool)
    by_intervals: dict[bytes, np.ndarray] = {}  # units usually share their intervals
    for unit, intervals in enumerate(obs_intervals):
        key = np.ascontiguousarray(intervals, dtype=np.float64).tobytes()
        if key not in by_intervals:
            merged = merge_intervals(intervals, tolerance)
            if merged.shape[0] == 0:
                covered = np.zeros(left.shape, dtype=bool)
            else:
                k = np.searchsorted(merged[:, 0], left + tolerance, side="right") - 1
                covered = (k >= 0) & (merged[np.maximum(k, 0), 1] >= right - tolerance)
            by_intervals[key] = covered.reshape(mask.shape[:2])
        mask[:, :, unit] = by_intervals[key]
    return mask


def resample_series(timestamps: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """A sampled series on the bins: the mean of the samples inside each bin, or linear
    interpolation at the bin centre when a bin holds no sample; NaN outside the sampled span.

    timestamps: (sample,) non-decreasing seconds; values: (sample, column);
    edges: (window, n_bins + 1) → (window, n_bins, column) float64.
    """
    values = np.asarray(values, dtype=np.float64)
    left, right = edges[:, :-1], edges[:, 1:]
    finite = np.isfinite(values)
    csum = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(np.where(finite, values, 0.0), 0)])
    ccount = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(finite, 0)])
    lo = np.searchsorted(timestamps, left, side="left")
    hi = np.searchsorted(timestamps, right, side="left")
    n_in = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (csum[hi] - csum[lo]) / n_in
    centre = 0.5 * (left + right)
    interp = np.stack(
        [
            np.interp(centre, timestamps[finite[:, c]], values[finite[:, c], c], left=np.nan, right=np.nan)
            if finite[:, c].any()
            else np.full(centre.shape, np.nan)
            for c in range(values.shape[1])
        ],
        axis=-1,
    )
    out = np.where(n_in > 0, mean, interp)
    outside = (right <= timestamps[0]) | (left > timestamps[-1]) if timestamps.size else np.ones_like(left, bool)
    out[outside] = np.nan
    return out


def continuous_windows(
    samples: np.ndarray,
    sfreq: float,
    first_time: float,
    starts: np.ndarray,
    n_bins: int,
    samples_per_bin: int,
) -> np.ndarray:
    """Cut a continuous signal into windows, averaging ``samples_per_bin`` samples per bin.

    samples: (sample, channel); sample k is at first_time + k / sfreq; starts: (window,) seconds,
    rounded to the nearest sample. Returns (window, n_bins, channel) in samples' dtype.
    Raises ValueError if a window reaches outside the signal.
    """
    first = np.rint((np.asarray(starts) - first_time) * sfreq).astype(np.int64)
    span = n_bins * samples_per_bin
    if first.size and (first.min() < 0 or first.max() + span > samples.shape[0]):
        raise ValueError("a window reaches outside the recorded samples")
    windows = samples[first[:, None] + np.arange(span)]  # (window, span, channel)
    if samples_per_bin == 1:
        return windows
    shape = (first.size, n_bins, samples_per_bin, samples.shape[1])
    return windows.reshape(shape).mean(axis=2, dtype=np.float64).astype(samples.dtype)
