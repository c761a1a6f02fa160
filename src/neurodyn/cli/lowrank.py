"""``neurodyn lowrank omp SAMPLES.npz``: the smallest low-rank RNN for a sampled flow.

The ``.npz`` archive holds ``z`` (P×r sample points; a 1-D array of P values means r = 1) and
``dz`` (the target velocities ż = g(z) at those points, z's shape). Orthogonal matching pursuit
(paper "A new look at low-rank RNNs", Algorithm 1; :func:`neurodyn.lowrank.omp.omp_lowrank`)
selects neurons from a candidate basis until the relative MSE mean‖fit − dz‖² / mean‖dz‖² is at
most ``--tol``. The result is JSON (stdout, or ``--out`` written atomically): ``n_neurons``,
``rel_mse``, ``curve`` (relative MSE after each added neuron), ``rel_mse_linear`` (decay term
alone), ``reached_tol``, ``selected`` (candidate indices), the network ``M`` (k×r), ``N`` (k×r),
``I`` (k), ``decay`` and ``nonlinearity`` such that the fitted flow is −decay·z + Nᵀφ(M z + I),
and ``samples``, ``n_samples``, ``latent_dim``, ``n_candidates``, ``basis``, ``selection``,
``tol``, ``seed``, ``seconds``.

numpy and the library are imported when the command runs, so that building the ``neurodyn``
parser stays light.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurodyn.cli.arguments import emit_json, positive_int, read_npz
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.lowrank.choices import BASIS_SCALES, NONLINEARITIES, SELECTIONS

if TYPE_CHECKING:
    import numpy as np

SAMPLE_FIELDS = ("z", "dz")


def _points(path: Path, name: str, value: np.ndarray) -> np.ndarray:
    """One field as float (P×r) points, or an :class:`InputFileError` naming the file and the field."""
    import numpy as np

    if value.dtype == object or not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise InputFileError(path, f"field '{name}' must be numeric, got dtype {value.dtype}")
    if value.ndim == 1:
        value = value[:, None]
    if value.ndim != 2 or value.shape[1] < 1:
        raise InputFileError(path, f"field '{name}' must be (P, r) points (or (P,) for r = 1), got shape {value.shape}")
    out = value.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise InputFileError(path, f"field '{name}' contains NaN or infinite values")
    return out


def load_samples(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a samples archive → (z, dz), both float64 (P×r) with P ≥ 2.

    Raises :class:`InputFileError` naming the file and the field for a missing field, a non-numeric
    or non-finite value, a wrong shape, fewer than 2 points, mismatched shapes or an all-zero dz.
    """
    import numpy as np

    path = Path(path)
    raw = read_npz(path, "with fields 'z' and 'dz'")
    missing = [f for f in SAMPLE_FIELDS if f not in raw]
    if missing:
        raise InputFileError(
            path,
            f"missing field{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} (needs z (P×r) and dz (P×r))",
        )
    z = _points(path, "z", raw["z"])
    dz = _points(path, "dz", raw["dz"])
    if z.shape[0] < 2:
        raise InputFileError(path, f"field 'z' needs at least 2 sample points, got {z.shape[0]}")
    if dz.shape != z.shape:
        raise InputFileError(path, f"field 'dz' must have z's shape {z.shape}, got {dz.shape}")
    if not np.any(dz):
        raise InputFileError(path, "field 'dz' is zero everywhere (the relative MSE is undefined)")
    return z, dz


