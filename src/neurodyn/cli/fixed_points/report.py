"""Solving a ``neurodyn fixed-points`` archive: exact fixed points of affine, piecewise-linear
low-rank and PLRNN maps, a numerical search for tanh RNNs; the command's JSON-ready result."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np
import torch

from neurodyn.analysis.fixed_points.affine import affine_fixed_point
from neurodyn.cli.fixed_points import SEARCH_MODES, TANH_DEFAULTS, TANH_NOISE, TANH_STEPS, TANH_TRAJECTORIES
from neurodyn.cli.fixed_points.archives import load_weights
from neurodyn.errors import ConfigError


def _affine_report(weights: dict[str, Any], weights_path: str | os.PathLike[str], *, dt: float) -> dict[str, Any]:
    """The one fixed point of z ↦ A z + b (zero input), or none when I − A is singular."""
    A, b = (torch.as_tensor(weights[k], dtype=torch.float64) for k in ("A", "b"))
    point = affine_fixed_point(A, torch.zeros(A.shape[0], 0, dtype=torch.float64), b)
    points = [] if point is None else [point.to_json(dt)]
    return {
        "model": "affine",
        "weights": str(weights_path),
        "latent_dim": int(A.shape[0]),
        "dt": float(dt),
        "fixed_points": points,
        "n_fixed_points": len(points),
        # a singular I − A: a continuum of fixed points (e.g. a line attractor) or none at all
        "singular": point is None,
    }


def parse_box(tokens: list[str] | None, R: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``--box`` values → (lo, hi) of shape (R,).

    Accepts ``LO HI`` (all dimensions), ``LO1 HI1 … LOR HIR`` (per dimension), or the same
    numbers comma-separated (``--box=-5,5``).
    """
    if not tokens:
        return None
    parts = [p for tok in tokens for p in tok.replace(",", " ").split()]
    try:
        values = np.array([float(p) for p in parts])
    except ValueError:
        raise ConfigError("--box", f"expects numbers LO HI (or one LO HI pair per latent dimension), got {tokens}")
    if values.size == 2:
        lo, hi = np.full(R, values[0]), np.full(R, values[1])
    elif values.size == 2 * R:
        lo, hi = values[0::2], values[1::2]
    else:
        raise ConfigError("--box", f"expects 2 or 2·R = {2 * R} numbers (LO HI per dimension), got {values.size}")
    if not np.all(np.isfinite(values)) or np.any(lo >= hi):
        raise ConfigError("--box", f"needs finite LO < HI in every dimension, got lo={lo.tolist()}, hi={hi.tolist()}")
    return lo, hi


def _in_box(z: np.ndarray, box: tuple[np.ndarray, np.ndarray] | None) -> bool:
    return box is None or bool(np.all((z >= box[0]) & (z <= box[1])))


