"""Binning of spike trains, observation intervals and sampled signals into trial windows.

Conventions shared by every function here:

* A *window* ``w`` starts at absolute time ``starts[w]`` and has ``n_bins`` bins of width
  ``bin_size``; bin ``j`` of window ``w`` is the half-open interval
  ``[starts[w] + j * bin_size, starts[w] + (j + 1) * bin_size)`` with both edges computed exactly
  as :func:`bin_edges` computes them (float64). Every membership test compares against those
  edges, so counts agree exactly with any count that uses the same edges.
* Windows may overlap (e.g. long windows around close events); a spike then counts in each.
* :func:`spike_counts` has two engines giving identical counts: compiled loops (numba, the
  default; numba is imported on first use) and whole-array numpy operations. The numpy engine
  processes spikes in chunks of ``chunk_spikes``: temporaries stay small enough to be reused from
  cache instead of being freshly paged in, which costs more than the arithmetic.
"""

from __future__ import annotations

import numpy as np

from neurodyn.compiled import njit

DEFAULT_CHUNK_SPIKES = 1 << 17
ENGINES = ("numba", "numpy")

# The compiled engine counts a block of windows at a time for every run of time-sorted spikes;
# a block's counts, (block, n_bins, n_units) uint32, should stay in the per-core cache.
_BLOCK_BYTES = 1 << 19
_CHUNK = 1024  # spikes whose flat count indices are computed together before being added


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
    engine: str = "numba",
) -> np.ndarray:
    """Count spikes per window, bin and unit, for all spikes at once (no per-unit loop).

    spike_times: (spike,) seconds, any order; spike_units: (spike,) unit index in [0, n_units);
    starts: (window,) window starts in seconds, any order.
    Returns counts: (window, n_bins, n_units) uint32.

    A spike belongs to the window(s) found by bisection among the sorted starts: for disjoint
    windows the last one starting at or before it, for overlapping ones every window starting in
    ``(t - n_bins * bin_size, t]`` (widened by one to absorb round-off). Its bin is computed by
    division, then corrected against the exact edges; it counts if that bin lies in ``[0, n_bins)``.

    ``engine="numba"`` (default) runs compiled single-threaded loops: where the spikes form few
    time-sorted runs (the NWB layout: grouped by unit, sorted within each) it walks every run
    through a block of windows at a time, so the block's counts stay in cache and the output is
    written once in its final order; otherwise it locates each spike's window from the previous
    spike's. ``engine="numpy"`` uses whole-array operations on chunks of ``chunk_spikes`` spikes
    (unit-major counts, then one transpose). Both give identical counts.
    Raises ValueError for an unknown engine, spike_times and spike_units of different lengths, or a
    counted spike whose unit is outside [0, n_units).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    starts = np.asarray(starts, dtype=np.float64)
    n_windows = starts.size
    n_spikes = np.size(spike_times)
    if np.size(spike_units) != n_spikes:
        raise ValueError(f"{n_spikes} spike times but {np.size(spike_units)} spike units")
    if engine == "numpy" or not (n_windows and n_spikes and n_bins > 0 and n_units > 0):
        return _spike_counts_numpy(spike_times, spike_units, n_units, starts, bin_size, n_bins, chunk_spikes)
    order = np.argsort(starts, kind="stable")
    sorted_starts = starts[order]
    bin_size = float(bin_size)
    overlapping = not bool(np.all(sorted_starts[1:] >= sorted_starts[:-1] + n_bins * bin_size))
    times = np.ascontiguousarray(spike_times, dtype=np.float64).reshape(-1)
    units = np.ascontiguousarray(spike_units, dtype=np.int64).reshape(-1)
    counts = np.zeros(n_windows * n_bins * n_units, dtype=np.uint32)  # (window, bin, unit), flattened
    time_sorted_runs, count_by_runs, count_each = _compiled()
    # walk runs where they hold 16 spikes and each (run, window) pair one spike on average;
    # otherwise (spikes in no particular order) go spike by spike
    runs = time_sorted_runs(times, max(1, n_spikes // max(n_windows, 16)))
    block = max(1, _BLOCK_BYTES // (4 * n_bins * n_units))
    if runs.size:
        ok = count_by_runs(
            times, units, runs, n_units, sorted_starts, order, bin_size, n_bins, overlapping, block, counts
        )
    else:
        ok = count_each(times, units, n_units, sorted_starts, order, bin_size, n_bins, overlapping, counts)
    if not ok:
        raise ValueError(f"a counted spike has a unit index outside [0, {n_units})")
    return counts.reshape(n_windows, n_bins, n_units)


def _spike_counts_numpy(spike_times, spike_units, n_units, starts, bin_size, n_bins, chunk_spikes):
    """The numpy engine of :func:`spike_counts` (same arguments and result)."""
    n_windows = starts.size
    per_unit = n_windows * n_bins
    counts = np.zeros(n_units * per_unit, dtype=np.uint32)  # (unit, window, bin), flattened
    if n_windows and np.size(spike_times):
        order = np.argsort(starts, kind="stable")
        sorted_starts = starts[order]
        ends = sorted_starts + n_bins * bin_size
        disjoint = bool(np.all(sorted_starts[1:] >= ends[:-1]))
        length = n_bins * bin_size
        for lo_spike in range(0, np.size(spike_times), chunk_spikes):
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
            u = u[inside]
            if u.size and (u.min() < 0 or u.max() >= n_units):
                raise ValueError(f"a counted spike has a unit index outside [0, {n_units})")
            _add_occurrences(counts, u * per_unit + order[window[inside]] * n_bins + j[inside], chunk_spikes)
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


# --- compiled engine ----------------------------------------------------------------------------
# Plain functions compiled on first use by _compiled(). Each repeats the bin rule of
# _exact_bin_index operation for operation (same float64 operations in the same order, no fused
# multiply-add), so both engines place every spike identically.

_KERNELS = None


def _compiled():
    """(time_sorted_runs, count_by_runs, count_each) compiled with numba, cached on disk when a
    cache directory is writable and in memory otherwise."""
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = (njit(_time_sorted_runs), njit(_count_by_runs), njit(_count_each))
    return _KERNELS


def _time_sorted_runs(times, max_runs):
    """Boundaries of the maximal runs of non-decreasing times: (run + 1,) int64 with
    runs[0] = 0 and runs[-1] = times.size, or an empty array if there are more than max_runs.
    A NaN is a run of its own."""
    runs = np.empty(max_runs + 1, dtype=np.int64)
    runs[0] = 0
    n_runs = 1
    n = times.size
    for lo in range(1, n, 4096):
        hi = min(lo + 4096, n)
        later, earlier = times[lo:hi], times[lo - 1 : hi - 1]
        ordered = True
        for i in range(hi - lo):  # vectorised; a chunk without a break is skipped whole
            ordered &= later[i] >= earlier[i]
        if ordered:
            continue
        for i in range(lo, hi):
            if not times[i] >= times[i - 1]:
                if n_runs == max_runs:
                    return runs[:0]
                runs[n_runs] = i
                n_runs += 1
    runs[n_runs] = n
    return runs[: n_runs + 1]


def _count_by_runs(times, units, runs, n_units, starts, order, bin_size, n_bins, overlapping, block, counts):
    """counts[order[k], j, u] += spikes of unit u in bin j of window k, walking each time-sorted
    run of spikes through ``block`` windows at a time. starts: (window,) sorted; counts: flat
    (window, n_bins, n_units) uint32. Returns False if a counted spike's unit is out of range."""
    n_windows = starts.size
    n_runs = runs.size - 1
    length = n_bins * bin_size
    per_window = n_bins * n_units
    n_bins_f = float(n_bins)
    cursor = runs[:-1].copy()  # per run: the first spike the next block of windows has to look at
    flat = np.empty(_CHUNK, dtype=np.int64)  # per spike: index into counts, -1 not counted, -2 bad unit
    for k0 in range(0, n_windows, block):
        k1 = min(k0 + block, n_windows)
        for r in range(n_runs):
            p = cursor[r]
            end = runs[r + 1]
            if p == end:
                continue
            if k1 < n_windows and (times[p] - length if overlapping else times[p]) >= starts[k1]:
                continue  # the run's remaining spikes all count in later blocks, if anywhere
            for k in range(k0, k1):
                start = starts[k]
                while p < end and times[p] < start:  # spikes before window k cannot count in it
                    p += 1
                # spikes p..q-1 are those whose window search yields k (among others if overlapping)
                q = p
                if k + 1 == n_windows:
                    q = end
                elif overlapping:
                    following = starts[k + 1]  # NaN sorts last, as if it were +inf
                    while q < end and not times[q] - length >= following:
                        q += 1
                else:
                    following = starts[k + 1]
                    while q < end and times[q] < following:
                        q += 1
                base = order[k] * per_window
                for lo in range(p, q, _CHUNK):
                    m = min(q - lo, _CHUNK)
                    t = times[lo : lo + m]
                    u = units[lo : lo + m]
                    for i in range(m):  # vectorised
                        ti = t[i]
                        j = np.floor((ti - start) / bin_size)
                        j -= 1.0 if ti < start + j * bin_size else 0.0
                        j += 1.0 if ti >= start + (j + 1.0) * bin_size else 0.0
                        inside = (j >= 0.0) & (j < n_bins_f)
                        unknown = (u[i] < 0) | (u[i] >= n_units)
                        index = base + int(j if inside else 0.0) * n_units + u[i]
                        flat[i] = (-2 if unknown else index) if inside else -1
                    for i in range(m):
                        f = flat[i]
                        if f >= 0:
                            counts[f] += 1
                        elif f == -2:
                            return False
                if not overlapping:
                    p = q
            cursor[r] = p
    return True


