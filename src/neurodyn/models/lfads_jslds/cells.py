"""RNN cells written with plain tensor operations, so that ``torch.func.jvp`` / ``jacrev`` apply.

JSLDS co-training (Smith, Linderman & Sussillo 2021, NeurIPS) linearises the RNN update
h_t = F(h_{t−1}, u_t) around expansion points with one Jacobian-vector product per step. Fused
kernels (``torch.nn.GRUCell``, the ``_VF`` RNN ops) are not guaranteed to support forward-mode AD,
so the cells here are spelled out with ``nn.Linear``, ``sigmoid`` and ``tanh``.

Every cell maps h (batch, n), u (batch, m) → h' (batch, n), row by row (trial i's new state
depends on trial i's state and input only), which is what makes a batched JVP with batched
tangents a per-trial J·v.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurodyn.errors import ConfigError


def _check_sizes(n_inputs: int, n_hidden: int) -> None:
    if n_inputs < 1:
        raise ConfigError("n_inputs", f"must be >= 1, got {n_inputs}")
    if n_hidden < 1:
        raise ConfigError("hidden", f"must be >= 1, got {n_hidden}")


class GRUCell(nn.Module):
    """Gated recurrent unit h' = F(h, u) in PyTorch's convention (Cho et al. 2014 with the reset
    gate applied after the recurrent matrix):

        r  = σ(W_ir u + b_ir + W_hr h + b_hr)              reset gate
        z  = σ(W_iz u + b_iz + W_hz h + b_hz)              update gate
        c  = tanh(W_ic u + b_ic + r ⊙ (W_hc h + b_hc))     candidate
        h' = z ⊙ h + (1 − z) ⊙ c                           (then clamped to ±clip when clip is set)

    ``input_map`` (m → 3n) and ``hidden_map`` (n → 3n) stack the (r, z, c) blocks in this order, the
    layout of ``torch.nn.GRUCell``'s ``weight_ih`` / ``weight_hh``, so weights copy over one to one
    (:meth:`from_torch`). Initialisation is PyTorch's: every entry ~ U(−1/√n, 1/√n).

    ``clip`` (for a generator that must not blow up, e.g. LFADS) clamps the new state elementwise;
    where the clamp is active the Jacobian of that coordinate is zero.
    """

    def __init__(self, n_inputs: int, n_hidden: int, *, clip: float | None = None):
        super().__init__()
        _check_sizes(n_inputs, n_hidden)
        if clip is not None and not (math.isfinite(clip) and clip > 0):
            raise ConfigError("clip", f"must be a finite number > 0 or None, got {clip!r}")
        self.n_inputs, self.n_hidden, self.clip = n_inputs, n_hidden, clip
        self.input_map = nn.Linear(n_inputs, 3 * n_hidden)
        self.hidden_map = nn.Linear(n_hidden, 3 * n_hidden)
        bound = 1.0 / math.sqrt(n_hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """h (batch, n), u (batch, m) → h' (batch, n)."""
        xr, xz, xc = self.input_map(u).chunk(3, dim=-1)
        hr, hz, hc = self.hidden_map(h).chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        c = torch.tanh(xc + r * hc)
        new = z * h + (1.0 - z) * c
        if self.clip is not None:
            new = torch.clamp(new, -self.clip, self.clip)
        return new

    @classmethod
    def from_torch(cls, cell: nn.GRUCell, *, clip: float | None = None) -> GRUCell:
        """The same map as a ``torch.nn.GRUCell`` (weights copied), usable with ``torch.func``."""
        out = cls(cell.input_size, cell.hidden_size, clip=clip)
        with torch.no_grad():
            out.input_map.weight.copy_(cell.weight_ih)
            out.hidden_map.weight.copy_(cell.weight_hh)
            out.input_map.bias.copy_(cell.bias_ih if cell.bias_ih is not None else torch.zeros(3 * cell.hidden_size))
            out.hidden_map.bias.copy_(cell.bias_hh if cell.bias_hh is not None else torch.zeros(3 * cell.hidden_size))
        return out.to(cell.weight_ih.dtype)


class TanhRNNCell(nn.Module):
    """Vanilla RNN h' = tanh(W h + B u + b) (the "vanilla" RNN of the paper's context task).

    Initialisation: W ~ N(0, g²/n) with gain g = ``gain`` (1: the edge of chaos for large n),
    B ~ N(0, 1/m), b = 0.
    """

    def __init__(self, n_inputs: int, n_hidden: int, *, gain: float = 1.0):
        super().__init__()
        _check_sizes(n_inputs, n_hidden)
        self.n_inputs, self.n_hidden = n_inputs, n_hidden
        self.recurrent = nn.Linear(n_hidden, n_hidden, bias=True)
        self.input_map = nn.Linear(n_inputs, n_hidden, bias=False)
        with torch.no_grad():
            self.recurrent.weight.normal_(0.0, gain / math.sqrt(n_hidden))
            self.recurrent.bias.zero_()
            self.input_map.weight.normal_(0.0, 1.0 / math.sqrt(n_inputs))

    def forward(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """h (batch, n), u (batch, m) → h' (batch, n)."""
        return torch.tanh(self.recurrent(h) + self.input_map(u))


class Readout(nn.Linear):
    """Linear readout y = C h + d, (..., n) → (..., k); the same module reads the RNN state h_t and
    the JSLDS state a_t (Smith, Linderman & Sussillo 2021: the same readout enters L_RNN and L_JSLDS)."""

    def __init__(self, n_hidden: int, n_outputs: int):
        super().__init__(n_hidden, n_outputs)


CELLS = {"gru": GRUCell, "tanh": TanhRNNCell}


def make_cell(kind: str, n_inputs: int, n_hidden: int) -> nn.Module:
    """A cell by name: ``gru`` (:class:`GRUCell`) or ``tanh`` (:class:`TanhRNNCell`)."""
    if kind not in CELLS:
        raise ConfigError("cell", f"must be one of {sorted(CELLS)}, got {kind!r}")
    return CELLS[kind](n_inputs, n_hidden)


__all__ = ["CELLS", "GRUCell", "Readout", "TanhRNNCell", "make_cell"]
