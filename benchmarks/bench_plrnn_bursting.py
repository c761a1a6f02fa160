"""One full annealed EM fit of the bursting neuron (rPLRNN), restarts batched vs one at a time.

Schmidt et al. 2021 (ICLR), Sec. 4.2: the first T = 1,501 standardised samples (0.5 ms) of the
3-variable bursting neuron, a PLRNN with M latents fitted by the annealing protocol of Koppe et
al. 2019 (LDS warm start; Σ = I; Σ = 0.1, 0.01, 0.001 · I with B fixed). The candidate is the
``plrnn_em`` family as the workflow runs it: R restarts in one batch. The baseline in the same run
fits the same R models one at a time (R fits with ``restarts: 1``, seeds 0…R−1), i.e. the same
number of EM iterations on the same number of models. Printed: wall time of both and their
ratio, EM iterations per second, and for the chosen model the Laplace log-evidence and the
free-running D_KL (30 bins per dimension) and power-spectrum errors (≤ / > 50 Hz) against the data.

Work per EM iteration and restart: the mode search runs up to ``max_mode_iters`` block-tridiagonal
solves of T·(7/3)·M³ flop (≈ 3.5e6 at M = 10), a few Python-dispatched tensor operations per
time step each; the expectations and M-step are O(T·M²) batched. It is dispatch-bound, so
batching restarts shares the per-step overhead.

    python benchmarks/bench_plrnn_bursting.py [--M 10] [--restarts 4] [--tau 0] [--iters 20 30 15 15 15]
        [--threads 1] [--no-baseline]
    python benchmarks/bench_plrnn_bursting.py --quick --json benchmarks/results/plrnn_bursting.json
        # 2 restarts, 4 + 4 + 2 + 2 + 2 EM iterations; skipped (exit 0) when --data is absent
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from timing import skip, write_record

from neurodyn.analysis import metrics
from neurodyn.data.binned import BinningOptions, bin_recording
from neurodyn.io.registry import read_source
from neurodyn.models import get_family

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dsr" / "burstingneuron_train.npy"


def dataset(path: Path, n_samples: int):
    rec = read_source(path, sfreq=2000.0, n_samples=n_samples, channel_names=["V", "n", "h"])
    return bin_recording(
        rec,
        BinningOptions.from_config(
            {"bin_size_s": None, "segment": "continuous", "zscore": True}, heldout={"fraction": 0.0}
        ),
    )


def fit(ds, options: dict, seed: int):
    started = time.perf_counter()
    model = get_family("plrnn_em").fit(ds, {**options, "seed": seed}, torch.device("cpu"))
    return model, time.perf_counter() - started


def scores(model, ds, burn_in: int = 1000) -> dict:
    x = ds["data"].values[0].astype(np.float64)
    gen = model.sample(1, burn_in + x.shape[0], seed=0)["data"].values[0, burn_in:]
    if not np.isfinite(gen).all():
        return {"diverged": True}
    pse = metrics.power_spectrum_error(x, gen, 2000.0, split_hz=50.0, smoothing_sigma=2.0)
    return {
        "d_kl": metrics.state_space_divergence(x, gen, n_bins=30),
        "pse_low": pse["low"],
        "pse_high": pse["high"],
        "generated_std": gen.std(0).round(3).tolist(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--T", type=int, default=1501)
    ap.add_argument("--M", type=int, default=10)
    ap.add_argument("--restarts", type=int, default=None, help="default 4 (quick 2)")
    ap.add_argument("--tau", type=float, default=0.0)
    ap.add_argument("--iters", type=int, nargs=5, default=None, help="default 20 30 15 15 15 (quick 4 4 2 2 2)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-baseline", action="store_true", help="skip the one-at-a-time fits")
    ap.add_argument("--quick", action="store_true", help="2 restarts, 4 + 4 + 2 + 2 + 2 EM iterations")
    ap.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = ap.parse_args()
    quick = {"restarts": 2, "iters": [4, 4, 2, 2, 2]}
    full = {"restarts": 4, "iters": [20, 30, 15, 15, 15]}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    if not args.data.is_file():
        skip(args, f"{args.data}: absent (the bursting-neuron series lives in ../shared/data/dsr)")
    ds = dataset(args.data, args.T)
    options = {"latent_dim": args.M, "tau": args.tau, "em_iters": list(args.iters), "restarts": args.restarts}
    n_iter = sum(args.iters)
    model, batched = fit(ds, options, seed=0)
    evidence = model.meta["fit"]["restart_laplace_log_evidence"]
    print(
        f"bursting neuron T={args.T}, M={args.M}, tau={args.tau:g}, {n_iter} EM iterations, "
        f"{args.restarts} restarts, {torch.get_num_threads()} thread(s)"
    )
    print(
        f"batched:        {batched:8.1f} s  ({n_iter * args.restarts / batched:.2f} restart-iterations/s); "
        f"Laplace log-evidence per restart {[round(e, 1) for e in evidence]}, chosen "
        f"{model.meta['fit']['best_restart']}, numerical back-offs {sum(model.meta['fit']['n_backoffs'])}"
    )
    quality = scores(model, ds)
    print(f"chosen model, free run vs data: {quality}")
    candidate = {
        "name": "restarts batched",
        "time_s": batched,
        "restart_iterations_per_s": n_iter * args.restarts / batched,
    }
    if args.no_baseline:
        write_record(args, time.perf_counter() - t_start, candidate=candidate, chosen_model=quality)
        return
    sequential = 0.0
    for seed in range(args.restarts):
        _, seconds = fit(ds, {**options, "restarts": 1}, seed=seed)
        sequential += seconds
    print(f"one at a time:  {sequential:8.1f} s  ({n_iter * args.restarts / sequential:.2f} restart-iterations/s)")
    print(f"ratio (one at a time / batched): {sequential / batched:.2f}x")
    write_record(
        args,
        time.perf_counter() - t_start,
        baseline={
            "name": "one at a time",
            "time_s": sequential,
            "restart_iterations_per_s": n_iter * args.restarts / sequential,
        },
        candidate=candidate,
        ratio=sequential / batched,
        chosen_model=quality,
    )


if __name__ == "__main__":
    main()
