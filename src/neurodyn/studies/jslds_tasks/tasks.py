"""The two task benchmarks of Smith, Linderman & Sussillo 2021 (supplement A.3.1 and A.4.1).

Generators return a :class:`TaskBatch` of torch tensors, drawn on the CPU from a seeded
``torch.Generator`` (the same seed gives the same trials on any device) and then moved to
``device``.

* 3-bit discrete memory (:func:`three_bit_memory`, A.3.1): 3 channels, each a 2-d input per step
  taking [1, 0], [0, 0] or [0, 1] (states −1, 0, +1) with probability 1/3 each, independently per
  channel and step. Inputs are (batch, T, 6), channel c in columns 2c, 2c + 1. Output c is the last
  nonzero state of channel c, updated on the same step as the pulse (a pulse equal to the current
  state changes nothing). **Before a channel's first nonzero pulse its target is 0** (no state
  has been stored yet; with p = 2/3 of a pulse per step this concerns the first step or two).
* Context-dependent integration (:func:`context_integration`, A.4.1): inputs (batch, T, 4) =
  two white-noise streams u_s,t ~ N(μ_s, 0.125²) (column 0 "motion", 1 "colour") with a static
  per-trial, per-stream mean μ_s ~ N(−0.01, 0.02²), then two static one-hot context inputs
  (columns 2, 3). Target (batch, T, 1): the cumulative sum of the cued stream, y_t = Σ_{τ≤t} u_cue,τ.
  ``evaluation=True`` draws each μ_s uniformly from {−0.04, −0.02, −0.009, 0.009, 0.02, 0.04}
  (strong, intermediate, weak evidence for either choice). u* (batch, 4) is the paper's: 0 on the
  noise dimensions, the trial's context on the context dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from neurodyn.errors import ConfigError

TASKS = ("3bit", "context")
EVAL_MUS = (-0.04, -0.02, -0.009, 0.009, 0.02, 0.04)


@dataclass
class TaskBatch:
    """A batch of trials: inputs (batch, T, m), targets (batch, T, k), u_star (batch, m) (the
    JSLDS input expansion point per trial) and task-specific ``meta`` tensors."""

    inputs: torch.Tensor
    targets: torch.Tensor
    u_star: torch.Tensor
    meta: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> TaskBatch:
        return TaskBatch(
            self.inputs.to(device),
            self.targets.to(device),
            self.u_star.to(device),
            {k: v.to(device) for k, v in self.meta.items()},
        )


@dataclass(frozen=True)
class TaskSpec:
    """Sizes and settings of a task: the paper's (Tables 1–2) cell, hidden size, λ_RNN and L2, and
    our default initial learning rate ``lr``: the paper's 0.02 for 3-bit, but 0.005 for context
    integration, because with our tanh RNN at hidden 128 the JSLDS diverged at 0.02 (even with the
    warm-up of :func:`neurodyn.studies.jslds_tasks.train.train_task`) and trained stably at 0.005."""

    name: str
    n_inputs: int
    n_outputs: int
    cell: str
    hidden: int
    rnn_weight: float
    l2: float
    lr: float


SPECS = {
    "3bit": TaskSpec("3bit", n_inputs=6, n_outputs=3, cell="gru", hidden=100, rnn_weight=3.0, l2=0.0, lr=0.02),
    "context": TaskSpec("context", n_inputs=4, n_outputs=1, cell="tanh", hidden=128, rnn_weight=1.0, l2=1e-5, lr=0.005),
}


def task_spec(task: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``3bit`` or ``context``."""
    if task not in SPECS:
        raise ConfigError("task", f"must be one of {list(TASKS)}, got {task!r}")
    return SPECS[task]


def _check(batch_size: int, n_steps: int) -> None:
    if batch_size < 1:
        raise ConfigError("batch_size", f"must be >= 1, got {batch_size}")
    if n_steps < 1:
        raise ConfigError("n_steps", f"must be >= 1, got {n_steps}")


def hold_last_nonzero(states: torch.Tensor) -> torch.Tensor:
    """(batch, T, c) states in {−1, 0, +1} → the last nonzero state at or before each step (0 before
    the first), same shape: the 3-bit memory targets."""
    out = torch.empty_like(states)
    current = torch.zeros_like(states[:, 0])
    for t in range(states.shape[1]):
        current = torch.where(states[:, t] != 0, states[:, t], current)
        out[:, t] = current
    return out


