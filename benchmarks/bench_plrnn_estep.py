"""E-step linear algebra of the PLRNN: block-tridiagonal solve vs a dense solve.

One Laplace E-step iteration solves H z = v with H the (T·M × T·M) block-tridiagonal Hessian of
−log p(X, Z) for a fixed active set, plus the diagonal and first off-diagonal covariance blocks.
Work: the block Cholesky costs about T·(M³/3 + 2M³) flops (≈ 2.0e7 for T = 1501, M = 18) and
touches T·M²·8 bytes per sweep (≈ 3.9 MB); a dense Cholesky costs (TM)³/3 ≈ 6.6e12 flops and
stores (TM)² doubles (5.8 GB), so the dense baseline is taken at a smaller T and scaled by T³
(printed as such) unless ``--dense-T`` equals ``--T``.

    python benchmarks/bench_plrnn_estep.py [--T 1501] [--M 18] [--dense-T 300] [--threads 1]
    python benchmarks/bench_plrnn_estep.py --quick --json benchmarks/results/plrnn_estep.json   # T 501, dense T 100
"""

from __future__ import annotations

import argparse
import time

import torch
from timing import best_of, write_record

from neurodyn.models.plrnn_em.core import (
    Observations,
    block_tridiag_solve,
    hessian_blocks,
    init_params,
)


def problem(T: int, M: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, T, 3, generator=gen, dtype=torch.float64).cumsum(1) / 10
    obs = Observations(x=x, mask=torch.ones_like(x), s=torch.zeros(1, T, 0, dtype=torch.float64))
    params = init_params(x, obs.mask, M, 0, 1, seed=seed)
    d = (torch.randn(1, 1, T, M, generator=gen, dtype=torch.float64) > 0).double()
    return hessian_blocks(params, obs, d)


def dense(diag: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    T, M = diag.shape[-3], diag.shape[-1]
    H = torch.zeros(T * M, T * M, dtype=diag.dtype)
    for t in range(T):
        H[t * M : (t + 1) * M, t * M : (t + 1) * M] = diag[0, 0, t]
        if t < T - 1:
            H[(t + 1) * M : (t + 2) * M, t * M : (t + 1) * M] = lower[0, 0, t]
            H[t * M : (t + 1) * M, (t + 1) * M : (t + 2) * M] = lower[0, 0, t].T
    return H


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=None, help="default 1501 (quick 501)")
    ap.add_argument("--M", type=int, default=18)
    ap.add_argument("--dense-T", type=int, default=None, help="default 300 (quick 100)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=None, help="best of this many (default 3, quick 1)")
    ap.add_argument("--quick", action="store_true", help="T = 501, dense baseline at T = 100, one repeat")
    ap.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = ap.parse_args()
    quick = {"T": 501, "dense_T": 100, "repeats": 1}
    full = {"T": 1501, "dense_T": 300, "repeats": 3}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    diag, lower, rhs = problem(args.T, args.M)
    t_block, _sol = best_of(args.repeats, lambda: block_tridiag_solve(diag, lower, rhs, covariance=True))
    dd, dl, dr = problem(args.dense_T, args.M)
    H = dense(dd, dl)

    def dense_solve():
        L = torch.linalg.cholesky(H)
        z = torch.cholesky_solve(dr.reshape(-1, 1), L)
        return z, torch.cholesky_inverse(L)

    t_dense_small, (z_dense, _) = best_of(args.repeats, dense_solve)
    check = block_tridiag_solve(dd, dl, dr)
    err = float((check.z.reshape(-1) - z_dense[:, 0]).abs().max())
    scale = (args.T / args.dense_T) ** 3
    t_dense = t_dense_small * scale
    print(f"block-tridiagonal solve + covariance blocks, T={args.T}, M={args.M}: {t_block * 1e3:.1f} ms")
    print(
        f"dense Cholesky solve + inverse, T={args.dense_T}: {t_dense_small * 1e3:.1f} ms "
        f"(max |Δz| vs block solve {err:.1e})"
    )
    if scale != 1:
        print(f"dense at T={args.T}, scaled by (T/{args.dense_T})^3 = {scale:.0f}: {t_dense:.1f} s")
    print(f"ratio dense / block: {t_dense / t_block:.0f}x")
    flop = args.T * (args.M**3 / 3 + 2 * args.M**3)
    write_record(
        args,
        time.perf_counter() - t_start,
        baseline={
            "name": "dense Cholesky solve + inverse",
            "time_s": t_dense,
            "measured_T": args.dense_T,
            "measured_time_s": t_dense_small,
            "scale": scale,
        },
        candidate={"name": "block-tridiagonal solve + covariance blocks", "time_s": t_block},
        ratio=t_dense / t_block,
        floor={"flop": flop, "note": "block Cholesky T·(M³/3 + 2M³) flop"},
        max_abs_dz=err,
    )


if __name__ == "__main__":
    main()
