"""Training an RNN on a JSLDS task benchmark, co-trained with its JSLDS or in the standard way.

Reference: Smith, Linderman & Sussillo 2021 (NeurIPS), main text and supplement A.3.1 / A.4.1.

Each optimiser step draws a fresh batch of trials from a seeded generator, rolls out the RNN (and,
when co-training, the JSLDS with its expansion network, :func:`neurodyn.models.lfads_jslds.jslds.rollout`) and
takes one Adam step on

* co-training: λ_RNN L_RNN + λ_JSLDS L_JSLDS + λ_e R_e + λ_a R_a + λ_L2 Σ‖W‖²
  (:func:`neurodyn.models.lfads_jslds.jslds.cotraining_loss`; RNN, readout and expansion network trained);
* standard training: L_RNN + λ_L2 Σ‖W‖² (RNN and readout only).

Gradients are clipped to a global norm of ``clip`` (a step whose gradient is not finite is
skipped). The learning rate warms up linearly over the first ``warmup_steps`` steps and decays
exponentially per optimiser step:

    lr_k = lr · lr_decay^k · min(1, (k + 1) / warmup_steps)

(``lr_decay = 1`` and ``warmup_steps = 0`` keep it constant); the schedule depends on the step
index only, so a resumed run follows the same schedule. Defaults are the paper's (Tables 1–2):
batch 256, initial lr 0.02 (3-bit; context: 0.005, see below), hidden 100 (GRU, 3-bit) / 128
(vanilla tanh, context), λ_RNN = 3 (3-bit) / 1 (context), λ_JSLDS = 1, λ_e = 100, λ_a = 10,
L2 0 / 1e-5. The paper does not state a
decay, clipping or warm-up; ours: lr_decay 0.9998 (×0.018 after 20,000 steps), clip 10 and
200 warm-up steps. Why the warm-up: Adam's first steps move every weight by about ±lr, and the
expansion network's zero-initialised output layer then shifts e*_t coherently by ~lr · n · |tanh|
per coordinate (≈ 1 at n = 100, lr = 0.02); in our runs at n = 100 this made the JSLDS (a linear
system that can grow without bound) diverge within 5 steps, which a 200-step warm-up avoided.
On the context task at n = 128 the JSLDS still diverged once the rate reached 0.02 (step ~200),
and trained stably at 0.005, our default there (:class:`neurodyn.studies.jslds_tasks.tasks.TaskSpec`).

**Divergence guard.** Adam late in a run, at tiny losses, can blow up within a few steps even with
clipping (its second-moment estimates have shrunk, so one large gradient becomes a large step): at
the paper's sizes on the 3-bit task a co-trained GRU went from total loss 9e-5 at step 5,500 to 8e4
at step 6,000. Every ``checkpoint_every`` steps the trainer keeps an in-memory snapshot (modules,
optimiser, batch generator, history), trusted once the next step's loss passes the check; when the loss turns non-finite or exceeds
``divergence_factor`` × the median of the last 100 losses, it rewinds to the snapshot and halves the
learning rate from there on (``lr_scale``), at most ``max_rollbacks`` times (then it stops with an
error). :attr:`TrainResult.rollbacks` lists (step detected, step restored, new lr scale).

**Learned initial state** (``learn_h0``). The published code trains h_0 with the weights (drawn
from N(0, 0.1²) per unit at initialisation) and starts the RNN and the JSLDS from it, a_0 = h_0.
With h_0 = 0, the default here, ‖h_t‖ is small for the first steps and the relative error
‖h_t − a_t‖/‖h_t‖ of those steps dominates its mean over a 25-step trial.

A checkpoint (``torch.save`` of plain state dicts, read back with ``weights_only=True``) holds the
modules, the optimiser, the batch generator's state, the step, the history and the learning-rate
scale; resuming from it reproduces the uninterrupted run exactly (same device and library versions).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurodyn.device import pick_device
from neurodyn.errors import ConfigError
from neurodyn.models.base import load_checkpoint, save_checkpoint
from neurodyn.models.lfads_jslds.cells import Readout, make_cell
from neurodyn.models.lfads_jslds.jslds import (
    ExpansionNetwork,
    JSLDSWeights,
    cotraining_loss,
    rollout,
    rollout_rnn,
    standard_loss,
)
from neurodyn.studies.jslds_tasks.tasks import make_batch, task_spec

log = logging.getLogger("neurodyn.studies.jslds_tasks")

HISTORY_KEYS = ("total", "rnn", "jslds", "expansion", "approx", "l2", "grad_norm", "lr")


class InitialState(nn.Module):
    """A learned initial state h_0 (n,), drawn from N(0, ``scale``²) per unit at initialisation."""

    def __init__(self, n: int, scale: float = 0.1) -> None:
        super().__init__()
        self.h0 = nn.Parameter(scale * torch.randn(n))


@dataclass
class TrainResult:
    """A trained model: ``cell``, ``readout``, ``expansion`` (None for standard training), the
    per-step ``history`` (lists keyed by :data:`HISTORY_KEYS`; ``jslds``/``expansion``/``approx`` are
    NaN for standard training), the resolved ``config``, ``steps`` done in all, ``wall_time_s`` of the
    optimisation in this call, the ``device`` and ``resumed_from`` (the checkpoint's step, 0 for a
    fresh run: this call did ``steps − resumed_from`` steps), the divergence guard's
    ``rollbacks`` (step detected, step restored, new learning-rate scale) and ``initial`` (the
    learned :class:`InitialState`, None when h_0 = 0)."""

    cell: nn.Module
    readout: nn.Module
    expansion: nn.Module | None
    history: dict[str, list[float]]
    config: dict[str, Any]
    steps: int
    wall_time_s: float
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    resumed_from: int = 0
    rollbacks: list[tuple[int, int, float]] = field(default_factory=list)
    initial: nn.Module | None = None

    @property
    def h0(self) -> torch.Tensor | None:
        """The learned initial state (n,), detached; None when the run starts from zeros."""
        return None if self.initial is None else self.initial.h0.detach()

    def weights(self) -> dict[str, torch.Tensor]:
        """A flat dict of CPU tensors: ``cell.<name>``, ``readout.<name>``, ``expansion.<name>``
        and, with a learned initial state, ``initial.h0``."""
        flat: dict[str, torch.Tensor] = {}
        modules = (("cell", self.cell), ("readout", self.readout), ("expansion", self.expansion))
        for prefix, module in (*modules, ("initial", self.initial)):
            if module is not None:
                for name, value in module.state_dict().items():
                    flat[f"{prefix}.{name}"] = value.detach().cpu().contiguous()
        return flat


def paper_weights(task: str) -> JSLDSWeights:
    """λ of the paper for ``task`` (Tables 1–2): λ_RNN 3 (3-bit) or 1 (context), L2 0 or 1e-5."""
    spec = task_spec(task)
    return JSLDSWeights(rnn=spec.rnn_weight, l2=spec.l2)


def build_models(
    task: str, hidden: int, *, cotrain: bool, device: torch.device, seed: int
) -> tuple[nn.Module, nn.Module, nn.Module | None]:
    """The task's cell (GRU for 3-bit, tanh for context), readout and, when co-training, the
    expansion network (width = hidden), initialised from ``seed``."""
    spec = task_spec(task)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global stream
        torch.manual_seed(seed)
        cell = make_cell(spec.cell, spec.n_inputs, hidden)
        readout = Readout(hidden, spec.n_outputs)
        expansion = ExpansionNetwork(hidden) if cotrain else None
    return cell.to(device), readout.to(device), expansion.to(device) if expansion is not None else None


def _check_options(
    n_steps: int,
    batch_size: int,
    lr: float,
    lr_decay: float,
    clip: float | None,
    hidden: int,
    log_every: int,
    warmup_steps: int,
) -> None:
    for name, value in (("n_steps", n_steps), ("batch_size", batch_size), ("hidden", hidden)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(name, f"must be an integer >= 1, got {value!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError("lr", f"must be a finite number > 0, got {lr!r}")
    if not (math.isfinite(lr_decay) and 0 < lr_decay <= 1):
        raise ConfigError("lr_decay", f"must be in (0, 1] (per-step factor), got {lr_decay!r}")
    if clip is not None and not (math.isfinite(clip) and clip > 0):
        raise ConfigError("clip", f"must be a finite number > 0 or None, got {clip!r}")
    if log_every < 0:
        raise ConfigError("log_every", f"must be >= 0, got {log_every}")
    if not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ConfigError("warmup_steps", f"must be an integer >= 0, got {warmup_steps!r}")


def _fingerprint(config: dict[str, Any]) -> str:
    # what a resumed run must share with the checkpoint (n_steps may grow; device and logging may change)
    keep = {k: v for k, v in config.items() if k not in ("n_steps", "device", "log_every", "checkpoint_every")}
    return json.dumps(keep, sort_keys=True)


def train_task(
    task: str,
    *,
    cotrain: bool,
    n_steps: int,
    batch_size: int = 256,
    lr: float | None = None,
    lr_decay: float = 0.9998,
    clip: float | None = 10.0,
    weights: JSLDSWeights | None = None,
    l2: float | None = None,
    hidden: int | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    log_every: int = 0,
    n_time: int = 25,
    warmup_steps: int = 200,
    divergence_factor: float | None = 100.0,
    max_rollbacks: int = 5,
    learn_h0: bool = False,
) -> TrainResult:
    """Train on ``task`` (``3bit`` or ``context``) for ``n_steps`` Adam steps in total (see the module doc).

    weights: the λ (None → :func:`paper_weights`); l2: overrides ``weights.l2`` (None → keep);
    lr, lr_decay, warmup_steps: the schedule of the module doc (lr None → the task's default,
    :class:`neurodyn.studies.jslds_tasks.tasks.TaskSpec`: 0.02 for 3-bit as in the paper, 0.005 for context);
    hidden: state size (None → the paper's 100 / 128). ``checkpoint_path``: written every
    ``checkpoint_every`` steps and at the end; with ``resume`` an existing checkpoint is continued
    (its configuration must match, except ``n_steps``) up to ``n_steps``, and a missing one starts
    afresh. ``log_every`` > 0 logs the loss terms every that many steps (logger ``neurodyn.studies.jslds_tasks``).
    divergence_factor, max_rollbacks: the divergence guard of the module doc (None: off; a
    non-finite loss then stops training with an error). learn_h0: train the initial state h_0
    with the weights, as the published code does (module doc); False starts from zeros.
    """
    spec = task_spec(task)
    hidden = spec.hidden if hidden is None else hidden
    lr = spec.lr if lr is None else lr
    weights = paper_weights(task) if weights is None else weights
    if l2 is not None:
        weights = dataclasses.replace(weights, l2=l2)
    _check_options(n_steps, batch_size, lr, lr_decay, clip, hidden, log_every, warmup_steps)
    if divergence_factor is not None and not (math.isfinite(divergence_factor) and divergence_factor > 1):
        raise ConfigError("divergence_factor", f"must be a finite number > 1 or None, got {divergence_factor!r}")
    if not isinstance(max_rollbacks, int) or max_rollbacks < 0:
        raise ConfigError("max_rollbacks", f"must be an integer >= 0, got {max_rollbacks!r}")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    config = {
        "task": task,
        "cotrain": bool(cotrain),
        "n_steps": n_steps,
        "batch_size": batch_size,
        "lr": lr,
        "lr_decay": lr_decay,
        "clip": clip,
        "weights": dataclasses.asdict(weights),
        "hidden": hidden,
        "seed": seed,
        "n_time": n_time,
        "warmup_steps": warmup_steps,
        "cell": spec.cell,
        "device": str(dev),
        "divergence_factor": divergence_factor,
    }
    if learn_h0:  # only when set, so that checkpoints of runs from h_0 = 0 keep their fingerprint
        config["learn_h0"] = True

    cell, readout, expansion = build_models(task, hidden, cotrain=cotrain, device=dev, seed=seed)
    initial = None
    if learn_h0:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 2)
            initial = InitialState(hidden).to(dev)
    modules = {
        "cell": cell,
        "readout": readout,
        **({"expansion": expansion} if expansion is not None else {}),
        **({"initial": initial} if initial is not None else {}),
    }
    params = [p for m in modules.values() for p in m.parameters()]
    optimiser = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed + 1)  # batches: a stream apart from the initialisation
    history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    rollbacks: list[tuple[int, int, float]] = []
    step = resumed_from = 0
    lr_scale = 1.0

    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    if resume and ckpt is not None and ckpt.exists():
        state = load_checkpoint(ckpt, dev)
        saved = state["fingerprint"]
        if saved != _fingerprint(config):
            raise ConfigError("resume", f"{ckpt} was written by a run with other settings: {saved}")
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"].cpu())
        history = {k: state["history"][k].tolist() for k in HISTORY_KEYS}
        rollbacks = [(int(a), int(b), float(c)) for a, b, c in state["rollbacks"].tolist()]
        lr_scale = float(state["lr_scale"])
        step = resumed_from = int(state["step"])
        log.info("resumed %s from step %d", ckpt, step)

    def checkpoint() -> None:
        if ckpt is None:
            return
        save_checkpoint(
            ckpt,
            {
                "modules": {name: m.state_dict() for name, m in modules.items()},
                "optimiser": optimiser.state_dict(),
                "generator": generator.get_state(),
                "step": torch.tensor(step),
                "history": {k: torch.tensor(v, dtype=torch.float64) for k, v in history.items()},
                "rollbacks": torch.tensor(rollbacks, dtype=torch.float64).reshape(-1, 3),
                "lr_scale": torch.tensor(lr_scale, dtype=torch.float64),
                "fingerprint": _fingerprint(config),
            },
        )

    def snapshot() -> dict[str, Any]:
        return copy.deepcopy(
            {
                "modules": {name: m.state_dict() for name, m in modules.items()},
                "optimiser": optimiser.state_dict(),
                "generator": generator.get_state(),
                "step": step,
                "history": history,
            }
        )

    def diverged() -> bool:
        loss = history["total"][-1]
        if not math.isfinite(loss):
            return True
        recent = history["total"][-101:-1]
        return (
            divergence_factor is not None and len(recent) >= 10 and loss > divergence_factor * statistics.median(recent)
        )

    # ``pending`` (taken every checkpoint_every steps) becomes the rewind point ``good`` once the next
    # loss, computed with its weights, passes the check: a snapshot already on its way up is never kept
    good = pending = snapshot()

    nan = float("nan")
    start = time.perf_counter()
    while step < n_steps:
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
        current_lr = lr * lr_decay**step * warm * lr_scale
        for group in optimiser.param_groups:
            group["lr"] = current_lr
        batch = make_batch(task, batch_size, generator=generator, n_steps=n_time, device=dev)
        h0 = None if initial is None else initial.h0
        if expansion is not None:
            states = rollout(cell, expansion, h0, batch.inputs, batch.u_star)
            total, terms = cotraining_loss(states, readout, batch.targets, weights, cell=cell)
        else:
            h = rollout_rnn(cell, h0, batch.inputs)
            total, terms = standard_loss(h, readout, batch.targets, cell=cell, l2=weights.l2)
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        max_norm = clip if clip is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if torch.isfinite(grad_norm):
            optimiser.step()
        # else: skip the update (the JSLDS is linear and can overflow transiently; an inf gradient
        # clipped to norm 10 would still write NaN into the weights); the history shows the inf norm
        step += 1
        for key in ("total", "rnn", "jslds", "expansion", "approx", "l2"):
            history[key].append(float(terms[key].detach()) if key in terms else nan)
        history["grad_norm"].append(float(grad_norm))
        history["lr"].append(current_lr)
        if diverged():
            if divergence_factor is None or len(rollbacks) >= max_rollbacks:
                raise ConfigError(
                    "lr",
                    f"the loss became {history['total'][-1]:.4g} at step {step}"
                    f"{f' after {len(rollbacks)} rollbacks' if rollbacks else ''}; lower --lr or --clip",
                )
            lr_scale *= 0.5
            rollbacks.append((step, good["step"], lr_scale))
            log.warning(
                "loss %.4g at step %d: rewinding to step %d with the learning rate ×%.3g",
                history["total"][-1],
                step,
                good["step"],
                lr_scale,
            )
            for name, module in modules.items():
                module.load_state_dict(good["modules"][name])
            optimiser.load_state_dict(good["optimiser"])
            generator.set_state(good["generator"])
            step, history = good["step"], copy.deepcopy(good["history"])
            pending = good
            continue
        if pending["step"] == step - 1:
            good = pending
        if log_every and (step % log_every == 0 or step == n_steps):
            log.info(
                "step %d/%d  " + "  ".join(f"{k} %.4g" for k in HISTORY_KEYS[:6]),
                step,
                n_steps,
                *(history[k][-1] for k in HISTORY_KEYS[:6]),
            )
        if checkpoint_every and step % checkpoint_every == 0:
            pending = snapshot()
            checkpoint()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    wall = time.perf_counter() - start
    checkpoint()
    return TrainResult(cell, readout, expansion, history, config, step, wall, dev, resumed_from, rollbacks, initial)


__all__ = ["HISTORY_KEYS", "InitialState", "TrainResult", "build_models", "paper_weights", "train_task"]
