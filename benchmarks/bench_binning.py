"""Binning speed: neurodyn's vectorised spike binning vs a per-unit np.histogram loop.

Both bin the same spikes into the same 10 ms bins of abutting 1 s trial windows and must give
identical counts. Prints spikes/s for each and the speed ratio.

    python benchmarks/bench_binning.py [--spikes 10000000] [--units 200] [--repeats 3]
    python benchmarks/bench_binning.py --quick --json benchmarks/results/binning.json   # 10^6 spikes, 100 trials, 1 repeat
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from timing import best_of, write_record

from neurodyn.data.binning import bin_edges, spike_counts


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spikes", type=int, default=None, help="default 10^7 (quick 10^6)")
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--trials", type=int, default=None, help="default 1000 (quick 100: the same spikes per bin)")
    parser.add_argument("--bin-size", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=None, help="best of this many (default 3, quick 1)")
    parser.add_argument("--quick", action="store_true", help="10^6 spikes in 100 trials, one repeat")
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = parser.parse_args()
    args.spikes = args.spikes or (1_000_000 if args.quick else 10_000_000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.trials = args.trials or (100 if args.quick else 1000)
    t_start = time.perf_counter()

    trial_length = 1.0
    n_bins = int(round(trial_length / args.bin_size))
    starts = np.arange(args.trials) * trial_length
    times, units, offsets = make_spikes(args.spikes, args.units, args.trials * trial_length)
    print(
        f"{args.spikes:,} spikes, {args.units} units, {args.trials} trials × {n_bins} bins "
        f"of {args.bin_size * 1e3:g} ms (best of {args.repeats})"
    )

    t_base, expected = best_of(args.repeats, lambda: per_unit_histogram(times, offsets, starts, args.bin_size, n_bins))
    t_ours, counts = best_of(
        args.repeats, lambda: spike_counts(times, units, args.units, starts, args.bin_size, n_bins)
    )
    if not np.array_equal(counts, expected):
        raise SystemExit("counts differ between the two methods")
    print(f"per-unit np.histogram loop : {t_base:7.3f} s  {args.spikes / t_base / 1e6:7.1f} M spikes/s")
    print(f"neurodyn spike_counts      : {t_ours:7.3f} s  {args.spikes / t_ours / 1e6:7.1f} M spikes/s")
    print(f"ratio (loop time / neurodyn time): {t_base / t_ours:.2f}x")
    write_record(
        args,
        time.perf_counter() - t_start,
        baseline={"name": "per-unit np.histogram loop", "time_s": t_base, "spikes_per_s": args.spikes / t_base},
        candidate={"name": "neurodyn spike_counts", "time_s": t_ours, "spikes_per_s": args.spikes / t_ours},
        ratio=t_base / t_ours,
    )


if __name__ == "__main__":
    main()
