"""How well a JSLDS — or the classic fixed-point linearisation — explains an RNN's dynamics.

Reference: Smith, Linderman & Sussillo 2021 (NeurIPS), results and supplement A.3–A.4.

* :func:`relative_error` — the paper's metric for the co-trained JSLDS: the mean over trials and
  time steps of ‖h_t − a_t‖ / ‖h_t‖, with h and a both run freely over the whole trial from
  a_0 = h_0 (published ≈ 0.046 on the 3-bit memory task, ≈ 0.0097 on context integration).
* :func:`linearisation_baseline` — the paper's comparison for a standard-trained RNN: around the
  numerical fixed point z* nearest (Euclidean) to the true previous state h_{t−1},

      ĥ_t = z* + J_h(z*, u*)(h_{t−1} − z*) + J_u(z*, u*)(u_t − u*),

  and the same mean of ‖h_t − ĥ_t‖ / ‖h_t‖ (published ≈ 0.27 on 3-bit, ≈ 0.39 on context). What
  we implement is this **one-step** prediction from the true RNN state (it cannot drift the way a
  free-running linearised system would, so it favours the baseline), with z* in place of F(z*, u*)
  exactly as in the JSLDS step (``mode="free"`` runs the same switching linear system on its own
  instead, the like-for-like analogue of the JSLDS rollout). The fixed points carry the u* they were found at: only those whose
  u* equals the trial's u* are candidates, i.e. for the context task the fixed points of the
  trial's context (u* = [0, 0, context]); for the 3-bit task u* = 0.
* :func:`cell_fixed_points` — the numerical finder of :mod:`neurodyn.analysis.fixed_points.numerical`
  run per input condition u*, with a slowest-point fallback; any other finder's points can be
  passed to :func:`linearisation_baseline`.
* :func:`task_metrics` — task MSE, and for the 3-bit task the fraction of correct output signs.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import jvp

from neurodyn.analysis.fixed_points.numerical import adam_fixed_points
from neurodyn.errors import ConfigError
from neurodyn.models.lfads_jslds.jslds import (
    Cell,
    autonomous_map,
    broadcast_u_star,
    rollout,
    rollout_rnn,
)
from neurodyn.studies.jslds_tasks.tasks import TaskBatch, make_batch, task_spec


def _norms_ratio(diff: torch.Tensor, ref: torch.Tensor, eps: float) -> torch.Tensor:
    return diff.norm(dim=-1) / ref.norm(dim=-1).clamp(min=eps)


def relative_error(h: torch.Tensor, a: torch.Tensor, *, eps: float = 1e-12) -> float:
    """mean over trials and time of ‖h_t − a_t‖ / ‖h_t‖; h, a (batch, T, n) (or any (..., n)).
    ``eps`` bounds ‖h_t‖ from below (a zero state would otherwise divide by zero)."""
    if h.shape != a.shape:
        raise ConfigError("a", f"shape {tuple(a.shape)} differs from h's {tuple(h.shape)}")
    return float(_norms_ratio(h - a, h, eps).detach().mean())


@dataclass
class FixedPointSet:
    """Numerical fixed points z* = F(z*, u*): ``points`` (P, n), the ``u_star`` (P, m) each was
    found at, and their speeds ``q`` (P,) = ½‖F(z*, u*) − z*‖²."""

    points: torch.Tensor
    u_star: torch.Tensor
    q: torch.Tensor

    @classmethod
    def from_points(cls, cell: Cell, points: torch.Tensor, u_star: torch.Tensor) -> FixedPointSet:
        """Wrap fixed points found elsewhere (e.g. ``neurodyn.analysis.fixed_points.numerical``):
        points (P, n) found at u_star (m,) (one input condition) or (P, m); q is recomputed. For the
        context task, concatenate the sets of both contexts with their u*."""
        points = torch.as_tensor(points)
        us = torch.broadcast_to(torch.as_tensor(u_star).to(points), (points.shape[0], u_star.shape[-1])).contiguous()
        with torch.no_grad():
            q = 0.5 * (cell(points, us) - points).square().sum(-1)
        return cls(points, us, q)


def cell_fixed_points(
    cell: Cell,
    starts: torch.Tensor,
    u_star: torch.Tensor,
    *,
    max_iters: int = 2000,
    tol: float = 1e-10,
    tol_unique: float = 1e-3,
    newton_iters: int = 5,
    min_keep: int = 1,
) -> FixedPointSet:
    """Slow / fixed points of h ↦ F(h, u*) from ``starts`` (P, n), u_star (m,) or (P, m).

    One :func:`neurodyn.analysis.fixed_points.numerical.adam_fixed_points` search per distinct u*
    (batched Adam on q(h) = ½‖F(h, u*) − h‖², duplicates within ``tol_unique`` merged, up to
    ``newton_iters`` Newton steps), in float64 on a copy of the cell. Keeps the points with
    q < ``tol``; for every u* with fewer than ``min_keep`` such points, its ``min_keep`` slowest
    points instead (check ``q``), so that every input condition has a candidate.
    """
    if starts.ndim != 2:
        raise ConfigError("starts", f"expected (P, n) states, got shape {tuple(starts.shape)}")
    f64 = copy.deepcopy(cell).to(torch.float64) if isinstance(cell, nn.Module) else cell
    for p in f64.parameters() if isinstance(f64, nn.Module) else ():
        p.requires_grad_(False)
    z0 = starts.detach().to(torch.float64)
    us = torch.broadcast_to(u_star.detach().to(z0), (z0.shape[0], u_star.shape[-1])).contiguous()
    groups, label = torch.unique(us, dim=0, return_inverse=True)
    points, found_at, speeds = [], [], []
    for g, u_g in enumerate(groups):
        # accept every candidate (slow points too): the fallback below needs the slowest ones
        found = adam_fixed_points(
            autonomous_map(f64, u_g),
            z0[label == g],
            tol_q=tol * 1e-2,
            accept_q=math.inf,
            tol_unique=tol_unique,
            max_iters=max_iters,
            newton_iters=max(newton_iters, 1),
            polish_newton=newton_iters > 0,
        )
        z, q = torch.as_tensor(found.z), torch.as_tensor(found.q)
        keep = q < tol
        if int(keep.sum()) < min_keep:
            keep[torch.argsort(q)[:min_keep]] = True
        points.append(z[keep])
        found_at.append(u_g.expand(int(keep.sum()), -1))
        speeds.append(q[keep])
    dtype = starts.dtype if starts.is_floating_point() else torch.float32
    device = starts.device
    return FixedPointSet(
        torch.cat(points).to(device, dtype), torch.cat(found_at).to(device, dtype), torch.cat(speeds).to(device)
    )


def nearest_fixed_point(
    states: torch.Tensor, state_u_star: torch.Tensor, fixed: FixedPointSet, *, match_tol: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each state (N, n) with its u* (N, m): the index (N,) of the nearest (Euclidean) fixed
    point among those found at the same u* (max-abs difference ≤ ``match_tol``), and the distance."""
    same = (state_u_star.unsqueeze(1) - fixed.u_star.to(state_u_star).unsqueeze(0)).abs().amax(-1) <= match_tol
    if not bool(same.any(dim=1).all()):
        raise ConfigError(
            "fixed_points",
            "some states have no fixed point found at their u* (for the context "
            "task, find fixed points for both contexts)",
        )
    dist = torch.cdist(states.unsqueeze(0), fixed.points.to(states).unsqueeze(0)).squeeze(0)
    dist = dist.masked_fill(~same, float("inf"))
    best, index = dist.min(dim=1)
    return index, best


