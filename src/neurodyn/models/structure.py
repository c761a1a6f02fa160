"""The exact form of a model's latent map, when it has one: what picks the fixed-point solver, and
the weight archive ``neurodyn export-weights`` writes and ``neurodyn fixed-points`` reads.

Three forms (discrete time, z (L,), input u (I,)):

* :class:`AffineMap` — z' = A z + B u + b (one fixed point, exactly);
* :class:`LowRankPiecewiseLinear` — z' = a ⊙ z + Nᵀ φ(z) + W_u u with, per unit i,
  ``relu``: φᵢ = max(0, mᵢᵀz + hᵢ) or ``clipped``: φᵢ = max(0, mᵢᵀz + hᵢ) − max(0, mᵢᵀz); every
  fixed point, exactly, by enumerating the hyperplane arrangement (Pals et al. 2024);
* :class:`PLRNNMap` — z' = diag(A) z + W max(0, z) + h + C u (Durstewitz 2017; Schmidt et al. 2021);
  every fixed point over the activation patterns, or the SCYFI search for many units.

A model without such a form has ``Dynamics.structure = None`` and is searched numerically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

ARCHIVE_KEY = "structure"  # the entry of an exported archive that names its form


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


@dataclass(frozen=True)
class AffineMap:
    """z' = A z + B u + b. A: (L, L); B: (L, I); b: (L,)."""

    kind: ClassVar[str] = "affine"
    A: torch.Tensor
    B: torch.Tensor
    b: torch.Tensor

    def archive(self) -> dict[str, np.ndarray]:
        return {ARCHIVE_KEY: np.asarray(self.kind), "A": _array(self.A), "B": _array(self.B), "b": _array(self.b)}


@dataclass(frozen=True)
class LowRankPiecewiseLinear:
    """z' = a ⊙ z + Nᵀ φ(z) + W_u u (φ: see the module docstring). M, N: (units, R); h: (units,); a: scalar or (R,);
    nonlinearity: ``relu`` or ``clipped``; input_weights W_u: (R, I) or None."""

    kind: ClassVar[str] = "lowrank_piecewise_linear"
    M: torch.Tensor
    N: torch.Tensor
    h: torch.Tensor
    a: torch.Tensor
    nonlinearity: str
    input_weights: torch.Tensor | None = None

    def archive(self) -> dict[str, np.ndarray]:
        out = {ARCHIVE_KEY: np.asarray(self.kind)}
        out.update({k: _array(getattr(self, k)) for k in ("M", "N", "h", "a")})
        out["nonlinearity"] = np.asarray(self.nonlinearity)
        if self.input_weights is not None:
            out["input_weights"] = _array(self.input_weights)
        return out


@dataclass(frozen=True)
class PLRNNMap:
    """z' = diag(A) z + W max(0, z) + h + C u. A: (L,); W: (L, L) (zero diagonal); h: (L,); C: (L, I)."""

    kind: ClassVar[str] = "plrnn"
    A: torch.Tensor
    W: torch.Tensor
    h: torch.Tensor
    C: torch.Tensor | None = None

    def archive(self) -> dict[str, np.ndarray]:
        out = {ARCHIVE_KEY: np.asarray(self.kind), "A": _array(self.A), "W": _array(self.W), "h": _array(self.h)}
        if self.C is not None and self.C.numel():
            out["C"] = _array(self.C)
        return out


Structure = AffineMap | LowRankPiecewiseLinear | PLRNNMap

__all__ = ["ARCHIVE_KEY", "AffineMap", "LowRankPiecewiseLinear", "PLRNNMap", "Structure"]
