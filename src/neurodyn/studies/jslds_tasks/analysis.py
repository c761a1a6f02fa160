"""How a co-trained JSLDS solves the 3-bit memory task: selection vectors and effective inputs.

Smith, Linderman & Sussillo 2021 (NeurIPS), supplement A.3.2 and Figs. A.1–A.2. Around each of the
eight expansion points the JSLDS uses for the eight stored output states, the JSLDS step is
a_t = e* + J_h(e*, u*)(a_{t−1} − e*) + J_u(e*, u*)(u_t − u*). An input changes the state along
the right eigenvector rᵢ of J_h by the amount lᵢᵀ J_u(u_t − u*), with lᵢ the left eigenvectors
(lᵢᵀ rⱼ = δᵢⱼ). The top left eigenvectors (the slowest modes, |λ| ≈ 1: what the system keeps) are
the **selection vectors**: their products with the effective inputs J_u(e*, u*)(u − u*) of the six
one-hot inputs are large only for the pulses that should flip a stored bit, and ≈ 0 for pulses
that repeat the stored state (Fig. A.1). The readout C times the effective inputs shows the
output changing on the same step (Fig. A.2).

* :func:`effective_inputs`, :func:`normalised_products`, :func:`group_by_output_state` — array
  functions;
* :func:`three_bit_selection` — the whole analysis of a trained model on fresh trials.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neurodyn.analysis.fixed_points.numerical import linearise
from neurodyn.errors import ConfigError
from neurodyn.models.lfads_jslds.jslds import Cell, autonomous_map, jacobians_at, rollout
from neurodyn.studies.jslds_tasks.tasks import make_batch

#: the 3-bit task's one-hot inputs: column 2c is channel c's −1 pulse, 2c + 1 its +1 pulse
THREE_BIT_INPUT_LABELS = ("1−", "1+", "2−", "2+", "3−", "3+")


def effective_inputs(cell: Cell, points: torch.Tensor, u_star: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """J_u(e*, u*)(u − u*) at each point for each input: points (K, n), u_star (m,), inputs (I, m)
    → (K, n, I)."""
    _, j_u = jacobians_at(cell, points, u_star)
    return j_u @ (inputs.to(points) - u_star.to(points)).T


def normalised_products(vectors: torch.Tensor, effective: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """|vᵀ e| / (‖v‖ ‖e‖) for every vector and effective input: vectors (K, r, n) (real or complex,
    e.g. left eigenvectors as rows; no conjugation, lᵢᵀ e is the coefficient of e along rᵢ),
    effective (K, n, I) → (K, r, I) in [0, 1]; 0 where an effective input is 0."""
    v = vectors.to(torch.complex128)
    e = effective.to(torch.complex128)
    dots = (v @ e).abs()
    scale = vectors.abs().norm(dim=-1).unsqueeze(-1) * effective.abs().norm(dim=-2).unsqueeze(-2)
    return (dots / scale.clamp(min=eps)).to(torch.float64)


def group_by_output_state(
    points: np.ndarray, states: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean point per stored output state.

    points (B, T, n); states (B, T, c) with entries −1, 0, +1 (0: nothing stored yet). Only entries
    whose c states are all set take part. Returns the distinct states (S, c) in lexicographic order,
    the mean point of each (S, n), how many points each has (S,) and their RMS distance to that
    mean (S,).
    """
    points = np.asarray(points, dtype=np.float64)
    states = np.asarray(states)
    if points.shape[:2] != states.shape[:2]:
        raise ConfigError("states", f"shape {states.shape} does not match the points' {points.shape}")
    flat_points = points.reshape(-1, points.shape[-1])
    flat_states = np.sign(states.reshape(-1, states.shape[-1])).astype(np.int64)
    full = (flat_states != 0).all(axis=1)
    if not full.any():
        raise ConfigError("states", "no time step has every output state set")
    labels, inverse = np.unique(flat_states[full], axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    chosen = flat_points[full]
    means = np.stack([chosen[inverse == s].mean(0) for s in range(len(labels))])
    counts = np.bincount(inverse, minlength=len(labels))
    spread = np.array([np.sqrt(((chosen[inverse == s] - means[s]) ** 2).sum(-1).mean()) for s in range(len(labels))])
    return labels, means, counts, spread


@dataclass
class SelectionAnalysis:
    """The 3-bit selection-vector analysis (Figs. A.1–A.2 of Smith et al. 2021).

    output_states: (S, 3) stored states (±1) before the step; expansion_points: (S, n) the mean
    expansion point e*_t over steps whose previous stored state is that one; counts: (S,);
    spread: (S,) RMS distance of those expansion points to their mean, relative to the RMS norm of
    the RNN states; speed: (S,) q = ½‖F(e*, u*) − e*‖² at the means; eigenvalues: (S, r) the top r
    eigenvalues of J_h (largest |λ| first); selection: (S, r, 6) normalised products of the top r
    left eigenvectors with the six effective inputs; readout: (S, 3, 6) the same for the rows of the
    readout matrix; flips: (S, 6) whether the input would change the stored state; input_labels.
    """

    output_states: np.ndarray
    expansion_points: np.ndarray
    counts: np.ndarray
    spread: np.ndarray
    speed: np.ndarray
    eigenvalues: np.ndarray
    selection: np.ndarray
    readout: np.ndarray
    flips: np.ndarray
    input_labels: tuple[str, ...] = THREE_BIT_INPUT_LABELS

    def contrast(self) -> dict[str, float]:
        """Mean over (state, input) of the largest selection product among the r vectors, for
        inputs that flip a bit and for inputs that repeat it; and the same for the readout."""
        sel, out = self.selection.max(axis=1), self.readout.max(axis=1)
        return {
            "selection_flip_mean": float(sel[self.flips].mean()),
            "selection_hold_mean": float(sel[~self.flips].mean()),
            "readout_flip_mean": float(out[self.flips].mean()),
            "readout_hold_mean": float(out[~self.flips].mean()),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "output_states": self.output_states.tolist(),
            "counts": self.counts.tolist(),
            "spread": self.spread.tolist(),
            "speed": self.speed.tolist(),
            "eigenvalues": [[[float(v.real), float(v.imag)] for v in row] for row in self.eigenvalues],
            "selection": self.selection.tolist(),
            "readout": self.readout.tolist(),
            "flips": self.flips.tolist(),
            "input_labels": list(self.input_labels),
            **self.contrast(),
        }


def flip_table(output_states: np.ndarray) -> np.ndarray:
    """(S, 6): whether one-hot input k (channel k // 2, sign −1 for even k, +1 for odd k) differs
    from the stored state of its channel, i.e. should flip that output."""
    signs = np.tile([-1, 1], 3)
    channel = np.repeat(np.arange(3), 2)
    return np.asarray(output_states)[:, channel] != signs[None, :]


@torch.no_grad()
def three_bit_selection(
    cell: nn.Module,
    readout: nn.Linear,
    expansion: Callable[[torch.Tensor], torch.Tensor],
    *,
    n_trials: int = 512,
    seed: int = 0,
    n_vectors: int = 9,
    h0: torch.Tensor | None = None,
) -> SelectionAnalysis:
    """Selection vectors of a co-trained 3-bit model (GRU cell, readout C, expansion network) on
    ``n_trials`` fresh trials drawn from ``seed``, started from ``h0`` (None: zeros); u* = 0 as in training. The expansion point e*_t
    (which maps a_{t−1} to a_t) is grouped by the stored state before the step, the targets at t − 1;
    the Jacobians are taken in float64 at each group's mean expansion point."""
    device = next(cell.parameters()).device
    batch = make_batch("3bit", n_trials, generator=torch.Generator().manual_seed(seed), evaluation=True, device=device)
    states = rollout(cell, expansion, h0, batch.inputs, batch.u_star)
    labels, means, counts, spread = group_by_output_state(
        states["e"][:, 1:].cpu().numpy(), batch.targets[:, :-1].cpu().numpy()
    )
    h = states["h"].cpu().numpy()
    rms = max(float(np.sqrt((h**2).sum(-1).mean())), 1e-12)
    f64 = copy.deepcopy(cell).to(device="cpu", dtype=torch.float64)
    points = torch.as_tensor(means, dtype=torch.float64)
    u_star = torch.zeros(f64.n_inputs, dtype=torch.float64)
    r = min(n_vectors, points.shape[1])
    with torch.enable_grad():
        _, lam, _, left = linearise(autonomous_map(f64, u_star), points)
        effective = effective_inputs(f64, points, u_star, torch.eye(f64.n_inputs, dtype=torch.float64))
    speed = 0.5 * (f64(points, u_star.expand(points.shape[0], -1)) - points).square().sum(-1)
    selection = normalised_products(left[:, :, :r].transpose(-1, -2), effective)
    c = readout.weight.detach().to(device="cpu", dtype=torch.float64)
    read = normalised_products(c.expand(points.shape[0], -1, -1), effective)
    return SelectionAnalysis(
        output_states=labels,
        expansion_points=means,
        counts=counts,
        spread=spread / rms,
        speed=speed.numpy(),
        eigenvalues=lam[:, :r].numpy(),
        selection=selection.numpy(),
        readout=read.numpy(),
        flips=flip_table(labels),
    )


__all__ = [
    "THREE_BIT_INPUT_LABELS",
    "SelectionAnalysis",
    "effective_inputs",
    "flip_table",
    "group_by_output_state",
    "normalised_products",
    "three_bit_selection",
]
