"""SMC training per epoch: neurodyn's smc_lowrank against the public reference code, side by side.

The EEG experiment of Pals et al. 2024 (NeurIPS): S001R01 of the EEG Motor Movement/Imagery data,
first 9,640 samples of its 64 channels, z-scored per channel; rank 3, 512 clipped units, affine
Gaussian readout, full transition noise, optimal proposal, systematic resampling, 10 particles,
50 batches of 10 random windows of 50 steps per epoch, RAdam at lr 1e-3 decaying to 1e-6, no
gradient clipping, evaluation off. Both sides run with the same torch thread count, alternating;
per-epoch time is (t(E₂ epochs) − t(E₁ epochs)) / (E₂ − E₁) so that set-up cost cancels.

Baseline: the reference's ``train_VAE`` (``../shared/reference/smc_rnns``, run unmodified, imported
only here). Candidates: neurodyn's ``engine: eager`` (tensor operations per step) and
``engine: fused`` (each window's steps and gradient in two compiled loops). Prints the per-epoch
times, the ratios and the arithmetic floor of the work.

    .venv/bin/python benchmarks/bench_smc_vs_reference.py [--quick] [--threads 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from timing import per_epoch_seconds, skip, write_record

from neurodyn.models.smc_lowrank.model import SMCLowRank

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference" / "smc_rnns"
EDF = SHARED / "data" / "eegmmidb" / "S001" / "S001R01.edf"
N_SAMPLES = 9640
RANK, UNITS, PARTICLES, BATCH, WINDOW, WINDOWS_PER_EPOCH = 3, 512, 10, 10, 50, 500


def eeg_array() -> np.ndarray:
    """(channel, time) float32: the first 9,640 samples of S001R01 in µV, z-scored per channel."""
    import mne

    raw = mne.io.read_raw_edf(EDF, preload=True, verbose="error")
    x = raw.get_data()[:, :N_SAMPLES] * 1e6
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    return x.astype(np.float32)


def reference_epochs(data: np.ndarray, epochs: int, seed: int) -> float:
    """Seconds for ``epochs`` epochs of the reference's training loop (its own set-up included)."""
    from vi_rnn.datasets import Basic_dataset
    from vi_rnn.train import train_VAE
    from vi_rnn.vae import VAE

    torch.manual_seed(seed)
    vae_params = {
        "dim_x": data.shape[0],
        "dim_z": RANK,
        "dim_N": UNITS,
        "dim_u": 0,
        "rnn_params": {
            "transition": "low_rank",
            "observation": "affine",
            "readout_from": "z",
            "activation": "clipped_relu",
            "decay": 0.9,
            "weight_dist": "uniform",
            "train_neuron_bias": True,
            "initial_state": "trainable",
            "obs_likelihood": "Gauss",
            "obs_nonlinearity": "identity",
            "train_obs_bias": True,
            "train_obs_weights": True,
            "noise_x": "diag",
            "init_noise_x": 0.1,
            "train_noise_x": True,
            "noise_z": "full",
            "init_noise_z": 0.1,
            "train_noise_z": True,
            "noise_z_t0": "full",
            "init_noise_z_t0": 1.0,
            "train_noise_z_t0": True,
            "simulate_input": False,
        },
    }
    training_params = {
        "lr": 1e-3,
        "lr_end": 1e-6,
        "n_epochs": epochs,
        "batch_size": BATCH,
        "cuda": False,
        "run_eval": False,
        "loss_f": "opt_smc",
        "k": PARTICLES,
        "resample": "systematic",
        "grad_norm": 0,
    }
    task = Basic_dataset({"name": "EEG", "dur": WINDOW, "n_trials": WINDOWS_PER_EPOCH}, data, data)
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        train_VAE(VAE(vae_params), training_params, task, sync_wandb=False, out_dir=out + "/", fname="bench")
        return time.perf_counter() - start


def eeg_dataset(data: np.ndarray) -> xr.Dataset:
    """The same array as one long training trial of neurodyn's data contract."""
    x = data.T[None]  # (trial, time, channel)
    return xr.Dataset(
        {
            "data": (("trial", "time", "channel"), x, {"kind": "continuous"}),
            "mask": (("trial", "time", "channel"), np.ones(x.shape, bool)),
            "split": (("trial",), np.array(["train"], dtype=object)),
            "heldout": (("channel",), np.zeros(x.shape[2], bool)),
        },
        coords={
            "trial": [0],
            "time": np.arange(x.shape[1]) / 160.0,
            "channel": np.array([f"ch{i}" for i in range(x.shape[2])], dtype=object),
        },
        attrs={"bin_size_s": 1 / 160.0},
    )


BOUNDS: dict[str, list[float]] = {}  # engine → the last epoch's training bound per step, of each longest run


