"""E-step linear algebra of the PLRNN: block-tridiagonal solve (numba kernels, torch loop) vs a dense solve.

One Laplace E-step iteration solves H z = v with H the (T·M × T·M) block-tridiagonal Hessian of
−log p(X, Z) for a fixed active set, plus the diagonal and first off-diagonal covariance blocks.
Three paths, timed in turns (best of ``--repeats`` rounds) in one run:

- the torch loop (``block_tridiag_solve(..., engine="torch")``): ~6 small tensor ops per time step
  forward and more for the covariance, so it is bound by op dispatch, not arithmetic;
- the numba kernels (``engine="numba"``, the default on the CPU): the same recursions as plain loops
  over M, with BLAS for the M×M products of the covariance sweep; their first call (import numba +
  compile, or + load from numba's cache) is measured in fresh processes and reported apart;
- a dense Cholesky solve + inverse, at ``--dense-T`` and scaled by T³ (dense at T = 1501 would need
  5.8 GB) unless ``--dense-T`` equals ``--T``.

Work: the block Cholesky and solve ≈ T·(7/3)M³ flop (S_t update M³, Cholesky M³/3, G_t = H_{t+1,t}L_t⁻ᵀ
M³), the selected inverse ≈ T·(14/3)M³ (L_t⁻¹ M³/3, S_t⁻¹ M³/3, K_t M³, Σ_{t+1,t} 2M³, Σ_tt M³):
7·T·M³ ≈ 6.1e7 flop for T = 1501, M = 18. The floor divides that by two measured rates: a large
(1024²) matmul (what the core can do) and a batched T × (M×M) matmul (what M×M blocks allow).
Also timed: one whole E-step (``posterior_mode`` on the same problem) with the solve on each engine.

    python benchmarks/bench_plrnn_estep.py [--T 1501] [--M 18] [--dense-T 300] [--threads 1]
    python benchmarks/bench_plrnn_estep.py --quick --json benchmarks/results/plrnn_estep.json   # T 501, dense T 100
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import time

import torch
from timing import write_record

from neurodyn.models.plrnn_em import core
from neurodyn.models.plrnn_em.core import (
    Observations,
    block_tridiag_solve,
    hessian_blocks,
    init_params,
    posterior_mode,
)

# the first numba solve in a fresh interpreter (torch and neurodyn already imported): import numba + compile/load
FIRST_CALL = """
import time, torch
from neurodyn.models.plrnn_em.core import block_tridiag_solve
d = torch.eye(3, dtype=torch.float64).repeat(4, 1, 1)
lo, v = torch.zeros(3, 3, 3, dtype=torch.float64), torch.ones(4, 3, dtype=torch.float64)
t0 = time.perf_counter()
block_tridiag_solve(d, lo, v, covariance=True, engine="numba")
print(time.perf_counter() - t0)
"""


def setup(T: int, M: int, seed: int = 0):
    """One trial of a random-walk recording (N = 3 channels), PCA-initialised parameters and a random
    active set: (params, obs, d)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, T, 3, generator=gen, dtype=torch.float64).cumsum(1) / 10
    obs = Observations(x=x, mask=torch.ones_like(x), s=torch.zeros(1, T, 0, dtype=torch.float64))
    params = init_params(x, obs.mask, M, 0, 1, seed=seed)
    d = (torch.randn(1, 1, T, M, generator=gen, dtype=torch.float64) > 0).double()
    return params, obs, d


def problem(T: int, M: int, seed: int = 0):
    """The Hessian blocks (diag, lower, rhs) of :func:`setup`'s problem."""
    params, obs, d = setup(T, M, seed)
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


