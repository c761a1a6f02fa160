"""Reference solvers for the fixed points of piecewise-linear low-rank RNNs, against which the exact
arrangement search (:mod:`.piecewise`) is tested and benchmarked.

* :func:`brute_force_fixed_points` — one linear solve per activation pattern of the units (2^N
  patterns for relu, 3^N for clipped), so every fixed point exactly, for small networks only;
* :func:`random_restart_fixed_points` — the baseline of Eisenmann et al. 2023 and Pals et al. 2024
  (B.5): region iteration from random starts, which finds what its starts reach.

Both build on the exact solver's private pieces (network normalisation, batched cell solves,
result assembly), which this module shares with :mod:`.piecewise`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neurodyn.analysis.fixed_points.piecewise import (  # the exact solver's building blocks
    _PRIME,
    PiecewiseFixedPoints,
    _Arrangement,
    _assemble,
    _continuum_point,
    _effective_box,
    _hash_key,
    _Network,
    _network,
    _resolve_device,
    _Run,
    _SeenKeys,
    _solve_systems,
)
from neurodyn.errors import ConfigError


def brute_force_fixed_points(
    M: Any,
    N: Any,
    h: Any,
    a: Any,
    nonlinearity: str = "relu",
    offset: Any = None,
    *,
    device: Any = None,
    dtype: torch.dtype = torch.float64,
    tol: float = 1e-9,
    chunk_size: int = 1 << 14,
    max_units: int = 20,
) -> PiecewiseFixedPoints:
    """Every activation pattern: 2^N (relu) or 3^N (clipped: off / linear / saturated per unit).

    Each pattern's R×R system is solved (torch, in chunks) and the solution kept if every unit is
    on its assumed piece (closed, with tolerance). Exponential: refuses more than ``max_units``.
    Shapes as :func:`exact_fixed_points`; ``n_regions`` counts patterns, all of them solved.
    """
    t0 = time.perf_counter()
    dev = _resolve_device(device)
    net = _network(M, N, h, a, nonlinearity, offset, dev, dtype)
    U, R = net.U, net.R
    if U > max_units:
        raise ConfigError("N", f"brute force over {U} units is infeasible (max_units={max_units})")
    n_pieces = 2 if nonlinearity == "relu" else 3
    total = n_pieces**U
    # per unit and piece: (s1, s2); clipped middle piece is (1, 0) for h ≥ 0 and (0, 1) for h < 0
    pos_h = net.h >= 0
    W0, b0, C1 = net.W0, net.b0, net.C1
    norms = torch.linalg.vector_norm(W0, dim=1).clamp_min(1e-300)
    scale = (
        1 + float((b0.abs() / norms)[torch.linalg.vector_norm(W0, dim=1) > 0].max())
        if bool((torch.linalg.vector_norm(W0, dim=1) > 0).any())
        else 1.0
    )
    powers = n_pieces ** torch.arange(U, device=dev, dtype=torch.int64)
    found = []
    for start in range(0, total, chunk_size):
        ids = torch.arange(start, min(total, start + chunk_size), device=dev, dtype=torch.int64)
        digits = (ids[:, None] // powers[None, :]) % n_pieces  # (n, U)
        if nonlinearity == "relu":
            sides = digits == 1
        else:
            s1 = (digits == 2) | ((digits == 1) & pos_h[None])
            s2 = (digits == 2) | ((digits == 1) & ~pos_h[None])
            sides = torch.stack([s1, s2], dim=2).reshape(ids.shape[0], 2 * U)
        state = sides.to(dtype) @ C1 if U else torch.zeros(ids.shape[0], R * R + R, dtype=dtype, device=dev)
        z, S, singular = _solve_systems(state, net.a)
        f = (z @ W0.T + b0) / norms
        tc = 10 * tol * (scale + z.abs().amax(1, keepdim=True))
        ok = torch.where(sides, f >= -tc, f <= tc).all(1) & ~singular
        if bool(ok.any()):
            found.append((z[ok], S[ok], sides[ok], torch.ones(int(ok.sum()), dtype=torch.bool, device=dev)))
        for i in torch.nonzero(singular).reshape(-1).tolist():
            pt = _brute_continuum(net, state[i], sides[i], tol, scale)
            if pt is not None:
                found.append((pt[0][None], pt[1][None], sides[i : i + 1], torch.zeros(1, dtype=torch.bool, device=dev)))
    zs, Ss, sd, iso = _concat_found(found, R, W0.shape[0])
    parts = _assemble(net, zs, Ss, sd, iso, None, tol, scale)
    return PiecewiseFixedPoints(
        n_linear_solves=total,
        n_regions=total,
        n_vertices=0,
        seconds=time.perf_counter() - t0,
        method="brute force",
        strategy="brute force",
        **parts,
    )


def _concat_found(found: list[tuple[Tensor, Tensor, Tensor, Tensor]], R: int, K: int):
    """Concatenate (z (P,R), Jacobian-system S (P,R,R), sides (P,K), isolated (P,)) blocks; empty when none."""
    if not found:
        return (
            torch.zeros(0, R),
            torch.zeros(0, R, R),
            torch.zeros(0, K, dtype=torch.bool),
            torch.zeros(0, dtype=torch.bool),
        )
    return tuple(torch.cat([f[i] for f in found]) for i in range(4))


def _brute_continuum(net: _Network, state: Tensor, sides: Tensor, tol: float, scale: float):
    """Singular pattern of the brute force: a point of the solution set inside the pattern's cell."""
    W0, b0 = net.W0, net.b0
    norms = torch.linalg.vector_norm(W0, dim=1).clamp_min(1e-300)
    fake = _Arrangement(
        W0 / norms[:, None],
        W0 / norms[:, None],
        b0 / norms,
        net.C1,
        torch.zeros_like(state),
        torch.full((W0.shape[0],), -1, dtype=torch.int8, device=W0.device),
        torch.zeros(0, dtype=torch.int64),
        torch.zeros(0, dtype=torch.bool),
        torch.zeros(0, dtype=torch.bool),
        scale,
        torch.zeros(0),
        torch.zeros(0, 2, dtype=torch.int64),
        0,
    )
    run = _Run(
        net, fake, "brute", tol, tol * scale, 1, None, torch.zeros(0, dtype=torch.int64), np.random.default_rng(0)
    )
    return _continuum_point(run, state, sides)


