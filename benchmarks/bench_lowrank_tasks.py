"""Regression-built low-rank RNNs vs BPTT on the 3-bit flip-flop and binary decision making.

Paper "A new look at low-rank recurrent neural networks" (anonymous, under review), Sec. 6 /
Fig. 5: the regression solution (a designed attractor flow embedded by OMP / least squares,
Algorithm 1 and Eqs. 9–11; 3 neurons with r = 3 for the flip-flop, 10 neurons with r = 1 for the
decision task) against RNNs of the same size trained by backprop-through-time with Adam: a
low-rank one (J = M Nᵀ of the same rank) and a full-rank one. All are Euler-discretised Eq. 1
networks run on the same seeded test trials; the score is the masked test MSE (flip-flop: after
each channel's first pulse; decision: the response period). Prints, per task, method, neurons,
rank, test MSE, sign accuracy at the last step, training wall time, and the ratios regression /
BPTT of the test MSE and of the wall time (< 1: regression better / faster). Predicting 0 gives
MSE 1.

The regression "wall time" is the fit: OMP, the least-squares readout and the choice of the input
gain among 7 values by training MSE (:func:`neurodyn.studies.lowrank_tasks.tasks.select_input_gain`).

    python benchmarks/bench_lowrank_tasks.py --quick          # < 1 min on one CPU thread
    python benchmarks/bench_lowrank_tasks.py                  # a few minutes on one CPU thread
    python benchmarks/bench_lowrank_tasks.py --steps 3000 --readout state
    python benchmarks/bench_lowrank_tasks.py --target flow    # Fig. 5's targets: the attractor ODE's trajectories
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from timing import write_record

from neurodyn.studies.lowrank_tasks.tasks import (
    bistable_flow,
    decision_trials,
    fit_decision_regression,
    fit_flipflop_regression,
    flipflop_trials,
    flow_target_trials,
    masked_mse,
    register_flow,
    select_input_gain,
    sign_accuracy,
    torch_outputs,
    train_bptt_rnn,
    train_test_split,
)

TASKS = ("flipflop", "decision")


def run_task(task: str, args) -> dict[str, dict]:
    """Regression and the two BPTT baselines on one task's seeded train/test split."""
    n_total = args.n_train + args.n_test
    if task == "flipflop":
        trials = flipflop_trials(n_total, n_steps=args.flipflop_steps, seed=args.seed)
        base = fit_flipflop_regression(n_bits=3, seed=args.seed)
    else:
        trials = decision_trials(n_total, seed=args.seed)
        base = fit_decision_regression(n_neurons=10, seed=args.seed)
    if args.target == "flow":
        # Fig. 5's targets: the designed attractor ODE's own trajectories under the same inputs
        flow = (lambda z: register_flow(z, "saturating")) if task == "flipflop" else (lambda z: bistable_flow(z, 0.5))
        trials = flow_target_trials(trials, flow, base.B)
    train, test = train_test_split(trials, args.n_test, seed=args.seed)
    # the fit itself was timed inside; the gain search adds its own time (the flow targets fix the gain)
    reg = base if args.target == "flow" else select_input_gain(base, train)[0]
    out = reg.simulate(test.inputs, test.dt)
    k, r = reg.n_neurons, reg.rank
    results = {
        "regression": {
            "neurons": k,
            "rank": r,
            "mse": masked_mse(out, test),
            "acc": sign_accuracy(out, test),
            "time_s": reg.fit_time_s,
            "train_loss": None,
        }
    }
    print(
        f"  {task}: regression k={k} r={r}: test MSE {results['regression']['mse']:.4g}, "
        f"{reg.fit_time_s * 1e3:.1f} ms (flow rel. MSE {reg.rel_mse:.2g})",
        flush=True,
    )
    for name, rank in (("BPTT low-rank", r), ("BPTT full-rank", None)):
        res = train_bptt_rnn(
            train,
            n_neurons=k,
            rank=rank,
            n_steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            readout=args.readout,
            seed=args.seed,
        )
        o = torch_outputs(res.model, test)
        results[name] = {
            "neurons": k,
            "rank": rank if rank is not None else k,
            "mse": masked_mse(o, test),
            "acc": sign_accuracy(o, test),
            "time_s": res.wall_time_s,
            "train_loss": float(np.mean(res.losses[-10:])),
        }
        print(
            f"  {task}: {name} k={k}: test MSE {results[name]['mse']:.4g}, {res.wall_time_s:.1f} s, "
            f"final train loss {results[name]['train_loss']:.4g}",
            flush=True,
        )
    return results


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--n-train", type=int, default=None, help="training trials (default 512; quick 128)")
    p.add_argument("--n-test", type=int, default=None, help="test trials (default 256; quick 128)")
    p.add_argument("--steps", type=int, default=None, help="Adam steps for BPTT (default 1500; quick 300)")
    p.add_argument("--flipflop-steps", type=int, default=100, help="time steps per flip-flop trial (dt = 0.1)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-2)
    p.add_argument(
        "--readout",
        choices=("rates", "state"),
        default="rates",
        help="BPTT readout: W tanh(x) + c (Eq. 2, default) or W x + c",
    )
    p.add_argument(
        "--target",
        choices=("task", "flow"),
        default="task",
        help="score against the task's outputs (held bits, the choice; default) or, as Fig. 5 does, "
        "against the trajectories of the designed attractor ODE under the same inputs",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--quick", action="store_true", help="tiny budget: 128/128 trials, 300 Adam steps")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    args = p.parse_args(argv)

    size = (
        {"n_train": 128, "n_test": 128, "steps": 300} if args.quick else {"n_train": 512, "n_test": 256, "steps": 1500}
    )
    for key, value in size.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    torch.set_num_threads(args.threads)
    print(
        f"low-rank tasks: {args.tasks}, {args.n_train} train / {args.n_test} test trials, BPTT {args.steps} Adam "
        f"steps (lr {args.lr}, batch {args.batch_size}, readout {args.readout}), targets {args.target}, seed {args.seed}, "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )

    t_start = time.perf_counter()
    results = {task: run_task(task, args) for task in args.tasks}

    print("\n| task | method | neurons | rank | test MSE | sign acc. | wall time |\n|---|---|---|---|---|---|---|")
    for task, by_method in results.items():
        for name, r in by_method.items():
            print(
                f"| {task} | {name} | {r['neurons']} | {r['rank']} | {r['mse']:.4g} | {r['acc']:.3f} | "
                f"{r['time_s']:.3g} s |"
            )
    print("\n| task | MSE reg/BPTT-LR | MSE reg/BPTT-FR | time reg/BPTT-LR | time reg/BPTT-FR |\n|---|---|---|---|---|")
    ratios = {}
    for task, by in results.items():
        reg, lr_, fr = by["regression"], by["BPTT low-rank"], by["BPTT full-rank"]
        ratios[task] = {
            "mse_lr": reg["mse"] / lr_["mse"],
            "mse_fr": reg["mse"] / fr["mse"],
            "time_lr": reg["time_s"] / lr_["time_s"],
            "time_fr": reg["time_s"] / fr["time_s"],
        }
        q = ratios[task]
        print(f"| {task} | {q['mse_lr']:.3g} | {q['mse_fr']:.3g} | {q['time_lr']:.3g} | {q['time_fr']:.3g} |")
    total = time.perf_counter() - t_start
    print(f"\n(ratios < 1: regression lower MSE / faster; predicting 0 gives MSE 1; total {total:.0f} s)")

    return write_record(args, total, results=results, ratios=ratios)


if __name__ == "__main__":
    main()