def neurodyn_epochs(ds: xr.Dataset, epochs: int, seed: int, engine: str) -> float:
    cfg = {
        "rank": RANK,
        "n_units": UNITS,
        "nonlinearity": "clipped",
        "observation": "gaussian",
        "proposal": "optimal",
        "noise_cov": "full",
        "particles": PARTICLES,
        "batch_size": BATCH,
        "window_steps": WINDOW,
        "windows_per_epoch": WINDOWS_PER_EPOCH,
        "lr": 1e-3,
        "lr_end": 1e-6,
        "grad_clip": 10.0,  # the reference clips nothing; one norm per batch, and it keeps float32 finite
        "resample": "always",
        "epochs": epochs,
        "orthonormalise": False,
        "engine": engine,
        "seed": seed,
    }
    start = time.perf_counter()
    model = SMCLowRank.fit(ds, cfg, torch.device("cpu"))
    seconds = time.perf_counter() - start
    BOUNDS.setdefault(f"{engine} seed {seed} after {epochs} epochs", []).append(model.meta["history"][-1][1])
    return seconds


def floor_seconds(threads: int) -> tuple[float, float, float]:
    """Arithmetic floor per epoch: flops of the work ÷ a measured matmul rate on this machine.

    Per particle-step the transition does M z and Nᵀ φ (2 · 2 · U · R flops) plus the elementwise
    φ (≈ 4 U); the backward pass costs about twice the forward. The rate is that of a large float32
    matmul on the same threads (the best case for these flops).
    """
    per_step = 2 * 2 * UNITS * RANK + 4 * UNITS
    flops = 3 * per_step * PARTICLES * BATCH * WINDOW * (WINDOWS_PER_EPOCH // BATCH)
    a = torch.randn(1024, 1024)
    a @ a
    start = time.perf_counter()
    for _ in range(5):
        a @ a
    rate = 5 * 2 * 1024**3 / (time.perf_counter() - start)
    return flops / rate, flops, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="epochs 1 and 2, one repeat")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides")
    parser.add_argument("--repeats", type=int, default=None, help="alternating repeats (default 3, quick 1)")
    parser.add_argument("--engines", default="eager,fused", help="neurodyn engines to time, comma-separated")
    parser.add_argument("--json", type=Path, default=None, help="write a JSON record here")
    args = parser.parse_args()
    if not REFERENCE.is_dir() or not EDF.is_file():
        skip(args, f"needs {REFERENCE} and {EDF}")
    sys.path[:0] = [str(REFERENCE), str(REFERENCE / "vi_rnn")]  # the reference imports its modules both ways
    torch.set_num_threads(args.threads)
    e1, e2 = (1, 2) if args.quick else (2, 6)
    repeats = args.repeats or (1 if args.quick else 3)
    engines = [e for e in args.engines.split(",") if e]
    data = eeg_array()
    ds = eeg_dataset(data)
    began = time.perf_counter()
    for engine in engines:  # warm-up: numba compiles (or loads from its cache) the fused loop once per process
        neurodyn_epochs(ds, 1, seed=0, engine=engine)
    times: dict[str, dict[int, list[float]]] = {n: {e1: [], e2: []} for n in ["reference", *engines]}
    for rep in range(repeats):
        for epochs in (e1, e2):
            times["reference"][epochs].append(reference_epochs(data, epochs, seed=rep))
            for engine in engines:
                times[engine][epochs].append(neurodyn_epochs(ds, epochs, seed=rep, engine=engine))
    per_epoch = {name: per_epoch_seconds(t, e1, e2) for name, t in times.items()}
    floor, flops, rate = floor_seconds(args.threads)
    print(f"SMC training per epoch, {args.threads} torch thread(s), epochs {e1}→{e2}, {repeats} repeat(s)")
    print(f"  floor: {flops / 1e9:.2f} GFLOP at {rate / 1e9:.1f} GFLOP/s = {floor:.3f} s")
    for name, sec in per_epoch.items():
        ratio = per_epoch["reference"] / sec
        print(f"  {name:10s} {sec:7.3f} s/epoch   ×{ratio:5.2f} vs reference   {sec / floor:6.1f}× the floor")
    print("  training bound per step after the last epoch (same seed, same windows and draws):")
    for key, values in BOUNDS.items():
        if key.endswith(f"after {e2} epochs"):
            print(f"    {key}: {values[0]:.5f}")
    write_record(
        args,
        time.perf_counter() - began,
        epochs=[e1, e2],
        baseline=per_epoch["reference"],
        candidate={e: per_epoch[e] for e in engines},
        ratio={e: per_epoch["reference"] / per_epoch[e] for e in engines},
        floor=floor,
        raw_seconds={n: {str(k): v for k, v in t.items()} for n, t in times.items()},
        bounds={k: v[0] for k, v in BOUNDS.items()},
    )


if __name__ == "__main__":
    main()
