"""Binning against brute-force counts that use the documented bin edges."""

from __future__ import annotations

import numpy as np
import pytest

from neurodyn.data import binning


def brute_force_counts(spike_times, spike_units, n_units, starts, bin_size, n_bins):
    """Per unit, per window, per bin: count spikes with edge_j <= t < edge_{j+1}."""
    counts = np.zeros((len(starts), n_bins, n_units), dtype=np.int64)
    for w, start in enumerate(starts):
        edges = start + np.arange(n_bins + 1) * bin_size
        for unit in range(n_units):
            t = spike_times[spike_units == unit]
            for j in range(n_bins):
                counts[w, j, unit] = np.count_nonzero((t >= edges[j]) & (t < edges[j + 1]))
    return counts


def random_spikes(rng, n_units=7, n_spikes=3000, span=10.0):
    times = rng.uniform(0, span, n_spikes)
    units = rng.integers(0, n_units, n_spikes)
    return times, units


@pytest.mark.parametrize("overlapping", [False, True])
def test_spike_counts_match_brute_force(overlapping):
    rng = np.random.default_rng(1)
    times, units = random_spikes(rng)
    bin_size, n_bins = 0.02, 25
    if overlapping:  # windows of 0.5 s every 0.3 s, in shuffled order
        starts = rng.permutation(np.arange(0.1, 9.0, 0.3))
    else:
        starts = rng.permutation(np.arange(0.05, 9.0, 0.6))
    # put spikes exactly on bin edges, where the half-open convention decides
    edges = binning.bin_edges(starts, bin_size, n_bins)
    times = np.concatenate([times, edges[:, ::5].ravel(), edges[:, -1]])
    units = np.concatenate([units, rng.integers(0, 7, times.size - units.size)])
    got = binning.spike_counts(times, units, 7, starts, bin_size, n_bins)
    assert got.dtype == np.uint32
    np.testing.assert_array_equal(got, brute_force_counts(times, units, 7, starts, bin_size, n_bins))


def test_spike_counts_chunking_and_order_do_not_matter():
    rng = np.random.default_rng(2)
    times, units = random_spikes(rng, n_spikes=5000)
    starts = np.arange(0.0, 9.5, 0.5)
    whole = binning.spike_counts(times, units, 7, starts, 0.01, 50)
    order = rng.permutation(times.size)
    chunked = binning.spike_counts(times[order], units[order], 7, starts, 0.01, 50, chunk_spikes=333)
    np.testing.assert_array_equal(whole, chunked)
    assert whole.sum() == np.count_nonzero(times < 9.5)  # abutting windows cover [0, 9.5)


def test_spike_counts_empty_inputs():
    assert binning.spike_counts(np.array([]), np.array([], int), 3, np.array([0.0]), 0.1, 4).shape == (1, 4, 3)
    assert binning.spike_counts(np.array([0.5]), np.array([0]), 3, np.array([]), 0.1, 4).shape == (0, 4, 3)


def test_n_whole_bins_forgives_round_off():
    assert binning.n_whole_bins(0.7, 0.02) == 35
    assert binning.n_whole_bins(0.45 + 0.25, 0.02) == 35
    assert binning.n_whole_bins(0.71, 0.02) == 35
    assert binning.n_whole_bins(0.019, 0.02) == 0


def test_merge_intervals():
    merged = binning.merge_intervals(np.array([[5, 6], [0, 1], [0.5, 2], [2, 3], [7, 7.5]]))
    np.testing.assert_array_equal(merged, [[0, 3], [5, 6], [7, 7.5]])
    assert binning.merge_intervals(np.zeros((0, 2))).shape == (0, 2)


def test_observed_mask_matches_brute_force():
    starts = np.arange(0.0, 5.0, 1.0)
    edges = binning.bin_edges(starts, 0.1, 10)
    intervals = [
        np.array([[0.0, 2.35], [3.0, 5.0]]),
        np.array([[0.0, 5.0]]),
        np.zeros((0, 2)),
        np.array([[0.0, 2.35], [3.0, 5.0]]),
    ]
    mask = binning.observed_mask(intervals, edges, tolerance=1e-9)
    for u, iv in enumerate(intervals):
        for w in range(edges.shape[0]):
            for j in range(10):
                lo, hi = edges[w, j], edges[w, j + 1]
                expected = any(a <= lo + 1e-9 and b >= hi - 1e-9 for a, b in iv)
                assert mask[w, j, u] == expected, (u, w, j)
    assert not mask[2, 3, 0] and mask[2, 2, 0]  # [2.3, 2.4) is cut by the gap at 2.35


def test_resample_series_bin_means_interpolation_and_outside():
    stamps = np.arange(0.0, 2.0, 0.01)  # 100 Hz
    values = np.stack([stamps, np.ones_like(stamps)], axis=1)
    edges = binning.bin_edges(np.array([0.0, 1.0]), 0.1, 5)
    out = binning.resample_series(stamps, values, edges)
    expected = np.array([[stamps[(stamps >= a) & (stamps < b)].mean() for a, b in zip(e[:-1], e[1:])] for e in edges])
    np.testing.assert_allclose(out[..., 0], expected)
    np.testing.assert_allclose(out[..., 1], 1.0)
    # bins narrower than the sampling step are interpolated at their centres
    fine = binning.bin_edges(np.array([0.5002]), 0.001, 5)  # 0.5002 … 0.5052: no sample inside
    np.testing.assert_allclose(
        binning.resample_series(stamps, values, fine)[0, :, 0], 0.5002 + (np.arange(5) + 0.5) * 0.001, atol=1e-12
    )
    late = binning.bin_edges(np.array([3.0]), 0.1, 2)
    assert np.isnan(binning.resample_series(stamps, values, late)).all()


def test_continuous_windows_average_blocks():
    samples = np.arange(40, dtype=np.float32).reshape(20, 2)
    out = binning.continuous_windows(
        samples, sfreq=10.0, first_time=0.0, starts=np.array([0.0, 1.0]), n_bins=2, samples_per_bin=4
    )
    np.testing.assert_allclose(out[0, 0], samples[0:4].mean(0))
    np.testing.assert_allclose(out[1, 1], samples[14:18].mean(0))
    with pytest.raises(ValueError):
        binning.continuous_windows(samples, 10.0, 0.0, np.array([1.5]), 2, 4)


@pytest.mark.parametrize("window_order", ["time", "shuffled"])
def test_spike_counts_nwb_layout_matches_brute_force(window_order):
    """Spikes grouped by unit and sorted in time (the NWB layout) take the local-count path."""
    rng = np.random.default_rng(5)
    n_units = 9
    per_unit = [np.sort(rng.uniform(0, 20, rng.integers(0, 400))) for _ in range(n_units)]
    times = np.concatenate(per_unit)
    units = np.repeat(np.arange(n_units), [p.size for p in per_unit])
    starts = np.arange(0.3, 19.0, 0.9)
    if window_order == "shuffled":
        starts = rng.permutation(starts)
    expected = brute_force_counts(times, units, n_units, starts, 0.025, 30)
    for chunk in (7, 100, 1 << 17):
        got = binning.spike_counts(times, units, n_units, starts, 0.025, 30, chunk_spikes=chunk)
        np.testing.assert_array_equal(got, expected)
