"""``neurodyn fixed-points WEIGHTS.npz``: the fixed points of an RNN's map, with their stability.

Three kinds of ``.npz`` archive are read:

* a piecewise-linear low-rank RNN: ``M`` (N×R), ``N`` (N×R), ``h`` (N,), ``a`` (scalar or (R,),
  in [0, 1)), ``nonlinearity`` (``"relu"`` or ``"clipped"``, e.g. a 0-d unicode array) and
  optionally ``offset`` (N,), the constant input term c of F(z) = a ⊙ z + Nᵀ φ(M z + c). The
  result is JSON (stdout, or ``--out`` written atomically): ``fixed_points`` (z, stable,
  eigenvalues as [re, im], spectral radius, region label, …), ``n_linear_solves``, ``n_regions``,
  ``n_vertices``, ``box``, ``seconds``. See :mod:`neurodyn.analysis.fixed_points.piecewise`.
* a PLRNN F(z) = A z + W max(0, z) + h (+ C s): ``A`` ((M,) or a diagonal M×M), ``W`` (M×M),
  ``h`` (M,), optionally ``C`` (M×K) with ``s`` (K,), a constant input (C without s: s = 0). The
  JSON has ``model: "plrnn"``, ``fixed_points`` (:meth:`FixedPoint.to_json` with ``--dt``, plus
  ``on_boundary`` and the region's ``continuous_time`` form), ``n_fixed_points``, ``method``,
  ``n_linear_solves``, ``n_singular``, ``singular_regions``, ``seconds``, and with ``--cycles K``
  ``cycles`` (k = 2..K: order, points, stable, eigenvalues as [re, im], regions, …). See
  :mod:`neurodyn.analysis.fixed_points.plrnn`.
* a vanilla tanh RNN F(h) = tanh(W h + b): ``W`` (n×n) and ``b`` (n), no ``A``/``h`` (that is how it
  is told from a PLRNN archive). It has no exact finder: the fixed points are searched numerically
  (:func:`~neurodyn.analysis.fixed_points.numerical.adam_fixed_points`, batched Adam on
  q = ½‖F(h) − h‖² with a Newton polish; Sussillo & Barak 2013, Golub & Sussillo 2018) from
  ``--n-starts`` states sampled along 256 trajectories of 200 steps started from N(0, 1) (the map
  bounds them in (−1, 1); steps drawn log-uniformly so that transients count as much as the
  attractors, see :func:`tanh_rnn_starts`), plus Gaussian noise of standard deviation 0.01; it can
  miss fixed points.
  Options ``--n-starts``, ``--tol-q``, ``--tol-unique``, ``--max-iters``, ``--seed``. The JSON has
  ``model: "tanh_rnn"``, ``fixed_points`` (:meth:`FixedPoint.to_json` with ``--dt``, including
  ``q``), ``n_fixed_points``, ``method: "adam"``, ``n_starts``, ``n_converged``, ``n_outliers``,
  ``n_duplicates``, ``iterations``, ``search`` (the settings used), ``seconds``, ``device``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodyn.analysis.fixed_points.affine import affine_fixed_point
from neurodyn.cli.arguments import emit_json, positive_int, read_npz
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.models.structure import ARCHIVE_KEY, AffineMap, LowRankPiecewiseLinear, PLRNNMap

FIELDS = ("M", "N", "h", "a", "nonlinearity")
OPTIONAL = ("offset",)
PLRNN_FIELDS = ("A", "W", "h")
PLRNN_OPTIONAL = ("C", "s")
TANH_FIELDS = ("W", "b")
# defaults of the numerical search for tanh RNN archives (see the module docstring)
TANH_DEFAULTS = {"n_starts": 1024, "tol_q": 1e-12, "tol_unique": 1e-3, "max_iters": 5000, "seed": 0}
TANH_TRAJECTORIES, TANH_STEPS, TANH_NOISE = 256, 200, 0.01


def _numeric(path: Path, name: str, value: np.ndarray) -> np.ndarray:
    if value.dtype == object or not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise InputFileError(path, f"field '{name}' must be numeric, got dtype {value.dtype}")
    out = value.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise InputFileError(path, f"field '{name}' contains NaN or infinite values")
    return out


def _nonlinearity(path: Path, value: np.ndarray) -> str:
    from neurodyn.analysis.fixed_points.piecewise import NONLINEARITIES

    if value.size != 1 or value.dtype.kind not in "US":
        raise InputFileError(
            path,
            f"field 'nonlinearity' must be one string ({' or '.join(NONLINEARITIES)}), "
            f"got dtype {value.dtype} with shape {value.shape}",
        )
    item = value.reshape(()).item()
    text = (item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)).strip()
    if text not in NONLINEARITIES:
        raise InputFileError(path, f"field 'nonlinearity' must be {' or '.join(NONLINEARITIES)}, got {text!r}")
    return text


def _load_plrnn(path: Path, raw: dict[str, np.ndarray]) -> dict[str, Any]:
    """Validate a PLRNN archive (A, W, h [, C, s]); see :func:`load_weights`."""
    mixed = [f for f in ("M", "N", "a", "nonlinearity", "offset") if f in raw]
    if mixed:
        raise InputFileError(
            path,
            f"mixes PLRNN fields (A, W, h) with low-rank field"
            f"{'s' if len(mixed) > 1 else ''} {', '.join(repr(m) for m in mixed)}",
        )
    missing = [f for f in PLRNN_FIELDS if f not in raw]
    if missing:
        raise InputFileError(
            path,
            f"missing field{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}"
            f" (a PLRNN needs A (M or M×M diagonal), W (M×M), h (M))",
        )
    W = _numeric(path, "W", raw["W"])
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 1:
        raise InputFileError(path, f"field 'W' must be a square (M, M) matrix, got shape {W.shape}")
    U = W.shape[0]
    h = _numeric(path, "h", raw["h"])
    if h.shape != (U,):
        raise InputFileError(path, f"field 'h' must be (M,) = ({U},), got shape {h.shape}")
    A = _numeric(path, "A", raw["A"])
    if A.shape == (U, U):
        off = np.argwhere(A - np.diag(np.diag(A)) != 0)
        if len(off):
            i, j = off[0]
            raise InputFileError(
                path,
                f"field 'A' must be diagonal, but A[{i}, {j}] = {float(A[i, j])!r} "
                f"({len(off)} non-zero off-diagonal entr{'ies' if len(off) > 1 else 'y'})",
            )
        A = np.diag(A).copy()
    elif A.shape != (U,):
        raise InputFileError(
            path, f"field 'A' must be (M,) = ({U},) or a diagonal ({U}, {U}) matrix, got shape {A.shape}"
        )
    C = s = None
    if "C" in raw:
        C = _numeric(path, "C", raw["C"])
        if C.ndim != 2 or C.shape[0] != U:
            raise InputFileError(path, f"field 'C' must be (M, K) with M = {U}, got shape {C.shape}")
    if "s" in raw:
        if C is None:
            raise InputFileError(path, "field 's' (a constant input) needs the input matrix field 'C' (M×K)")
        s = _numeric(path, "s", raw["s"])
        if s.shape != (C.shape[1],):
            raise InputFileError(
                path, f"field 's' must be (K,) = ({C.shape[1]},) like C's columns, got shape {s.shape}"
            )
    return {"kind": "plrnn", "A": A, "W": W, "h": h, "C": C, "s": s}


def _load_tanh(path: Path, raw: dict[str, np.ndarray]) -> dict[str, Any]:
    """Validate a vanilla tanh RNN archive (W, b); see :func:`load_weights`."""
    mixed = [f for f in ("h", "C", "s", "M", "N", "a", "nonlinearity", "offset") if f in raw]
    if mixed:
        raise InputFileError(
            path,
            f"mixes tanh RNN fields (W, b) with field{'s' if len(mixed) > 1 else ''} "
            f"{', '.join(repr(m) for m in mixed)} (a tanh RNN archive holds only W (n×n) "
            f"and b (n); a PLRNN one A, W, h)",
        )
    if "W" not in raw:
        raise InputFileError(path, "missing field 'W' (a tanh RNN needs W (n×n) and b (n))")
    W = _numeric(path, "W", raw["W"])
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 1:
        raise InputFileError(path, f"field 'W' must be a square (n, n) matrix, got shape {W.shape}")
    b = _numeric(path, "b", raw["b"])
    if b.shape != (W.shape[0],):
        raise InputFileError(path, f"field 'b' must be (n,) = ({W.shape[0]},) like W's rows, got shape {b.shape}")
    return {"kind": "tanh_rnn", "W": W, "b": b}


def load_weights(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a weights archive.

    Low-rank archives give {"kind": "low_rank", "M": (N, R), "N": (N, R), "h": (N,), "a": float or
    (R,), "nonlinearity": str, "offset": (N,) or None}; PLRNN archives (``A`` or ``W``, no ``b``) give
    {"kind": "plrnn", "A": (M,), "W": (M, M), "h": (M,), "C": (M, K) or None, "s": (K,) or None};
    tanh RNN archives (``b`` and no ``A``) give {"kind": "tanh_rnn", "W": (n, n), "b": (n,)};
    arrays are float64 numpy. Raises :class:`InputFileError` naming the file and the field for
    anything missing, malformed, non-finite or of inconsistent shape, or a mix of the kinds' fields.
    """
    path = Path(path)
    raw = read_npz(path, "of named arrays")
    if ARCHIVE_KEY in raw:  # written by export-weights: the form is named, not guessed from the fields
        structure = str(raw.pop(ARCHIVE_KEY))
        if structure == AffineMap.kind:
            return _load_affine(path, raw)
        if structure == PLRNNMap.kind:
            return _load_plrnn(path, raw)
        if structure != LowRankPiecewiseLinear.kind:
            raise InputFileError(path, f"field '{ARCHIVE_KEY}' names an unknown form {structure!r}")
        raw.pop("input_weights", None)  # inputs are zero in the fixed-point search
    if "b" in raw and "A" in raw:
        raise InputFileError(
            path,
            "mixes the tanh RNN bias field 'b' with the PLRNN field 'A' (a tanh RNN archive "
            "holds W, b; a PLRNN one A, W, h)",
        )
    if "b" in raw:
        return _load_tanh(path, raw)
    if "W" in raw and "A" not in raw and "h" not in raw:
        raise InputFileError(
            path, "has field 'W' but neither 'b' (a tanh RNN: W, b) nor 'A' and 'h' (a PLRNN: A, W, h)"
        )
    if "A" in raw or "W" in raw:
        return _load_plrnn(path, raw)
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        raise InputFileError(
            path,
            f"missing field{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}"
            f" (needs M (N×R), N (N×R), h (N), a, nonlinearity)",
        )
    nonlinearity = _nonlinearity(path, raw["nonlinearity"])
    M = _numeric(path, "M", raw["M"])
    if M.ndim != 2 or M.shape[1] < 1:
        raise InputFileError(path, f"field 'M' must be (N, R) with R >= 1, got shape {M.shape}")
    U, R = M.shape
    N = _numeric(path, "N", raw["N"])
    if N.shape != (U, R):
        raise InputFileError(path, f"field 'N' must have M's shape {(U, R)}, got {N.shape}")
    h = _numeric(path, "h", raw["h"])
    if h.shape != (U,):
        raise InputFileError(path, f"field 'h' must be (N,) = ({U},), got shape {h.shape}")
    a = _numeric(path, "a", raw["a"])
    if a.size == 1:
        a = float(a.reshape(()))
        bad = not 0 <= a < 1
    elif a.shape == (R,):
        bad = bool(np.any((a < 0) | (a >= 1)))
    else:
        raise InputFileError(path, f"field 'a' must be a scalar or (R,) = ({R},), got shape {a.shape}")
    if bad:
        raise InputFileError(path, f"field 'a' must lie in [0, 1), got {a}")
    offset = None
    if "offset" in raw:
        offset = _numeric(path, "offset", raw["offset"])
        if offset.shape != (U,):
            raise InputFileError(path, f"field 'offset' must be (N,) = ({U},), got shape {offset.shape}")
    return {"kind": "low_rank", "M": M, "N": N, "h": h, "a": a, "nonlinearity": nonlinearity, "offset": offset}