def random_restart_fixed_points(
    M: Any,
    N: Any,
    h: Any,
    a: Any,
    nonlinearity: str,
    offset: Any = None,
    *,
    n_solves: int,
    seed: int = 0,
    box: Any = None,
    max_iter: int = 30,
    batch: int = 256,
    init: str = "point",
    device: Any = None,
    dtype: torch.dtype = torch.float64,
    tol: float = 1e-9,
) -> PiecewiseFixedPoints:
    """Baseline: region iteration from random starts (Eisenmann et al. 2023; Pals et al. 2024, B.5).

    Up to ``batch`` chains run in lock-step (fewer when ``n_solves`` is small). Each step takes the cell of a chain's current point, solves
    that cell's system (one counted solve) and moves to the solution; a solution inside its own cell
    is a fixed point (recorded, chain restarted), a chain not converged after ``max_iter`` steps or
    with a singular system restarts. ``init="point"``: restart at a uniform random point of ``box``
    (default: the sound box for clipped; for relu a box of twice the largest hyperplane distance
    from the origin, plus 1). ``init="pattern"``: restart from a uniformly random activation pattern
    (each unit's piece drawn independently, as in the paper's description of the approximate
    method), whose system is solved first. Stops after ``n_solves`` solves in total. Shapes as
    :func:`exact_fixed_points`; ``n_regions`` counts the distinct activation patterns solved.
    """
    t0 = time.perf_counter()
    if not (isinstance(n_solves, int) and n_solves >= 0):
        raise ConfigError("n_solves", f"must be a non-negative integer, got {n_solves!r}")
    if init not in ("point", "pattern"):
        raise ConfigError("init", f"must be 'point' or 'pattern', got {init!r}")
    dev = _resolve_device(device)
    net = _network(M, N, h, a, nonlinearity, offset, dev, dtype)
    R = net.R
    eff, _ = _effective_box(net, box, dev, dtype)
    W0, b0, C1 = net.W0, net.b0, net.C1
    norms = torch.linalg.vector_norm(W0, dim=1)
    nz = norms > 0
    Wn = torch.where(nz[:, None], W0 / norms.clamp_min(1e-300)[:, None], W0)
    bn = torch.where(nz, b0 / norms.clamp_min(1e-300), b0)
    scale = 1 + (float(bn[nz].abs().max()) if bool(nz.any()) else 0.0)
    if eff is None:
        ext = 2 * (scale - 1) + 1
        eff = (torch.full((R,), -ext, dtype=dtype, device=dev), torch.full((R,), ext, dtype=dtype, device=dev))
    lo, hi = eff
    gen = torch.Generator().manual_seed(seed)

    def fresh(n: int) -> Tensor:
        u = torch.rand(n, R, generator=gen, dtype=torch.float64).to(device=dev, dtype=dtype)
        return lo + (hi - lo) * u

    def fresh_sides(n: int) -> Tensor:
        """Random activation patterns (n, K): relu on/off, clipped one of the three pieces per unit."""
        if nonlinearity == "relu":
            return (torch.rand(n, net.U, generator=gen) < 0.5).to(dev)
        piece = torch.randint(0, 3, (n, net.U), generator=gen).to(dev)
        pos = (net.h >= 0)[None, :]
        s1 = (piece == 2) | ((piece == 1) & pos)
        s2 = (piece == 2) | ((piece == 1) & ~pos)
        return torch.stack([s1, s2], dim=2).reshape(n, 2 * net.U)

    # enough budget per chain to run up to max_iter steps before the solves run out
    batch = max(1, min(batch, n_solves // max(max_iter, 1)))
    coef = torch.randint(0, _PRIME, (W0.shape[0], 2), generator=gen, dtype=torch.int64).to(dev)
    seen = _SeenKeys()
    n_unique = 0
    z = fresh(batch)
    by_pattern = torch.full((batch,), init == "pattern", dtype=torch.bool, device=dev)
    pattern = fresh_sides(batch) if init == "pattern" else torch.zeros(batch, W0.shape[0], dtype=torch.bool, device=dev)
    it = torch.zeros(batch, dtype=torch.int64, device=dev)
    done = 0
    found = []
    while done < n_solves:
        nb = min(batch, n_solves - done)
        zc = z[:nb]
        sides = torch.where(by_pattern[:nb, None], pattern[:nb], (zc @ Wn.T + bn) > 0)
        state = sides.to(dtype) @ C1 if W0.shape[0] else torch.zeros(nb, R * R + R, dtype=dtype, device=dev)
        zn, S, singular = _solve_systems(state, net.a)
        done += nb
        keys = torch.unique(_hash_key(sides.to(torch.int64) @ coef))
        n_unique += int(seen.add_new(keys).sum())
        f = zn @ Wn.T + bn
        tc = 10 * tol * (scale + zn.abs().amax(1, keepdim=True))
        ok = torch.where(sides, f >= -tc, f <= tc).all(1) & ~singular
        if bool(ok.any()):
            found.append((zn[ok], S[ok], sides[ok], torch.ones(int(ok.sum()), dtype=torch.bool, device=dev)))
        restart = ok | singular | (it[:nb] + 1 >= max_iter)
        z_next = torch.where(restart[:, None], fresh(nb), torch.where(torch.isfinite(zn), zn, zc))
        z = torch.cat([z_next, z[nb:]])
        if init == "pattern":
            # restarted chains begin at a new random pattern; the others follow their solution's cell
            pattern = torch.cat([torch.where(restart[:, None], fresh_sides(nb), pattern[:nb]), pattern[nb:]])
            by_pattern = torch.cat([restart, by_pattern[nb:]])
        it = torch.cat([torch.where(restart, torch.zeros_like(it[:nb]), it[:nb] + 1), it[nb:]])
    zs, Ss, sd, iso = _concat_found(found, R, W0.shape[0])
    parts = _assemble(net, zs, Ss, sd, iso, eff, tol, scale)
    return PiecewiseFixedPoints(
        n_linear_solves=done,
        n_regions=n_unique,
        n_vertices=0,
        seconds=time.perf_counter() - t0,
        method="random restart (region iteration)",
        strategy="random restart",
        **parts,
    )
