"""Supervised BPTT training of (regularised) PLRNNs on the addition problem, with an LSTM baseline.

Implements the machine-learning benchmark path of Schmidt, Koppe, Monfared, Beutelspacher, Kirsch
& Durstewitz, "Identifying nonlinear dynamical systems with multiple time scales and long-range
dependencies", ICLR 2021 (sect. 3.1–3.3, 4.1, Suppl. 7.1.1):

* the deterministic PLRNN (their Eq. 1 with Σ = 0)::

      z_t = A z_{t-1} + W φ(z_{t-1}) + C s_t + h,     φ = ReLU,  z_0 = 0,

  A diagonal (a vector), W off-diagonal (its diagonal is masked), read out at the last step only
  as x̂_T = B z_T (their Eq. 2 with g(z) = z, Γ = I, i.e. a squared-error loss);
* the rPLRNN: the line-attractor penalty of their Eq. 4 (τ_A = τ_W = τ_h = τ) on the first
  ``n_reg`` units, which are initialised at the line attractor A_ii = 1, W_i,: = 0, h_i = 0
  (their Fig. S1 and sect. 3.2); the plain PLRNN (Table 1, Koppe et al. 2019) has τ = 0 and no
  line-attractor units;
* Adam (Kingma & Ba 2015), lr 1e-3, gradient-norm clipping at 10, batch size 16, keeping the
  epoch with the lowest loss (their sect. 3.3);
* the LSTM baseline (Hochreiter & Schmidhuber 1997) with about the same number of parameters;
* the addition problem (Hochreiter & Schmidhuber 1997, Experiment 4; Le, Jaitly & Hinton 2015;
  Schmidt et al. 2021, sect. 4.1), see :func:`addition_problem`;
* the exact 2-unit solution of Schmidt et al. 2021, Suppl. 7.1.1, Eq. 8, see
  :func:`exact_addition_plrnn` (with the input matrix corrected, explained there).

Everything is batched over trials; the time loop is the only Python loop. float32 by default;
the modules and data follow the ``device`` they are given (CPU or CUDA).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from neurodyn.models.plrnn_em.core import line_attractor_penalty

#: A trial is correct when |x̂_T − x_T| < 0.04 (Schmidt et al. 2021, sect. 3.5, following
#: Talathi & Vartak 2016).
CORRECT_TOLERANCE = 0.04


# --------------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------------


def addition_problem(
    n_trials: int,
    T: int,
    generator: torch.Generator | None = None,
    *,
    first_window: int = 10,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Trials of the addition problem: ``inputs`` (n, T, 2) and ``targets`` (n,).

    Definition (Hochreiter & Schmidhuber 1997, Experiment 4, with values in [0, 1] as in Le et al.
    2015 and Schmidt et al. 2021, sect. 4.1): channel 0 holds values drawn uniformly from [0, 1)
    at every step; channel 1 is 0 except at exactly two marked steps where it is 1. The target is
    the sum of the two marked values. Placement (0-based steps) as in Schmidt et al. 2021 ("t1 < 10
    and t2 < T/2", after Hochreiter & Schmidhuber's "first ten" / "first T/2 − 1" positions): the
    first marker uniformly among the first ``min(first_window, ⌊T/2⌋)`` steps, the second
    uniformly among the remaining steps of the first half ``0 .. ⌊T/2⌋ − 1`` (so the two are
    distinct and may come in either order). Both lie in the first half, so every trial needs a
    memory of more than T/2 steps; no marker falls on the last step. The target sums values in
    [0, 1), so it is triangular on [0, 2) with mean 1 and variance 1/6 — the MSE of predicting the
    mean.

    Sampling uses ``generator`` on the CPU (reproducible across devices); the tensors are then
    moved to ``device``.
    """
    half = T // 2
    if half < 2:
        raise ValueError(f"the addition problem needs T >= 4, got T = {T}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be positive, got {n_trials}")
    w1 = max(1, min(first_window, half))
    values = torch.rand(n_trials, T, generator=generator, dtype=torch.float64)
    t1 = torch.randint(0, w1, (n_trials,), generator=generator)
    # second marker: uniform over the half-window without t1 (shift past t1)
    t2 = torch.randint(0, half - 1, (n_trials,), generator=generator)
    t2 = t2 + (t2 >= t1).long()
    markers = torch.zeros(n_trials, T, dtype=torch.float64)
    rows = torch.arange(n_trials)
    markers[rows, t1] = 1.0
    markers[rows, t2] = 1.0
    inputs = torch.stack([values, markers], dim=-1).to(dtype)
    # the targets are summed from the values as stored (in ``dtype``), so the exact solution is exact
    targets = (inputs[..., 0] * inputs[..., 1]).sum(-1)
    return inputs.to(device), targets.to(device)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class BPTTOutput(NamedTuple):
    """``output``: the read-out at the last step, (n, n_outputs); ``state``: the last latent state
    (PLRNN: z_T, (n, M); LSTM: (h_T, c_T))."""

    output: torch.Tensor
    state: torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class PLRNN(nn.Module):
    """Deterministic PLRNN z_t = A z_{t-1} + W φ(z_{t-1}) + C s_t + h, x̂_T = B z_T.

    Schmidt et al. 2021 (ICLR), Eq. 1–2 with Σ = 0, g(z) = z (sect. 3.3). ``A`` is stored as a
    vector (the diagonal), ``W`` as a full matrix whose diagonal is masked in :meth:`forward` (it
    receives no gradient and stays at its initial value 0). The first ``n_reg`` units carry the
    line-attractor penalty of Eq. 4 with strength ``tau`` (:meth:`penalty`); ``tau = 0``,
    ``n_reg = 0`` is the plain PLRNN.

    Initialisation (``generator`` on the CPU, then moved to ``device``):

    * regularised units i < n_reg (``line_attractor_init``, default: when ``n_reg > 0``): A_ii = 1,
      W_i,: = 0, h_i = 0 — a line attractor (Fig. S1; sect. 3.2: "by letting A = I, W = 0, h = 0,
      we get a strict line attractor");
    * free units: the (A, W) rows come from a Gaussian matrix G ~ N(0, 1/M) rescaled so that the
      free-free block diag(A) + W has spectral radius ``init_radius`` (< 1; our choice of 0.9, the
      paper only says "PLRNN as given in eq. 1"). Since the regularised rows are unit rows, the
      eigenvalues of the full A + W are those of the free block plus 1 (n_reg times). h_i ~ N(0, 0.1²);
    * C ~ N(0, ``input_scale``²) for all units, B ~ N(0, 1/M).

    :meth:`n_parameters` counts the trainable entries without the masked diagonal of W:
    M + M(M−1) + MK + M + NM.
    """

    def __init__(
        self,
        n_units: int,
        n_inputs: int = 2,
        n_outputs: int = 1,
        *,
        n_reg: int = 0,
        tau: float = 0.0,
        line_attractor_init: bool | None = None,
        init_radius: float = 0.9,
        input_scale: float = 0.1,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if not 0 <= n_reg <= n_units:
            raise ValueError(f"n_reg must lie in [0, {n_units}], got {n_reg}")
        if tau < 0:
            raise ValueError(f"tau must be non-negative, got {tau}")
        self.n_units, self.n_inputs, self.n_outputs = n_units, n_inputs, n_outputs
        self.n_reg, self.tau = int(n_reg), float(tau)
        if line_attractor_init is None:
            line_attractor_init = n_reg > 0
        M, K, N = n_units, n_inputs, n_outputs
        g = generator
        G = torch.randn(M, M, generator=g, dtype=torch.float64) / math.sqrt(M)
        n_la = n_reg if line_attractor_init else 0
        free = slice(n_la, M)
        if M > n_la:
            rho = torch.linalg.eigvals(G[free, free]).abs().max().item()
            G = G * (init_radius / max(rho, 1e-12))
        A = torch.diagonal(G).clone()
        W = G.clone()
        W.fill_diagonal_(0.0)
        h = 0.1 * torch.randn(M, generator=g, dtype=torch.float64)
        A[:n_la] = 1.0
        W[:n_la] = 0.0
        h[:n_la] = 0.0
        C = input_scale * torch.randn(M, K, generator=g, dtype=torch.float64)
        B = torch.randn(N, M, generator=g, dtype=torch.float64) / math.sqrt(M)
        kw = {"device": device, "dtype": dtype}
        self.A = nn.Parameter(A.to(**kw))
        self.W = nn.Parameter(W.to(**kw))
        self.C = nn.Parameter(C.to(**kw))
        self.h = nn.Parameter(h.to(**kw))
        self.B = nn.Parameter(B.to(**kw))
        self.register_buffer("offdiag", 1.0 - torch.eye(M, **kw), persistent=False)

    @property
    def W_offdiag(self) -> torch.Tensor:
        """W with its diagonal masked (the matrix the dynamics use)."""
        return self.W * self.offdiag

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters()) - self.n_units

    def forward(self, inputs: torch.Tensor, z0: torch.Tensor | None = None) -> BPTTOutput:
        """Run over ``inputs`` (n, T, K) from ``z0`` (default 0); return x̂_T = B z_T and z_T."""
        n = inputs.shape[0]
        # C s_t + h for all steps in one matmul; unbind (not drive[:, t]) so that the backward pass
        # stacks the T gradient slices once instead of scattering each into a full (n, T, M) zero tensor
        drive = (inputs @ self.C.T + self.h).unbind(1)
        Wt = self.W_offdiag.T
        z = inputs.new_zeros(n, self.n_units) if z0 is None else z0
        for d_t in drive:
            # z_t = A ⊙ z_{t-1} + φ(z_{t-1}) Wᵀ + (C s_t + h), as two fused kernels
            z = torch.addcmul(torch.addmm(d_t, torch.relu(z), Wt), self.A, z)
        return BPTTOutput(z @ self.B.T, z)

    def penalty(self) -> torch.Tensor:
        """Line-attractor penalty τ[Σ(A_ii−1)² + ΣΣ_{j≠i} W_ij² + Σ h_i²] over i < n_reg (Eq. 4)."""
        return line_attractor_penalty(self.A, self.W, self.h, self.n_reg, self.tau)


