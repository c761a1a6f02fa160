"""Binning against brute-force counts that use the documented bin edges; the numba and numpy
engines of spike_counts against each other on inputs of every layout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from neurodyn import compiled
from neurodyn.data import binning

ENGINES = pytest.mark.parametrize("engine", binning.ENGINES)


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


@ENGINES
@pytest.mark.parametrize("overlapping", [False, True])
def test_spike_counts_match_brute_force(overlapping, engine):
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
    got = binning.spike_counts(times, units, 7, starts, bin_size, n_bins, engine=engine)
    assert got.dtype == np.uint32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, brute_force_counts(times, units, 7, starts, bin_size, n_bins))


@ENGINES
def test_spike_counts_chunking_and_order_do_not_matter(engine):
    rng = np.random.default_rng(2)
    times, units = random_spikes(rng, n_spikes=5000)
    starts = np.arange(0.0, 9.5, 0.5)
    whole = binning.spike_counts(times, units, 7, starts, 0.01, 50, engine=engine)
    order = rng.permutation(times.size)
    chunked = binning.spike_counts(times[order], units[order], 7, starts, 0.01, 50, chunk_spikes=333, engine=engine)
    np.testing.assert_array_equal(whole, chunked)
    by_time = np.argsort(times)
    np.testing.assert_array_equal(whole, binning.spike_counts(times[by_time], units[by_time], 7, starts, 0.01, 50))
    assert whole.sum() == np.count_nonzero(times < 9.5)  # abutting windows cover [0, 9.5)


@ENGINES
def test_spike_counts_empty_inputs(engine):
    empty = binning.spike_counts(np.array([]), np.array([], int), 3, np.array([0.0]), 0.1, 4, engine=engine)
    assert empty.shape == (1, 4, 3) and empty.dtype == np.uint32 and not empty.any()
    assert binning.spike_counts(np.array([0.5]), np.array([0]), 3, np.array([]), 0.1, 4, engine=engine).shape == (
        0,
        4,
        3,
    )
    assert binning.spike_counts(np.array([0.5]), np.array([0]), 3, np.array([0.0]), 0.1, 0, engine=engine).shape == (
        1,
        0,
        3,
    )


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


@ENGINES
@pytest.mark.parametrize("window_order", ["time", "shuffled"])
def test_spike_counts_nwb_layout_matches_brute_force(window_order, engine):
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
        got = binning.spike_counts(times, units, n_units, starts, 0.025, 30, chunk_spikes=chunk, engine=engine)
        np.testing.assert_array_equal(got, expected)


# --- the two engines of spike_counts agree on every layout ----------------------------------------


def _layouts(rng, times, units):
    """The spikes as given (random order), grouped by unit and sorted within (NWB), sorted in time,
    in reverse time order, and as a few time-sorted runs that interleave in time."""
    yield "random", times, units
    by_unit = np.lexsort((times, units))
    yield "nwb", times[by_unit], units[by_unit]
    by_time = np.argsort(times, kind="stable")
    yield "time", times[by_time], units[by_time]
    yield "reversed", times[by_time[::-1]], units[by_time[::-1]]
    parts = np.split(rng.permutation(times.size), np.sort(rng.integers(0, times.size + 1, 3)))
    runs = np.concatenate([part[np.argsort(times[part], kind="stable")] for part in parts])
    yield "runs", times[runs], units[runs]


def _windows(rng, kind, n_windows, n_bins, bin_size, offset):
    length = n_bins * bin_size
    if kind == "abutting":
        starts = np.arange(n_windows) * length
    elif kind == "gaps":
        starts = np.arange(n_windows) * 1.5 * length
    elif kind == "overlapping":
        starts = rng.uniform(0, n_windows * length / 2, n_windows)
    elif kind == "clustered":  # abutting, and one far away: a grid over the starts guesses badly
        starts = np.append(np.arange(n_windows) * length, 1000 * n_windows * length)
    else:  # repeated starts
        starts = rng.choice(np.arange(3) * length, n_windows)
    return rng.permutation(starts) + offset


KINDS = ["abutting", "gaps", "overlapping", "repeated", "clustered"]


@pytest.mark.parametrize("block_bytes", [1, 3000, binning._BLOCK_BYTES], ids=["block1", "block3000", "default"])
@pytest.mark.parametrize("kind", KINDS)
def test_engines_agree_on_random_inputs(kind, block_bytes, monkeypatch):
    """Random inputs in every layout; small blocks of windows make runs cross many blocks."""
    monkeypatch.setattr(binning, "_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(KINDS.index(kind))
    for case in range(40):
        n_units = int(rng.integers(1, 6))
        n_bins = int(rng.integers(1, 30))
        bin_size = float(rng.choice([0.001, 0.01, 0.025, 0.1, 1 / 3]))
        offset = float(rng.choice([0.0, 1e6, 1e14]))  # far from zero, bin edges carry round-off
        starts = _windows(rng, kind, int(rng.integers(1, 20)), n_bins, bin_size, offset)
        span = starts.max() - offset + n_bins * bin_size
        n_spikes = int(rng.integers(0, 400))
        times = offset + rng.uniform(-0.1 * span, 1.1 * span, n_spikes)
        units = rng.integers(0, n_units, n_spikes)
        # spikes exactly on bin edges and just below them, where the half-open rule decides
        edges = binning.bin_edges(starts, bin_size, n_bins).ravel()
        on_edge = rng.integers(0, n_spikes + 1)
        times[:on_edge] = rng.choice(edges, on_edge)
        times[: on_edge // 4] = np.nextafter(times[: on_edge // 4], -np.inf)
        for layout, t, u in _layouts(rng, times, units):
            expected = binning.spike_counts(t, u, n_units, starts, bin_size, n_bins, engine="numpy")
            got = binning.spike_counts(t, u, n_units, starts, bin_size, n_bins, engine="numba")
            assert got.dtype == np.uint32 and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected, err_msg=f"case {case}, {layout} spikes")


def test_engines_agree_on_the_nwb_layout_at_scale():
    """Many spikes per (unit, window), windows in several blocks: the compiled engine walks each
    unit's spikes through a block of windows at a time."""
    rng = np.random.default_rng(11)
    n_units, n_windows, n_bins, bin_size = 13, 600, 40, 0.005
    units = rng.integers(0, n_units, 200_000)
    times = rng.uniform(-1.0, n_windows * 0.2 + 1.0, units.size)
    by_unit = np.lexsort((times, units))
    times, units = times[by_unit], units[by_unit]
    starts = rng.permutation(np.arange(n_windows) * 0.2)
    got = binning.spike_counts(times, units, n_units, starts, bin_size, n_bins)
    for chunk in (4096, binning.DEFAULT_CHUNK_SPIKES):
        expected = binning.spike_counts(
            times, units, n_units, starts, bin_size, n_bins, engine="numpy", chunk_spikes=chunk
        )
        np.testing.assert_array_equal(got, expected)
    # every window's total per unit, against its first and last edge
    edges = binning.bin_edges(starts, bin_size, n_bins)
    for w in range(0, n_windows, 7):
        inside = (times >= edges[w, 0]) & (times < edges[w, -1])
        np.testing.assert_array_equal(got[w].sum(axis=0), np.bincount(units[inside], minlength=n_units))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the numpy engine on NaN, inf - inf