def three_bit_memory(
    batch_size: int,
    *,
    n_steps: int = 25,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> TaskBatch:
    """The 3-bit discrete memory task (Smith et al. 2021, A.3.1; see the module doc).

    Returns inputs (batch, T, 6), targets (batch, T, 3), u_star zeros (batch, 6) (the paper sets
    u* = 0 for this task) and meta ``states`` (batch, T, 3) int64 in {−1, 0, +1}.
    """
    _check(batch_size, n_steps)
    states = torch.randint(0, 3, (batch_size, n_steps, 3), generator=generator) - 1
    inputs = torch.zeros(batch_size, n_steps, 3, 2, dtype=dtype)
    inputs[..., 0] = (states == -1).to(dtype)  # [1, 0] is state −1
    inputs[..., 1] = (states == 1).to(dtype)  # [0, 1] is state +1
    targets = hold_last_nonzero(states).to(dtype)
    batch = TaskBatch(
        inputs.reshape(batch_size, n_steps, 6), targets, torch.zeros(batch_size, 6, dtype=dtype), {"states": states}
    )
    return batch.to(device)


def context_integration(
    batch_size: int,
    *,
    n_steps: int = 25,
    generator: torch.Generator | None = None,
    evaluation: bool = False,
    noise_std: float = 0.125,
    mu_mean: float = -0.01,
    mu_std: float = 0.02,
    eval_mus: tuple[float, ...] = EVAL_MUS,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> TaskBatch:
    """Context-dependent integration (Smith et al. 2021, A.4.1, after Mante et al. 2013; see the
    module doc).

    Returns inputs (batch, T, 4) = [noise₀, noise₁, context₀, context₁], targets (batch, T, 1),
    u_star (batch, 4) = [0, 0, context₀, context₁] and meta ``mu`` (batch, 2) (the streams' means),
    ``context`` (batch,) int64 (the cued stream, 0 or 1).
    """
    _check(batch_size, n_steps)
    context = torch.randint(0, 2, (batch_size,), generator=generator)
    if evaluation:
        table = torch.tensor(eval_mus, dtype=torch.float64)
        mu = table[torch.randint(0, len(eval_mus), (batch_size, 2), generator=generator)]
    else:
        mu = mu_mean + mu_std * torch.randn(batch_size, 2, generator=generator, dtype=torch.float64)
    noise = mu.unsqueeze(1) + noise_std * torch.randn(batch_size, n_steps, 2, generator=generator, dtype=torch.float64)
    one_hot = torch.nn.functional.one_hot(context, 2).to(torch.float64)
    inputs = torch.cat([noise, one_hot.unsqueeze(1).expand(batch_size, n_steps, 2)], dim=-1)
    cued = noise.gather(2, context.view(-1, 1, 1).expand(batch_size, n_steps, 1))
    targets = cued.cumsum(dim=1)
    u_star = torch.cat([torch.zeros(batch_size, 2, dtype=torch.float64), one_hot], dim=-1)
    batch = TaskBatch(inputs.to(dtype), targets.to(dtype), u_star.to(dtype), {"mu": mu.to(dtype), "context": context})
    return batch.to(device)


def make_batch(
    task: str,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    evaluation: bool = False,
    n_steps: int = 25,
    device: torch.device | str = "cpu",
) -> TaskBatch:
    """A batch of ``task`` (``3bit`` or ``context``); ``evaluation`` selects the context task's fixed
    evaluation μ set (the 3-bit task has one distribution)."""
    task_spec(task)
    if task == "3bit":
        return three_bit_memory(batch_size, n_steps=n_steps, generator=generator, device=device)
    return context_integration(batch_size, n_steps=n_steps, generator=generator, evaluation=evaluation, device=device)


__all__ = [
    "EVAL_MUS",
    "SPECS",
    "TASKS",
    "TaskBatch",
    "TaskSpec",
    "context_integration",
    "hold_last_nonzero",
    "make_batch",
    "task_spec",
    "three_bit_memory",
]
