"""Batched numerical fixed-point finder: candidates per second, all at once vs one at a time.

``adam_fixed_points`` (Adam on q = ½‖F(h) − h‖² with per-candidate adaptive learning rates, then
outlier removal, merging, Newton polish and eigen-decomposition; Sussillo & Barak 2013, Golub &
Sussillo 2018) runs every candidate of a batch in the same tensor ops. The baseline is the same
function called on one candidate at a time in a Python loop over ``--baseline`` candidates drawn
from the same starts; its rate is extrapolated per candidate (candidates / loop time). Each
candidate follows the same iterates either way (its Adam state and stopping rule are its own), so
the two do the same arithmetic; the printed mean iteration counts show whether the baseline's
sample is typical of the whole batch (an iteration-adjusted rate is printed too).

Maps (float64, random seeded weights):

* ``tanh``: h ↦ tanh(W h), n = 128, W = g·X/√n + k·m mᵀ/n with g = 1.5 (X, m standard normal,
  m of rank 2, k = 3). The random part alone (g = 1.5) has one fixed point that the search
  reaches; the rank-2 term gives several (9 here, 4 stable);
* ``gru``: h ↦ (1 − z) ⊙ h + z ⊙ tanh(W_h (r ⊙ h)), z = σ(W_z h), r = σ(W_r h), n = 64, W_h as above
  with k = 4, W_z, W_r = X/√n (no input; 5 fixed points here).

Starts: ``--n-starts`` states along 256 trajectories (log-uniform in time, as ``neurodyn fixed-points``
samples them) plus noise 0.01.

    python benchmarks/bench_fixed_point_finder.py [--device auto|cpu|cuda] [--n-starts 256]
        [--max-iters 2000] [--baseline 16] [--threads 1] [--maps tanh,gru]
    python benchmarks/bench_fixed_point_finder.py --quick --json benchmarks/results/fixed_point_finder.json
        # 64 starts, 500 iterations, 4 baseline candidates
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from timing import write_record

from neurodyn.analysis.fixed_points.numerical import adam_fixed_points
from neurodyn.device import pick_device

Step = Callable[[torch.Tensor], torch.Tensor]


def tanh_rnn(n: int, device: torch.device, *, gain: float = 1.5, structure: float = 3.0, seed: int = 0) -> Step:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, 2))
    W = torch.tensor(gain * rng.standard_normal((n, n)) / math.sqrt(n) + structure * m @ m.T / n, device=device)

    def step(h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h @ W.T)

    return step


def gru(n: int, device: torch.device, *, gain: float = 1.5, structure: float = 4.0, seed: int = 0) -> Step:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, 2))
    Wh = torch.tensor(gain * rng.standard_normal((n, n)) / math.sqrt(n) + structure * m @ m.T / n, device=device)
    Wz = torch.tensor(rng.standard_normal((n, n)) / math.sqrt(n), device=device)
    Wr = torch.tensor(rng.standard_normal((n, n)) / math.sqrt(n), device=device)

    def step(h: torch.Tensor) -> torch.Tensor:
        z, r = torch.sigmoid(h @ Wz.T), torch.sigmoid(h @ Wr.T)
        return (1 - z) * h + z * torch.tanh((r * h) @ Wh.T)

    return step


def visited_starts(
    step: Step,
    n: int,
    n_starts: int,
    device: torch.device,
    *,
    n_traj: int = 256,
    n_steps: int = 100,
    noise: float = 0.01,
    seed: int = 0,
) -> torch.Tensor:
    """(n_starts, n) states along trajectories from N(0, 1), steps log-uniform in 1..n_steps, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    k = torch.floor(torch.exp(torch.rand(n_starts, generator=gen, dtype=torch.float64) * math.log(n_steps + 1)))
    k = k.long().clamp(1, n_steps).to(device)
    traj = torch.randint(0, n_traj, (n_starts,), generator=gen).to(device)
    h = torch.randn(n_traj, n, generator=gen, dtype=torch.float64).to(device)
    out = torch.empty(n_starts, n, dtype=torch.float64, device=device)
    with torch.no_grad():
        for t in range(1, n_steps + 1):
            h = step(h)
            now = (k == t).nonzero().flatten()
            out[now] = h[traj[now]]
    return out + noise * torch.randn(out.shape, generator=gen, dtype=torch.float64).to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(name: str, step: Step, starts: torch.Tensor, *, max_iters: int, n_baseline: int) -> dict:
    device = starts.device
    adam_fixed_points(step, starts[:4], max_iters=20)  # warm-up (vmap/jacrev tracing, allocator)
    sync(device)
    t0 = time.perf_counter()
    batched = adam_fixed_points(step, starts, max_iters=max_iters)
    sync(device)
    t_batch = time.perf_counter() - t0

    pick = torch.randperm(starts.shape[0], generator=torch.Generator().manual_seed(1))[:n_baseline]
    single_it, single_q = [], []
    t0 = time.perf_counter()
    for i in pick.tolist():
        one = adam_fixed_points(step, starts[i : i + 1], max_iters=max_iters)
        single_it.append(int(one.candidate_iterations[0]))
        single_q.append(float(one.candidate_q[0]))
    sync(device)
    t_single = time.perf_counter() - t0

    # the same candidates follow the same iterates alone and in the batch
    same = np.allclose(single_q, batched.candidate_q[pick.numpy()], rtol=1e-6, atol=1e-300)
    it_all = float(batched.candidate_iterations.mean())
    it_pick = float(np.mean(single_it))
    rate_batch = starts.shape[0] / t_batch
    rate_single = n_baseline / t_single
    rate_single_adj = rate_single * it_pick / it_all  # as if the sample ran the batch's mean iterations
    print(f"\n{name}: L = {starts.shape[1]}, {starts.shape[0]} starts, max_iters {max_iters}, device {device}")
    print(
        f"  batched : {t_batch:7.2f} s  {rate_batch:9.1f} candidates/s   ({batched.iterations} batch iterations, "
        f"mean {it_all:.0f} per candidate; {len(batched)} fixed points, {int(batched.stable.sum())} stable; "
        f"{batched.n_converged} converged, {batched.n_outliers} outliers)"
    )
    print(
        f"  one at a time ({n_baseline} candidates): {t_single:7.2f} s  {rate_single:9.1f} candidates/s "
        f"(mean {it_pick:.0f} iterations; iteration-adjusted {rate_single_adj:.1f}/s); same q as batched: {same}"
    )
    print(
        f"  ratio batched / one-at-a-time: {rate_batch / rate_single:.1f}x "
        f"(iteration-adjusted {rate_batch / rate_single_adj:.1f}x)"
    )
    return {
        "n_starts": starts.shape[0],
        "baseline": {"candidates": n_baseline, "time_s": t_single, "candidates_per_s": rate_single},
        "candidate": {"candidates": starts.shape[0], "time_s": t_batch, "candidates_per_s": rate_batch},
        "ratio": rate_batch / rate_single,
        "ratio_iteration_adjusted": rate_batch / rate_single_adj,
        "fixed_points": len(batched),
        "same_q": bool(same),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:k]")
    parser.add_argument("--n-starts", type=int, default=None, help="default 256 (quick 64)")
    parser.add_argument("--max-iters", type=int, default=None, help="default 2000 (quick 500)")
    parser.add_argument("--baseline", type=int, default=None, help="candidates run one at a time (default 16, quick 4)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--maps", default="tanh,gru", help="comma-separated: tanh, gru")
    parser.add_argument("--quick", action="store_true", help="64 starts, 500 iterations, 4 baseline candidates")
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = parser.parse_args()
    quick = {"n_starts": 64, "max_iters": 500, "baseline": 4}
    full = {"n_starts": 256, "max_iters": 2000, "baseline": 16}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s), device {device}")
    maps = {"tanh": ("tanh RNN n=128 (g=1.5 + rank-2)", 128, tanh_rnn), "gru": ("GRU n=64 (no input)", 64, gru)}
    figures = {}
    for key in args.maps.split(","):
        title, n, build = maps[key.strip()]
        step = build(n, device)
        starts = visited_starts(step, n, args.n_starts, device)
        figures[key.strip()] = bench(title, step, starts, max_iters=args.max_iters, n_baseline=args.baseline)
    write_record(args, time.perf_counter() - t_start, device=str(device), maps=figures)


if __name__ == "__main__":
    main()