def _plrnn_report(
    weights: dict[str, Any],
    weights_path: str | os.PathLike[str],
    *,
    box: list[str] | None,
    device: str,
    cycles: int | None,
    dt: float,
) -> dict[str, Any]:
    """Fixed points (and k-cycles up to ``cycles``) of a PLRNN archive as JSON-ready data."""
    from neurodyn.analysis.fixed_points.plrnn import (
        continuous_time_fixed_points,
        plrnn_cycles,
        plrnn_fixed_points,
        to_fixed_points,
    )
    from neurodyn.device import pick_device

    A, W, h = weights["A"], weights["W"], weights["h"]
    if weights["s"] is not None:
        h = h + weights["C"] @ weights["s"]  # a constant input folds into the bias
    M = W.shape[0]
    bounds = parse_box(box, M)
    dev = pick_device(device)
    result = plrnn_fixed_points(A, W, h, device=dev)
    continuous = continuous_time_fixed_points(A, W, h, result, dt)
    points = []
    for point, ct, boundary in zip(to_fixed_points(result), continuous, result.on_boundary):
        if _in_box(point.z, bounds):
            points.append({**point.to_json(dt), "on_boundary": bool(boundary), "continuous_time": ct.to_json()})
    payload: dict[str, Any] = {
        "model": "plrnn",
        "weights": str(weights_path),
        "n_units": int(M),
        "device": str(dev),
        "dt": float(dt),
        "fixed_points": points,
        "n_fixed_points": len(points),
        "method": result.method,
        "n_linear_solves": int(result.n_linear_solves),
        "n_singular": int(result.n_singular),
        # a consistent singular region holds a continuum of fixed points of its affine map (e.g. a line attractor)
        "n_singular_regions": len(result.singular_regions),
        "singular_regions": result.singular_regions[:100],
        "n_singular_unchecked": int(result.n_singular_unchecked),
        "box": None if bounds is None else [bounds[0].tolist(), bounds[1].tolist()],
        "seconds": float(result.seconds),
    }
    if cycles is not None:
        found = plrnn_cycles(A, W, h, cycles, device=dev)
        kept = [c.to_json() for c in found.cycles if all(_in_box(z, bounds) for z in c.points)]
        payload["cycles"] = kept
        payload["n_cycles"] = len(kept)
        payload["cycle_search"] = {
            str(k): {
                "method": found.methods[k],
                "n_linear_solves": found.n_linear_solves[k],
                "n_singular": found.n_singular[k],
            }
            for k in found.methods
        }
        payload["seconds"] = float(result.seconds + found.seconds)
    return payload


def tanh_rnn_starts(
    W: torch.Tensor,
    b: torch.Tensor,
    n_starts: int,
    seed: int,
    *,
    n_trajectories: int = TANH_TRAJECTORIES,
    n_steps: int = TANH_STEPS,
) -> torch.Tensor:
    """States a tanh RNN h ↦ tanh(W h + b) visits: (n_starts, n) starting points for the search.

    Runs ``n_trajectories`` trajectories from h₀ ~ N(0, 1) (seeded, drawn on the CPU) and takes the
    states h_k, k = 1..``n_steps`` (all inside (−1, 1)), at ``n_starts`` random (trajectory, k) pairs
    with k log-uniform: P(k) ∝ log((k + 1) / k). Why not uniform in k: trajectories settle on
    the attractors within a few steps, so uniform sampling puts nearly every start on a stable
    point; the early, transient states lie between the attractors, near the saddles and unstable
    points, and log-uniform sampling gives them as much weight as the long settled tail (≈13 % of
    the starts at k = 1 for 200 steps). Pairs may repeat (duplicates are merged after the search).
    Only the chosen states are kept (memory O(n_starts · n)).
    """
    gen = torch.Generator().manual_seed(seed)
    n = W.shape[0]
    u = torch.rand(n_starts, generator=gen, dtype=torch.float64)
    k = torch.floor(torch.exp(u * math.log(n_steps + 1))).long().clamp(1, n_steps).to(W.device)
    traj = torch.randint(0, n_trajectories, (n_starts,), generator=gen).to(W.device)
    h = torch.randn(n_trajectories, n, generator=gen, dtype=W.dtype).to(W.device)
    out = torch.empty(n_starts, n, dtype=W.dtype, device=W.device)
    for t in range(1, n_steps + 1):
        h = torch.tanh(h @ W.T + b)
        now = (k == t).nonzero().flatten()
        out[now] = h[traj[now]]
    return out


