"""Peak memory of binning a long recording: in one piece vs streamed in blocks to the store.

A synthetic recording (units firing as Poisson processes for a long session) is binned into
consecutive windows and written as a dataset store, once by binning everything in memory and
writing it, once by `bin_to_store` with a block budget. Peak memory is what tracemalloc sees
(numpy reports its buffers to it) above the recording itself. Prints both peaks, times and ratios.

    python benchmarks/bench_binning_memory.py [--units 200] [--seconds 3000] [--rate 10] [--block-mb 32]
    python benchmarks/bench_binning_memory.py --quick --json benchmarks/results/binning_memory.json   # 1000 s
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from timing import write_record

from neurodyn.data.binned import BinningOptions, bin_recording, bin_to_store
from neurodyn.data.dataset import write_dataset
from neurodyn.data.recording import SpikeRecording


def long_recording(n_units: int, seconds: float, rate_hz: float, seed: int = 0) -> SpikeRecording:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate_hz * seconds, n_units)
    trains = [np.sort(rng.uniform(0, seconds, c)) for c in counts]
    return SpikeRecording(
        source="synthetic",
        source_sha256="-",
        spike_times=np.concatenate(trains),
        unit_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        unit_ids=np.arange(n_units, dtype=np.int64),
        obs_intervals=[np.array([[0.0, seconds]])] * n_units,
        extent=(0.0, seconds),
    )


def measure(fn) -> tuple[float, float]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=None, help="recording length (default 3000, quick 1000)")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--bin-size", type=float, default=0.005)
    parser.add_argument("--block-mb", type=float, default=32.0)
    parser.add_argument("--quick", action="store_true", help="a 1000 s recording")
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = parser.parse_args()
    args.seconds = args.seconds or (1000.0 if args.quick else 3000.0)
    t_start = time.perf_counter()

    rec = long_recording(args.units, args.seconds, args.rate)
    opts = BinningOptions.from_config(
        {"bin_size_s": args.bin_size, "segment": "windows", "segment_length_s": 10.0, "min_spikes": 0},
        heldout={"fraction": 0.2},
    )
    n_bins = int(args.seconds / args.bin_size)
    print(
        f"{rec.spike_times.size:,} spikes, {args.units} units, {args.seconds:g} s at {args.bin_size * 1e3:g} ms "
        f"= {n_bins * args.units / 1e6:.0f} M bins (recording itself: {rec.spike_times.nbytes / 2**20:.0f} MiB)"
    )
    work = Path(tempfile.mkdtemp())
    try:
        whole_mb, whole_s = measure(lambda: write_dataset(bin_recording(rec, opts), work / "whole.zarr"))
        block_mb, block_s = measure(
            lambda: bin_to_store(rec, opts, work / "streamed.zarr", block_bytes=int(args.block_mb * 2**20))
        )
    finally:
        shutil.rmtree(work)
    print(f"in one piece       : peak {whole_mb:8.1f} MiB  {whole_s:6.2f} s")
    print(f"streamed ({args.block_mb:g} MiB) : peak {block_mb:8.1f} MiB  {block_s:6.2f} s")
    print(f"ratio: memory {whole_mb / block_mb:.1f}x smaller, time {block_s / whole_s:.2f}x")
    write_record(
        args,
        time.perf_counter() - t_start,
        n_spikes=int(rec.spike_times.size),
        baseline={"name": "in one piece", "peak_mib": whole_mb, "time_s": whole_s},
        candidate={"name": f"streamed, {args.block_mb:g} MiB blocks", "peak_mib": block_mb, "time_s": block_s},
        ratio={"memory": whole_mb / block_mb, "time": block_s / whole_s},
    )


if __name__ == "__main__":
    main()
