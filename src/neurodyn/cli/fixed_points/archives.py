"""Reading ``neurodyn fixed-points`` archives: the low-rank, PLRNN, tanh RNN and affine kinds
(:mod:`neurodyn.cli.fixed_points` describes each), validated field by field."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn.cli.arguments import read_npz
from neurodyn.errors import InputFileError
from neurodyn.models.structure import ARCHIVE_KEY, AffineMap, LowRankPiecewiseLinear, PLRNNMap

FIELDS = ("M", "N", "h", "a", "nonlinearity")
OPTIONAL = ("offset",)
PLRNN_FIELDS = ("A", "W", "h")
PLRNN_OPTIONAL = ("C", "s")
TANH_FIELDS = ("W", "b")


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


__all__ = ["load_weights"]