def _load_affine(path: Path, raw: dict[str, np.ndarray]) -> dict[str, Any]:
    """Validate an affine archive (A (L, L), b (L,), optional B (L, I)); see :func:`load_weights`."""
    missing = [f for f in ("A", "b") if f not in raw]
    if missing:
        raise InputFileError(path, f"missing field {missing[0]!r} (an affine map needs A (L×L) and b (L))")
    A = _numeric(path, "A", raw["A"])
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
        raise InputFileError(path, f"field 'A' must be a square (L, L) matrix, got shape {A.shape}")
    b = _numeric(path, "b", raw["b"])
    if b.shape != (A.shape[0],):
        raise InputFileError(path, f"field 'b' must be (L,) = ({A.shape[0]},), got shape {b.shape}")
    return {"kind": "affine", "A": A, "b": b}


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
    n_starts: int | None, tol_q: float | None, tol_unique: float | None, max_iters: int | None, seed: int | None
) -> dict[str, Any]:
    """The numerical search's options, defaults filled in; ConfigError naming the option if one is bad."""
    given = {"n_starts": n_starts, "tol_q": tol_q, "tol_unique": tol_unique, "max_iters": max_iters, "seed": seed}
    opts = {**TANH_DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    for name in ("n_starts", "max_iters"):
        v = opts[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"--{name.replace('_', '-')}", f"must be a positive integer, got {v!r}")
    for name in ("tol_q", "tol_unique"):
        v = opts[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ConfigError(f"--{name.replace('_', '-')}", f"must be a positive finite number, got {v!r}")
    if isinstance(opts["seed"], bool) or not isinstance(opts["seed"], int) or opts["seed"] < 0:
        raise ConfigError("--seed", f"must be a non-negative integer, got {opts['seed']!r}")
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
    """Fixed points of a tanh RNN archive, found numerically, as JSON-ready data."""
    from neurodyn.analysis.fixed_points.numerical import adam_fixed_points
    from neurodyn.device import pick_device

    t0 = time.perf_counter()
    n = weights["W"].shape[0]
    bounds = parse_box(box, n)
    dev = pick_device(device)
    W = torch.as_tensor(weights["W"], dtype=torch.float64, device=dev)
    b = torch.as_tensor(weights["b"], dtype=torch.float64, device=dev)

    def step(h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h @ W.T + b)

    starts = tanh_rnn_starts(W, b, options["n_starts"], options["seed"])
    result = adam_fixed_points(
        step,
        starts,
        tol_q=options["tol_q"],
        tol_unique=options["tol_unique"],
        max_iters=options["max_iters"],
        noise_scale=TANH_NOISE,
        seed=options["seed"],
        polish_newton=True,
    )
    points = [p.to_json(dt) for p in result.to_fixed_points() if _in_box(p.z, bounds)]
    return {
        "model": "tanh_rnn",
        "weights": str(weights_path),
        "n_units": int(n),
        "device": str(dev),
        "dt": float(dt),
        "fixed_points": points,
        "n_fixed_points": len(points),
        "method": "adam",
        "n_starts": result.n_starts,
        "n_converged": result.n_converged,
        "n_outliers": result.n_outliers,
        "n_duplicates": result.n_duplicates,
        "iterations": result.iterations,
        "search": {
            **options,
            "n_trajectories": TANH_TRAJECTORIES,
            "n_steps": TANH_STEPS,
            "noise_scale": TANH_NOISE,
            "newton_polish": True,
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
) -> dict[str, Any]:
    """Load, validate and solve; the JSON-ready result of ``neurodyn fixed-points``.

    ``cycles`` (k-cycles for k = 2..cycles) applies to PLRNN archives only; ``dt`` (seconds per step
    for the time constants, default 1.0: per step) to PLRNN and tanh RNN archives; ``strategy`` and
    ``chunk_size`` to low-rank ones (ignored otherwise); ``n_starts``, ``tol_q``, ``tol_unique``,
    ``max_iters`` and ``seed`` (the numerical search, None: the defaults in ``TANH_DEFAULTS``) to
    tanh RNN archives only.
    """
    from neurodyn.analysis.fixed_points.piecewise import exact_fixed_points
    from neurodyn.device import pick_device

    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise ConfigError("--dt", f"must be a positive finite number of seconds per step, got {dt!r}")
    weights = load_weights(weights_path)
    search = {
        "--n-starts": n_starts,
        "--tol-q": tol_q,
        "--tol-unique": tol_unique,
        "--max-iters": max_iters,
        "--seed": seed,
    }
    if weights["kind"] == "tanh_rnn":
        if cycles is not None:
            raise ConfigError(
                "--cycles",
                f"k-cycles are only searched for PLRNN archives (A, W, h); {weights_path} is a tanh RNN (W, b)",
            )
        options = _tanh_options(n_starts, tol_q, tol_unique, max_iters, seed)
        return _tanh_report(
            weights, weights_path, box=box, device=device, dt=1.0 if dt is None else dt, options=options
        )
    given = [name for name, value in search.items() if value is not None]
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


def _cmd_fixed_points(args: argparse.Namespace) -> int:
    from neurodyn.stages.outputs import check_output_path, writing_to

    if args.out is not None:
        check_output_path(args.out, "file")
    payload = fixed_points_report(
        args.weights,
        box=args.box,
        device=args.device,
        strategy=args.strategy,
        chunk_size=args.chunk_size,
        cycles=args.cycles,
        dt=args.dt,
        n_starts=args.n_starts,
        tol_q=args.tol_q,
        tol_unique=args.tol_unique,
        max_iters=args.max_iters,
        seed=args.seed,
    )
    if args.out is None:
        emit_json(payload, None)
        return 0
    with writing_to(args.out):
        emit_json(payload, args.out)
    return 0


def add_fixed_point_commands(sub) -> None:
    """Register ``fixed-points`` on the ``neurodyn`` subparsers (handler in ``func``)."""
    from neurodyn.analysis.fixed_points.piecewise import STRATEGIES

    p = sub.add_parser(
        "fixed-points",
        help="fixed points of a piecewise-linear low-rank RNN or PLRNN (exact) or a tanh RNN (numerical)",
        description="Find every fixed point of F(z) = a z + Nᵀ φ(M z + offset), φ relu or clipped, from an .npz "
        "with M, N (N×R), h (N), a, nonlinearity [, offset]: one linear solve per vertex and per linear "
        "region of the hyperplane arrangement (Pals et al. 2024, Prop. 1); or of a PLRNN "
        "F(z) = A z + W max(0, z) + h (+ C s) from an .npz with A (M or diagonal M×M), W (M×M), "
        "h (M) [, C (M×K), s (K)]: one solve per activation pattern (2^M) up to 16 units, the SCYFI "
        "region iteration beyond (Schmidt et al. 2021; Eisenmann et al. 2023). For a vanilla tanh RNN "
        "F(h) = tanh(W h + b), from an .npz with W (n×n) and b (n), the fixed points are searched "
        "numerically (batched Adam on q = ½‖F(h) − h‖² from states along simulated trajectories, then "
        "Newton; Sussillo & Barak 2013, Golub & Sussillo 2018) and may be incomplete. Prints JSON.",
    )
    p.add_argument("weights", type=Path, metavar="WEIGHTS.npz")
    p.add_argument("--out", type=Path, metavar="FILE.json", help="write the JSON here (atomically) instead of stdout")
    p.add_argument(
        "--box",
        nargs="+",
        metavar="LO HI",
        help="only fixed points in this box: LO HI for every dimension, or LO1 HI1 … LOR HIR "
        "(also --box=-5,5); default: the sound bound for clipped, none for relu",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:k]")
    p.add_argument(
        "--strategy",
        default="auto",
        choices=STRATEGIES,
        help="auto: canonical lowest-vertex enumeration with a box, hashed deduplication without",
    )
    p.add_argument(
        "--chunk-size",
        type=positive_int,
        default=1 << 17,
        help="line×hyperplane entries per streamed block (memory ≈ 100 B each; low-rank archives)",
    )
    p.add_argument(
        "--cycles",
        type=positive_int,
        metavar="K",
        help="PLRNN archives: also every k-cycle for k = 2..K (exhaustive over the 2^(M·k) pattern "
        "sequences while M·k ≤ 16, else the SCYFI heuristic on F^k)",
    )
    p.add_argument(
        "--dt",
        type=float,
        metavar="SECONDS",
        help="PLRNN and tanh RNN archives: seconds per step for time constants and frequencies (default 1: per step)",
    )
    d = TANH_DEFAULTS
    p.add_argument(
        "--n-starts",
        type=int,
        metavar="P",
        help=f"tanh RNN archives: starting states sampled along simulated trajectories (default {d['n_starts']})",
    )
    p.add_argument(
        "--tol-q",
        type=float,
        metavar="Q",
        help=f"tanh RNN archives: a start stops descending once q = ½‖F(h) − h‖² < Q "
        f"(default {d['tol_q']:g}; points with q ≤ 1e-6 count as converged, then Newton polishes them)",
    )
    p.add_argument(
        "--tol-unique",
        type=float,
        metavar="D",
        help=f"tanh RNN archives: points closer than D are one fixed point (default {d['tol_unique']:g})",
    )
    p.add_argument(
        "--max-iters",
        type=int,
        metavar="K",
        help=f"tanh RNN archives: at most K Adam iterations (default {d['max_iters']})",
    )
    p.add_argument(
        "--seed", type=int, help=f"tanh RNN archives: seeds the trajectories and the start noise (default {d['seed']})"
    )
    p.set_defaults(func=_cmd_fixed_points)


__all__ = ["add_fixed_point_commands", "fixed_points_report", "load_weights", "parse_box", "tanh_rnn_starts"]
