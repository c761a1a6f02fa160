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
  (:func:`~neurodyn.analysis.fixed_points.search.search_fixed_points`): first from ``--n-starts``
  states sampled along 256 trajectories of 200 steps started from N(0, 1) (steps drawn
  log-uniformly so that transients count as much as the attractors, see :func:`tanh_rnn_starts`),
  plus Gaussian noise of standard deviation 0.01, by batched Adam on q = ½‖F(h) − h‖² with a Newton
  polish (Sussillo & Barak 2013, Golub & Sussillo 2018); then by Newton with deflation from a dense
  grid (n ≤ 3) and from rounds of 256 Sobol starts over the open cube (−1, 1)ⁿ, which holds every
  fixed point, until 2 rounds find nothing new (``--search``, ``--rounds``).
  Options ``--n-starts``, ``--tol-q``, ``--tol-unique``, ``--max-iters`` (the search from visited
  states), ``--search``, ``--rounds``, ``--seed``. The JSON has ``model: "tanh_rnn"``,
  ``fixed_points`` (:meth:`FixedPoint.to_json` with ``--dt``, including ``q`` and ``found_by``: which
  search found the point first), ``n_fixed_points``, ``method: "newton"``, ``n_starts`` (all
  searches), ``search`` (the completeness record: starts and new points per round, the estimated
  total; see :meth:`~neurodyn.analysis.fixed_points.search.FixedPointSearch.completeness`),
  ``settings`` (the options used), ``seconds``, ``device``.

The archives are read by :mod:`.archives` and solved by :mod:`.report`, both imported when the
command runs (they load numpy and torch), so that building the ``neurodyn`` parser stays light.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neurodyn.analysis.fixed_point_choices import STRATEGIES
from neurodyn.cli.arguments import emit_json, positive_int

# defaults of the numerical search for tanh RNN archives (see the module docstring)
TANH_DEFAULTS = {
    "n_starts": 1024,
    "tol_q": 1e-12,
    "tol_unique": 1e-3,
    "max_iters": 5000,
    "seed": 0,
    "search": "auto",
    "rounds": 12,
}
# the search's modes (neurodyn.analysis.fixed_points.search.MODES, repeated so --help loads no torch)
SEARCH_MODES = ("auto", "grid", "space_filling", "visited")
TANH_TRAJECTORIES, TANH_STEPS, TANH_NOISE = 256, 200, 0.01


def _cmd_fixed_points(args: argparse.Namespace) -> int:
    from neurodyn.cli.fixed_points.report import fixed_points_report
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
        search=args.search,
        rounds=args.rounds,
    )
    if args.out is None:
        emit_json(payload, None)
        return 0
    with writing_to(args.out):
        emit_json(payload, args.out)
    return 0


def add_fixed_point_commands(sub) -> None:
    """Register ``fixed-points`` on the ``neurodyn`` subparsers (handler in ``func``)."""
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
        "numerically (Adam on q = ½‖F(h) − h‖² from states along simulated trajectories, Sussillo & Barak "
        "2013; then Newton with deflation from a grid or space-filling starts over (−1, 1)ⁿ, Farrell et al. "
        "2015) with a record of how complete the search looks. Prints JSON.",
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
        "--search",
        choices=SEARCH_MODES,
        help="tanh RNN archives: grid (a dense grid, n ≤ 3) or space_filling (rounds of Sobol starts), each after "
        "the visited states and with deflation; visited (the visited states only); auto: grid for n ≤ 3, else "
        f"space_filling (default {d['search']})",
    )
    p.add_argument(
        "--rounds",
        type=int,
        metavar="K",
        help=f"tanh RNN archives: at most K rounds of 256 space-filling starts; the search stops after 2 rounds "
        f"without a new point (default {d['rounds']})",
    )
    p.add_argument(
        "--seed",
        type=int,
        help=f"tanh RNN archives: seeds the trajectories, the start noise and the Sobol design (default {d['seed']})",
    )
    p.set_defaults(func=_cmd_fixed_points)


def __getattr__(name: str):
    # the reading and solving functions, imported from their modules on first use
    if name == "load_weights":
        from neurodyn.cli.fixed_points.archives import load_weights

        return load_weights
    if name in ("fixed_points_report", "parse_box", "tanh_rnn_starts"):
        from neurodyn.cli.fixed_points import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["add_fixed_point_commands", "fixed_points_report", "load_weights", "parse_box", "tanh_rnn_starts"]
