"""Neuroscience tasks solved by regression vs. backprop-through-time (BPTT).

Reference: "A new look at low-rank recurrent neural networks" (anonymous, under review), Sec. 6 and
Fig. 5, building on Sec. 3 (Eqs. 1–11) and Sec. 4 (Algorithm 1).

Tasks (seeded generators, :class:`TaskTrials`)
----------------------------------------------
* 3-bit flip-flop (Sussillo & Barak 2013): 3 input channels receive sparse ±1 pulses at random
  times; output channel c must hold the sign of the most recent pulse on channel c
  (:func:`flipflop_trials`, targets from :func:`flipflop_targets`).
* Binary decision making (Wong & Wang 2006): one channel of noisy evidence μ + σξ_t during a
  stimulus period, then silence; during the response period the output must be ±1, the sign of
  the trial's mean evidence (:func:`decision_trials`, targets from :func:`decision_targets`).

The regression solution (:class:`RegressionRNN`)
------------------------------------------------
A latent target flow is designed from the task's attractor structure, embedded by least squares
/ OMP (Eqs. 9–12, Algorithm 1), and the input enters the latent dynamics additively:

    ż = −z + Nᵀ φ(M z + I) + B u,      output y = A z.

At the neuron level this is Eq. 1 with J = M Nᵀ (Eq. 3), a tonic input I (the constant v = 1 of
Sec. 3) and task-input weights I_u = M B (inputs in the column space of M, so that they push the
latent directly):

    ẋ = −x + J φ(x) + I + I_u u(t),    x(0) = I (latent z(0) = 0),   y = A M⁺ (x − I),

since x = M z + I solves it exactly when z solves the latent equation (Eqs. 4, 6–7). Both are
discretised with the same forward Euler step dt and simulated on the test trials.

* 3-bit flip-flop, r = 3: the target flow is separable, ż_c = h(z_c) per register with a bistable
  h whose stable fixed points are ±1 (default: the saturating h(z) = −z + tanh(2z)/tanh(2); or the
  cubic z − z³ of Secs. 3–4), so its 8 stable fixed points are the cube corners (±1, ±1, ±1).
  OMP (Algorithm 1) on the 1-D flow h picks ``neurons_per_bit`` basis functions (1 by default:
  3 neurons in all, as in Fig. 5A); stacking them per register gives M (block diagonal) and I, and
  N is refitted by least squares (Eq. 11) on a 3-D grid. B = b·Id with b = 2/τ_pulse: a pulse
  alone carries a register across the distance 2 between its attractors. (``separable=False``
  runs OMP directly on 3-D samples with a Gaussian candidate basis instead.)
* Decision making, r = 1: the bistable flow ż = λ(z − z³) (stable ±1 = the two choices, unstable 0
  = undecided; Wong & Wang 2006) embedded by OMP with N = 10 neurons (Sec. 4 / Sec. 6), B = b.

The one scalar not fixed by the flow, the input gain b, can be chosen among a few multiples by the
training MSE (:func:`select_input_gain`; simulation only, no gradients). The paper does not say
how its inputs were set; this is our choice.

BPTT baselines (:class:`TorchRNN`, :func:`train_bptt_rnn`)
--------------------------------------------------------
Eq. 1–2 RNNs with the same number of neurons, either low rank (J = M Nᵀ of the same rank r) or
full rank, with trainable input weights, tonic input, initial state and readout, the same Euler
discretisation, trained with Adam on the masked MSE of the same training trials. The default
readout is Eq. 2's W φ(x) + c (rates), which saturates; ``readout="state"`` reads W x + c, the
same linear-in-state class as the regression solution's y = A M⁺(x − I).

Note: with 3 neurons and r = 3 (the flip-flop) a "low-rank" J = M Nᵀ is a full 3×3 matrix; the two
BPTT baselines then differ only in parametrisation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.optimize import root
from torch import nn

from neurodyn.errors import ConfigError
from neurodyn.lowrank.embedding import (
    LowRankFlow,
    activation,
    design_matrix,
    fit_readout,
    relative_mse,
)
from neurodyn.lowrank.omp import omp_lowrank

# ================================================================================================ tasks


@dataclass(frozen=True, eq=False)  # eq=False: == on array fields would be ambiguous
class TaskTrials:
    """A batch of trials on a common time grid.

    inputs: (n, T, d_in) input u_t at step t; targets: (n, T, d_out) desired output after step t;
    mask: (n, T, d_out) 1 where the target counts, 0 where it is undefined (e.g. before the first
    pulse of a flip-flop channel, or during the decision task's stimulus); dt: the Euler step (time
    unit = the neurons' time constant); info: per-trial extras (arrays with n rows).
    """

    name: str
    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    dt: float
    info: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.inputs.shape[1])

    def subset(self, idx: np.ndarray) -> TaskTrials:
        """The trials ``idx`` (indices or a boolean mask), in that order."""
        idx = np.asarray(idx)
        return TaskTrials(
            self.name,
            self.inputs[idx],
            self.targets[idx],
            self.mask[idx],
            self.dt,
            {k: v[idx] for k, v in self.info.items()},
        )


def train_test_split(
    trials: TaskTrials, n_test: int, seed: int | np.random.Generator | None = 0
) -> tuple[TaskTrials, TaskTrials]:
    """A seeded random split into (train, test) with ``n_test`` test trials."""
    if not 0 < n_test < trials.n_trials:
        raise ConfigError("n_test", f"must be between 1 and {trials.n_trials - 1}, got {n_test}")
    order = np.random.default_rng(seed).permutation(trials.n_trials)
    return trials.subset(np.sort(order[n_test:])), trials.subset(np.sort(order[:n_test]))


def flipflop_targets(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets and mask of the flip-flop for pulse inputs (n, T, C) (or (T, C)) with values in {−1, 0, +1}.

    target[t, c] = sign of the most recent nonzero input on channel c at or before step t; mask 1 from
    the first pulse on, 0 (and target 0) before any pulse on that channel.
    """
    u = np.asarray(inputs, dtype=np.float64)
    squeeze = u.ndim == 2
    if squeeze:
        u = u[None]
    if u.ndim != 3:
        raise ConfigError("inputs", f"must be (n, T, C) or (T, C), got shape {u.shape}")
    steps = np.arange(u.shape[1])[None, :, None]
    last = np.maximum.accumulate(np.where(u != 0, steps, -1), axis=1)  # last pulse step so far, −1 if none
    held = np.take_along_axis(u, np.maximum(last, 0), axis=1)
    mask = (last >= 0).astype(np.float64)
    targets = np.sign(held) * mask
    if squeeze:
        return targets[0], mask[0]
    return targets, mask


def flipflop_trials(
    n_trials: int,
    *,
    n_steps: int = 100,
    dt: float = 0.1,
    n_bits: int = 3,
    pulse_steps: int = 5,
    pulse_prob: float = 0.03,
    min_gap: int = 15,
    seed: int | np.random.Generator | None = 0,
) -> TaskTrials:
    """Trials of the n-bit flip-flop (Sec. 6, task 1; Sussillo & Barak 2013).

    On each channel independently, a pulse starts at each step with probability ``pulse_prob``
    (only when the previous pulse on that channel started at least ``min_gap`` ≥ ``pulse_steps``
    steps before and it ends within the trial); a pulse is ``pulse_steps`` steps of a random sign
    ±1. Targets from :func:`flipflop_targets`. info["n_pulses"]: (n, C) pulse counts.
    """
    if min_gap < pulse_steps or pulse_steps < 1 or n_steps <= pulse_steps:
        raise ConfigError(
            "pulse_steps",
            f"need 1 <= pulse_steps <= min_gap and pulse_steps < n_steps, got "
            f"pulse_steps={pulse_steps}, min_gap={min_gap}, n_steps={n_steps}",
        )
    rng = np.random.default_rng(seed)
    starts = rng.random((n_trials, n_steps, n_bits)) < pulse_prob
    signs = rng.choice([-1.0, 1.0], size=(n_trials, n_steps, n_bits))
    u = np.zeros((n_trials, n_steps, n_bits))
    n_pulses = np.zeros((n_trials, n_bits), dtype=int)
    for trial, channel in np.ndindex(n_trials, n_bits):
        next_free = 0
        for t in np.flatnonzero(starts[trial, :, channel]):
            if t >= next_free and t + pulse_steps <= n_steps:
                u[trial, t : t + pulse_steps, channel] = signs[trial, t, channel]
                next_free = t + min_gap
                n_pulses[trial, channel] += 1
    targets, mask = flipflop_targets(u)
    return TaskTrials("flipflop", u, targets, mask, float(dt), {"n_pulses": n_pulses})


def decision_targets(evidence: np.ndarray, n_stim: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets and mask of the decision task for evidence (n, T) or (n, T, 1) (or a single (T,) trial).

    target = sign(mean of the evidence over the first ``n_stim`` steps) from step ``n_stim`` on (the
    response period, mask 1); 0 with mask 0 during the stimulus. Shapes follow (n, T, 1).
    """
    u = np.asarray(evidence, dtype=np.float64)
    single = u.ndim == 1
    if single:
        u = u[None, :, None]
    elif u.ndim == 2:
        u = u[:, :, None]
    if u.ndim != 3 or u.shape[2] != 1:
        raise ConfigError("evidence", f"must be (n, T), (n, T, 1) or (T,), got shape {np.shape(evidence)}")
    if not 1 <= n_stim < u.shape[1]:
        raise ConfigError("n_stim", f"must be between 1 and T − 1 = {u.shape[1] - 1}, got {n_stim}")
    choice = np.sign(u[:, :n_stim, 0].mean(axis=1))  # (n,)
    mask = np.zeros_like(u)
    mask[:, n_stim:] = 1.0
    targets = mask * choice[:, None, None]
    if single:
        return targets[0, :, 0], mask[0, :, 0]
    return targets, mask


def decision_trials(
    n_trials: int,
    *,
    n_stim: int = 20,
    n_resp: int = 30,
    dt: float = 0.1,
    coherences: tuple[float, ...] = (0.1, 0.2, 0.4),
    noise_std: float = 0.5,
    seed: int | np.random.Generator | None = 0,
) -> TaskTrials:
    """Trials of binary decision making (Sec. 6, task 2; Wong & Wang 2006; Appendix B not in our copy).

    Per trial a drift μ is drawn uniformly from ±``coherences``; the evidence is μ + σξ_t
    (ξ_t ~ N(0, 1) i.i.d., σ = ``noise_std``) for ``n_stim`` steps and 0 for ``n_resp`` steps.
    Targets from :func:`decision_targets` (sign of the trial's mean evidence, which agrees with
    sign(μ) unless the noise outweighs the drift). info: "drift" μ and "mean_evidence" (n,).
    """
    rng = np.random.default_rng(seed)
    coh = np.asarray(coherences, dtype=np.float64)
    drift = rng.choice(np.concatenate([-coh, coh]), size=n_trials)
    u = np.zeros((n_trials, n_stim + n_resp, 1))
    u[:, :n_stim, 0] = drift[:, None] + noise_std * rng.standard_normal((n_trials, n_stim))
    targets, mask = decision_targets(u, n_stim)
    return TaskTrials(
        "decision", u, targets, mask, float(dt), {"drift": drift, "mean_evidence": u[:, :n_stim, 0].mean(axis=1)}
    )


def latent_euler(flow, B: np.ndarray, A: np.ndarray, inputs: np.ndarray, dt: float) -> np.ndarray:
    """Euler run of ż = flow(z) + B u from z_0 = 0 on inputs (n, T, d_in): z_{t+1} = z_t + dt·(flow(z_t)
    + B u_t); returns the outputs A z_{t+1} (n, T, d_out). flow: (n, r) → (n, r); B: (r, d_in); A: (d_out, r)."""
    u = np.asarray(inputs, dtype=np.float64)
    z = np.zeros((u.shape[0], B.shape[0]))
    out = np.empty((u.shape[0], u.shape[1], A.shape[0]))
    push = u @ B.T
    for t in range(u.shape[1]):
        z = z + dt * (flow(z) + push[:, t])
        out[:, t] = z @ A.T
    return out


def flow_target_trials(trials: TaskTrials, flow, B: np.ndarray, A: np.ndarray | None = None) -> TaskTrials:
    """The same inputs with the trajectories of a designed latent ODE as targets: Fig. 5's "test
    target trajectories" (the BPTT networks are trained "using bi-stable attractor dynamics").

    z_0 = 0, z_{t+1} = z_t + dt·(flow(z_t) + B u_t) (the Euler step the networks use), target_t =
    A z_{t+1} (A: d_out×r, default identity), mask 1 everywhere. flow: (n, r) → (n, r), e.g. the
    flip-flop's per-register :func:`register_flow` or the decision task's :func:`bistable_flow`;
    B: (r, d_in) input gains. info gains "task_targets" and "task_mask" (the task's own).
    """
    B = np.asarray(B, dtype=np.float64)
    A = np.eye(B.shape[0]) if A is None else np.asarray(A, dtype=np.float64)
    targets = latent_euler(flow, B, A, trials.inputs, trials.dt)
    info = {**trials.info, "task_targets": trials.targets, "task_mask": trials.mask}
    return TaskTrials(trials.name, trials.inputs, targets, np.ones_like(targets), trials.dt, info)


def masked_mse(outputs: np.ndarray, trials: TaskTrials) -> float:
    """Σ mask·(output − target)² / Σ mask over all trials, steps and channels."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.shape != trials.targets.shape:
        raise ConfigError("outputs", f"must be {trials.targets.shape} like the targets, got {outputs.shape}")
    return float(np.sum(trials.mask * (outputs - trials.targets) ** 2) / max(np.sum(trials.mask), 1.0))


def sign_accuracy(outputs: np.ndarray, trials: TaskTrials) -> float:
    """Fraction of (trial, channel) pairs whose output at the last step has the target's sign (masked ones only)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    valid = trials.mask[:, -1] > 0
    agree = np.sign(outputs[:, -1]) == np.sign(trials.targets[:, -1])
    return float(np.sum(agree & valid) / max(np.sum(valid), 1))


# ================================================================================================ regression


def bistable_flow(z: np.ndarray, rate: float = 1.0) -> np.ndarray:
    """rate·(z − z³) elementwise: stable fixed points ±1, unstable 0 (the example of Secs. 3–4)."""
    z = np.asarray(z, dtype=np.float64)
    return rate * (z - z**3)


def saturating_bistable_flow(z: np.ndarray, steepness: float = 2.0) -> np.ndarray:
    """−z + tanh(γz)/tanh(γ) elementwise (γ = steepness > 1): stable fixed points exactly ±1, unstable 0.

    A bistable register whose restoring flow saturates away from its attractors (unlike the cubic,
    which grows as −z³), i.e. the latent flow of one self-exciting tanh unit; one neuron can carry
    it, which is why 3 neurons suffice for the 3-bit flip-flop (Fig. 5A).
    """
    if not steepness > 1:
        raise ConfigError("steepness", f"must be > 1 for bistability, got {steepness!r}")
    z = np.asarray(z, dtype=np.float64)
    return -z + np.tanh(steepness * z) / np.tanh(steepness)


REGISTER_FLOWS = ("saturating", "cubic")


def register_flow(z: np.ndarray, kind: str = "saturating", *, rate: float = 1.0, steepness: float = 2.0) -> np.ndarray:
    """One flip-flop register's target flow: ``"saturating"`` (:func:`saturating_bistable_flow`) or
    ``"cubic"`` (:func:`bistable_flow`); both have stable fixed points ±1 and an unstable one at 0."""
    if kind == "saturating":
        return saturating_bistable_flow(z, steepness)
    if kind == "cubic":
        return bistable_flow(z, rate)
    raise ConfigError("register_flow", f"must be {' or '.join(REGISTER_FLOWS)}, got {kind!r}")


@dataclass(frozen=True, eq=False)
class RegressionRNN:
    """A low-rank RNN built by regression: latent ż = −z + Nᵀφ(Mz + I) + B u, output y = A z.

    flow: the embedded :class:`LowRankFlow` (M, N: k×r; I: k; decay 1); B: (r×d_in) latent input
    gains; A: (d_out×r) output map; fit_time_s: wall time of the fit; rel_mse: relative MSE of the
    embedded flow on its regression samples.
    """

    flow: LowRankFlow
    B: np.ndarray
    A: np.ndarray
    fit_time_s: float = 0.0
    rel_mse: float = float("nan")

    @property
    def n_neurons(self) -> int:
        return self.flow.n_neurons

    @property
    def rank(self) -> int:
        return self.flow.latent_dim

    @property
    def J(self) -> np.ndarray:
        """Connectivity J = M Nᵀ (k×k), Eq. 3."""
        return self.flow.M @ self.flow.N.T

    @property
    def input_weights(self) -> np.ndarray:
        """Task-input weights I_u = M B (k×d_in)."""
        return self.flow.M @ self.B

    @property
    def readout(self) -> np.ndarray:
        """W = A (MᵀM)⁻¹Mᵀ (d_out×k): y = W (x − I)."""
        return self.A @ np.linalg.pinv(self.flow.M)

    def simulate(self, inputs: np.ndarray, dt: float) -> np.ndarray:
        """Neuron-level Euler run of ẋ = −x + Jφ(x) + I + I_u u on inputs (n, T, d_in) → outputs (n, T, d_out).

        x_0 = I; x_{t+1} = x_t + dt·(−x_t + J φ(x_t) + I + I_u u_t); output_t = W (x_{t+1} − I).
        """
        u = np.asarray(inputs, dtype=np.float64)
        J, I_u, I, W = self.J, self.input_weights, self.flow.I, self.readout
        x = np.broadcast_to(I, (u.shape[0], self.n_neurons)).copy()
        drive = u @ I_u.T + I  # (n, T, k)
        out = np.empty((u.shape[0], u.shape[1], W.shape[0]))
        for t in range(u.shape[1]):
            x = x + dt * (-x + activation(x, self.flow.nonlinearity) @ J.T + drive[:, t])
            out[:, t] = (x - I) @ W.T
        return out

    def simulate_latent(self, inputs: np.ndarray, dt: float) -> np.ndarray:
        """Latent Euler run z_{t+1} = z_t + dt·(flow(z_t) + B u_t), z_0 = 0 → outputs A z (n, T, d_out)
        (:func:`latent_euler` with the embedded flow)."""
        return latent_euler(self.flow.flow, self.B, self.A, inputs, dt)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.flow.to_json(),
            "B": self.B.tolist(),
            "A": self.A.tolist(),
            "fit_time_s": float(self.fit_time_s),
            "rel_mse": float(self.rel_mse),
        }


GAIN_FACTORS = (0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)


def select_input_gain(
    model: RegressionRNN, train: TaskTrials, factors: tuple[float, ...] = GAIN_FACTORS
) -> tuple[RegressionRNN, dict[float, float]]:
    """Rescale the latent input gains B by the factor (from ``factors``) with the lowest training MSE.

    The flow (M, N, I) stays the closed-form embedding; only this one scalar is chosen, by simulating
    the training trials once per candidate (no gradients). Returns the rescaled model (its
    ``fit_time_s`` includes the search) and {factor: training MSE}.
    """
    t0 = time.perf_counter()
    scores = {}
    for f in factors:
        candidate = RegressionRNN(model.flow, f * model.B, model.A)
        scores[float(f)] = masked_mse(candidate.simulate(train.inputs, train.dt), train)
    best = min(scores, key=lambda f: scores[f] if np.isfinite(scores[f]) else np.inf)
    chosen = RegressionRNN(
        model.flow,
        best * model.B,
        model.A,
        fit_time_s=model.fit_time_s + time.perf_counter() - t0,
        rel_mse=model.rel_mse,
    )
    return chosen, scores


def _cube_grid(n_bits: int, z_max: float, n_per_dim: int) -> np.ndarray:
    axis = np.linspace(-z_max, z_max, n_per_dim)
    return np.stack(np.meshgrid(*([axis] * n_bits), indexing="ij"), axis=-1).reshape(-1, n_bits)


def fit_flipflop_regression(
    n_bits: int = 3,
    *,
    neurons_per_bit: int = 1,
    pulse_duration: float = 0.5,
    input_gain: float | None = None,
    flow_kind: str = "saturating",
    steepness: float = 2.0,
    rate: float = 1.0,
    z_max: float = 1.5,
    n_grid: int = 301,
    n_grid_3d: int = 15,
    n_candidates: int = 2000,
    weight_scale: float = 3.0,
    input_scale: float = 1.0,
    separable: bool = True,
    max_neurons: int = 60,
    tol: float = 1e-3,
    seed: int | np.random.Generator | None = 0,
) -> RegressionRNN:
    """Regression solution of the n-bit flip-flop (Sec. 6, task 1; Fig. 5A: 3 neurons, r = 3).

    Target flow: ż_c = h(z_c) per register with h = :func:`register_flow` (``flow_kind``
    "saturating": −z + tanh(γz)/tanh(γ), γ = ``steepness``; "cubic": rate·(z − z³)), so its 2ⁿ stable
    fixed points are the cube corners (±1, …, ±1).
    ``separable=True``: OMP (Algorithm 1, :func:`omp_lowrank`, grid basis with slopes in
    ±``weight_scale`` and offsets in ±``input_scale``) selects ``neurons_per_bit`` basis functions for
    the 1-D flow on [−z_max, z_max]; M = Id_n ⊗ m and I = (I, …, I) replicate them per register and N
    is refitted by least squares (Eq. 11) on an ``n_grid_3d``ⁿ grid of the cube. ``separable=False``:
    OMP on that grid with a Gaussian candidate basis, up to ``max_neurons`` (or relative MSE ``tol``).
    Inputs: B = b·Id with b = ``input_gain`` or 2/``pulse_duration``; output y = z (A = Id).
    """
    if not isinstance(n_bits, (int, np.integer)) or n_bits < 1:
        raise ConfigError("n_bits", f"must be a positive integer, got {n_bits!r}")
    t0 = time.perf_counter()
    Z = _cube_grid(n_bits, z_max, n_grid_3d)

    def h(z):
        return register_flow(z, flow_kind, rate=rate, steepness=steepness)

    G = h(Z)
    if separable:
        z1 = np.linspace(-z_max, z_max, n_grid)[:, None]
        one = omp_lowrank(
            z1,
            h(z1),
            n_candidates=n_candidates,
            tol=0.0,
            max_neurons=neurons_per_bit,
            kind="grid",
            weight_scale=weight_scale,
            input_scale=input_scale,
            seed=seed,
        )
        m, offsets = one.flow.M[:, 0], one.flow.I
        M = np.kron(np.eye(n_bits), m[:, None])  # (n_bits·k1, n_bits)
        I = np.tile(offsets, n_bits)
        N = fit_readout(design_matrix(Z, M, I), G + Z)
        flow = LowRankFlow(M=M, N=N, I=I, decay=1.0, nonlinearity="tanh")
    else:
        flow = omp_lowrank(
            Z,
            G,
            n_candidates=n_candidates,
            tol=tol,
            max_neurons=max_neurons,
            kind="gaussian",
            weight_scale=weight_scale / z_max,
            input_scale=input_scale,
            seed=seed,
        ).flow
    gain = 2.0 / pulse_duration if input_gain is None else float(input_gain)
    fit_time = time.perf_counter() - t0
    return RegressionRNN(
        flow=flow, B=gain * np.eye(n_bits), A=np.eye(n_bits), fit_time_s=fit_time, rel_mse=relative_mse(flow.flow(Z), G)
    )


def fit_decision_regression(
    *,
    n_neurons: int = 10,
    rate: float = 0.5,
    input_gain: float = 2.0,
    z_max: float = 2.0,
    n_grid: int = 401,
    n_candidates: int = 2000,
    weight_scale: float = 2.0,
    input_scale: float = 2.0,
    seed: int | np.random.Generator | None = 0,
) -> RegressionRNN:
    """Regression solution of binary decision making (Sec. 6, task 2: r = 1, N = 10 neurons).

    Target flow ż = rate·(z − z³) on [−z_max, z_max] (bistable attractors at ±1, the choices; the
    unstable 0 is "undecided"), embedded by OMP (Algorithm 1) with exactly ``n_neurons`` neurons from
    a grid basis; the evidence enters as B = ``input_gain``; output y = z. A slow unstable point
    (rate 0.5) integrates the evidence over the stimulus before committing; faster rates commit on
    early evidence (lower accuracy), slower ones commit too late in the response period.
    """
    t0 = time.perf_counter()
    z = np.linspace(-z_max, z_max, n_grid)[:, None]
    dz = bistable_flow(z, rate)
    res = omp_lowrank(
        z,
        dz,
        n_candidates=n_candidates,
        tol=0.0,
        max_neurons=n_neurons,
        kind="grid",
        weight_scale=weight_scale,
        input_scale=input_scale,
        seed=seed,
    )
    fit_time = time.perf_counter() - t0
    return RegressionRNN(
        flow=res.flow, B=np.array([[float(input_gain)]]), A=np.eye(1), fit_time_s=fit_time, rel_mse=res.rel_mse
    )


def flow_fixed_points(
    flow: LowRankFlow, starts: np.ndarray, *, tol: float = 1e-10, merge: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed points of a latent flow by Newton's method (scipy ``root``, hybr) from each start (S×r).

    A start counts when Newton ends where |ż| ≤ 1e-8. Returns the distinct points (F×r) and whether
    each is stable (all Jacobian eigenvalues with negative real part).
    """
    starts = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    found: list[np.ndarray] = []
    for s in starts:
        sol = root(
            lambda z: flow.flow(z[None, :])[0], s, jac=lambda z: flow.jacobian(z[None, :])[0], method="hybr", tol=tol
        )
        # judged by the residual: hybr may report "not making good progress" once it sits on a root
        if not np.all(np.isfinite(sol.x)) or np.max(np.abs(flow.flow(sol.x[None, :]))) > 1e-8:
            continue
        if all(np.max(np.abs(sol.x - f)) > merge for f in found):
            found.append(sol.x)
    points = np.array(found).reshape(-1, flow.latent_dim)
    stable = (
        np.array([np.max(np.linalg.eigvals(j).real) < 0 for j in flow.jacobian(points)], dtype=bool)
        if len(points)
        else np.zeros(0, dtype=bool)
    )
    return points, stable


# ================================================================================================ BPTT


class TorchRNN(nn.Module):
    """Eq. 1–2 RNN, Euler-discretised: x_{t+1} = x_t + dt(−x_t + J tanh(x_t) + I_u u_t + b).

    ``rank=None``: full J (k×k); ``rank=r``: J = M Nᵀ (Eq. 3) with M, N (k×r). Trainable: J (or M,
    N), input weights I_u (k×d_in), tonic input b (k), initial state x₀ (k), readout W, c.
    ``readout="rates"``: y_t = W tanh(x_{t+1}) + c (Eq. 2); ``"state"``: y_t = W x_{t+1} + c.
    """

    def __init__(
        self,
        n_neurons: int,
        input_dim: int,
        output_dim: int,
        *,
        rank: int | None = None,
        dt: float = 0.1,
        readout: str = "rates",
        gain: float = 0.9,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if readout not in ("rates", "state"):
            raise ConfigError("readout", f"must be 'rates' or 'state', got {readout!r}")
        k = n_neurons
        self.dt, self.rank, self.readout_kind = float(dt), rank, readout

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        if rank is None:
            self.J = nn.Parameter(gain * randn(k, k) / math.sqrt(k))
        else:
            # J = M Nᵀ with entries of variance ≈ gain²/k, like the full-rank initialisation
            scale = math.sqrt(gain / math.sqrt(k * rank))
            self.M = nn.Parameter(scale * randn(k, rank))
            self.N = nn.Parameter(scale * randn(k, rank))
        self.I_u = nn.Parameter(randn(k, input_dim))
        self.b = nn.Parameter(torch.zeros(k, dtype=torch.float64))
        self.x0 = nn.Parameter(torch.zeros(k, dtype=torch.float64))
        self.W = nn.Parameter(randn(output_dim, k) / math.sqrt(k))
        self.c = nn.Parameter(torch.zeros(output_dim, dtype=torch.float64))

    @property
    def n_neurons(self) -> int:
        return int(self.x0.shape[0])

    def connectivity(self) -> torch.Tensor:
        return self.J if self.rank is None else self.M @ self.N.T

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """u (n, T, d_in) → outputs (n, T, d_out)."""
        J = self.connectivity()
        drive = u @ self.I_u.T + self.b  # (n, T, k)
        x = self.x0.expand(u.shape[0], -1)
        outs = []
        for t in range(u.shape[1]):
            x = x + self.dt * (-x + torch.tanh(x) @ J.T + drive[:, t])
            outs.append(torch.tanh(x) if self.readout_kind == "rates" else x)
        return torch.stack(outs, dim=1) @ self.W.T + self.c


@dataclass
class BPTTResult:
    """Outcome of :func:`train_bptt_rnn`: the model, the training loss per step, wall time, step count."""

    model: TorchRNN
    losses: list[float]
    wall_time_s: float
    n_steps: int


def _tensors(trials: TaskTrials) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.as_tensor(trials.inputs, dtype=torch.float64),
        torch.as_tensor(trials.targets, dtype=torch.float64),
        torch.as_tensor(trials.mask, dtype=torch.float64),
    )


def masked_loss(outputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ mask·(y − target)² / Σ mask (torch; the training objective)."""
    return torch.sum(mask * (outputs - targets) ** 2) / torch.clamp(mask.sum(), min=1.0)


def train_bptt_rnn(
    train: TaskTrials,
    *,
    n_neurons: int,
    rank: int | None = None,
    n_steps: int = 500,
    batch_size: int = 32,
    lr: float = 1e-2,
    clip: float = 1.0,
    readout: str = "rates",
    seed: int = 0,
) -> BPTTResult:
    """Train a :class:`TorchRNN` by BPTT with Adam (``lr``, gradient-norm clip ``clip``) on the masked MSE.

    ``n_steps`` optimiser steps on mini-batches of ``batch_size`` trials drawn by reshuffling the
    training trials each epoch (seeded by ``seed``, as is the initialisation). Runs in float64 on the
    CPU with the current torch thread setting.
    """
    gen = torch.Generator().manual_seed(seed)
    u, y, m = _tensors(train)
    model = TorchRNN(n_neurons, u.shape[2], y.shape[2], rank=rank, dt=train.dt, readout=readout, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    order = torch.randperm(train.n_trials, generator=gen)
    pos = 0
    t0 = time.perf_counter()
    for _ in range(n_steps):
        if pos + batch_size > train.n_trials:
            order, pos = torch.randperm(train.n_trials, generator=gen), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        opt.zero_grad()
        loss = masked_loss(model(u[idx]), y[idx], m[idx])
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(float(loss.detach()))
    return BPTTResult(model=model, losses=losses, wall_time_s=time.perf_counter() - t0, n_steps=n_steps)


def torch_outputs(model: TorchRNN, trials: TaskTrials) -> np.ndarray:
    """Model outputs (n, T, d_out) on ``trials`` as a numpy array (no gradient)."""
    with torch.no_grad():
        return model(torch.as_tensor(trials.inputs, dtype=torch.float64)).numpy()