def exact_addition_plrnn(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> PLRNN:
    """The 2-unit PLRNN that solves the addition problem exactly (Schmidt et al. 2021, Suppl. 7.1.1).

    Eq. 8 gives A = diag(1, 0), W = [[0, 1], [0, 0]], h = (0, −1), B = (1 0) and prints C = I.
    With the standard inputs s_t = (value, marker) (:func:`addition_problem`), C = I cannot work:
    unit 2 would get z_2 = s_marker − 1 ≤ 0, so φ(z_2) ≡ 0, and unit 1 would integrate every
    value. The mechanism the paper describes (Fig. 1C: the output unit sums "the values of the input
    unit that are accompanied by a '1' in the second input stream") needs both input streams to
    drive unit 2, i.e. C = [[0, 0], [1, 1]]:

        z_2,t = s_value,t + s_marker,t − 1,   φ(z_2,t) = s_value,t · s_marker,t  (values in [0, 1]),
        z_1,t = z_1,t−1 + φ(z_2,t−1)          (a line attractor fed through W_12 = 1),

    so x̂_T = z_1,T = Σ_{t<T} value_t · marker_t, which is the target whenever no marker falls on
    the last step (always the case in :func:`addition_problem`). This function uses that C; all other
    entries are Eq. 8's. Because unit 1 takes input from unit 2 (W_12 = 1), the solution is not a
    zero of the Eq. 4 penalty, so the module carries ``n_reg = 0``, ``tau = 0``.
    """
    model = PLRNN(2, 2, 1, n_reg=0, tau=0.0, device=device, dtype=dtype)
    with torch.no_grad():
        model.A.copy_(torch.tensor([1.0, 0.0]))
        model.W.copy_(torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
        model.h.copy_(torch.tensor([0.0, -1.0]))
        model.C.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
        model.B.copy_(torch.tensor([[1.0, 0.0]]))
    return model


class LSTMBaseline(nn.Module):
    """One-layer ``torch.nn.LSTM`` (Hochreiter & Schmidhuber 1997) with a linear read-out of h_T.

    PyTorch's default initialisation; parameters 4H(K + H) + 8H (two bias vectors) + (H + 1)N.
    """

    def __init__(
        self,
        hidden_size: int,
        n_inputs: int = 2,
        n_outputs: int = 1,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.hidden_size, self.n_inputs, self.n_outputs = hidden_size, n_inputs, n_outputs
        self.n_reg, self.tau = 0, 0.0
        self.lstm = nn.LSTM(n_inputs, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, n_outputs)
        if generator is not None:  # reproducible init from the given generator (same law as torch's)
            with torch.no_grad():
                bound = 1.0 / math.sqrt(hidden_size)
                for p in self.lstm.parameters():
                    p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
                for p in self.readout.parameters():
                    p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
        self.to(device=device, dtype=dtype)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, inputs: torch.Tensor) -> BPTTOutput:
        _, (h, c) = self.lstm(inputs)
        return BPTTOutput(self.readout(h[-1]), (h[-1], c[-1]))

    def penalty(self) -> torch.Tensor:
        return self.readout.bias.new_zeros(())


def lstm_parameter_count(hidden_size: int, n_inputs: int = 2, n_outputs: int = 1) -> int:
    """Trainable parameters of :class:`LSTMBaseline`: 4H(K + H + 2) + (H + 1)N."""
    H = hidden_size
    return 4 * H * (n_inputs + H + 2) + (H + 1) * n_outputs


def match_lstm_hidden(n_params: int, n_inputs: int = 2, n_outputs: int = 1) -> tuple[int, int]:
    """LSTM hidden size whose :func:`lstm_parameter_count` is closest to ``n_params``; returns
    ``(hidden_size, count)``. (Schmidt et al. 2021 use M/4 LSTM units for "the same number of
    parameters"; counted exactly, M = 40 PLRNN units (1760 parameters) match H = 19 (1768), not 10.)"""
    best = None
    for H in range(1, n_params + 1):
        c = lstm_parameter_count(H, n_inputs, n_outputs)
        if best is None or abs(c - n_params) < abs(best[1] - n_params):
            best = (H, c)
        if c > n_params:
            break
    return best


# --------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """``loss[e]``: mean over the batches of epoch e of the objective as optimised (divided by the
    batch's size for ``reduction="sum"``); ``mse[e]``: mean squared error of those batches; ``best_epoch``:
    argmin of ``loss`` (0-based), whose end-of-epoch parameters ``best_state`` are restored into the
    model; ``final_state``: the parameters after the last epoch; ``wall_time``: seconds."""

    loss: list[float] = field(default_factory=list)
    mse: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    final_state: dict[str, torch.Tensor] = field(default_factory=dict)
    wall_time: float = 0.0
    n_steps: int = 0


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_bptt(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    clip: float = 10.0,
    generator: torch.Generator | None = None,
    penalty: bool = True,
    reduction: str = "mean",
    max_steps: int | None = None,
) -> TrainResult:
    """Train by backpropagation through time (Schmidt et al. 2021, sect. 3.3).

    Per mini-batch of R trials the objective is the squared error of the last-step read-out plus
    the Eq. 4 penalty L_reg (dropped for ``penalty=False`` or ``model.tau == 0``), minimised with
    Adam (``lr``) after clipping the gradient norm at ``clip``. ``reduction="mean"`` (default)
    takes (1/R) Σ_n (x̂_T⁽ⁿ⁾ − x_T⁽ⁿ⁾)² + L_reg, as PyTorch's ``MSELoss`` and the authors' released
    code do; ``"sum"`` takes Σ_n (x̂_T⁽ⁿ⁾ − x_T⁽ⁿ⁾)² + L_reg, as the loss is written in sect. 3.3.
    The choice sets the penalty's weight relative to the data (R = 16 times stronger with the
    mean). In our runs the sum made the rPLRNN diverge at T = 200 (A_ii drifting above 1, loss →
    10³⁰, then NaN) where the mean stayed stable, and the mean learned T = 50 and 100 as well.

    Trials are reshuffled each epoch with ``generator``; a last incomplete batch is used. After
    training the parameters of the epoch with the lowest mean objective are restored ("the fit with
    the lowest loss across all epochs is chosen"); a non-finite epoch is never the best.
    ``max_steps`` caps the number of optimiser steps (the epoch in progress then ends early). The
    data must already be on the model's device.
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    inputs, targets = train
    targets = targets.reshape(len(targets), -1)
    n = inputs.shape[0]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    use_pen = penalty and getattr(model, "tau", 0.0) > 0 and getattr(model, "n_reg", 0) > 0
    res = TrainResult()
    best = math.inf
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(inputs.device)
        tot_loss = inputs.new_zeros(())
        tot_se = inputs.new_zeros(())
        seen = n_batches = 0
        for start in range(0, n, batch_size):
            if max_steps is not None and res.n_steps >= max_steps:
                break
            idx = order[start : start + batch_size]
            out = model(inputs[idx]).output
            se = ((out - targets[idx]) ** 2).sum()
            data_loss = se if reduction == "sum" else se / len(idx)
            loss = data_loss + model.penalty() if use_pen else data_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None and clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            res.n_steps += 1
            tot_loss += loss.detach() / len(idx) if reduction == "sum" else loss.detach()
            tot_se += se.detach()
            n_batches += 1
            seen += len(idx)
        if seen == 0:
            break
        epoch_loss = tot_loss.item() / n_batches  # one device sync per epoch
        res.loss.append(epoch_loss)
        res.mse.append(tot_se.item() / seen)
        if epoch_loss < best:
            best = epoch_loss
            res.best_epoch = len(res.loss) - 1
            res.best_state = _state_copy(model)
    res.final_state = _state_copy(model)
    if res.best_state:
        model.load_state_dict(res.best_state)
    model.eval()
    if inputs.is_cuda:
        torch.cuda.synchronize(inputs.device)
    res.wall_time = time.perf_counter() - t0
    return res


@torch.no_grad()
def addition_scores(
    model: nn.Module, test: tuple[torch.Tensor, torch.Tensor], *, batch_size: int = 2048
) -> dict[str, float]:
    """Test MSE and P(correct) = fraction of trials with |x̂_T − x_T| < 0.04 (sect. 3.5)."""
    inputs, targets = test
    was_training = model.training
    model.eval()
    se, correct = 0.0, 0
    for start in range(0, inputs.shape[0], batch_size):
        out = model(inputs[start : start + batch_size]).output.reshape(-1)
        err = out - targets[start : start + batch_size].reshape(-1)
        se += (err.double() ** 2).sum().item()
        correct += int((err.abs() < CORRECT_TOLERANCE).sum().item())
    model.train(was_training)
    n = inputs.shape[0]
    return {"mse": se / n, "p_correct": correct / n}


# --------------------------------------------------------------------------------------------
# The three models of the benchmark
# --------------------------------------------------------------------------------------------


def make_rplrnn(n_units: int = 40, *, tau: float = 5.0, reg_fraction: float = 0.5, **kw) -> PLRNN:
    """rPLRNN of Schmidt et al. 2021 (paper setting: M = 40, τ = 5, M_reg/M = 0.5)."""
    return PLRNN(n_units, n_reg=round(reg_fraction * n_units), tau=tau, **kw)


def make_plrnn(n_units: int = 40, **kw) -> PLRNN:
    """Plain PLRNN (Table 1): random initialisation of all units, no penalty (τ = 0)."""
    return PLRNN(n_units, n_reg=0, tau=0.0, **kw)


def make_matched_lstm(target: nn.Module | int, **kw) -> LSTMBaseline:
    """LSTM whose parameter count is closest to ``target``'s (a module with ``n_parameters`` or
    a count)."""
    n = target if isinstance(target, int) else target.n_parameters()
    H, _ = match_lstm_hidden(n, kw.get("n_inputs", 2), kw.get("n_outputs", 1))
    return LSTMBaseline(H, **kw)


__all__ = [
    "CORRECT_TOLERANCE",
    "PLRNN",
    "BPTTOutput",
    "LSTMBaseline",
    "TrainResult",
    "addition_problem",
    "addition_scores",
    "exact_addition_plrnn",
    "lstm_parameter_count",
    "make_matched_lstm",
    "make_plrnn",
    "make_rplrnn",
    "match_lstm_hidden",
    "train_bptt",
]