def _count_each(times, units, n_units, starts, order, bin_size, n_bins, overlapping, counts):
    """As _count_by_runs for spikes in any order. Each spike's last window starting at or before
    it is the previous spike's if that still fits; otherwise a grid over the starts gives a first
    guess, corrected by stepping along the starts (or by bisection if that takes long)."""
    n_windows = starts.size
    length = n_bins * bin_size
    per_window = n_bins * n_units
    # guess[c]: the last window starting at or before first + c * cell
    first = starts[0]
    n_cells = n_windows
    cell = (starts[n_windows - 1] - first) / n_cells
    if not cell > 0.0 or not np.isfinite(cell):
        n_cells, cell = 1, 1.0
    guess = np.empty(n_cells, dtype=np.int64)
    k = 0
    for c in range(n_cells):
        while k + 1 < n_windows and starts[k + 1] <= first + c * cell:
            k += 1
        guess[c] = k
    k = -1
    for i in range(times.size):
        ti = times[i]
        if ti != ti:
            continue  # NaN: in no bin
        if not (k >= 0 and starts[k] <= ti and (k + 1 == n_windows or ti < starts[k + 1])):
            x = (ti - first) / cell
            k = guess[int(x) if 0.0 <= x < n_cells else (n_cells - 1 if x >= n_cells else 0)]
            steps = 0
            while k >= 0 and starts[k] > ti and steps < 16:
                k -= 1
                steps += 1
            while k + 1 < n_windows and starts[k + 1] <= ti and steps < 16:
                k += 1
                steps += 1
            if steps == 16:
                lo, hi = 0, n_windows
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if starts[mid] <= ti:
                        lo = mid + 1
                    else:
                        hi = mid
                k = lo - 1
        # candidate windows: k, then earlier ones while t - length < the next start
        w = k
        while w >= 0:
            start = starts[w]
            j = np.floor((ti - start) / bin_size)
            if ti < start + j * bin_size:
                j -= 1.0
            if ti >= start + (j + 1.0) * bin_size:
                j += 1.0
            if j >= 0.0 and j < n_bins:
                unit = units[i]
                if unit < 0 or unit >= n_units:
                    return False
                counts[order[w] * per_window + int(j) * n_units + unit] += 1
            if not overlapping or ti - length >= start:
                break
            w -= 1
    return True


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
