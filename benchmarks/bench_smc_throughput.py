"""SMC training throughput (particle-steps per second), batched vs one trial at a time, CPU vs GPU.

One training step = the VSMC bound over a batch of windows, its gradient and an optimiser step,
for the EEG-size model of Pals et al. 2024 (rank 3, 512 clipped units, 64 Gaussian channels,
optimal proposal, 10 particles, windows of 50 steps, 10 windows per batch) and a spike-size model
(rank 2, 32 units, 60 Poisson channels, CNN-encoder proposal, 16 particles).

Baseline in the same run: the same work with the trials of a batch filtered one at a time
(what a per-trial loop costs). Candidate: all trials × particles in one batch; and, when CUDA is
present, the batched step on the GPU. Prints particle-steps/s and the ratios.

    .venv/bin/python benchmarks/bench_smc_throughput.py [--quick] [--threads N] [--json OUT]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import xarray as xr
from timing import write_record

from neurodyn.models.smc_lowrank.model import SMCLowRank


def dataset(kind: str, n_channels: int, n_time: int, n_trials: int = 12) -> xr.Dataset:
    rng = np.random.default_rng(0)
    if kind == "counts":
        data = rng.poisson(0.3, size=(n_trials, n_time, n_channels)).astype(np.uint32)
    else:
        data = rng.normal(size=(n_trials, n_time, n_channels)).astype(np.float32)
    return xr.Dataset(
        {
            "data": (("trial", "time", "channel"), data, {"kind": kind}),
            "mask": (("trial", "time", "channel"), np.ones(data.shape, bool)),
            "split": (("trial",), np.array(["train"] * n_trials, dtype=object)),
            "heldout": (("channel",), np.zeros(n_channels, bool)),
        },
        coords={
            "trial": np.arange(n_trials),
            "time": np.arange(n_time) * 0.01,
            "channel": np.array([f"c{i}" for i in range(n_channels)], dtype=object),
        },
        attrs={"bin_size_s": 0.01},
    )


CASES = {
    "eeg (R=3, N=512, K=10, B=10, T=50)": (
        "continuous",
        64,
        {"rank": 3, "n_units": 512, "particles": 10, "batch_size": 10, "window_steps": 50},
    ),
    "spikes (R=2, N=32, K=16, B=16, T=50)": (
        "counts",
        60,
        {"rank": 2, "n_units": 32, "particles": 16, "batch_size": 16, "window_steps": 50},
    ),
}


def time_fit(ds: xr.Dataset, cfg: dict, device: torch.device, repeats: int) -> float:
    """Seconds per optimiser step (mean over ``repeats`` epochs of one batch each, after a warm-up)."""
    base = {
        **cfg,
        "epochs": 1,
        "windows_per_epoch": cfg["batch_size"],
        "orthonormalise": False,
        "init_readout": "random",
    }
    SMCLowRank.fit(ds, base, device)  # warm-up (allocations, CUDA context)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    SMCLowRank.fit(ds, {**base, "epochs": repeats}, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = parser.parse_args()
    t_start = time.perf_counter()
    figures = {}
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 10
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}"
    )
    for name, (kind, n_channels, cfg) in CASES.items():
        work = cfg["particles"] * cfg["batch_size"] * cfg["window_steps"]  # particle-steps per optimiser step
        ds = dataset(kind, n_channels, 200, n_trials=cfg["batch_size"])
        per_trial = (
            time_fit(ds, {**cfg, "batch_size": 1, "particles": cfg["particles"]}, torch.device("cpu"), repeats)
            * cfg["batch_size"]
        )
        batched = time_fit(ds, cfg, torch.device("cpu"), repeats)
        print(f"\n{name}: {work} particle-steps per optimiser step")
        print(f"  baseline  CPU, one trial at a time : {work / per_trial:12.0f} particle-steps/s")
        print(
            f"  candidate CPU, batched             : {work / batched:12.0f} particle-steps/s"
            f"   ratio {per_trial / batched:.2f}x"
        )
        figures[name] = {
            "particle_steps_per_optimiser_step": work,
            "baseline": {"name": "CPU, one trial at a time", "particle_steps_per_s": work / per_trial},
            "candidate": {"name": "CPU, batched", "particle_steps_per_s": work / batched},
            "ratio": per_trial / batched,
        }
        if torch.cuda.is_available():
            gpu = time_fit(ds, cfg, torch.device("cuda"), repeats)
            print(
                f"  candidate GPU, batched             : {work / gpu:12.0f} particle-steps/s"
                f"   ratio vs CPU batched {batched / gpu:.2f}x"
            )
            figures[name]["gpu_batched"] = {"particle_steps_per_s": work / gpu, "ratio_vs_cpu_batched": batched / gpu}
            big = {**cfg, "batch_size": 10 * cfg["batch_size"]}
            ds_big = dataset(kind, n_channels, 200, n_trials=big["batch_size"])
            gpu_big = time_fit(ds_big, big, torch.device("cuda"), repeats)
            cpu_big = time_fit(ds_big, big, torch.device("cpu"), max(1, repeats // 3))
            w = work * 10
            print(
                f"  10x batch: CPU {w / cpu_big:12.0f}, GPU {w / gpu_big:12.0f} particle-steps/s"
                f"   ratio {cpu_big / gpu_big:.2f}x"
            )
            figures[name]["batch_x10"] = {
                "cpu_particle_steps_per_s": w / cpu_big,
                "gpu_particle_steps_per_s": w / gpu_big,
                "ratio": cpu_big / gpu_big,
            }
        else:
            print("  GPU: no CUDA device here; not measured")
    write_record(args, time.perf_counter() - t_start, cuda=torch.cuda.is_available(), cases=figures)


if __name__ == "__main__":
    main()
