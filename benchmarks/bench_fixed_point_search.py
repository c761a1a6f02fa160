"""Complete fixed-point search vs the search from visited states alone: points found, and their cost.

The baseline is the former default for maps without an exact solver: Adam on q = ½‖F(h) − h‖² from
states the map visits, Newton-polished (``search_fixed_points(..., mode="visited")``: the same
code, without the later rounds). The candidate is the default search: the same, then Newton with
deflation from a dense grid (n ≤ 3) or rounds of 256 Sobol starts over the cube (−1, 1)ⁿ that
holds every fixed point of a tanh-bounded map, until two rounds find nothing new.

* **Small networks**: random tanh networks h ↦ tanh(W h + b), n = 2 and 3, W symmetric with
  eigenvalues in [1.5, 3], |b| ≤ 0.1, kept when an independent dense-grid Newton search (numpy,
  121² or 31³ starts) finds at least 9 fixed points. Printed: the share of those points each search
  finds and the networks where it finds all.
* **Large maps** (``bench_fixed_point_finder.py``'s tanh RNN n = 128 and GRU n = 64): the points
  each search finds, stable and not, its time and Newton starts per second.

    python benchmarks/bench_fixed_point_search.py [--nets 20] [--threads 1]
    python benchmarks/bench_fixed_point_search.py --quick --json benchmarks/results/fixed_point_search.json
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_fixed_point_finder import gru, tanh_rnn, visited_starts
from timing import write_record

from neurodyn.analysis.fixed_points.search import search_fixed_points


def dense_grid_roots(W: np.ndarray, b: np.ndarray, per_axis: int, iters: int = 80) -> np.ndarray:
    """Distinct roots of tanh(W z + b) − z by Newton from every cell centre of a grid over (−1, 1)ⁿ."""
    n = len(b)
    axis = (np.arange(per_axis) + 0.5) / per_axis * 2 - 1
    z = np.stack(np.meshgrid(*([axis] * n), indexing="ij"), -1).reshape(-1, n)
    for _ in range(iters):
        t = np.tanh(z @ W.T + b)
        jac = (1 - t**2)[:, :, None] * W[None] - np.eye(n)
        step = np.linalg.solve(jac, -(t - z)[..., None])[..., 0]
        norm = np.linalg.norm(step, axis=1, keepdims=True)
        z = np.clip(z + step * np.minimum(1.0, 0.5 / np.maximum(norm, 1e-300)), -1.5, 1.5)
    left, roots = z[np.linalg.norm(np.tanh(z @ W.T + b) - z, axis=1) < 1e-10], []
    while len(left):
        roots.append(left[0])
        left = left[np.linalg.norm(left - left[0], axis=1) > 1e-6]
    return np.array(roots)


def small_networks(n: int, count: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    found = {"visited": [], "default": []}
    seconds = {"visited": 0.0, "default": 0.0}
    kept = 0
    while kept < count:
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        W, b = Q @ np.diag(rng.uniform(1.5, 3.0, n)) @ Q.T, rng.uniform(-0.1, 0.1, n)
        reference = dense_grid_roots(W, b, 121 if n == 2 else 31)
        if len(reference) < 9:
            continue
        kept += 1
        Wt, bt = torch.tensor(W), torch.tensor(b)

        def step(z, Wt=Wt, bt=bt):
            return torch.tanh(z @ Wt.T + bt)

        visited = visited_starts(step, n, 256, torch.device("cpu"), n_traj=64, n_steps=50, seed=kept)
        cube = (-torch.ones(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64))
        for name, mode in (("visited", "visited"), ("default", "auto")):
            t0 = time.perf_counter()
            result = search_fixed_points(step, n, visited=visited, region=cube, mode=mode)
            seconds[name] += time.perf_counter() - t0
            z = np.array([p.z for p in result.points]).reshape(-1, n)
            hits = sum(bool(len(z)) and float(np.linalg.norm(z - r, axis=1).min()) < 1e-8 for r in reference)
            found[name].append((hits, len(reference)))
    out = {}
    print(
        f"\n{count} random {n}-unit tanh networks with ≥ 9 fixed points (dense grid: {sum(t for _, t in found['default'])} in all)"
    )
    for name in ("visited", "default"):
        hits = sum(h for h, _ in found[name])
        total = sum(t for _, t in found[name])
        complete = sum(h == t for h, t in found[name])
        print(
            f"  {name:8s}: {hits}/{total} points ({hits / total:.1%}), all found on {complete}/{count} networks, "
            f"{seconds[name] / count:.3f} s per network"
        )
        out[name] = {
            "points": hits,
            "of": total,
            "complete_networks": complete,
            "seconds_per_network": seconds[name] / count,
        }
    out["ratio_points_found"] = out["default"]["points"] / max(out["visited"]["points"], 1)
    print(f"  points found, default / visited: {out['ratio_points_found']:.3f}")
    return out


def large_map(title: str, step, n: int, n_starts: int) -> dict:
    starts = visited_starts(step, n, n_starts, torch.device("cpu"))
    cube = (-torch.ones(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64))
    print(f"\n{title}: {n_starts} visited starts")
    out = {}
    for name, mode in (("visited", "visited"), ("default", "auto")):
        t0 = time.perf_counter()
        result = search_fixed_points(step, n, visited=starts, region=cube, mode=mode)
        seconds = time.perf_counter() - t0
        record = result.completeness()
        newton = sum(r["n_starts"] for r in record["rounds"] if r["source"] != "visited")
        stable = sum(p.stable for p in result.points)
        print(
            f"  {name:8s}: {len(result.points)} fixed points ({stable} stable), {seconds:.2f} s, "
            f"{record['n_rounds']} rounds, found by {record['found_by']}, estimated total {record['estimated_total']}"
            + (f", {newton / max(seconds, 1e-9):.0f} starts/s over all rounds" if newton else "")
        )
        out[name] = {"fixed_points": len(result.points), "stable": stable, "seconds": seconds, "search": record}
    out["ratio_points_found"] = out["default"]["fixed_points"] / max(out["visited"]["fixed_points"], 1)
    out["ratio_time"] = out["default"]["seconds"] / out["visited"]["seconds"]
    print(f"  default / visited: {out['ratio_points_found']:.2f}x the points in {out['ratio_time']:.2f}x the time")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", type=int, default=None, help="small networks per size (default 20, quick 5)")
    parser.add_argument(
        "--n-starts", type=int, default=None, help="visited starts of the large maps (default 256, quick 64)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="5 networks per size, 64 visited starts")
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = parser.parse_args()
    args.nets = args.nets or (5 if args.quick else 20)
    args.n_starts = args.n_starts or (64 if args.quick else 256)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s), CPU")
    small = {f"n{n}": small_networks(n, args.nets, seed=n) for n in (2, 3)}
    cpu = torch.device("cpu")
    large = {
        "tanh": large_map("tanh RNN n=128 (g=1.5 + rank-2)", tanh_rnn(128, cpu), 128, args.n_starts),
        "gru": large_map("GRU n=64 (no input)", gru(64, cpu), 64, args.n_starts),
    }
    write_record(args, time.perf_counter() - t_start, small=small, large=large)


if __name__ == "__main__":
    main()
