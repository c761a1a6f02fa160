"""Addition problem: rPLRNN vs PLRNN vs a parameter-matched LSTM, all trained by BPTT.

Schmidt et al. 2021 (ICLR), sect. 4.1 / Fig. 2A: the rPLRNN (M = 40, τ = 5, M_reg/M = 0.5, line-
attractor init of the regularised units, Eq. 4 penalty) against the plain PLRNN (random init,
τ = 0) and an LSTM (Hochreiter & Schmidhuber 1997) with about the same number of parameters, on the
same training and test trials (Adam lr 1e-3, gradient clip 10, batch 16, best epoch kept). Prints,
per T, model, parameters, test MSE, P(correct) (|error| < 0.04), training wall time and the ratios
rPLRNN/PLRNN and rPLRNN/LSTM of the test MSE (< 1: the rPLRNN is better). Predicting the mean
gives MSE 1/6 ≈ 0.167.

    python benchmarks/bench_addition.py --quick                 # T = 50, ~20 s on 2 cores
    python benchmarks/bench_addition.py --T 100 200 --epochs 10 --n-train 16000 --seeds 0 1
    python benchmarks/bench_addition.py --paper --device cuda   # paper sizes: 10^5 / 10^4 trials, 100 epochs
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from timing import write_record

from neurodyn.device import pick_device
from neurodyn.studies.plrnn_addition.bptt import (
    addition_problem,
    addition_scores,
    make_matched_lstm,
    make_plrnn,
    make_rplrnn,
    train_bptt,
)

MODELS = ("rPLRNN", "PLRNN", "LSTM")


def run_one(T: int, seed: int, args, device: torch.device) -> dict[str, dict]:
    """Train the three models on the same data (seeded by ``seed``); return their results."""
    data_gen = torch.Generator().manual_seed(10_000 * seed + T)
    train = addition_problem(args.n_train, T, data_gen, device=device)
    test = addition_problem(args.n_test, T, data_gen, device=device)
    out = {}
    for name in MODELS:
        gen = torch.Generator().manual_seed(seed)  # same init / shuffling seed for every model
        if name == "rPLRNN":
            model = make_rplrnn(args.units, tau=args.tau, reg_fraction=args.reg_fraction, generator=gen, device=device)
        elif name == "PLRNN":
            model = make_plrnn(args.units, generator=gen, device=device)
        else:
            model = make_matched_lstm(make_plrnn(args.units).n_parameters(), generator=gen, device=device)
        res = train_bptt(
            model,
            train,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            clip=args.clip,
            generator=gen,
            reduction=args.reduction,
        )
        ev = addition_scores(model, test)
        out[name] = {
            "params": model.n_parameters(),
            "mse": ev["mse"],
            "p_correct": ev["p_correct"],
            "train_time_s": res.wall_time,
            "steps": res.n_steps,
            "best_epoch": res.best_epoch,
            "train_loss": res.loss,
        }
        extra = f" hidden={model.hidden_size}" if name == "LSTM" else f" M={args.units} n_reg={model.n_reg}"
        print(
            f"  T={T} seed={seed} {name:7s}{extra}: test MSE {ev['mse']:.4g}, "
            f"P(correct) {ev['p_correct']:.3f}, {res.wall_time:.1f} s, best epoch {res.best_epoch}",
            flush=True,
        )
    return out


def fmt_mean(values: list[float], spec: str) -> str:
    if len(values) == 1:
        return format(values[0], spec)
    sem = statistics.stdev(values) / math.sqrt(len(values))
    return f"{format(statistics.mean(values), spec)} ± {format(sem, spec)}"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--T", type=int, nargs="+", default=None, help="sequence lengths (default 200)")
    p.add_argument("--epochs", type=int, default=None, help="default 10 (paper: 100)")
    p.add_argument("--n-train", type=int, default=None, help="default 16000 (paper: 100000)")
    p.add_argument("--n-test", type=int, default=None, help="default 4000 (paper: 10000)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda[:k] or auto")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the per-step kernels are tiny, and a 2-thread pool "
        "spin-waits erratically when a core is shared)",
    )
    p.add_argument("--units", type=int, default=40, help="PLRNN latent units M (paper: 40)")
    p.add_argument("--tau", type=float, default=5.0)
    p.add_argument("--reg-fraction", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=10.0)
    p.add_argument(
        "--reduction",
        choices=("mean", "sum"),
        default="mean",
        help="squared error averaged (default) or summed over the batch; see train_bptt",
    )
    p.add_argument("--quick", action="store_true", help="T = 50, 6400 trials, 8 epochs")
    p.add_argument("--paper", action="store_true", help="paper sizes: 10^5 train, 10^4 test, 100 epochs")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    args = p.parse_args(argv)

    size = {"T": [200], "epochs": 10, "n_train": 16000, "n_test": 4000}
    if args.quick:
        size = {"T": [50], "epochs": 8, "n_train": 6400, "n_test": 2000}
    if args.paper:
        size = {"T": [200], "epochs": 100, "n_train": 100_000, "n_test": 10_000}
    for key, value in size.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(
        f"addition problem: T={args.T}, {args.n_train} train / {args.n_test} test trials, "
        f"{args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, clip {args.clip}, "
        f"loss {args.reduction}, "
        f"seeds {args.seeds}, device {device}, torch threads {torch.get_num_threads()}",
        flush=True,
    )

    t_start = time.perf_counter()
    results = {T: {s: run_one(T, s, args, device) for s in args.seeds} for T in args.T}

    header = "| T | model | params | test MSE | P(correct) | train time |"
    print("\n" + header + "\n|---|---|---|---|---|---|")
    summary = {}
    for T, by_seed in results.items():
        summary[T] = {}
        for name in MODELS:
            runs = [by_seed[s][name] for s in args.seeds]
            mse = [r["mse"] for r in runs]
            summary[T][name] = {"mse": statistics.mean(mse), "p_correct": statistics.mean(r["p_correct"] for r in runs)}
            print(
                f"| {T} | {name} | {runs[0]['params']} | {fmt_mean(mse, '.3g')} | "
                f"{fmt_mean([r['p_correct'] for r in runs], '.3f')} | "
                f"{fmt_mean([r['train_time_s'] for r in runs], '.1f')} s |"
            )
    print("\n| T | MSE ratio rPLRNN/PLRNN | MSE ratio rPLRNN/LSTM |\n|---|---|---|")
    for T, s in summary.items():
        r_p = s["rPLRNN"]["mse"] / s["PLRNN"]["mse"]
        r_l = s["rPLRNN"]["mse"] / s["LSTM"]["mse"]
        s["ratio_rplrnn_plrnn"], s["ratio_rplrnn_lstm"] = r_p, r_l
        print(f"| {T} | {r_p:.3g} | {r_l:.3g} |")
    total = time.perf_counter() - t_start
    print(
        f"\n(ratios of the seed-mean test MSEs; < 1 means the rPLRNN is better; "
        f"predict-the-mean MSE = 1/6 ≈ 0.167; total {total:.0f} s)"
    )

    return write_record(
        args,
        total,
        device=str(device),
        results={str(T): {str(s): r for s, r in by_seed.items()} for T, by_seed in results.items()},
        summary={str(T): s for T, s in summary.items()},
    )


if __name__ == "__main__":
    main()
