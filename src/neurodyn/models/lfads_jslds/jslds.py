"""Jacobian switching linear dynamical systems (JSLDS) co-trained with an RNN.

Reference: Smith, Linderman & Sussillo 2021, "Reverse engineering recurrent neural networks with
Jacobian switching linear dynamical systems" (NeurIPS), main text (method) and supplement A.1–A.2.

An RNN h_t = F(h_{t−1}, u_t; θ) runs side by side with a JSLDS whose state a_t follows the RNN's
first-order Taylor expansion around a learned expansion point e*_t = E(a_{t−1}; φ):

    a_t = e*_t + J_h(e*_t, u*) (a_{t−1} − e*_t) + J_u(e*_t, u*) (u_t − u*),

with J_h = ∂F/∂h and J_u = ∂F/∂u at (e*_t, u*). The constant term F(e*_t, u*) of the expansion is
replaced by e*_t: the regulariser R_e pushes the expansion points towards fixed points
F(e*, u*) = e*, where the two coincide. Both linear terms are ONE Jacobian-vector product of F in
the direction (a_{t−1} − e*_t, u_t − u*), computed without materialising a Jacobian: in closed form
for the cells of :mod:`neurodyn.models.lfads_jslds.cells` (``value_and_jvp``; in :func:`rollout` the
whole co-training rollout is one autograd node with a hand-written reverse pass, see the cells'
``cotrain_rollout``), else by forward-mode AD (``torch.func.jvp``); reverse-mode autograd
differentiates through it into θ and φ. Both agree to rounding. ``jvp="autodiff"`` keeps the AD
path: on the benchmark tasks' tensors (batch 64, n = 32) its ``torch.func.jvp`` costs ~0.8 ms per
time step against ~0.07 ms for the cell's forward pass (dispatch, not arithmetic), and a co-trained
optimiser step 7–9× a plain one; with the closed form about 2× (``benchmarks/bench_jslds_step.py``).

Loss (Smith et al. 2021, main text), every term a mean, see :func:`cotraining_loss`:

    L = λ_RNN L_RNN + λ_JSLDS L_JSLDS + λ_e R_e + λ_a R_a + λ_L2 Σ‖W‖².
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.func import jacrev, vmap

from neurodyn.errors import ConfigError

Cell = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
JVP_MODES = ("auto", "analytic", "autodiff")


def _analytic(cell: Cell, mode: str, *needed: str) -> bool:
    """Whether to use the cell's closed-form JVP: ``auto`` when it has the methods ``needed``,
    ``analytic`` (an error without them), ``autodiff`` never."""
    if mode not in JVP_MODES:
        raise ConfigError("jvp", f"must be one of {list(JVP_MODES)}, got {mode!r}")
    has = all(callable(getattr(cell, name, None)) for name in needed)
    if mode == "analytic" and not has:
        raise ConfigError("jvp", f"'analytic' needs a cell with {', '.join(needed)}; {type(cell).__name__} has not")
    return has and mode != "autodiff"


class ExpansionNetwork(nn.Module):
    """The expansion network E(a; φ) = a + W₂ tanh(W₁ a + b₁) + b₂, (..., n) → (..., n).

    A 2-layer residual tanh MLP of the previous JSLDS state (Smith et al. 2021, supplement A.2;
    2 layers of width n = the state size in A.3.1 / A.4.1). W₂ and b₂ start at zero ("weights
    starting at zero"), so E starts as the identity: the first expansion points are the JSLDS states
    themselves, a_{t−1} − e*_t = 0, and the JSLDS starts as a_t = a_{t−1} + J_u(a_{t−1}, u*)(u_t − u*)
    until E moves away from the identity (R_e then pulls e*_t towards fixed points).
    W₁, b₁ use ``nn.Linear``'s default initialisation (otherwise tanh(W₁a + b₁) would carry no signal
    and W₂ would get no gradient).
    """

    def __init__(self, n: int, hidden: int | None = None):
        super().__init__()
        if n < 1:
            raise ConfigError("hidden", f"state size must be >= 1, got {n}")
        hidden = n if hidden is None else hidden
        if hidden < 1:
            raise ConfigError("expansion_hidden", f"must be >= 1, got {hidden}")
        self.inner = nn.Linear(n, hidden)
        self.outer = nn.Linear(hidden, n)
        nn.init.zeros_(self.outer.weight)
        nn.init.zeros_(self.outer.bias)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """a (..., n) → e* (..., n)."""
        return a + self.outer(torch.tanh(self.inner(a)))

    def weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W₁, b₁, W₂, b₂) of E(a) = a + W₂ tanh(W₁ a + b₁) + b₂ (the parameters themselves)."""
        return self.inner.weight, self.inner.bias, self.outer.weight, self.outer.bias