def _tanh_options(
    n_starts: int | None,
    tol_q: float | None,
    tol_unique: float | None,
    max_iters: int | None,
    seed: int | None,
    search: str | None,
    rounds: int | None,
) -> dict[str, Any]:
    """The numerical search's options, defaults filled in; ConfigError naming the option if one is bad."""
    given = {
        "n_starts": n_starts,
        "tol_q": tol_q,
        "tol_unique": tol_unique,
        "max_iters": max_iters,
        "seed": seed,
        "search": search,
        "rounds": rounds,
    }
    opts = {**TANH_DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    for name in ("n_starts", "max_iters", "rounds"):
        v = opts[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"--{name.replace('_', '-')}", f"must be a positive integer, got {v!r}")
    for name in ("tol_q", "tol_unique"):
        v = opts[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ConfigError(f"--{name.replace('_', '-')}", f"must be a positive finite number, got {v!r}")
    if isinstance(opts["seed"], bool) or not isinstance(opts["seed"], int) or opts["seed"] < 0:
        raise ConfigError("--seed", f"must be a non-negative integer, got {opts['seed']!r}")
    if opts["search"] not in SEARCH_MODES:
        raise ConfigError("--search", f"must be one of {', '.join(SEARCH_MODES)}, got {opts['search']!r}")
    return opts


def _tanh_report(
    weights: dict[str, Any],
    weights_path: str | os.PathLike[str],
    *,
    box: list[str] | None,
    device: str,
    dt: float,
    options: dict[str, Any],
) -> dict[str, Any]:
    """Fixed points of a tanh RNN archive, found numerically, as JSON-ready data: from states along
    simulated trajectories, then a grid (n ≤ 3) or rounds of space-filling starts over the open cube
    (−1, 1)ⁿ, which holds every fixed point, with Newton and deflation
    (:func:`~neurodyn.analysis.fixed_points.search.search_fixed_points`)."""
    from neurodyn.analysis.fixed_points.search import search_fixed_points
    from neurodyn.device import pick_device

    t0 = time.perf_counter()
    n = weights["W"].shape[0]
    bounds = parse_box(box, n)
    dev = pick_device(device)
    W = torch.as_tensor(weights["W"], dtype=torch.float64, device=dev)
    b = torch.as_tensor(weights["b"], dtype=torch.float64, device=dev)

    def step(h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h @ W.T + b)

    lo, hi, kind = -torch.ones(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64), "open cube (−1, 1)ⁿ"
    if bounds is not None:
        lo = torch.maximum(lo, torch.as_tensor(bounds[0], dtype=torch.float64))
        hi = torch.minimum(hi, torch.as_tensor(bounds[1], dtype=torch.float64))
        if not bool((hi > lo).all()):
            raise ConfigError("--box", f"lies outside (−1, 1)ⁿ, where every fixed point of {weights_path} is")
        kind = "--box within the open cube (−1, 1)ⁿ"
    starts = tanh_rnn_starts(W, b, options["n_starts"], options["seed"])
    found = search_fixed_points(
        step,
        n,
        visited=starts,
        region=(lo.to(dev), hi.to(dev)),
        region_kind=kind,
        mode=options["search"],
        max_rounds=options["rounds"],
        seed=options["seed"],
        device=dev,
        visited_options={
            "tol_q": options["tol_q"],
            "tol_unique": options["tol_unique"],
            "max_iters": options["max_iters"],
            "noise_scale": TANH_NOISE,
            "seed": options["seed"],
        },
    )
    points = [p.to_json(dt) for p in found.points]
    return {
        "model": "tanh_rnn",
        "weights": str(weights_path),
        "n_units": int(n),
        "device": str(dev),
        "dt": float(dt),
        "fixed_points": points,
        "n_fixed_points": len(points),
        "method": "newton",
        "n_starts": int(sum(r.n_starts for r in found.rounds)),
        "search": found.completeness(),
        "settings": {
            **options,
            "n_trajectories": TANH_TRAJECTORIES,
            "n_steps": TANH_STEPS,
            "noise_scale": TANH_NOISE,
        },
        "box": None if bounds is None else [bounds[0].tolist(), bounds[1].tolist()],
        "seconds": float(time.perf_counter() - t0),
    }


def fixed_points_report(
    weights_path: str | os.PathLike[str],
    *,
    box: list[str] | None = None,
    device: str = "auto",
    strategy: str = "auto",
    chunk_size: int = 1 << 17,
    cycles: int | None = None,
    dt: float | None = None,
    n_starts: int | None = None,
    tol_q: float | None = None,
    tol_unique: float | None = None,
    max_iters: int | None = None,
    seed: int | None = None,
    search: str | None = None,
    rounds: int | None = None,
) -> dict[str, Any]:
    """Load, validate and solve; the JSON-ready result of ``neurodyn fixed-points``.

    ``cycles`` (k-cycles for k = 2..cycles) applies to PLRNN archives only; ``dt`` (seconds per step
    for the time constants, default 1.0: per step) to PLRNN and tanh RNN archives; ``strategy`` and
    ``chunk_size`` to low-rank ones (ignored otherwise); ``n_starts``, ``tol_q``, ``tol_unique``,
    ``max_iters``, ``seed``, ``search`` and ``rounds`` (the numerical search, None: the defaults in
    ``TANH_DEFAULTS``) to tanh RNN archives only.
    """
    from neurodyn.analysis.fixed_points.piecewise import exact_fixed_points
    from neurodyn.device import pick_device

    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise ConfigError("--dt", f"must be a positive finite number of seconds per step, got {dt!r}")
    weights = load_weights(weights_path)
    search_flags = {
        "--n-starts": n_starts,
        "--tol-q": tol_q,
        "--tol-unique": tol_unique,
        "--max-iters": max_iters,
        "--seed": seed,
        "--search": search,
        "--rounds": rounds,
    }
    if weights["kind"] == "tanh_rnn":
        if cycles is not None:
            raise ConfigError(
                "--cycles",
                f"k-cycles are only searched for PLRNN archives (A, W, h); {weights_path} is a tanh RNN (W, b)",
            )
        options = _tanh_options(n_starts, tol_q, tol_unique, max_iters, seed, search, rounds)
        return _tanh_report(
            weights, weights_path, box=box, device=device, dt=1.0 if dt is None else dt, options=options
        )
    given = [name for name, value in search_flags.items() if value is not None]
    if given:
        raise ConfigError(
            given[0],
            f"applies to the numerical search for tanh RNN archives (W, b) only; {weights_path} is solved exactly",
        )
    if weights["kind"] == "affine":
        for flag, value in (("--cycles", cycles), ("--box", box)):
            if value is not None:
                raise ConfigError(flag, f"does not apply to an affine map ({weights_path}): it has one fixed point")
        return _affine_report(weights, weights_path, dt=1.0 if dt is None else dt)
    if weights["kind"] == "plrnn":
        return _plrnn_report(weights, weights_path, box=box, device=device, cycles=cycles, dt=1.0 if dt is None else dt)
    if cycles is not None:
        raise ConfigError(
            "--cycles",
            f"k-cycles are only searched for PLRNN archives (A, W, h); "
            f"{weights_path} is a low-rank RNN (M, N, h, a, nonlinearity)",
        )
    if dt is not None:
        raise ConfigError(
            "--dt",
            f"time constants are only reported for PLRNN archives (A, W, h); "
            f"{weights_path} is a low-rank RNN (M, N, h, a, nonlinearity)",
        )
    R = weights["M"].shape[1]
    dev = pick_device(device)
    result = exact_fixed_points(
        weights["M"],
        weights["N"],
        weights["h"],
        weights["a"],
        weights["nonlinearity"],
        weights["offset"],
        box=parse_box(box, R),
        device=dev,
        strategy=strategy,
        chunk_size=chunk_size,
    )
    payload = result.to_json()
    payload.update(
        {
            "weights": str(weights_path),
            "nonlinearity": weights["nonlinearity"],
            "n_units": int(weights["M"].shape[0]),
            "rank": int(R),
            "device": str(dev),
        }
    )
    return payload


__all__ = ["fixed_points_report", "parse_box", "tanh_rnn_starts"]
