"""Fixed points of piecewise-linear low-rank RNNs: exact enumeration vs brute force vs random restarts.

(a) Small and medium networks: the exact method (Pals et al. 2024, Prop. 1; line sweep over the
    hyperplane arrangement), the brute force over all 2^N / 3^N activation patterns (where feasible)
    and the random-restart region iteration given the SAME number of linear solves as the exact
    method. Reports how many of the true fixed points each finds, the wall time and the ratios.
(b) N = 512 clipped units, rank 3 (K = 1024 hyperplanes, ~1.8·10⁸ vertex systems): the exact method
    with its default (sound) box and with a tighter box from simulated trajectories.

    python benchmarks/bench_fixed_points.py [--quick] [--threads N] [--device cpu|cuda] [--json OUT]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import torch
from timing import best_of, write_record

from neurodyn.analysis.fixed_points.piecewise import (
    exact_fixed_points,
    piecewise_map,
)
from neurodyn.analysis.fixed_points.piecewise_reference import brute_force_fixed_points, random_restart_fixed_points


def random_net(n_units: int, rank: int, nonlinearity: str, seed: int):
    """Self-exciting random low-rank network (N ≈ gain·M), as in the tests."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n_units, rank))
    if nonlinearity == "relu":
        N = 2.4 * M / n_units + 0.3 * rng.standard_normal((n_units, rank)) / np.sqrt(n_units)
        h = rng.standard_normal(n_units)
    else:
        N = 6.0 * M / n_units + 0.3 * rng.standard_normal((n_units, rank)) / np.sqrt(n_units)
        h = rng.uniform(0.5, 3, n_units) * rng.choice([-1, 1], n_units)
    return M, N, h, 0.3, 0.5 * rng.standard_normal(n_units)


def ring_net(n_units: int = 60, n_clusters: int = 8, seed: int = 2, gain: float = 4.0):
    """Rank-2 clipped network whose unit directions cluster on a ring: a multi-attractor network of
    the kind training produces (13 fixed points, 6 stable, for the defaults)."""
    rng = np.random.default_rng(seed)
    centres = np.arange(n_clusters) * 2 * np.pi / n_clusters
    theta = centres[rng.integers(0, n_clusters, n_units)] + 0.15 * rng.standard_normal(n_units)
    M = np.stack([np.cos(theta), np.sin(theta)], 1) * rng.uniform(0.8, 1.2, n_units)[:, None]
    N = 2 * gain * M / n_units + 0.05 * rng.standard_normal((n_units, 2)) / np.sqrt(n_units)
    return M, N, rng.uniform(0.5, 1.5, n_units), 0.5, 0.1 * rng.standard_normal(n_units)


def sphere_net(n_units: int = 512, seed: int = 1, gain: float = 4.0):
    """Rank-3 clipped network, unit directions clustered around ±x, ±y, ±z (many fixed points)."""
    rng = np.random.default_rng(seed)
    centres = np.vstack([np.eye(3), -np.eye(3)])
    dirs = centres[rng.integers(0, 6, n_units)] + 0.15 * rng.standard_normal((n_units, 3))
    M = dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * rng.uniform(0.8, 1.2, n_units)[:, None]
    N = 3 * gain * M / n_units + 0.05 * rng.standard_normal((n_units, 3)) / np.sqrt(n_units)
    return M, N, rng.uniform(0.5, 1.5, n_units), 0.5, 0.1 * rng.standard_normal(n_units)


def trajectory_box(net, nonlinearity: str, lo, hi, n_traj: int = 2000, steps: int = 300, margin: float = 0.1):
    """Box of the states visited by simulated trajectories (second half), widened by ``margin``."""
    M, N, h, a, c = net
    gen = torch.Generator().manual_seed(0)
    z = torch.as_tensor(lo) + torch.as_tensor(hi - lo) * torch.rand(
        n_traj, M.shape[1], generator=gen, dtype=torch.float64
    )
    z_lo = z_hi = None
    for t in range(steps):
        z = piecewise_map(z, M, N, h, a, nonlinearity, c)
        if t >= steps // 2:
            z_lo = z.amin(0) if z_lo is None else torch.minimum(z_lo, z.amin(0))
            z_hi = z.amax(0) if z_hi is None else torch.maximum(z_hi, z.amax(0))
    width = (z_hi - z_lo).clamp_min(1e-3)
    return (z_lo - margin * width).numpy(), (z_hi + margin * width).numpy()