@dataclass(frozen=True)
class JSLDSWeights:
    """Loss strengths λ of :func:`cotraining_loss` (Smith et al. 2021, main text and supplement Tables 1–2).

    rnn: λ_RNN on L_RNN; jslds: λ_JSLDS on L_JSLDS; expansion: λ_e on R_e; approx: λ_a on R_a;
    l2: on Σ‖W‖² of the RNN cell's weight matrices. The defaults are the paper's context-task
    values (λ_RNN = λ_JSLDS = 1, λ_e = 100, λ_a = 10, no L2); the 3-bit task uses λ_RNN = 3.
    """

    rnn: float = 1.0
    jslds: float = 1.0
    expansion: float = 100.0
    approx: float = 10.0
    l2: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"weights.{name}", f"must be a finite number >= 0, got {value!r}")


def broadcast_u_star(u_star: torch.Tensor | None, u: torch.Tensor) -> torch.Tensor:
    """u* as a contiguous tensor of u's shape: None → zeros; (m,) or (batch, m) broadcast over the
    leading / time dimensions of u (batch, m) or (batch, T, m); (batch, T, m) as is.

    Contiguous because forward-mode AD refuses a primal whose elements share memory (an expand).
    """
    if u_star is None:
        return torch.zeros_like(u)
    u_star = u_star.to(dtype=u.dtype, device=u.device)
    if u.ndim == 3 and u_star.ndim == 2:
        u_star = u_star.unsqueeze(-2)  # (batch, m) is per trial, constant over time
    try:
        return torch.broadcast_to(u_star, u.shape).contiguous()
    except RuntimeError:
        raise ConfigError("u_star", f"shape {tuple(u_star.shape)} does not broadcast to the inputs' {tuple(u.shape)}")