def test_engines_agree_on_nan_inf_and_input_dtypes():
    times = np.array([0.1, np.nan, 0.7, np.inf, 1.2, -np.inf, 0.5, 1.0, 1.5, 1.95, 2.0])
    units = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1])
    starts = np.array([0.0, 1.0, 0.5])
    expected = binning.spike_counts(times, units, 3, starts, 0.1, 5, engine="numpy")
    assert expected.sum() == 5  # NaN and ±inf are in no bin, nor 1.5 and later (the last window ends there)
    odd_starts = [starts, np.array([1.9, 1.0, np.nan]), np.array([np.inf, 0.0, -np.inf, 1.0]), np.array([np.nan, 0.3])]
    for s in odd_starts:  # NaN starts sort last and make the windows count as overlapping
        layouts = [(times, units), (times.astype(np.float32), units.astype(np.int32)), (np.sort(times), units)]
        for t, u in layouts:
            np.testing.assert_array_equal(
                binning.spike_counts(t, u, 3, s, 0.1, 5), binning.spike_counts(t, u, 3, s, 0.1, 5, engine="numpy")
            )


@ENGINES
@pytest.mark.parametrize("layout", ["time", "shuffled"])  # numba: walking time-sorted runs, spike by spike
def test_unit_outside_range_is_an_error_only_where_counted(engine, layout):
    rng = np.random.default_rng(4)
    starts = np.array([0.0, 1.0])
    # 2 s of spikes in windows [0, 1) and [1, 2), then units 3 (of 3) and -1 outside every window: ignored
    times = np.concatenate([np.linspace(0.0, 1.99, 60), [-2.0, 3.0]])
    units = np.concatenate([rng.integers(0, 3, 60), [3, -1]])
    order = np.arange(times.size) if layout == "time" else rng.permutation(times.size)
    counts = binning.spike_counts(times[order], units[order], 3, starts, 0.1, 10, engine=engine)
    assert counts.sum() == 60
    np.testing.assert_array_equal(counts.sum(axis=(0, 1)), np.bincount(units[:60], minlength=3))
    for bad in (3, -1):
        wrong = units.copy()
        wrong[30] = bad
        with pytest.raises(ValueError, match="unit index outside"):
            binning.spike_counts(times[order], wrong[order], 3, starts, 0.1, 10, engine=engine)


