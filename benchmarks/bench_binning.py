"""Binning speed: neurodyn's spike binning (numba and numpy engines) vs a per-unit np.histogram loop.

All three bin the same spikes (NWB layout: grouped by unit, sorted in time within each unit) into the
same 10 ms bins of abutting 1 s trial windows and must give identical counts. The three are timed in
turns, best of ``--repeats`` each; prints spikes/s for each, the speed ratios, the compile time of the
numba kernels (kept out of the timings) and a memory floor: the bytes the binning must move (spike
times and units read once, counts written once) at the copy bandwidth measured in the same run by
``np.copyto`` between two arrays of the spikes' size. The numba engine is single-threaded; pin the
process to one core for steady numbers:

    taskset -c 0 python benchmarks/bench_binning.py [--spikes 10000000] [--units 200] [--repeats 7]
    python benchmarks/bench_binning.py --quick --json benchmarks/results/binning.json   # 10^6 spikes, 100 trials
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from timing import write_record

from neurodyn.data.binning import bin_edges, spike_counts

# a fresh interpreter's first numba binning call: import numba, then compile the kernels or load them from the cache
FIRST_CALL = """
import time
import numpy as np
from neurodyn.data.binning import spike_counts
t0 = time.perf_counter()
spike_counts(np.array([0.5, 0.7]), np.array([0, 1]), 2, np.array([0.0]), 0.1, 10)
print(time.perf_counter() - t0)
"""


def make_spikes(n_spikes: int, n_units: int, duration: float, seed: int = 0):
    """Per-unit sorted spike times in the NWB ragged layout: flat times, (unit + 1,) offsets."""
    rng = np.random.default_rng(seed)
    units = np.sort(rng.integers(0, n_units, n_spikes))
    times = rng.uniform(0.0, duration, n_spikes)
    offsets = np.searchsorted(units, np.arange(n_units + 1))
    for u in range(n_units):  # sort within each unit, as NWB stores them
        times[offsets[u] : offsets[u + 1]].sort()
    return times, units, offsets


def per_unit_histogram(times, offsets, starts, bin_size, n_bins):
    """The straightforward way: one np.histogram per unit over all windows' edges."""
    edges = bin_edges(starts, bin_size, n_bins)
    # abutting windows: every window's edges form one sorted grid (drop each window's last edge)
    grid = np.concatenate([edges[:, :-1].ravel(), edges[-1:, -1]])
    counts = np.empty((starts.size, n_bins, offsets.size - 1), dtype=np.int64)
    for u in range(offsets.size - 1):
        hist, _ = np.histogram(times[offsets[u] : offsets[u + 1]], bins=grid)
        counts[:, :, u] = hist.reshape(starts.size, n_bins)
    return counts