def jslds_step(
    cell: Cell,
    a_prev: torch.Tensor,
    e: torch.Tensor,
    u: torch.Tensor,
    u_star: torch.Tensor | None = None,
    *,
    jvp: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One JSLDS update by a single Jacobian-vector product (Smith, Linderman & Sussillo 2021,
    NeurIPS, the JSLDS update of the main text):

        a_t = e* + J_h(e*, u*)(a_{t−1} − e*) + J_u(e*, u*)(u_t − u*).

    a_prev, e: (batch, n); u: (batch, m); u_star: None (zero), (m,) or (batch, m). ``cell`` is any
    row-wise callable (h (batch, n), u (batch, m)) → (batch, n), so the batched JVP with batched
    tangents is the per-trial J·v. Returns (a_t, F(e*, u*)), both (batch, n); the second is the
    primal output of the same JVP, used by R_e at no extra cost.

    jvp: ``auto`` (default) uses the cell's closed-form ``value_and_jvp(h, u, dh, du)`` when it has
    one and ``torch.func.jvp`` otherwise; ``analytic`` insists on the closed form; ``autodiff``
    always uses forward-mode AD. Both give the same values and gradients to rounding.
    """
    u_star = broadcast_u_star(u_star, u)
    if _analytic(cell, jvp, "value_and_jvp"):
        f_e, jv = cell.value_and_jvp(e, u_star, a_prev - e, u - u_star)
    else:
        f_e, jv = torch.func.jvp(cell, (e, u_star), (a_prev - e, u - u_star))
    return e + jv, f_e


def jacobians_at(cell: Cell, e: torch.Tensor, u_star: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The Jacobians J_h = ∂F/∂h (P, n, n) and J_u = ∂F/∂u (P, n, m) of ``cell`` at the P points
    (e (P, n), u* (P, m), (m,) or None = 0 when the cell has ``n_inputs``), by ``vmap(jacrev)``; for analyses and tests only
    (training never materialises them)."""
    if e.ndim != 2:
        raise ConfigError("e", f"expected (P, n) points, got shape {tuple(e.shape)}")
    if u_star is None:
        n_inputs = getattr(cell, "n_inputs", None)
        if n_inputs is None:
            raise ConfigError("u_star", "needs the input size: pass a tensor (m,) or (P, m), e.g. zeros")
        u_star = e.new_zeros(n_inputs)
    u_star = torch.broadcast_to(u_star.to(dtype=e.dtype, device=e.device), (e.shape[0], u_star.shape[-1]))

    def single(h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return cell(h.unsqueeze(0), u.unsqueeze(0)).squeeze(0)

    return vmap(jacrev(single, argnums=(0, 1)))(e, u_star.contiguous())


def autonomous_map(cell: Cell, u_star: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """h ↦ F(h, u*) with the input held at u_star (m,), for states (B, n) or one state (n,) (the
    form ``torch.func.vmap(jacrev(...))`` calls it with): the map the fixed-point finders need."""

    def step(h: torch.Tensor) -> torch.Tensor:
        return cell(h, u_star if h.ndim == 1 else u_star.expand(h.shape[0], -1))

    return step


def jslds_step_explicit(
    cell: Cell, a_prev: torch.Tensor, e: torch.Tensor, u: torch.Tensor, u_star: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`jslds_step` with the Jacobians materialised (:func:`jacobians_at`) and multiplied
    explicitly; same shapes and result. O(n²) memory per trial: for tests and analyses."""
    u_star = broadcast_u_star(u_star, u)
    j_h, j_u = jacobians_at(cell, e, u_star)
    a_next = e + (j_h @ (a_prev - e).unsqueeze(-1)).squeeze(-1) + (j_u @ (u - u_star).unsqueeze(-1)).squeeze(-1)
    return a_next, cell(e, u_star)


def _initial_state(h0: torch.Tensor | None, inputs: torch.Tensor, n: int | None) -> torch.Tensor:
    batch = inputs.shape[0]
    if h0 is None:
        if n is None:
            raise ConfigError("h0", "pass h0 or use a cell with an 'n_hidden' attribute")
        return inputs.new_zeros(batch, n)
    return torch.broadcast_to(h0.to(dtype=inputs.dtype, device=inputs.device), (batch, h0.shape[-1]))


def rollout_rnn(cell: Cell, h0: torch.Tensor | None, inputs: torch.Tensor) -> torch.Tensor:
    """The RNN alone: inputs (batch, T, m) → h (batch, T, n), h_t = F(h_{t−1}, u_t), h_0 = h0
    ((n,) or (batch, n); None = zeros). h[:, t] is the state after input t (h_0 is not included)."""
    h = _initial_state(h0, inputs, getattr(cell, "n_hidden", None))
    states = []
    for t in range(inputs.shape[1]):
        h = cell(h, inputs[:, t])
        states.append(h)
    return torch.stack(states, dim=1)


def rollout(
    cell: Cell,
    expansion: Callable[[torch.Tensor], torch.Tensor],
    h0: torch.Tensor | None,
    inputs: torch.Tensor,
    u_star: torch.Tensor | None = None,
    *,
    jvp: str = "auto",
) -> dict[str, torch.Tensor]:
    """Run the RNN and its JSLDS side by side from a_0 = h_0 (Smith et al. 2021).

    inputs (batch, T, m); h0 (n,) or (batch, n), None = zeros; u_star None (zero), (m,), (batch, m)
    (per trial, e.g. the context) or (batch, T, m). Returns a dict of (batch, T, n) tensors:
    ``h`` (RNN states), ``a`` (JSLDS states), ``e`` (expansion points e*_t = E(a_{t−1})) and
    ``f_e`` (F(e*_t, u*_t)); index t holds step t + 1 (the states after input t).

    jvp: as in :func:`jslds_step`. The closed form needs a cell with ``input_drive``,
    ``input_drive_tangent`` and ``drive_step`` (:mod:`neurodyn.models.lfads_jslds.cells`): the input
    side of the RNN update, of F(e*, u*) and of the tangent J_u (u − u*) is computed for all time
    steps at once, then, with an :class:`ExpansionNetwork` and a cell that has ``cotrain_rollout``,
    the T steps run as one autograd node with a closed-form reverse pass (first derivatives only),
    else step by step through ``drive_step``. ``autodiff``: one ``torch.func.jvp`` per step. All
    give the same values and gradients to rounding.
    """
    u_star = broadcast_u_star(u_star, inputs)
    h = _initial_state(h0, inputs, getattr(cell, "n_hidden", None))
    a = h
    out: dict[str, list[torch.Tensor]] = {"h": [], "a": [], "e": [], "f_e": []}
    if _analytic(cell, jvp, "input_drive", "input_drive_tangent", "drive_step"):
        # the input side of every step at once, time-major: x(u_t) and x(u*_t) for the rows [u_t; u*_t]
        # (the RNN's and the expansion points'), and the tangent's ẋ = x(u_t) − x(u*_t)
        batch = inputs.shape[0]
        drives = cell.input_drive(torch.cat([inputs, u_star]).transpose(0, 1))  # (T, 2B, k)
        dx = cell.input_drive_tangent((inputs - u_star).transpose(0, 1))  # (T, B, k)
        fused = getattr(cell, "cotrain_rollout", None)
        if isinstance(expansion, ExpansionNetwork) and fused is not None:
            states = fused(h, a, drives, dx, expansion.weights())
            if states is not None:
                return dict(zip(("h", "a", "e", "f_e"), states))
        for t in range(inputs.shape[1]):
            x_t, x_star_t = drives[t].split(batch)
            e = expansion(a)
            h, _ = cell.drive_step(h, x_t)
            f_e, jv = cell.drive_step(e, x_star_t, a - e, dx[t])
            a = e + jv
            for key, value in (("h", h), ("a", a), ("e", e), ("f_e", f_e)):
                out[key].append(value)
        return {key: torch.stack(values, dim=1) for key, values in out.items()}
    for t in range(inputs.shape[1]):
        u_t = inputs[:, t]
        e = expansion(a)
        h = cell(h, u_t)
        a, f_e = jslds_step(cell, a, e, u_t, u_star[:, t], jvp="autodiff")
        for key, value in (("h", h), ("a", a), ("e", e), ("f_e", f_e)):
            out[key].append(value)
    return {key: torch.stack(values, dim=1) for key, values in out.items()}


def l2_penalty(cell: nn.Module) -> torch.Tensor:
    """Σ‖W‖²_F over the cell's weight matrices (parameters with ≥ 2 dimensions; biases excluded)."""
    terms = [p.square().sum() for p in cell.parameters() if p.ndim >= 2]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def cotraining_loss(
    states: dict[str, torch.Tensor],
    readout: Callable[[torch.Tensor], torch.Tensor],
    targets: torch.Tensor,
    weights: JSLDSWeights = JSLDSWeights(),
    *,
    cell: nn.Module | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The co-training objective of Smith et al. 2021 on a :func:`rollout`.

    states: the rollout dict (``h``, ``a``, ``e``, ``f_e``, each (batch, T, n)); targets
    (batch, T, k); ``cell`` is needed only for the L2 term. Normalisation (every term a mean over
    batch·time·dimension, so that the paper's λ_e = 100 and λ_a = 10 weigh per-coordinate errors
    against the per-coordinate task MSE):

        L_RNN   = mean_{b,t,k} (C h_t + d − y_t)²        (readout of the RNN)
        L_JSLDS = mean_{b,t,k} (C a_t + d − y_t)²        (the same readout of the JSLDS)
        R_e     = mean_{b,t,i} (F(e*_t, u*) − e*_t)²      (= mean ‖F(e*) − e*‖² / n: fixed-point residual)
        R_a     = mean_{b,t,i} (h_t − a_t)²               (= mean ‖h_t − a_t‖² / n: approximation error)
        L2      = Σ‖W‖²_F over the cell's weight matrices (a sum, not a mean; :func:`l2_penalty`)

    Returns (total, terms) with terms ``rnn``, ``jslds``, ``expansion``, ``approx``, ``l2`` (the
    unweighted values) and ``total``.
    """
    h, a = states["h"], states["a"]
    mse = nn.functional.mse_loss  # mean of the squared differences, one autograd node each
    terms = {
        "rnn": mse(readout(h), targets),
        "jslds": mse(readout(a), targets),
        "expansion": mse(states["f_e"], states["e"]),
        "approx": mse(h, a),
    }
    terms["l2"] = l2_penalty(cell).to(h) if cell is not None and weights.l2 > 0 else h.new_zeros(())
    total = (
        weights.rnn * terms["rnn"]
        + weights.jslds * terms["jslds"]
        + weights.expansion * terms["expansion"]
        + weights.approx * terms["approx"]
        + weights.l2 * terms["l2"]
    )
    terms["total"] = total
    return total, terms


def standard_loss(
    h: torch.Tensor,
    readout: Callable[[torch.Tensor], torch.Tensor],
    targets: torch.Tensor,
    *,
    cell: nn.Module | None = None,
    l2: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Standard training: L_RNN (mean over batch·time·output of the squared error) + l2·Σ‖W‖²_F.
    h (batch, T, n), targets (batch, T, k). Returns (total, {"rnn", "l2", "total"})."""
    terms = {"rnn": (readout(h) - targets).square().mean()}
    terms["l2"] = l2_penalty(cell).to(h) if cell is not None and l2 > 0 else h.new_zeros(())
    total = terms["rnn"] + l2 * terms["l2"]
    terms["total"] = total
    return total, terms


__all__ = [
    "JVP_MODES",
    "Cell",
    "ExpansionNetwork",
    "JSLDSWeights",
    "autonomous_map",
    "broadcast_u_star",
    "cotraining_loss",
    "jacobians_at",
    "jslds_step",
    "jslds_step_explicit",
    "l2_penalty",
    "rollout",
    "rollout_rnn",
    "standard_loss",
]
