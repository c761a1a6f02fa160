"""JSLDS co-training step vs a plain RNN training step (Smith, Linderman & Sussillo 2021, NeurIPS).

One optimiser step (forward, backward, Adam; a fixed batch, no gradient clipping) of

* ``plain``: the standard loss L_RNN (+ L2) of the RNN alone (``rollout_rnn`` + ``standard_loss``);
* ``autodiff``: the co-training loss with the JSLDS step by forward-mode AD, one ``torch.func.jvp``
  per time step (``rollout(..., jvp="autodiff")``, the path before the closed form);
* ``analytic``: the co-training loss with the closed-form Jacobian-vector products, the whole
  rollout one autograd node with a hand-written reverse pass (``rollout(..., jvp="analytic")``);

for the 3-bit memory GRU and the context-integration tanh RNN of ``neurodyn.studies.jslds_tasks``
(λ of the paper's Tables 1–2), at the sizes of ``bench_jslds_tasks.py`` (hidden 32, batch 64) and
the paper's (hidden 100 / 128, batch 256), T = 25. The three are timed alternating, ``--repeats``
rounds of ``--steps`` optimiser steps each, after a warm-up; the best round counts.

Floor: the matrix products of a step (forward and backward, counted per term below) divided by
the rate of a (2B, n) × (n, 3n or n) product measured in the same run; elementwise work is not
counted, so this bounds the step from below and the ratio of two floors is what the arithmetic
alone would give. Multiply-adds per time step (G = 3 gate blocks for the GRU, 1 for tanh; m
inputs; the expansion network's width is n):

    plain       3 B n·Gn + 2 B m·Gn                                  (+ readout 3 B n k)
    co-trained  9 B n·Gn + 6 B m·Gn + 6 B n·n                        (+ readout 6 B n k)

(the co-trained step evaluates the cell on 2B rows, the RNN's and the expansion points', and its
tangent on B rows, and runs the expansion network's two n × n layers). The two co-training paths
must give the same loss and gradients: the script checks it before timing (float64, one batch).

    python benchmarks/bench_jslds_step.py                   # both sizes, 5 rounds
    python benchmarks/bench_jslds_step.py --quick           # 2 rounds, fewer steps
    python benchmarks/bench_jslds_step.py --sizes bench --json /tmp/jslds_step.json
"""

from __future__ import annotations

import argparse
import time

import torch
from timing import best_of, write_record

from neurodyn.models.lfads_jslds.jslds import cotraining_loss, rollout, rollout_rnn, standard_loss
from neurodyn.studies.jslds_tasks.tasks import make_batch, task_spec
from neurodyn.studies.jslds_tasks.train import build_models, paper_weights

N_TIME = 25
SIZES = {"bench": {"3bit": (32, 64), "context": (32, 64)}, "paper": {"3bit": (100, 256), "context": (128, 256)}}
PATHS = ("plain", "autodiff", "analytic")


def make_step(task: str, path: str, hidden: int, batch, dtype=torch.float32):
    """A closure doing one optimiser step of ``path`` on ``batch``; returns (step, modules)."""
    cell, readout, expansion = build_models(task, hidden, cotrain=path != "plain", device=torch.device("cpu"), seed=0)
    modules = [m.to(dtype) for m in (cell, readout, expansion) if m is not None]
    optimiser = torch.optim.Adam([p for m in modules for p in m.parameters()], lr=1e-3)
    weights = paper_weights(task)
    inputs, targets, u_star = (x.to(dtype) for x in (batch.inputs, batch.targets, batch.u_star))

    def loss() -> torch.Tensor:
        if path == "plain":
            h = rollout_rnn(cell, None, inputs)
            return standard_loss(h, readout, targets, cell=cell, l2=weights.l2)[0]
        states = rollout(cell, expansion, None, inputs, u_star, jvp=path)
        return cotraining_loss(states, readout, targets, weights, cell=cell)[0]

    def step() -> float:
        optimiser.zero_grad(set_to_none=True)
        total = loss()
        total.backward()
        optimiser.step()
        return float(total.detach())

    return step, loss, modules


def check_paths_agree(task: str, hidden: int, batch) -> dict[str, float]:
    """Largest differences between the autodiff and analytic co-training loss and parameter
    gradients (float64, the expansion network moved off the identity so that every term counts)."""
    out = {}
    results = []
    for path in ("autodiff", "analytic"):
        _, loss, modules = make_step(task, path, hidden, batch, dtype=torch.float64)
        with torch.no_grad():
            torch.manual_seed(1)
            modules[-1].outer.weight.normal_(0.0, 0.3)
        total = loss()
        params = [p for m in modules for p in m.parameters()]
        results.append((total.detach(), torch.autograd.grad(total, params)))
    (l0, g0), (l1, g1) = results
    out["loss_rel_diff"] = float((l1 - l0).abs() / l0.abs())
    out["grad_max_rel_diff"] = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-300)) for a, b in zip(g1, g0))
    return out