def matched(found, truth, tol: float = 1e-6) -> int:
    """How many of the true fixed points appear in ``found``."""
    if len(found) == 0 or len(truth) == 0:
        return 0
    dist = np.abs(truth.z[:, None, :] - found.z[None, :, :]).max(2)
    return int((dist.min(1) <= tol * (1 + np.abs(truth.z).max(1))).sum())


def compare_network(name: str, net, nl: str, args) -> dict:
    """One network's rows of table (a)."""
    M, N, h, a, c = net
    t_ex, ex = best_of(args.repeats, lambda: exact_fixed_points(M, N, h, a, nl, c, device=args.device))
    n_true = len(ex)
    print(
        f"{name:26s} {'exact (' + ex.strategy + ')':32s} {ex.n_linear_solves:14,d} "
        f"{n_true:>5d}/{n_true:<5d} {t_ex:8.4f}s"
    )
    row = {"exact": {"linear_solves": ex.n_linear_solves, "found": n_true, "time_s": t_ex}}
    patterns = (2 if nl == "relu" else 3) ** M.shape[0]
    if patterns <= 3**12:
        t_bf, bf = best_of(args.repeats, lambda: brute_force_fixed_points(M, N, h, a, nl, c, device=args.device))
        print(
            f"{'':26s} {'brute force':32s} {bf.n_linear_solves:14,d} {matched(bf, ex):>5d}/{n_true:<5d} "
            f"{t_bf:8.4f}s   solves ×{bf.n_linear_solves / ex.n_linear_solves:.1f}, "
            f"time ×{t_bf / t_ex:.1f} vs exact"
        )
        row["brute_force"] = {"linear_solves": bf.n_linear_solves, "found": matched(bf, ex), "time_s": t_bf}
    else:
        print(f"{'':26s} {'brute force':32s} {float(patterns):14.2e} {'—':>11s} {'—':>9s}   infeasible")
    for init in ("point", "pattern"):
        found, times = [], []
        for seed in range(args.rr_seeds):
            t0 = time.perf_counter()
            rr = random_restart_fixed_points(
                M, N, h, a, nl, c, n_solves=ex.n_linear_solves, seed=seed, init=init, device=args.device
            )
            times.append(time.perf_counter() - t0)
            found.append(matched(rr, ex))
        label = f"restarts from {init}s ({args.rr_seeds} seeds)"
        print(
            f"{'':26s} {label:32s} {ex.n_linear_solves:14,d} {np.mean(found):5.1f}/{n_true:<5d} "
            f"{np.mean(times):8.4f}s   finds {np.mean(found) / max(n_true, 1):.0%} (min {min(found)}, "
            f"max {max(found)}), time ×{np.mean(times) / t_ex:.1f} vs exact"
        )
        row[f"restarts_from_{init}s"] = {
            "linear_solves": ex.n_linear_solves,
            "found_mean": float(np.mean(found)),
            "time_s": float(np.mean(times)),
            "time_ratio_to_exact": float(np.mean(times)) / t_ex,
        }
    print(f"{'':26s} {'':32s} ({int(ex.stable.sum())} of the {n_true} true fixed points are stable)")
    return row


def part_a(args) -> dict:
    cases = [
        ("random relu N=10 R=2", random_net(10, 2, "relu", 53), "relu"),
        ("random clipped N=8 R=3", random_net(8, 3, "clipped", 56), "clipped"),
        ("ring clipped N=60 R=2", ring_net(), "clipped"),
    ]
    print("(a) exact vs brute force vs random restarts at the exact method's number of linear solves")
    header = f"{'network':26s} {'method':32s} {'linear solves':>14s} {'found/true':>11s} {'time':>9s}"
    print(header)
    print("-" * len(header))
    return {name: compare_network(name, net, nl, args) for name, net, nl in cases}


