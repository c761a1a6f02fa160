"""``neurodyn fixed-points WEIGHTS.npz``: every fixed point of a piecewise-linear low-rank RNN.

The ``.npz`` archive holds ``M`` (N×R), ``N`` (N×R), ``h`` (N,), ``a`` (scalar or (R,), in
[0, 1)), ``nonlinearity`` (``"relu"`` or ``"clipped"``, e.g. a 0-d unicode array) and optionally
``offset`` (N,), the constant input term c of F(z) = a ⊙ z + Nᵀ φ(M z + c). The result is JSON
(stdout, or ``--out`` written atomically): ``fixed_points`` (z, stable, eigenvalues as [re, im],
spectral radius, region label, …), ``n_linear_solves``, ``n_regions``, ``n_vertices``, ``box``,
``seconds``. See :mod:`neurodyn.analysis.fixed_points.piecewise` for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn.errors import ConfigError, InputFileError

FIELDS = ("M", "N", "h", "a", "nonlinearity")
OPTIONAL = ("offset",)


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
        raise InputFileError(path, f"field 'nonlinearity' must be one string ({' or '.join(NONLINEARITIES)}), "
                                   f"got dtype {value.dtype} with shape {value.shape}")
    item = value.reshape(()).item()
    text = (item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)).strip()
    if text not in NONLINEARITIES:
        raise InputFileError(path, f"field 'nonlinearity' must be {' or '.join(NONLINEARITIES)}, got {text!r}")
    return text


def load_weights(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a weights archive.

    Returns {"M": (N, R), "N": (N, R), "h": (N,), "a": float or (R,), "nonlinearity": str,
    "offset": (N,) or None} as float64 numpy arrays. Raises :class:`InputFileError` naming the
    file and the field for anything missing, malformed, non-finite or of inconsistent shape.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(path, f"not a readable .npz archive ({exc})")
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise InputFileError(path, "expected an .npz archive of named arrays, found a single .npy array")
    raw = {}
    with loaded as archive:
        for name in archive.files:
            try:
                raw[name] = archive[name]
            except ValueError as exc:  # object arrays need pickle, which we refuse
                raise InputFileError(path, f"field '{name}' cannot be read without pickle ({exc})")
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise InputFileError(path, f"field '{name}' is unreadable ({exc})")
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        raise InputFileError(path, f"missing field{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}"
                                   f" (needs M (N×R), N (N×R), h (N), a, nonlinearity)")
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
    return {"M": M, "N": N, "h": h, "a": a, "nonlinearity": nonlinearity, "offset": offset}


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


def _write_text_atomically(text: str, out: Path) -> None:
    """Write to a temporary file beside ``out`` and rename it over ``out`` (never a partial file)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fixed_points_report(weights_path: str | os.PathLike[str], *, box: list[str] | None = None,
                        device: str = "auto", strategy: str = "auto", chunk_size: int = 1 << 17) -> dict[str, Any]:
    """Load, validate and solve; the JSON-ready result of ``neurodyn fixed-points``."""
    from neurodyn.analysis.fixed_points.piecewise import exact_fixed_points
    from neurodyn.device import pick_device

    weights = load_weights(weights_path)
    R = weights["M"].shape[1]
    dev = pick_device(device)
    result = exact_fixed_points(weights["M"], weights["N"], weights["h"], weights["a"], weights["nonlinearity"],
                                weights["offset"], box=parse_box(box, R), device=dev, strategy=strategy,
                                chunk_size=chunk_size)
    payload = result.to_json()
    payload.update({"weights": str(weights_path), "nonlinearity": weights["nonlinearity"],
                    "n_units": int(weights["M"].shape[0]), "rank": int(R), "device": str(dev)})
    return payload


def _cmd_fixed_points(args: argparse.Namespace) -> int:
    payload = fixed_points_report(args.weights, box=args.box, device=args.device, strategy=args.strategy,
                                  chunk_size=args.chunk_size)
    text = json.dumps(payload, indent=2) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        _write_text_atomically(text, Path(args.out))
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_fixed_point_commands(sub) -> None:
    """Register ``fixed-points`` on the ``neurodyn`` subparsers (handler in ``func``)."""
    from neurodyn.analysis.fixed_points.piecewise import STRATEGIES

    p = sub.add_parser(
        "fixed-points", help="all fixed points of a piecewise-linear low-rank RNN (exact)",
        description="Find every fixed point of F(z) = a z + Nᵀ φ(M z + offset), φ relu or clipped, from an .npz "
                    "with M, N (N×R), h (N), a, nonlinearity [, offset]: one linear solve per vertex and per linear "
                    "region of the hyperplane arrangement (Pals et al. 2024, Prop. 1). Prints JSON.")
    p.add_argument("weights", type=Path, metavar="WEIGHTS.npz")
    p.add_argument("--out", type=Path, metavar="FILE.json", help="write the JSON here (atomically) instead of stdout")
    p.add_argument("--box", nargs="+", metavar="LO HI",
                   help="only fixed points in this box: LO HI for every dimension, or LO1 HI1 … LOR HIR "
                        "(also --box=-5,5); default: the sound bound for clipped, none for relu")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:k]")
    p.add_argument("--strategy", default="auto", choices=STRATEGIES,
                   help="auto: canonical lowest-vertex enumeration with a box, hashed deduplication without")
    p.add_argument("--chunk-size", type=_positive_int, default=1 << 17,
                   help="line×hyperplane entries per streamed block (memory ≈ 100 B each)")
    p.set_defaults(func=_cmd_fixed_points)


__all__ = ["add_fixed_point_commands", "fixed_points_report", "load_weights", "parse_box"]