def omp_report(
    samples_path: str | os.PathLike[str],
    *,
    tol: float = 1e-3,
    max_neurons: int = 50,
    nonlinearity: str = "tanh",
    seed: int = 0,
    candidates: int = 2000,
    decay: float = 1.0,
    basis: str = "auto",
    input_scale: float = 1.0,
    weight_scale: float = 1.0,
    selection: str = "omp",
    basis_scale: str = "data",
    refine: bool = False,
) -> dict[str, Any]:
    """Load, validate and fit; the JSON-ready result of ``neurodyn lowrank omp`` (see the module doc)."""
    from neurodyn.lowrank.omp import omp_lowrank

    if not (math.isfinite(tol) and tol >= 0):
        raise ConfigError("--tol", f"must be a finite relative MSE >= 0, got {tol!r}")
    if max_neurons > candidates:
        raise ConfigError("--max-neurons", f"cannot exceed --candidates ({candidates}), got {max_neurons}")
    if not math.isfinite(decay):
        raise ConfigError("--decay", f"must be finite, got {decay!r}")
    for flag, value in (("--input-scale", input_scale), ("--weight-scale", weight_scale)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(flag, f"must be a finite number >= 0, got {value!r}")
    z, dz = load_samples(samples_path)
    if basis == "grid" and z.shape[1] > 2:
        raise ConfigError(
            "--basis",
            f"a 'grid' basis exists for latent_dim 1 or 2 only, {samples_path} has "
            f"r = {z.shape[1]}; use 'gaussian' or 'auto'",
        )
    start = time.perf_counter()
    result = omp_lowrank(
        z,
        dz,
        n_candidates=candidates,
        nonlinearity=nonlinearity,
        tol=tol,
        max_neurons=max_neurons,
        decay=decay,
        kind=basis,
        input_scale=input_scale,
        weight_scale=weight_scale,
        seed=seed,
        selection=selection,
        basis_scale=basis_scale,
        refine=refine,
    )
    seconds = time.perf_counter() - start
    return {
        "samples": str(samples_path),
        "n_samples": int(z.shape[0]),
        "latent_dim": int(z.shape[1]),
        **result.to_json(),
        "tol": float(tol),
        "basis": basis,
        "selection": selection,
        "basis_scale": basis_scale,
        "seed": int(seed),
        "input_scale": float(input_scale),
        "weight_scale": float(weight_scale),
        "seconds": float(seconds),
    }


def run_omp_command(args: argparse.Namespace) -> int:
    """Handler of ``neurodyn lowrank omp``: fit, then print the JSON or write it to ``--out``."""
    payload = omp_report(
        args.samples,
        tol=args.tol,
        max_neurons=args.max_neurons,
        nonlinearity=args.nonlinearity,
        seed=args.seed,
        candidates=args.candidates,
        decay=args.decay,
        basis=args.basis,
        input_scale=args.input_scale,
        weight_scale=args.weight_scale,
        selection=args.selection,
        basis_scale=args.basis_scale,
        refine=args.refine,
    )
    emit_json(payload, args.out)
    return 0


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def add_lowrank_commands(sub) -> None:
    """Register ``lowrank`` (with its subcommand ``omp``) on the ``neurodyn`` subparsers (handler in ``func``)."""
    lowrank = sub.add_parser(
        "lowrank",
        help="embed flows into low-rank RNNs (least squares in a random basis)",
        description='Low-rank RNNs as neural ODEs with one hidden layer ("A new look at low-rank RNNs", Sec. 3-4).',
    )
    lowrank_sub = lowrank.add_subparsers(dest="lowrank_command", required=True, metavar="COMMAND")
    p = lowrank_sub.add_parser(
        "omp",
        help="the smallest low-rank RNN for a sampled flow (orthogonal matching pursuit)",
        description="Read z (P×r) and dz (P×r, the target ż at z) from an .npz and select neurons phi(m·z + I) "
        'from a candidate basis by orthogonal matching pursuit (Algorithm 1 of "A new look at '
        'low-rank RNNs") until mean|fit - dz|² / mean|dz|² <= --tol. Prints JSON with the network '
        "M, N (k×r), I (k), decay: the fitted flow is -decay·z + Nᵀ phi(M z + I).",
    )
    p.add_argument("samples", type=Path, metavar="SAMPLES.npz")
    p.add_argument(
        "--tol",
        type=_non_negative_float,
        default=1e-3,
        metavar="REL_MSE",
        help="stop once the relative MSE is at most this (default 1e-3)",
    )
    p.add_argument(
        "--max-neurons",
        type=positive_int,
        default=50,
        metavar="K",
        help="stop after K neurons even above --tol (default 50)",
    )
    p.add_argument("--nonlinearity", default="tanh", choices=NONLINEARITIES, help="phi (default tanh)")
    p.add_argument("--seed", type=int, default=0, help="seed of a Gaussian candidate basis (default 0)")
    p.add_argument(
        "--candidates", type=positive_int, default=2000, metavar="C", help="size of the candidate basis (default 2000)"
    )
    p.add_argument("--decay", type=float, default=1.0, help="leak rate of the fixed -decay·z term (default 1)")
    p.add_argument(
        "--basis",
        default="auto",
        choices=("auto", "grid", "gaussian"),
        help="candidates on a uniform grid of slopes/directions and offsets (r <= 2), Gaussian, "
        "or auto: grid for r <= 2, Gaussian beyond (default)",
    )
    p.add_argument(
        "--input-scale",
        type=_non_negative_float,
        default=1.0,
        help="offsets I within ±scale (grid) or with this standard deviation (Gaussian); default 1",
    )
    p.add_argument(
        "--weight-scale",
        type=_non_negative_float,
        default=1.0,
        help="slopes |m| up to this (grid) or with this standard deviation (Gaussian); default 1",
    )
    p.add_argument(
        "--selection",
        default="omp",
        choices=SELECTIONS,
        help="omp: largest correlation with the residual (Algorithm 1, default); ols: largest drop "
        "of the residual (often fewer neurons)",
    )
    p.add_argument(
        "--basis-scale",
        default="data",
        choices=BASIS_SCALES,
        help="data: candidates drawn for the samples standardised to [-1, 1] per dimension and mapped back, "
        "so the scales above are in units of the data's half-range (default); fixed: in units of z",
    )
    p.add_argument(
        "--refine",
        action="store_true",
        help="after selection, adjust the chosen neurons' slopes and offsets by nonlinear least squares "
        "(readout refitted) and keep the fewest neurons that reach --tol",
    )
    p.add_argument("--out", type=Path, metavar="FILE.json", help="write the JSON here (atomically) instead of stdout")
    p.set_defaults(func=run_omp_command)


__all__ = ["add_lowrank_commands", "load_samples", "omp_report", "run_omp_command"]