def first_call_seconds() -> tuple[float, float]:
    """(cold, cached): seconds of the first numba binning call in a fresh interpreter, with an empty
    numba cache directory (import + compile) and then with the cache that call filled (import + load)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        seconds = [
            float(
                subprocess.run(
                    [sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(2)
        ]
    return seconds[0], seconds[1]


def copy_bandwidth(nbytes: int, repeats: int) -> float:
    """Bytes per second read plus written by np.copyto between two arrays of ``nbytes`` (best of repeats)."""
    src = np.ones(nbytes // 8)
    dst = np.zeros_like(src)
    dst.fill(1.0)  # fault the pages in before timing
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spikes", type=int, default=None, help="default 10^7 (quick 10^6)")
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--trials", type=int, default=None, help="default 1000 (quick 100: the same spikes per bin)")
    parser.add_argument("--bin-size", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=None, help="best of this many, in turns (default 7, quick 3)")
    parser.add_argument("--quick", action="store_true", help="10^6 spikes in 100 trials, three repeats")
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = parser.parse_args()
    args.spikes = args.spikes or (1_000_000 if args.quick else 10_000_000)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.trials = args.trials or (100 if args.quick else 1000)
    t_start = time.perf_counter()

    trial_length = 1.0
    n_bins = int(round(trial_length / args.bin_size))
    starts = np.arange(args.trials) * trial_length
    times, units, offsets = make_spikes(args.spikes, args.units, args.trials * trial_length)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"{args.spikes:,} spikes, {args.units} units, {args.trials} trials × {n_bins} bins "
        f"of {args.bin_size * 1e3:g} ms (best of {args.repeats}, in turns; {affinity} CPU(s) allowed)"
    )

    cold_s, cached_s = first_call_seconds()
    methods = {
        "per-unit np.histogram loop": lambda: per_unit_histogram(times, offsets, starts, args.bin_size, n_bins),
        "spike_counts, numpy engine": lambda: spike_counts(
            times, units, args.units, starts, args.bin_size, n_bins, engine="numpy"
        ),
        "spike_counts, numba engine": lambda: spike_counts(
            times, units, args.units, starts, args.bin_size, n_bins, engine="numba"
        ),
    }
    expected = None
    for name, method in methods.items():  # one untimed call each: numba compiles or loads its kernels here
        counts = method()
        if expected is None:
            expected = counts
        elif not np.array_equal(counts, expected):
            raise SystemExit(f"counts differ: {name} vs the per-unit loop")
    best = dict.fromkeys(methods, np.inf)
    for _ in range(args.repeats):
        for name, method in methods.items():
            t0 = time.perf_counter()
            method()
            best[name] = min(best[name], time.perf_counter() - t0)

    out_bytes = expected.size * 4  # uint32 counts
    in_bytes = times.nbytes + units.nbytes
    bandwidth = copy_bandwidth(max(times.nbytes, 1 << 26), max(args.repeats, 7))
    floor_s = (in_bytes + out_bytes) / bandwidth
    t_loop, t_numpy, t_numba = best.values()
    for name, seconds in best.items():
        print(f"{name:27}: {seconds:8.4f} s  {args.spikes / seconds / 1e6:8.1f} M spikes/s")
    print(f"ratio loop / numpy engine : {t_loop / t_numpy:6.2f}x")
    print(f"ratio loop / numba engine : {t_loop / t_numba:6.2f}x")
    print(f"ratio numpy / numba engine: {t_numpy / t_numba:6.2f}x")
    print(
        f"memory floor: {floor_s:.4f} s  {args.spikes / floor_s / 1e6:.0f} M spikes/s = "
        f"({in_bytes / 1e6:.0f} MB spikes in + {out_bytes / 1e6:.0f} MB counts out) / {bandwidth / 1e9:.1f} GB/s "
        f"(np.copyto read+write); numba engine at {t_numba / floor_s:.1f}x the floor"
    )
    print(
        f"numba first call in a fresh process (import numba + kernels): {cold_s:.2f} s compiling, {cached_s:.2f} s cached"
    )
    write_record(
        args,
        time.perf_counter() - t_start,
        baseline={"name": "per-unit np.histogram loop", "time_s": t_loop, "spikes_per_s": args.spikes / t_loop},
        candidate={"name": "spike_counts, numba engine", "time_s": t_numba, "spikes_per_s": args.spikes / t_numba},
        numpy_engine={"name": "spike_counts, numpy engine", "time_s": t_numpy, "spikes_per_s": args.spikes / t_numpy},
        ratio=t_loop / t_numba,
        ratio_numpy_engine=t_numpy / t_numba,
        floor={
            "time_s": floor_s,
            "spikes_per_s": args.spikes / floor_s,
            "note": "spike times and units read once + uint32 counts written once, at the np.copyto bandwidth",
            "bytes": in_bytes + out_bytes,
            "copy_bandwidth_bytes_per_s": bandwidth,
        },
        numba_first_call_s={"compiling": cold_s, "cached": cached_s},
    )


if __name__ == "__main__":
    main()