def part_b(args) -> dict:
    n_units = 128 if args.quick else 512
    net = sphere_net(n_units)
    M, N, h, a, c = net
    print(
        f"\n(b) clipped N={n_units} R=3: K = {2 * n_units} hyperplanes, C(K+6, 3) = "
        f"{math.comb(2 * n_units + 6, 3):,d} vertex systems at most"
    )
    header = f"{'box':34s} {'vertex systems':>15s} {'regions':>13s} {'fixed pts':>9s} {'stable':>6s} {'time':>9s}"
    print(header)
    print("-" * len(header))
    t_def, full = best_of(1, lambda: exact_fixed_points(M, N, h, a, "clipped", c, device=args.device))
    lo, hi = full.box
    print(
        f"{'default |z| ≤ Σ|N||h|/(1−a)':34s} {full.n_vertex_systems:15,d} {full.n_regions:13,d} {len(full):9d} "
        f"{int(full.stable.sum()):6d} {t_def:8.1f}s"
    )
    tlo, thi = trajectory_box(net, "clipped", lo, hi)
    t_box, boxed = best_of(1, lambda: exact_fixed_points(M, N, h, a, "clipped", c, box=(tlo, thi), device=args.device))
    inside = np.all((full.z >= tlo) & (full.z <= thi), axis=1)
    print(
        f"{'from 2000 simulated trajectories':34s} {boxed.n_vertex_systems:15,d} {boxed.n_regions:13,d} "
        f"{len(boxed):9d} {int(boxed.stable.sum()):6d} {t_box:8.1f}s"
    )
    print(
        f"  default box side ≈ {np.round(hi - lo, 2).tolist()}, trajectory box side ≈ {np.round(thi - tlo, 2).tolist()}"
    )
    print(
        f"  trajectory box keeps {int(inside.sum())} of the {len(full)} fixed points (all {int(full.stable.sum())} "
        f"stable ones: {bool(np.all(inside[full.stable]))}); same points: "
        f"{np.allclose(boxed.z, full.z[inside], atol=1e-9) if boxed.z.shape == full.z[inside].shape else False}"
    )
    print(
        f"  time ratio default/trajectory box: {t_def / t_box:.1f}×; "
        f"{full.n_regions / t_def / 1e6:.2f} M regions/s (default box)"
    )
    budget = 10**5
    t0 = time.perf_counter()
    rr = random_restart_fixed_points(M, N, h, a, "clipped", c, n_solves=budget, seed=0, device=args.device)
    t_rr = time.perf_counter() - t0
    print(
        f"  random restarts from points, {budget:,d} solves: {matched(rr, full)}/{len(full)} found in {t_rr:.1f}s "
        f"({full.n_linear_solves / budget:,.0f}× fewer solves than exact, no completeness guarantee)"
    )
    return {
        "n_units": n_units,
        "default_box": {
            "vertex_systems": full.n_vertex_systems,
            "regions": full.n_regions,
            "fixed_points": len(full),
            "stable": int(full.stable.sum()),
            "time_s": t_def,
        },
        "trajectory_box": {
            "vertex_systems": boxed.n_vertex_systems,
            "regions": boxed.n_regions,
            "fixed_points": len(boxed),
            "stable": int(boxed.stable.sum()),
            "time_s": t_box,
        },
        "ratio_default_to_trajectory_box": t_def / t_box,
        "restarts_from_points": {"linear_solves": budget, "found": matched(rr, full), "time_s": t_rr},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 128 in part (b), one repeat")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=None, help="best of this many (default 3, quick 1)")
    parser.add_argument("--rr-seeds", type=int, default=5, help="random-restart seeds to average")
    parser.add_argument("--skip-b", action="store_true", help="only part (a)")
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = parser.parse_args()
    t_start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.repeats = args.repeats or (1 if args.quick else 3)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {os.cpu_count()} cores, "
        f"device {args.device}\n"
    )
    figures = {"part_a": part_a(args)}
    if not args.skip_b:
        figures["part_b"] = part_b(args)
    write_record(args, time.perf_counter() - t_start, **figures)


if __name__ == "__main__":
    main()