def matmul_rate(rows: int, inner: int, cols: int, repeats: int = 5) -> float:
    """Multiply-adds per second of a (rows, inner) × (inner, cols) float32 product (best of ``repeats``)."""
    a, b = torch.randn(rows, inner), torch.randn(inner, cols)
    number = max(1, int(2e7 // (rows * inner * cols)) + 1)

    def run():
        for _ in range(number):
            torch.mm(a, b)

    run()
    seconds, _ = best_of(repeats, run)
    return rows * inner * cols * number / seconds


def macs_per_step(task: str, hidden: int, batch_size: int) -> dict[str, float]:
    """Multiply-adds of the matrix products of one training step (see the module doc)."""
    spec = task_spec(task)
    gates = 3 if spec.cell == "gru" else 1
    b, n, m, k = batch_size, hidden, spec.n_inputs, spec.n_outputs
    plain = N_TIME * (3 * b * n * gates * n + 2 * b * m * gates * n) + 3 * b * N_TIME * n * k
    co = N_TIME * (9 * b * n * gates * n + 6 * b * m * gates * n + 6 * b * n * n) + 6 * b * N_TIME * n * k
    return {"plain": plain, "co": co}


def bench(task: str, size: str, hidden: int, batch_size: int, rounds: int, steps: int) -> dict:
    batch = make_batch(task, batch_size, generator=torch.Generator().manual_seed(1), n_steps=N_TIME)
    agree = check_paths_agree(task, hidden, batch)
    runs = {path: make_step(task, path, hidden, batch)[0] for path in PATHS}
    for run in runs.values():  # warm-up (allocator, the AD path's first transform)
        run()
    best = {path: float("inf") for path in PATHS}
    for _ in range(rounds):
        for path, run in runs.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                run()
            best[path] = min(best[path], (time.perf_counter() - t0) / steps)
    gates = 3 if task_spec(task).cell == "gru" else 1
    rate = matmul_rate(2 * batch_size, hidden, gates * hidden)
    macs = macs_per_step(task, hidden, batch_size)
    floor = {"plain_s": macs["plain"] / rate, "co_s": macs["co"] / rate}
    figures = {
        "hidden": hidden,
        "batch": batch_size,
        "steps_per_s": {path: 1.0 / best[path] for path in PATHS},
        "step_ms": {path: 1e3 * best[path] for path in PATHS},
        "ratio_autodiff_plain": best["autodiff"] / best["plain"],
        "ratio_analytic_plain": best["analytic"] / best["plain"],
        "speedup_analytic_autodiff": best["autodiff"] / best["analytic"],
        "macs_per_step": macs,
        "matmul_gflops": 2 * rate / 1e9,
        "floor": {**floor, "ratio": macs["co"] / macs["plain"]},
        "paths_agree": agree,
    }
    name = f"{task} ({task_spec(task).cell}) {size}: hidden {hidden}, batch {batch_size}"
    sps = figures["steps_per_s"]
    print(
        f"{name:<40} plain {sps['plain']:7.1f}  autodiff {sps['autodiff']:6.1f}  analytic {sps['analytic']:6.1f}"
        f" steps/s | co/plain: autodiff {figures['ratio_autodiff_plain']:5.2f}, analytic"
        f" {figures['ratio_analytic_plain']:4.2f} | floor plain {1e3 * floor['plain_s']:.2f} ms,"
        f" co {1e3 * floor['co_s']:.2f} ms (ratio {figures['floor']['ratio']:.2f}; {2 * rate / 1e9:.0f} GFLOP/s)"
        f" | paths agree: loss {agree['loss_rel_diff']:.1e}, grads {agree['grad_max_rel_diff']:.1e}"
    )
    return figures


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="bench,paper", help="comma-separated: bench (hidden 32, batch 64), paper")
    parser.add_argument("--tasks", default="3bit,context", help="comma-separated: 3bit, context")
    parser.add_argument("--repeats", type=int, default=None, help="rounds, best counts (default 5, quick 2)")
    parser.add_argument("--steps", type=int, default=None, help="steps per round (default 10 / 3 at paper sizes)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 steps (1 at paper sizes)")
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = parser.parse_args()
    args.repeats = args.repeats or (2 if args.quick else 5)
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s); best of {args.repeats} rounds")
    figures = {}
    for size in args.sizes.split(","):
        for task in args.tasks.split(","):
            hidden, batch_size = SIZES[size.strip()][task.strip()]
            steps = args.steps or ((3 if size == "bench" else 1) if args.quick else (10 if size == "bench" else 3))
            figures[f"{task}_{size}"] = bench(task.strip(), size.strip(), hidden, batch_size, args.repeats, steps)
    return write_record(args, time.perf_counter() - t_start, figures=figures)


if __name__ == "__main__":
    main()