def test_unknown_engine_and_mismatched_lengths_are_errors():
    with pytest.raises(ValueError, match="engine"):
        binning.spike_counts(np.array([0.5]), np.array([0]), 1, np.array([0.0]), 0.1, 10, engine="cuda")
    for engine in binning.ENGINES:
        with pytest.raises(ValueError, match="2 spike times but 1 spike units"):
            binning.spike_counts(np.array([0.5, 0.6]), np.array([0]), 1, np.array([0.0]), 0.1, 10, engine=engine)


def test_time_sorted_runs():
    time_sorted_runs = binning._compiled()[0]
    times = np.array([0.0, 1.0, 1.0, 0.5, 2.0, np.nan, 3.0, 4.0, 1.0])
    np.testing.assert_array_equal(time_sorted_runs(times, 10), [0, 3, 5, 6, 8, 9])
    assert time_sorted_runs(times, 4).size == 0  # more runs than allowed
    long = np.concatenate([np.arange(10_000.0), np.arange(5_000.0)])  # one break, past the first chunks
    np.testing.assert_array_equal(time_sorted_runs(long, 10), [0, 10_000, 15_000])


def test_importing_binning_does_not_import_numba():
    code = "import sys; import neurodyn.data.binning; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_compiles_in_memory_where_no_cache_directory_is_writable(tmp_path):
    """A read-only install: no writable __pycache__ beside the module and no writable user cache.
    numba then refuses to set up its disk cache; neurodyn.compiled.njit compiles in memory, silently."""
    shutil.copy(compiled.__file__, tmp_path / "compiled.py")  # the module needs only numba
    (tmp_path / "kernel.py").write_text(
        "from compiled import njit\n\n\ndef _count(x):\n    n = 0\n    for v in x:\n        n += v > 0\n"
        "    return n\n\n\ncount = njit(_count)\n"
    )
    (tmp_path / "__pycache__").write_text("")  # a file where the cache folder would go
    (tmp_path / "home").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "home" / "cache"), PYTHONPATH=str(tmp_path))
    code = "import numpy as np, kernel; print(kernel.count(np.array([1.0, -2.0, 3.0])))"
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "2" and out.stderr == ""
    assert not any(p.suffix in (".nbi", ".nbc") for p in tmp_path.rglob("*"))