def first_call_seconds(threads: int) -> tuple[float, float]:
    """(cold, cached): seconds of the first numba solve in a fresh interpreter with an empty numba cache
    directory (import numba + compile both kernels for float64) and then with the cache it filled."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "OMP_NUM_THREADS": str(threads)}
        out = [
            subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)
        ]
    return float(out[0].stdout), float(out[1].stdout)


def best_time(fn, calls: int) -> tuple[float, object]:
    """Best wall time (s) of ``calls`` calls of ``fn`` and the last result."""
    best, result = float("inf"), None
    for _ in range(calls):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def flop_rates(T: int, M: int, repeats: int) -> tuple[float, float]:
    """(large, blocks): flop/s of a 1024² float64 matmul and of a batched (T, M, M) @ (T, M, M) matmul."""
    a = torch.randn(1024, 1024, dtype=torch.float64)
    large, _ = best_time(lambda: a @ a, max(repeats, 5))
    blocks = torch.randn(T, M, M, dtype=torch.float64)
    small, _ = best_time(lambda: torch.bmm(blocks, blocks), max(repeats, 5) * 4)
    return 2 * 1024**3 / large, 2 * T * M**3 / small


@contextlib.contextmanager
def solve_engine(engine: str):
    """``posterior_mode`` with its block solves on ``engine`` (it calls ``core.block_tridiag_solve``)."""
    original = core.block_tridiag_solve
    core.block_tridiag_solve = functools.partial(original, engine=engine)
    try:
        yield
    finally:
        core.block_tridiag_solve = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=None, help="default 1501 (quick 501)")
    ap.add_argument("--M", type=int, default=18)
    ap.add_argument("--dense-T", type=int, default=None, help="default 300 (quick 100)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=None, help="best of this many rounds, in turns (default 3, quick 2)")
    ap.add_argument("--quick", action="store_true", help="T = 501, dense baseline at T = 100, two rounds")
    ap.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = ap.parse_args()
    quick = {"T": 501, "dense_T": 100, "repeats": 2}
    full = {"T": 1501, "dense_T": 300, "repeats": 3}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    T, M = args.T, args.M
    cold_s, cached_s = first_call_seconds(args.threads)

    params, obs, d = setup(T, M)
    diag, lower, rhs = hessian_blocks(params, obs, d)
    dd, dl, dr = problem(args.dense_T, M)
    H = dense(dd, dl)

    def dense_solve():
        L = torch.linalg.cholesky(H)
        z = torch.cholesky_solve(dr.reshape(-1, 1), L)
        return z, torch.cholesky_inverse(L)

    def e_step(engine: str):
        with solve_engine(engine):
            return posterior_mode(params, obs)

    numba_calls = 5  # per round: the numba solve is short, so each round keeps its best of a few calls
    cases = {
        "torch, solve + covariance": (
            lambda: block_tridiag_solve(diag, lower, rhs, covariance=True, engine="torch"),
            1,
        ),
        "numba, solve + covariance": (
            lambda: block_tridiag_solve(diag, lower, rhs, covariance=True, engine="numba"),
            numba_calls,
        ),
        "torch, solve only": (lambda: block_tridiag_solve(diag, lower, rhs, engine="torch"), 1),
        "numba, solve only": (lambda: block_tridiag_solve(diag, lower, rhs, engine="numba"), numba_calls),
        "dense": (dense_solve, 1),
        "E-step, torch solve": (lambda: e_step("torch"), 1),
        "E-step, auto solve": (lambda: e_step("auto"), 1),
    }
    block_tridiag_solve(dd, dl, dr, covariance=True, engine="numba")  # this process's first call: cache load
    best = dict.fromkeys(cases, float("inf"))
    results = {}
    for _ in range(args.repeats):
        for name, (fn, calls) in cases.items():
            seconds, results[name] = best_time(fn, calls)
            best[name] = min(best[name], seconds)
    large_rate, block_rate = flop_rates(T, M, args.repeats)

    ref, got = results["torch, solve + covariance"], results["numba, solve + covariance"]
    dz = float((ref.z - got.z).abs().max())
    dcov = max(float((ref.cov_diag - got.cov_diag).abs().max()), float((ref.cov_lower - got.cov_lower).abs().max()))
    dlogdet = float((ref.logdet - got.logdet).abs().max())
    z_dense, _ = results["dense"]
    check = block_tridiag_solve(dd, dl, dr, engine="numba")
    err_dense = float((check.z.reshape(-1) - z_dense[:, 0]).abs().max())
    e_torch, e_auto = results["E-step, torch solve"], results["E-step, auto solve"]
    e_dz = float((e_torch.z - e_auto.z).abs().max())
    scale = (T / args.dense_T) ** 3
    t_dense = best["dense"] * scale
    t_torch, t_numba = best["torch, solve + covariance"], best["numba, solve + covariance"]
    t_torch_solve, t_numba_solve = best["torch, solve only"], best["numba, solve only"]
    flop_solve, flop_cov = T * (7 / 3) * M**3, T * (14 / 3) * M**3
    flop = flop_solve + flop_cov
    floor_large, floor_blocks = flop / large_rate, flop / block_rate

    print(
        f"block-tridiagonal solve, T={T}, M={M}, float64, {args.threads} thread(s); best of {args.repeats} "
        f"rounds in turns (numba: best of {numba_calls} calls per round)"
    )
    print(f"  solve + covariance blocks: torch loop {t_torch * 1e3:8.1f} ms   numba {t_numba * 1e3:7.2f} ms")
    print(
        f"  solve only:                torch loop {t_torch_solve * 1e3:8.1f} ms   numba {t_numba_solve * 1e3:7.2f} ms"
    )
    print(
        f"  dense Cholesky solve + inverse at T={args.dense_T}: {best['dense'] * 1e3:.1f} ms"
        + (f"; scaled by (T/{args.dense_T})^3 = {scale:.0f}: {t_dense:.1f} s" if scale != 1 else "")
    )
    print(
        f"ratio numba / torch: {t_numba / t_torch:.4f} (solve + covariance; {t_torch / t_numba:.1f}x faster), "
        f"{t_numba_solve / t_torch_solve:.4f} (solve only; {t_torch_solve / t_numba_solve:.1f}x)"
    )
    print(f"ratio numba / dense: {t_numba / t_dense:.2e} ({t_dense / t_numba:,.0f}x faster)")
    print(
        f"floor: 7·T·M³ = {flop:.2e} flop (solve {flop_solve:.1e} + covariance {flop_cov:.1e}); "
        f"at the 1024² matmul rate {large_rate / 1e9:.1f} GF/s: {floor_large * 1e3:.2f} ms "
        f"(numba at {t_numba / floor_large:.1f}x); at the batched {M}×{M} matmul rate "
        f"{block_rate / 1e9:.1f} GF/s: {floor_blocks * 1e3:.2f} ms (numba at {t_numba / floor_blocks:.1f}x)"
    )
    print(
        f"numba first call in a fresh process (import numba + both kernels): {cold_s:.2f} s compiling, "
        f"{cached_s:.2f} s from numba's cache"
    )
    print(
        f"agreement numba vs torch: max |Δz| {dz:.1e}, max |Δcov| {dcov:.1e}, |Δlogdet| {dlogdet:.1e}; "
        f"dense vs numba at T={args.dense_T}: max |Δz| {err_dense:.1e}"
    )
    print(
        f"E-step (posterior_mode, {int(e_auto.mode_iters.max())} mode iterations + covariance): "
        f"torch solve {best['E-step, torch solve'] * 1e3:.0f} ms, auto (numba) solve "
        f"{best['E-step, auto solve'] * 1e3:.0f} ms, ratio {best['E-step, auto solve'] / best['E-step, torch solve']:.3f}; "
        f"max |Δz| {e_dz:.1e}, iterations equal: {bool((e_torch.mode_iters == e_auto.mode_iters).all())}"
    )
    write_record(
        args,
        time.perf_counter() - t_start,
        baseline={"name": "torch loop, solve + covariance blocks", "time_s": t_torch},
        candidate={"name": "numba kernels, solve + covariance blocks", "time_s": t_numba},
        ratio=t_torch / t_numba,
        ratios={
            "numba_over_torch": t_numba / t_torch,
            "numba_over_torch_solve_only": t_numba_solve / t_torch_solve,
            "numba_over_dense": t_numba / t_dense,
            "e_step_auto_over_torch": best["E-step, auto solve"] / best["E-step, torch solve"],
        },
        solve_only={"torch_s": t_torch_solve, "numba_s": t_numba_solve},
        dense={
            "name": "dense Cholesky solve + inverse",
            "time_s": t_dense,
            "measured_T": args.dense_T,
            "measured_time_s": best["dense"],
            "scale": scale,
        },
        e_step={
            "torch_s": best["E-step, torch solve"],
            "auto_s": best["E-step, auto solve"],
            "mode_iters": int(e_auto.mode_iters.max()),
            "max_abs_dz": e_dz,
        },
        floor={
            "flop": flop,
            "flop_solve": flop_solve,
            "flop_covariance": flop_cov,
            "large_matmul_flop_per_s": large_rate,
            "block_matmul_flop_per_s": block_rate,
            "time_s_large_matmul_rate": floor_large,
            "time_s_block_matmul_rate": floor_blocks,
            "note": "7·T·M³ flop (block Cholesky + solve 7/3, selected inverse 14/3) at a 1024² matmul's "
            "rate and at a batched T × (M×M) matmul's rate",
        },
        numba_first_call_s={"compiling": cold_s, "cached": cached_s},
        max_abs_dz=dz,
        max_abs_dcov=dcov,
        max_abs_dz_dense=err_dense,
    )


if __name__ == "__main__":
    main()