def _linear_step(
    cell: Cell, prev: torch.Tensor, u: torch.Tensor, us: torch.Tensor, fixed: FixedPointSet
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """z* + J_h(z*, u*)(prev − z*) + J_u(z*, u*)(u − u*) around the fixed point nearest ``prev``
    (rows (N, n), among those at the row's u*); returns (prediction, index, distance)."""
    index, distance = nearest_fixed_point(prev, us, fixed)
    z = fixed.points.to(prev)[index]
    zu = fixed.u_star.to(prev)[index].contiguous()
    _, lin = jvp(cell, (z, zu), (prev - z, u - zu))
    return (z + lin).detach(), index, distance  # an analysis: no graph back into the cell


def linearisation_baseline(
    cell: Cell,
    h0: torch.Tensor | None,
    inputs: torch.Tensor,
    h: torch.Tensor,
    fixed: FixedPointSet,
    u_star: torch.Tensor | None = None,
    *,
    mode: str = "one_step",
    eps: float = 1e-12,
) -> dict[str, torch.Tensor | float]:
    """Linearisation of the RNN around its nearest numerical fixed points (the paper's baseline for
    a standard-trained RNN; see the module doc).

    ``mode="one_step"`` (the baseline as we define it): for every t, ĥ_t = z* + J_h(z*, u*)(h_{t−1} − z*)
    + J_u(z*, u*)(u_t − u*) with z* the fixed point nearest the **true** h_{t−1} among those found at
    the trial's u*. ``mode="free"``: the same switching linear system run on its own from ĥ_0 = h_0,
    z* nearest ĥ_{t−1} — the analogue of the JSLDS's free rollout (expansion network replaced by the
    nearest-fixed-point lookup), so its error compares like for like with :func:`relative_error`.

    inputs (batch, T, m); h (batch, T, n) the RNN's states (h[:, t] after input t); h0 (n,),
    (batch, n) or None = zeros; u_star None (0), (m,), (batch, m) or (batch, T, m). The linear terms
    are one JVP per state (no Jacobian is materialised). Returns ``relative_error`` (float, mean of
    ‖h_t − ĥ_t‖/‖h_t‖), ``prediction`` ĥ (batch, T, n), ``index`` (batch, T) of the fixed point
    used and ``distance`` (batch, T) from the state linearised about to it.
    """
    if mode not in ("one_step", "free"):
        raise ConfigError("mode", f"must be 'one_step' or 'free', got {mode!r}")
    batch, steps, n = h.shape
    h = h.detach()
    first = h.new_zeros(batch, n) if h0 is None else torch.broadcast_to(h0.to(h), (batch, n))
    us_all = broadcast_u_star(u_star, inputs)
    if mode == "one_step":
        h_prev = torch.cat([first.unsqueeze(1), h[:, :-1]], dim=1).reshape(-1, n)
        m = inputs.shape[-1]
        pred, index, distance = _linear_step(cell, h_prev, inputs.reshape(-1, m), us_all.reshape(-1, m), fixed)
        pred, index, distance = (
            pred.reshape(batch, steps, n),
            index.reshape(batch, steps),
            distance.reshape(batch, steps),
        )
    else:
        prev, outs = first, []
        for t in range(steps):
            prev, index_t, distance_t = _linear_step(cell, prev, inputs[:, t], us_all[:, t], fixed)
            outs.append((prev, index_t, distance_t))
        pred, index, distance = (torch.stack([o[k] for o in outs], dim=1) for k in range(3))
    return {
        "relative_error": float(_norms_ratio(h - pred, h, eps).mean()),
        "prediction": pred,
        "index": index,
        "distance": distance,
    }


def task_metrics(task: str, outputs: torch.Tensor, batch: TaskBatch) -> dict[str, float]:
    """``mse``: mean over batch·time·output of the squared error. 3-bit: ``sign_accuracy``, the
    fraction of (trial, step, channel) entries with a stored bit (target ≠ 0) whose output has the
    target's sign. Context: ``choice_accuracy``, the fraction of trials whose final output has the
    sign of the final target (the decision)."""
    task_spec(task)
    metrics = {"mse": float((outputs - batch.targets).square().mean())}
    if task == "3bit":
        stored = batch.targets != 0
        correct = torch.sign(outputs) == torch.sign(batch.targets)
        metrics["sign_accuracy"] = float(correct[stored].float().mean())
    else:
        metrics["choice_accuracy"] = float(
            (torch.sign(outputs[:, -1]) == torch.sign(batch.targets[:, -1])).float().mean()
        )
    return metrics


def fixed_point_starts(
    h: torch.Tensor, u_star: torch.Tensor, n_starts: int, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_starts`` random visited states (rows of h (batch, T, n)) with their trial's u*
    (u_star (batch, m)): the usual starting points of a fixed-point search."""
    batch, steps, n = h.shape
    pick = torch.randperm(batch * steps, generator=generator)[:n_starts].to(h.device)
    states = h.reshape(-1, n)[pick]
    us = u_star.unsqueeze(1).expand(batch, steps, u_star.shape[-1]).reshape(-1, u_star.shape[-1])[pick]
    return states.detach(), us


@torch.no_grad()
def evaluate_model(
    task: str,
    cell: nn.Module,
    readout: Callable[[torch.Tensor], torch.Tensor],
    expansion: Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    n_trials: int = 512,
    seed: int = 1234,
    baseline: bool = True,
    n_starts: int = 512,
    fp_iters: int = 2000,
    fp_tol: float = 1e-10,
    fp_min_keep: int = 32,
    h0: torch.Tensor | None = None,
) -> dict[str, object]:
    """Held-out metrics of a trained model on ``n_trials`` fresh trials (context task: the
    evaluation μ set), seeded by ``seed``, every rollout starting from ``h0`` ((n,); None: zeros).

    Returns ``rnn`` (task metrics of the RNN), and with an expansion network ``jslds`` (task metrics
    of the JSLDS readout), ``relative_error`` (‖h − a‖/‖h‖) and ``relative_error_per_step`` (its
    mean over trials at each time step); with ``baseline`` the fixed-point
    linearisation error ``baseline_error`` of the same RNN (one step from the true state) and
    ``baseline_error_free`` (the nearest-fixed-point switching linear system run freely), fixed points
    by :func:`cell_fixed_points` from ``n_starts`` visited states (q < ``fp_tol``; where fewer than
    ``fp_min_keep`` reach it for an input condition, its ``fp_min_keep`` slowest points: slow
    points, as a co-trained RNN's marginally stable points often are at small budgets), and
    ``n_fixed_points``, ``n_exact_fixed_points`` (q < fp_tol), ``max_fixed_point_q``.
    """
    device = next(cell.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    batch = make_batch(task, n_trials, generator=gen, evaluation=True, device=device)
    out: dict[str, object] = {"n_trials": n_trials}
    if expansion is not None:
        states = rollout(cell, expansion, h0, batch.inputs, batch.u_star)
        h = states["h"]
        out["jslds"] = task_metrics(task, readout(states["a"]), batch)
        out["relative_error"] = relative_error(h, states["a"])
        # where the error sits in the trial: the first steps, while the state leaves h_0 and ‖h‖ is small, weigh most
        per_step = _norms_ratio(h - states["a"], h, 1e-12).detach().mean(0)
        out["relative_error_per_step"] = [float(x) for x in per_step]
        out["expansion_residual"] = float((states["f_e"] - states["e"]).norm(dim=-1).mean())
    else:
        h = rollout_rnn(cell, h0, batch.inputs)
    out["rnn"] = task_metrics(task, readout(h), batch)
    if baseline:
        with torch.enable_grad():
            starts, us = fixed_point_starts(h, batch.u_star, n_starts, generator=gen)
            fixed = cell_fixed_points(cell, starts, us, max_iters=fp_iters, tol=fp_tol, min_keep=fp_min_keep)
        base = linearisation_baseline(cell, h0, batch.inputs, h, fixed, batch.u_star)
        out["baseline_error"] = base["relative_error"]
        out["baseline_error_free"] = linearisation_baseline(
            cell, h0, batch.inputs, h, fixed, batch.u_star, mode="free"
        )["relative_error"]
        out["n_fixed_points"] = int(fixed.points.shape[0])
        out["n_exact_fixed_points"] = int((fixed.q < fp_tol).sum())
        out["max_fixed_point_q"] = float(fixed.q.max())
    return out


__all__ = [
    "FixedPointSet",
    "evaluate_model",
    "cell_fixed_points",
    "fixed_point_starts",
    "linearisation_baseline",
    "nearest_fixed_point",
    "relative_error",
    "task_metrics",
]
