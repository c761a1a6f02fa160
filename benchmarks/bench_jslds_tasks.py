"""JSLDS co-training vs standard training on the two task benchmarks of Smith, Linderman & Sussillo 2021.

Smith, Linderman & Sussillo 2021 (NeurIPS), "Reverse engineering recurrent neural networks with
Jacobian switching linear dynamical systems", supplement A.3.1 (3-bit memory, GRU) and A.4.1
(context-dependent integration, vanilla tanh RNN). For each task an RNN is trained twice on the
same seeded trial stream: co-trained with its JSLDS (λ of Tables 1–2) and in the standard way.
On held-out trials (context task: the evaluation μ set) the script prints

* the task error (MSE; 3-bit: fraction of correct output signs; context: fraction of correct final
  choices) of the RNN and, co-trained, of the JSLDS readout;
* the co-trained JSLDS's relative error mean ‖h_t − a_t‖/‖h_t‖ over free rollouts (paper ≈ 0.046 /
  0.0097);
* the fixed-point linearisation error of each RNN: one step from the true h_{t−1} around the
  nearest numerical fixed point of the trial's u* (paper ≈ 0.27 / 0.39 for the standard RNN;
  :func:`neurodyn.studies.jslds_tasks.evaluate.linearisation_baseline`), and the same switching linear system
  run freely from h_0 (``mode="free"``, like for like with the JSLDS rollout); fixed points from
  :func:`neurodyn.studies.jslds_tasks.evaluate.cell_fixed_points` started at 512 visited states (q < 1e-10, or
  the 32 slowest points per input condition when fewer reach it);
* training wall time and optimiser steps per second,

and the ratios co-trained JSLDS error / standard RNN's linearisation error (paper 0.17 / 0.025).

The default budget is small (hidden 32, batch 64, 2000 steps; the learning rate — 0.02 for 3-bit as
in the paper, 0.005 for context, see :class:`neurodyn.studies.jslds_tasks.tasks.TaskSpec` — warms up over 200
steps and decays to 2 % of its initial value over the run) so that the whole run takes about 2.5 minutes on one CPU thread;
``--paper`` selects the paper's sizes (hidden 100 / 128, batch 256) and 20,000 steps, meant for a GPU.

    python benchmarks/bench_jslds_tasks.py --threads 1
    python benchmarks/bench_jslds_tasks.py --quick --json benchmarks/results/jslds_tasks.json
        # 300 steps, batch 32, 128 evaluation trials, 128 fixed-point starts
    python benchmarks/bench_jslds_tasks.py --paper --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch
from timing import write_record

from neurodyn.studies.jslds_tasks.command import PUBLISHED
from neurodyn.studies.jslds_tasks.evaluate import evaluate_model
from neurodyn.studies.jslds_tasks.tasks import TASKS, task_spec
from neurodyn.studies.jslds_tasks.train import train_task

ACCURACY = {"3bit": "sign_accuracy", "context": "choice_accuracy"}


def run_task(task: str, args: argparse.Namespace) -> dict[str, dict]:
    """Co-trained and standard training of one task, each evaluated on the same held-out trials."""
    hidden = task_spec(task).hidden if args.hidden is None else args.hidden
    results = {}
    for name, cotrain in (("co-trained", True), ("standard", False)):
        res = train_task(
            task,
            cotrain=cotrain,
            n_steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            lr_decay=args.lr_decay,
            warmup_steps=args.warmup,
            hidden=hidden,
            seed=args.seed,
            device=args.device,
        )
        t0 = time.perf_counter()
        ev = evaluate_model(
            task,
            res.cell,
            res.readout,
            res.expansion,
            n_trials=args.eval_trials,
            seed=args.seed + 10_000,
            n_starts=args.fp_starts,
        )
        results[name] = {
            "hidden": hidden,
            "lr": res.config["lr"],
            "train_time_s": res.wall_time_s,
            "steps_per_s": res.steps / res.wall_time_s,
            "eval_time_s": time.perf_counter() - t0,
            "final_train_loss": res.history["total"][-1],
            "rollbacks": res.rollbacks,
            **ev,
        }
        r = results[name]
        msg = (
            f"  {task} {name}: RNN MSE {r['rnn']['mse']:.4g}, {ACCURACY[task]} {r['rnn'][ACCURACY[task]]:.3f}, "
            f"FP-linearisation error {r['baseline_error']:.4f} one-step, {r['baseline_error_free']:.4f} free-running "
            f"({r['n_exact_fixed_points']} fixed points q < 1e-10 of {r['n_fixed_points']} used, "
            f"max q {r['max_fixed_point_q']:.1e})"
        )
        if cotrain:
            msg += f", JSLDS relative error {r['relative_error']:.4f}, JSLDS MSE {r['jslds']['mse']:.4g}"
        if res.rollbacks:
            msg += f", {len(res.rollbacks)} divergence rewinds (lr ×{res.rollbacks[-1][2]:g})"
        print(msg + f"; {res.wall_time_s:.1f} s ({r['steps_per_s']:.1f} steps/s)", flush=True)
    return results


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--steps", type=int, default=None, help="Adam steps per training (default 2000; --paper 20000)")
    p.add_argument("--hidden", type=int, default=None, help="state size (default 32; --paper 100 / 128)")
    p.add_argument("--batch-size", type=int, default=None, help="trials per step (default 64; --paper 256)")
    p.add_argument("--lr", type=float, default=None, help="initial rate (default: the task's, 0.02 / 0.005)")
    p.add_argument(
        "--lr-decay",
        type=float,
        default=None,
        help="per-step factor (default 0.02^(1/steps): the rate ends at 2 %% of --lr)",
    )
    p.add_argument("--warmup", type=int, default=200, help="linear warm-up steps of the learning rate (default 200)")
    p.add_argument("--paper", action="store_true", help="the paper's sizes: hidden 100/128, batch 256, 20,000 steps")
    p.add_argument("--eval-trials", type=int, default=512)
    p.add_argument("--fp-starts", type=int, default=512, help="starting states of the fixed-point search")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument(
        "--quick", action="store_true", help="300 steps, batch 32, 128 evaluation trials, 128 fixed-point starts"
    )
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    args = p.parse_args(argv)

    size = {"steps": 20000, "batch_size": 256} if args.paper else {"steps": 2000, "batch_size": 64, "hidden": 32}
    if args.quick:
        size = {"steps": 300, "batch_size": 32, "hidden": 32}
        args.eval_trials = min(args.eval_trials, 128)
        args.fp_starts = min(args.fp_starts, 128)
    for key, value in size.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.lr_decay is None:
        args.lr_decay = 0.02 ** (1.0 / args.steps)
    torch.set_num_threads(args.threads)
    print(
        f"JSLDS tasks {args.tasks}: {args.steps} Adam steps, batch {args.batch_size}, hidden "
        f"{args.hidden or 'paper (100 / 128)'}, lr {args.lr or 'task default'} × {args.lr_decay:.6f}^k "
        f"(warm-up {args.warmup}), device {args.device}, seed {args.seed}, "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )

    t_start = time.perf_counter()
    results = {task: run_task(task, args) for task in args.tasks}

    print(
        "\n| task | training | RNN MSE | RNN acc. | JSLDS MSE | JSLDS rel. error (paper) | FP-lin. one-step (paper) "
        "| FP-lin. free-running | train time | steps/s |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    ratios = {}
    for task, by in results.items():
        pub = PUBLISHED[task]
        for name, r in by.items():
            co = name == "co-trained"
            jslds_mse = f"{r['jslds']['mse']:.4g}" if co else "—"
            rel = f"{r['relative_error']:.4f} ({pub['jslds_relative_error']})" if co else "—"
            base = f"{r['baseline_error']:.4f}" + ("" if co else f" ({pub['baseline_error']})")
            print(
                f"| {task} | {name} | {r['rnn']['mse']:.4g} | {r['rnn'][ACCURACY[task]]:.3f} | {jslds_mse} | {rel} | "
                f"{base} | {r['baseline_error_free']:.4f} | {r['train_time_s']:.1f} s | {r['steps_per_s']:.1f} |"
            )
        co, std = by["co-trained"], by["standard"]
        ratios[task] = {
            "one_step": co["relative_error"] / std["baseline_error"],
            "free": co["relative_error"] / std["baseline_error_free"],
            "paper": pub["jslds_relative_error"] / pub["baseline_error"],
        }
    print("\n| task | co-trained JSLDS error / standard FP-lin. one-step | / free-running | paper |\n|---|---|---|---|")
    for task, q in ratios.items():
        print(f"| {task} | {q['one_step']:.3f} | {q['free']:.3f} | {q['paper']:.3f} |")
    total = time.perf_counter() - t_start
    print(f"\n(total {total:.0f} s)")

    return write_record(args, total, results=results, ratios=ratios)


if __name__ == "__main__":
    main()
