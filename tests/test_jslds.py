"""Tests for neurodyn.studies.jslds_tasks: JSLDS co-training (Smith, Linderman & Sussillo 2021, NeurIPS)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from neurodyn.errors import ConfigError, InputFileError
from neurodyn.models.lfads_jslds import cells
from neurodyn.models.lfads_jslds.cells import CELLS, GRUCell, Readout, TanhRNNCell
from neurodyn.models.lfads_jslds.jslds import (
    ExpansionNetwork,
    JSLDSWeights,
    cotraining_loss,
    jacobians_at,
    jslds_step,
    jslds_step_explicit,
    rollout,
    rollout_rnn,
)
from neurodyn.studies.jslds_tasks.command import add_jslds_commands, analyse_selection, load_trained
from neurodyn.studies.jslds_tasks.evaluate import (
    FixedPointSet,
    cell_fixed_points,
    linearisation_baseline,
    relative_error,
    task_metrics,
)
from neurodyn.studies.jslds_tasks.tasks import EVAL_MUS, context_integration, make_batch, three_bit_memory
from neurodyn.studies.jslds_tasks.train import train_task

torch.set_num_threads(1)
# torch's forward-mode AD loads its decompositions with torch.jit.script once per process (internal)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


def _cell(kind: str, m: int = 3, n: int = 5, **kw) -> nn.Module:
    torch.manual_seed(0)
    cell = GRUCell(m, n, **kw) if kind == "gru" else TanhRNNCell(m, n, gain=1.5)
    return cell.to(torch.float64)


class LinearCell(nn.Module):
    """h' = A h + B u + c: its fixed-point linearisation is exact."""

    def __init__(self, n: int, m: int):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.n_hidden, self.n_inputs = n, m
        self.A = nn.Parameter(0.6 * torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0])
        self.B = nn.Parameter(torch.randn(n, m, generator=g, dtype=torch.float64))
        self.c = nn.Parameter(torch.randn(n, generator=g, dtype=torch.float64))

    def forward(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return h @ self.A.T + u @ self.B.T + self.c

    def fixed_point(self, u_star: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(self.n_hidden, dtype=torch.float64)
        return torch.linalg.solve(eye - self.A, self.B @ u_star + self.c)


# --- the JVP step ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gru", "tanh"])
@pytest.mark.parametrize("u_star_kind", ["zero", "shared", "per_trial"])
def test_jvp_step_equals_explicit_jacobians(kind, u_star_kind):
    cell = _cell(kind)
    g = torch.Generator().manual_seed(1)
    a, e = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    u = torch.randn(4, 3, generator=g, dtype=torch.float64)
    u_star = {
        "zero": None,
        "shared": torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64),
        "per_trial": torch.randn(4, 3, generator=g, dtype=torch.float64),
    }[u_star_kind]
    a1, f1 = jslds_step(cell, a, e, u, u_star)
    a2, f2 = jslds_step_explicit(cell, a, e, u, u_star)
    torch.testing.assert_close(a1, a2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(f1, f2, rtol=1e-12, atol=1e-12)
    # and by hand, trial by trial: a = e + J_h (a − e) + J_u (u − u*)
    us = torch.zeros(4, 3, dtype=torch.float64) if u_star is None else torch.broadcast_to(u_star, (4, 3))
    j_h, j_u = jacobians_at(cell, e, us)
    assert j_h.shape == (4, 5, 5) and j_u.shape == (4, 5, 3)
    for i in range(4):
        expected = e[i] + j_h[i] @ (a[i] - e[i]) + j_u[i] @ (u[i] - us[i])
        torch.testing.assert_close(a1[i], expected, rtol=1e-12, atol=1e-12)


def test_jacobians_match_finite_differences():
    cell = _cell("gru")
    e = torch.randn(2, 5, dtype=torch.float64)
    j_h, _ = jacobians_at(cell, e)  # u* = 0 from the cell's n_inputs
    eps = 1e-6
    for k in range(5):
        d = torch.zeros(5, dtype=torch.float64)
        d[k] = eps
        fd = cell(e + d, torch.zeros(2, 3, dtype=torch.float64)) - cell(e - d, torch.zeros(2, 3, dtype=torch.float64))
        torch.testing.assert_close(j_h[:, :, k], fd / (2 * eps), rtol=1e-6, atol=1e-8)


def test_gru_cell_matches_torch_and_clips():
    torch.manual_seed(0)
    ref = nn.GRUCell(3, 6).double()
    cell = GRUCell.from_torch(ref)
    h, u = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(cell(h, u), ref(u, h))
    clipped = GRUCell.from_torch(ref, clip=0.1)
    out = clipped(3 * h, u).detach()
    assert float(out.abs().max()) <= 0.1 + 1e-15
    a1, _ = jslds_step(clipped, h, 3 * h, u)  # forward-mode AD through the clamp
    a2, _ = jslds_step_explicit(clipped, h, 3 * h, u)
    torch.testing.assert_close(a1, a2)
    with pytest.raises(ConfigError, match="clip"):
        GRUCell(3, 6, clip=0.0)


def test_gradients_flow_through_the_jvp():
    cell, expansion = _cell("gru"), ExpansionNetwork(5).double()
    with torch.no_grad():  # move E off the identity so that every parameter matters
        expansion.outer.weight.normal_(0, 0.3)
    g = torch.Generator().manual_seed(2)
    inputs = torch.randn(3, 4, 3, generator=g, dtype=torch.float64)
    u_star = torch.randn(3, 3, generator=g, dtype=torch.float64)

    def objective(step) -> torch.Tensor:
        a = torch.zeros(3, 5, dtype=torch.float64)
        total = torch.zeros((), dtype=torch.float64)
        for t in range(4):
            e = expansion(a)
            a, f_e = step(cell, a, e, inputs[:, t], u_star)
            total = total + a.square().sum() + (f_e - e).square().sum()
        return total

    params = list(cell.parameters()) + list(expansion.parameters())
    grads_jvp = torch.autograd.grad(objective(jslds_step), params)
    grads_explicit = torch.autograd.grad(objective(jslds_step_explicit), params)
    for gj, ge in zip(grads_jvp, grads_explicit):
        torch.testing.assert_close(gj, ge, rtol=1e-10, atol=1e-12)
    assert all(float(gj.abs().max()) > 0 for gj in grads_jvp)
    # one parameter against a central finite difference
    w = cell.hidden_map.weight
    eps = 1e-6
    with torch.no_grad():
        w[2, 1] += eps
        up = objective(jslds_step)
        w[2, 1] -= 2 * eps
        down = objective(jslds_step)
        w[2, 1] += eps
    assert float(grads_jvp[next(i for i, p in enumerate(params) if p is w)][2, 1]) == pytest.approx(
        float((up - down) / (2 * eps)), rel=1e-6
    )


# --- the closed-form JVP and the fused co-training rollout ------------------------------------------


def _random_cell(kind: str, seed: int) -> tuple[nn.Module, int, int, int]:
    """A float64 cell of random size (kind ``gru``, ``gru_clip`` or ``tanh``) and a batch size."""
    g = torch.Generator().manual_seed(seed)
    m, n, batch = (int(v) for v in torch.randint(1, 9, (3,), generator=g))
    torch.manual_seed(seed)
    cell = {
        "gru": lambda: GRUCell(m, n),
        "gru_clip": lambda: GRUCell(m, n, clip=0.4),
        "tanh": lambda: TanhRNNCell(m, n, gain=1.5),
    }
    return cell[kind]().double(), m, n, batch


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["gru", "gru_clip", "tanh"])
def test_closed_form_jvp_equals_forward_mode_ad(kind, seed):
    cell, m, n, batch = _random_cell(kind, seed)
    g = torch.Generator().manual_seed(100 + seed)
    h, dh = (2 * torch.randn(batch, n, generator=g, dtype=torch.float64) for _ in range(2))
    u, du = (torch.randn(batch, m, generator=g, dtype=torch.float64) for _ in range(2))
    f_ad, jv_ad = torch.func.jvp(cell, (h, u), (dh, du))
    f, jv = cell.value_and_jvp(h, u, dh, du)
    torch.testing.assert_close(f, f_ad, rtol=0, atol=1e-10)
    torch.testing.assert_close(jv, jv_ad, rtol=0, atol=1e-10)
    assert float(jv.detach().abs().max()) > 0.1  # a nontrivial direction
    if kind == "gru_clip":  # the clamp is active somewhere, and there the tangent is zero
        assert bool((f.abs() == 0.4).any())
    # the drive form without a tangent is the cell itself; one JSLDS step by either route agrees
    new, none = cell.drive_step(h, cell.input_drive(u))
    assert none is None
    torch.testing.assert_close(new, cell(h, u), rtol=0, atol=1e-12)
    a, e = torch.randn(batch, n, generator=g, dtype=torch.float64), h
    for got, want in zip(jslds_step(cell, a, e, u, jvp="analytic"), jslds_step(cell, a, e, u, jvp="autodiff")):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_jvp_mode_errors():
    cell, expansion = LinearCell(3, 2), ExpansionNetwork(3).double()  # a cell without the closed form
    a, u = torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ConfigError, match="'analytic' needs a cell"):
        jslds_step(cell, a, a, u, jvp="analytic")
    with pytest.raises(ConfigError, match="jvp"):
        jslds_step(cell, a, a, u, jvp="forward")
    inputs = torch.randn(2, 3, 2, dtype=torch.float64)
    with pytest.raises(ConfigError, match="'analytic' needs a cell"):
        rollout(cell, expansion, None, inputs, jvp="analytic")
    # auto falls back to forward-mode AD for such a cell
    torch.testing.assert_close(
        rollout(cell, expansion, None, inputs)["a"], rollout(cell, expansion, None, inputs, jvp="autodiff")["a"]
    )
    # every cell kind of the package has both closed forms (tested above and below)
    assert all(callable(getattr(kind, "value_and_jvp", None)) for kind in CELLS.values())
    assert all(callable(getattr(kind, "cotrain_rollout", None)) for kind in CELLS.values())


def _cotraining_problem(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    m, n, batch, n_time = 3, 5, 4, 6
    cell = {"gru": GRUCell(m, n), "gru_clip": GRUCell(m, n, clip=0.8), "tanh": TanhRNNCell(m, n, gain=1.5)}[kind]
    expansion, readout = ExpansionNetwork(n, 7), Readout(n, 2)
    with torch.no_grad():  # move E off the identity so that every term and parameter counts
        expansion.outer.weight.normal_(0.0, 0.3)
        expansion.outer.bias.normal_(0.0, 0.1)
    modules = [x.double() for x in (cell, expansion, readout)]
    g = torch.Generator().manual_seed(seed + 1)
    inputs = torch.randn(batch, n_time, m, generator=g, dtype=torch.float64)
    u_star = torch.randn(batch, m, generator=g, dtype=torch.float64)  # per trial, like the context task's
    h0 = torch.randn(n, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.randn(batch, n_time, 2, generator=g, dtype=torch.float64)
    return modules, inputs, u_star, h0, targets


@pytest.mark.parametrize("kind", ["gru", "gru_clip", "tanh"])
@pytest.mark.parametrize("route", ["fused", "stepwise"])
def test_cotraining_loss_and_gradients_equal_the_autodiff_path(kind, route):
    (cell, expansion, readout), inputs, u_star, h0, targets = _cotraining_problem(kind)
    params = [*cell.parameters(), *expansion.parameters(), *readout.parameters(), h0]
    weights = JSLDSWeights(rnn=3.0, l2=0.1)

    def run(jvp):
        # a plain callable instead of the ExpansionNetwork takes the step-by-step closed form
        e_net = expansion if route == "fused" else (lambda a: expansion(a))
        states = rollout(cell, e_net, h0, inputs, u_star, jvp=jvp)
        total, terms = cotraining_loss(states, readout, targets, weights, cell=cell)
        return states, terms, torch.autograd.grad(total, params)

    states, terms, grads = run("analytic")
    states_ad, terms_ad, grads_ad = run("autodiff")
    for key in states_ad:
        torch.testing.assert_close(states[key], states_ad[key], rtol=1e-12, atol=1e-12)
    for key in terms_ad:
        torch.testing.assert_close(terms[key], terms_ad[key], rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, grads_ad):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert all(float(gr.abs().max()) > 0 for gr in grads_ad)


@pytest.mark.parametrize("kind", ["gru", "tanh"])
def test_fused_rollout_gradcheck_and_partial_outputs(kind):
    (cell, expansion, _), inputs, u_star, h0, _ = _cotraining_problem(kind, seed=3)
    inputs, u_star = inputs[:2, :3], u_star[:2].unsqueeze(1).expand(-1, 3, -1)
    drives = cell.input_drive(torch.cat([inputs, u_star]).transpose(0, 1))  # (T, 2B, k): rows [u; u*]
    dx = cell.input_drive_tangent((inputs - u_star).transpose(0, 1))  # (T, B, k)
    n = h0.shape[0]  # the GRU kernel takes W_h and b_hc (b_hr, b_hz are in the drives)
    hidden = (cell.hidden_map.weight, cell.hidden_map.bias[2 * n :]) if kind == "gru" else (cell.recurrent.weight,)
    h, a = torch.randn(2, 2, n, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    leaves = [x.detach().clone().requires_grad_() for x in (h, a, drives, dx, *expansion.weights(), *hidden)]
    kernel = cells._GRUKernel if kind == "gru" else cells._TanhKernel
    # every input of the node (states, drives, the expansion network's and the cell's weights) and
    # every output, against finite differences
    assert torch.autograd.gradcheck(lambda *x: cells._CotrainRollout.apply(kernel, *x), leaves)
    # a loss of some outputs only (the others get no gradient) equals the step-by-step route's
    full = rollout(cell, expansion, h0, inputs, u_star)
    stepwise = rollout(cell, lambda x: expansion(x), h0, inputs, u_star)
    wrt = [*expansion.parameters(), *cell.parameters(), h0]
    for key in ("a", "f_e"):
        got = torch.autograd.grad(full[key].square().sum(), wrt, retain_graph=True)
        want = torch.autograd.grad(stepwise[key].square().sum(), wrt, retain_graph=True)
        for x, y in zip(got, want):
            torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


def test_fused_rollout_outputs_are_not_reused_scratch():
    (cell, expansion, readout), inputs, u_star, h0, targets = _cotraining_problem("gru", seed=5)
    cells._SCRATCH.clear()
    first = rollout(cell, expansion, h0, inputs, u_star)
    kept = {k: v.detach().clone() for k, v in first.items()}
    cotraining_loss(first, readout, targets)[0].backward()  # gives the scratch buffers back
    pooled = cells._SCRATCH.kept
    assert pooled > 0
    second = rollout(cell, expansion, h0, 2 * inputs, u_star)  # takes them again and overwrites them
    assert cells._SCRATCH.kept < pooled
    cotraining_loss(second, readout, targets)[0].backward()
    for key, value in kept.items():
        torch.testing.assert_close(first[key].detach(), value, rtol=0, atol=0)
    # a retained graph can be differentiated again, with the same result
    total = cotraining_loss(rollout(cell, expansion, h0, inputs, u_star), readout, targets)[0]
    once = torch.autograd.grad(total, h0, retain_graph=True)[0]
    cotraining_loss(rollout(cell, expansion, h0, 3 * inputs, u_star), readout, targets)[0].backward()
    torch.testing.assert_close(torch.autograd.grad(total, h0)[0], once, rtol=0, atol=0)


def test_expansion_network_starts_as_identity():
    net = ExpansionNetwork(7)
    a = torch.randn(5, 7)
    torch.testing.assert_close(net(a), a)
    assert float(net.outer.weight.detach().abs().max()) == 0 and float(net.outer.bias.detach().abs().max()) == 0
    assert float(net.inner.weight.detach().abs().max()) > 0


def test_rollout_shapes_and_first_step():
    cell, expansion = _cell("tanh"), ExpansionNetwork(5).double()
    inputs = torch.randn(2, 6, 3, dtype=torch.float64)
    out = rollout(cell, expansion, None, inputs, torch.zeros(3, dtype=torch.float64))
    assert set(out) == {"h", "a", "e", "f_e"} and all(v.shape == (2, 6, 5) for v in out.values())
    torch.testing.assert_close(out["h"], rollout_rnn(cell, None, inputs))
    # a_0 = h_0 and E = identity at start: the first JSLDS step is F's exact linearisation at h_0 = 0
    torch.testing.assert_close(out["e"][:, 0], torch.zeros(2, 5, dtype=torch.float64))
    torch.testing.assert_close(out["f_e"][:, 1], cell(out["a"][:, 0], torch.zeros(2, 3, dtype=torch.float64)))
    with pytest.raises(ConfigError, match="u_star"):
        rollout(cell, expansion, None, inputs, torch.zeros(4, dtype=torch.float64))


def test_cotraining_loss_is_a_mean_per_coordinate():
    g = torch.Generator().manual_seed(0)
    states = {k: torch.randn(3, 4, 5, generator=g) for k in ("h", "a", "e", "f_e")}
    readout = nn.Linear(5, 2)
    targets = torch.randn(3, 4, 2, generator=g)
    weights = JSLDSWeights(rnn=3.0, jslds=1.0, expansion=100.0, approx=10.0)
    total, terms = cotraining_loss(states, readout, targets, weights)
    with torch.no_grad():
        expected = {
            "rnn": ((readout(states["h"]) - targets) ** 2).sum() / (3 * 4 * 2),
            "jslds": ((readout(states["a"]) - targets) ** 2).sum() / (3 * 4 * 2),
            "expansion": ((states["f_e"] - states["e"]) ** 2).sum() / (3 * 4 * 5),
            "approx": ((states["h"] - states["a"]) ** 2).sum() / (3 * 4 * 5),
        }
    for k, v in expected.items():
        torch.testing.assert_close(terms[k].detach(), v)
    torch.testing.assert_close(
        total.detach(), 3 * expected["rnn"] + expected["jslds"] + 100 * expected["expansion"] + 10 * expected["approx"]
    )
    with pytest.raises(ConfigError, match="weights.approx"):
        JSLDSWeights(approx=-1.0)


# --- tasks ----------------------------------------------------------------------------------------


def test_three_bit_memory_statistics_and_targets():
    batch = three_bit_memory(2000, generator=torch.Generator().manual_seed(0))
    assert batch.inputs.shape == (2000, 25, 6) and batch.targets.shape == (2000, 25, 3)
    pairs = batch.inputs.reshape(2000, 25, 3, 2)
    assert set(pairs.sum(-1).unique().tolist()) <= {0.0, 1.0}  # one-hot or zero per channel
    states = pairs[..., 1] - pairs[..., 0]  # [1,0] → −1, [0,1] → +1
    torch.testing.assert_close(states.long(), batch.meta["states"])
    for s in (-1, 0, 1):
        assert float((states == s).float().mean()) == pytest.approx(1 / 3, abs=0.005)
    # independent check of the rule: flip exactly at a differing pulse, hold otherwise, 0 before any pulse
    prev = torch.zeros(2000, 3)
    for t in range(25):
        pulse = states[:, t]
        expected = torch.where(pulse != 0, pulse, prev)
        torch.testing.assert_close(batch.targets[:, t], expected)
        changed = batch.targets[:, t] != prev
        assert bool((pulse[changed] != 0).all()) and bool((pulse[changed] != prev[changed]).all())
        prev = expected
    never = (states[:, :1] == 0).all(dim=1)
    assert bool((batch.targets[:, 0][never] == 0).all()) and int(never.sum()) > 0
    assert float(batch.u_star.abs().max()) == 0
    again = three_bit_memory(2000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again.inputs, batch.inputs)


def test_context_integration_statistics():
    batch = context_integration(20000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x, mu, ctx = batch.inputs, batch.meta["mu"], batch.meta["context"]
    assert x.shape == (20000, 25, 4) and batch.targets.shape == (20000, 25, 1)
    noise = x[..., :2] - mu.unsqueeze(1)
    assert float(noise.std()) == pytest.approx(0.125, rel=0.005)
    assert float(noise.mean()) == pytest.approx(0.0, abs=5e-4)
    assert float(mu.mean()) == pytest.approx(-0.01, abs=5e-4)
    assert float(mu.std()) == pytest.approx(0.02, rel=0.02)
    one_hot = torch.nn.functional.one_hot(ctx, 2).double()
    torch.testing.assert_close(x[..., 2:], one_hot.unsqueeze(1).expand(-1, 25, -1))
    assert 0.48 < float(ctx.double().mean()) < 0.52
    cued = x[torch.arange(20000), :, ctx]
    torch.testing.assert_close(batch.targets[..., 0], cued.cumsum(dim=1))
    torch.testing.assert_close(batch.u_star, torch.cat([torch.zeros(20000, 2, dtype=torch.float64), one_hot], -1))

    ev = context_integration(3000, generator=torch.Generator().manual_seed(1), evaluation=True)
    assert set(ev.meta["mu"].unique().tolist()) == set(torch.tensor(EVAL_MUS, dtype=torch.float32).tolist())


# --- evaluation -----------------------------------------------------------------------------------


def test_relative_error_on_known_values():
    h = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])
    a = torch.tensor([[[3.0, 0.0], [1.0, 0.0]]])
    assert relative_error(h, a) == pytest.approx((4 / 5 + 0) / 2)
    assert relative_error(h, h) == 0.0
    with pytest.raises(ConfigError):
        relative_error(h, a[:, :1])


def test_linearisation_baseline_is_exact_for_a_linear_cell():
    cell = LinearCell(4, 3)
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(5, 6, 3, generator=g, dtype=torch.float64)
    with torch.no_grad():
        h = rollout_rnn(cell, None, inputs)
    # two input conditions (as the two contexts): each trial uses the fixed point of its own u*
    u_star = torch.zeros(5, 3, dtype=torch.float64)
    u_star[::2, 2] = 1.0
    conditions = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    exact = FixedPointSet(torch.stack([cell.fixed_point(c) for c in conditions]), conditions, torch.zeros(2))
    out = linearisation_baseline(cell, None, inputs, h, exact, u_star)
    assert out["relative_error"] < 1e-12
    wrapped = FixedPointSet.from_points(cell, exact.points[1:], conditions[1])
    assert wrapped.u_star.shape == (1, 3) and float(wrapped.q[0]) < 1e-25
    assert linearisation_baseline(cell, None, inputs, h, exact, u_star, mode="free")["relative_error"] < 1e-12
    assert bool((out["index"][::2] == 1).all()) and bool((out["index"][1::2] == 0).all())
    # the numerical finder recovers them (Newton is exact on a linear map)
    found = cell_fixed_points(
        cell, torch.randn(8, 4, generator=g, dtype=torch.float64), conditions.repeat(4, 1), max_iters=50
    )
    # one fixed point per input condition: the four starts of each merge into it
    assert found.points.shape[0] == 2 and float(found.q.max()) < 1e-20
    torch.testing.assert_close(found.points[torch.argsort(found.u_star[:, 2])], exact.points)
    assert linearisation_baseline(cell, None, inputs, h, found, u_star)["relative_error"] < 1e-10
    # a nonlinear cell is not exact
    tanh = _cell("tanh", m=3, n=4)
    with torch.no_grad():
        h_tanh = rollout_rnn(tanh, None, inputs)
    fp = cell_fixed_points(tanh, h_tanh.reshape(-1, 4)[:10], torch.zeros(3, dtype=torch.float64))
    one_step = linearisation_baseline(tanh, None, inputs, h_tanh, fp)["relative_error"]
    assert one_step > 1e-3
    assert linearisation_baseline(tanh, None, inputs, h_tanh, fp, mode="free")["relative_error"] > 1e-3
    with pytest.raises(ConfigError, match="mode"):
        linearisation_baseline(tanh, None, inputs, h_tanh, fp, mode="both")
    with pytest.raises(ConfigError, match="fixed_points"):
        linearisation_baseline(
            cell, None, inputs, h, FixedPointSet(exact.points[:1], conditions[:1], torch.zeros(1)), u_star
        )


def test_task_metrics():
    batch = three_bit_memory(4, n_steps=5, generator=torch.Generator().manual_seed(0))
    m = task_metrics("3bit", batch.targets * 0.5, batch)
    assert m["sign_accuracy"] == 1.0 and m["mse"] > 0
    assert task_metrics("3bit", -batch.targets, batch)["sign_accuracy"] == 0.0
    ctx = context_integration(6, generator=torch.Generator().manual_seed(0))
    assert task_metrics("context", ctx.targets, ctx) == {"mse": 0.0, "choice_accuracy": 1.0}


# --- training -------------------------------------------------------------------------------------


def test_short_cotraining_decreases_loss_and_approximation_error():
    res = train_task("3bit", cotrain=True, n_steps=60, batch_size=32, hidden=16, seed=0, device="cpu", lr_decay=1.0)
    total, approx = torch.tensor(res.history["total"]), torch.tensor(res.history["approx"])
    assert float(total[-10:].mean()) < 0.5 * float(total[:10].mean())
    assert float(approx[-10:].mean()) < float(approx[:10].mean())
    assert res.expansion is not None and res.steps == 60
    assert set(res.weights()) >= {"cell.input_map.weight", "readout.weight", "expansion.outer.weight"}


def test_standard_training_trains_rnn_only():
    res = train_task("context", cotrain=False, n_steps=20, batch_size=16, hidden=8, device="cpu", warmup_steps=0)
    assert res.expansion is None
    assert all(math.isnan(v) for v in res.history["approx"])  # NaN: no JSLDS terms
    assert res.history["total"][-1] < res.history["total"][0]
    assert res.config["weights"]["l2"] == 1e-5


def test_checkpoint_resume_continues_identically(tmp_path):
    kwargs = {"cotrain": True, "batch_size": 16, "hidden": 8, "seed": 3, "device": "cpu", "lr_decay": 0.99}
    full = train_task("3bit", n_steps=12, **kwargs)
    ckpt = tmp_path / "ckpt.pt"
    first = train_task("3bit", n_steps=6, checkpoint_path=ckpt, checkpoint_every=4, **kwargs)
    assert first.steps == 6 and ckpt.exists()
    resumed = train_task("3bit", n_steps=12, checkpoint_path=ckpt, resume=True, **kwargs)
    assert resumed.resumed_from == 6
    assert resumed.history["total"] == full.history["total"]
    for (k, v), w in zip(full.weights().items(), resumed.weights().values()):
        torch.testing.assert_close(v, w, rtol=0, atol=0, msg=k)
    with pytest.raises(ConfigError, match="resume"):
        train_task("3bit", n_steps=12, checkpoint_path=ckpt, resume=True, **{**kwargs, "lr": 0.01})


def test_learned_initial_state_trains_resumes_and_loads(tmp_path):
    from neurodyn.studies.jslds_tasks.evaluate import evaluate_model

    kwargs = {"cotrain": True, "batch_size": 16, "hidden": 8, "seed": 3, "device": "cpu", "lr_decay": 0.99}
    full = train_task("context", n_steps=12, learn_h0=True, **kwargs)
    start = train_task("context", n_steps=1, learn_h0=True, **{**kwargs, "lr": 1e-12}).h0
    assert full.h0 is not None and full.h0.shape == (8,)
    assert float((full.h0 - start).abs().max()) > 1e-4  # trained with the weights
    assert full.config["learn_h0"] is True and "learn_h0" not in train_task("context", n_steps=1, **kwargs).config
    ckpt = tmp_path / "ckpt.pt"
    train_task("context", n_steps=6, checkpoint_path=ckpt, checkpoint_every=3, learn_h0=True, **kwargs)
    resumed = train_task("context", n_steps=12, checkpoint_path=ckpt, resume=True, learn_h0=True, **kwargs)
    torch.testing.assert_close(resumed.h0, full.h0, rtol=0, atol=0)
    assert resumed.weights().keys() == full.weights().keys() and "initial.h0" in full.weights()
    with pytest.raises(ConfigError, match="resume"):  # a run from zeros cannot continue a learned-h0 checkpoint
        train_task("context", n_steps=12, checkpoint_path=ckpt, resume=True, **kwargs)
    # the evaluation starts every rollout from the learned state
    ev = evaluate_model("context", full.cell, full.readout, full.expansion, n_trials=8, baseline=False, h0=full.h0)
    ev0 = evaluate_model("context", full.cell, full.readout, full.expansion, n_trials=8, baseline=False)
    assert ev["relative_error_per_step"][0] != ev0["relative_error_per_step"][0]


def test_train_rejects_bad_options():
    with pytest.raises(ConfigError, match="task"):
        train_task("5bit", cotrain=True, n_steps=1)
    with pytest.raises(ConfigError, match="lr_decay"):
        train_task("3bit", cotrain=True, n_steps=1, lr_decay=1.5, hidden=4, device="cpu")


def test_divergence_guard_rewinds_and_halves_the_learning_rate(tmp_path):
    # lr 0.5 makes this small co-trained GRU blow up twice in 60 steps (losses ~1e3 against ~1)
    kwargs = {
        "cotrain": True,
        "batch_size": 16,
        "hidden": 8,
        "seed": 0,
        "device": "cpu",
        "lr": 0.5,
        "warmup_steps": 30,
        "checkpoint_every": 10,
        "lr_decay": 1.0,
    }
    full = train_task("3bit", n_steps=60, **kwargs)
    assert len(full.rollbacks) >= 1
    for detected, restored, _scale in full.rollbacks:
        assert restored % 10 == 0 and restored < detected
    assert [r[2] for r in full.rollbacks] == [0.5 ** (i + 1) for i in range(len(full.rollbacks))]
    assert len(full.history["total"]) == 60 and all(math.isfinite(v) for v in full.history["total"])
    assert max(full.history["total"][30:]) < 100 * min(full.history["total"][:30])
    # the learning rate actually used after the last rewind carries the scale
    assert full.history["lr"][-1] == pytest.approx(0.5 * full.rollbacks[-1][2])
    # a checkpointed run resumes with its rewinds and scale, identically
    ckpt = tmp_path / "ck.pt"
    train_task("3bit", n_steps=40, checkpoint_path=ckpt, **kwargs)
    resumed = train_task("3bit", n_steps=60, checkpoint_path=ckpt, resume=True, **kwargs)
    assert resumed.rollbacks == full.rollbacks and resumed.history["total"] == full.history["total"]
    # without rewinds left, the run stops with an error naming the learning rate
    with pytest.raises(ConfigError, match="lr"):
        train_task("3bit", n_steps=60, max_rollbacks=0, **kwargs)
    with pytest.raises(ConfigError, match="divergence_factor"):
        train_task("3bit", n_steps=1, divergence_factor=0.5, **kwargs)


def test_command_writes_weights_and_metrics(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_jslds_commands(parser.add_subparsers(dest="command"))
    out = tmp_path / "run"
    args = parser.parse_args(
        [
            "jslds",
            "train",
            "--task",
            "3bit",
            "--steps",
            "4",
            "--device",
            "cpu",
            "--hidden",
            "6",
            "--batch-size",
            "8",
            "--out",
            str(out),
            "--eval-trials",
            "16",
            "--fp-starts",
            "16",
        ]
    )
    assert args.func(args) == 0
    weights = torch.load(out / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in weights.values()) and "expansion.inner.weight" in weights
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["cotrain"] is True
    assert {"relative_error", "baseline_error", "rnn", "jslds"} <= set(metrics["eval"])
    # the per-step profile averages to the overall relative error (every step has the same trials; float32)
    per_step = metrics["eval"]["relative_error_per_step"]
    assert len(per_step) == 25 and np.mean(per_step) == pytest.approx(metrics["eval"]["relative_error"], rel=1e-6)
    assert metrics["published"] == {"jslds_relative_error": 0.046, "baseline_error": 0.27}
    # a co-trained 3-bit run also writes the selection-vector analysis, reproducible from the saved weights
    selection = json.loads((out / "selection.json").read_text())
    assert (out / "selection_vectors.png").stat().st_size > 0 and (out / "readout_inputs.png").stat().st_size > 0
    again = analyse_selection(out, n_trials=16, seed=selection["seed"])
    assert again["selection"] == selection["selection"] and again["counts"] == selection["counts"]
    # resume to 6 steps from the checkpoint
    args = parser.parse_args(
        [
            "jslds",
            "train",
            "--task",
            "3bit",
            "--steps",
            "6",
            "--device",
            "cpu",
            "--hidden",
            "6",
            "--batch-size",
            "8",
            "--out",
            str(out),
            "--resume",
            "--no-baseline",
            "--eval-trials",
            "16",
        ]
    )
    args.func(args)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and "baseline_error" not in metrics["eval"]
    standard = tmp_path / "standard"
    args = parser.parse_args(
        [
            "jslds",
            "train",
            "--task",
            "context",
            "--standard",
            "--steps",
            "3",
            "--device",
            "cpu",
            "--hidden",
            "6",
            "--batch-size",
            "8",
            "--out",
            str(standard),
            "--eval-trials",
            "16",
            "--fp-starts",
            "16",
        ]
    )
    args.func(args)
    text = (standard / "metrics.json").read_text()
    assert "NaN" not in text
    metrics = json.loads(text)
    assert metrics["train"]["approx"] is None and "relative_error" not in metrics["eval"]
    assert "expansion.inner.weight" not in torch.load(standard / "weights.pt", weights_only=True)
    with pytest.raises(ConfigError, match="co-trained 3bit"):
        analyse_selection(standard)
    (standard / "weights.pt").write_bytes(b"not a torch file")
    with pytest.raises(InputFileError, match="weights.pt"):
        load_trained(standard)
    with pytest.raises(InputFileError, match="metrics.json"):
        load_trained(tmp_path / "missing")
    with pytest.raises(SystemExit):
        parser.parse_args(["jslds", "train", "--task", "3bit", "--steps", "0", "--out", str(out)])


def test_command_learn_h0_saves_and_loads_the_initial_state(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_jslds_commands(parser.add_subparsers(dest="command"))
    out = tmp_path / "run"
    argv = ["jslds", "train", "--task", "context", "--steps", "3", "--device", "cpu", "--hidden", "6"]
    argv += ["--batch-size", "8", "--out", str(out), "--eval-trials", "16", "--no-baseline", "--learn-h0"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    weights = torch.load(out / "weights.pt", weights_only=True)
    _payload, _cell, _readout, _expansion, h0 = load_trained(out)
    torch.testing.assert_close(h0, weights["initial.h0"])
    torch.save({**weights, "initial.h0": torch.zeros(5)}, out / "weights.pt")
    with pytest.raises(InputFileError, match="initial.h0"):
        load_trained(out)


def test_make_batch_dispatch():
    assert make_batch("context", 2).inputs.shape == (2, 25, 4)
    with pytest.raises(ConfigError, match="task"):
        make_batch("nope", 2)


@pytest.mark.gpu
def test_cuda_step_and_training_match_cpu():
    cell = _cell("gru").float()
    a, e, u = torch.randn(4, 5), torch.randn(4, 5), torch.randn(4, 3)
    cpu, _ = jslds_step(cell, a, e, u)
    gpu, _ = jslds_step(cell.cuda(), a.cuda(), e.cuda(), u.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)
    res = train_task("3bit", cotrain=True, n_steps=5, batch_size=16, hidden=8, device="cuda")
    assert res.device.type == "cuda" and all(math.isfinite(v) for v in res.history["total"])
    assert next(res.cell.parameters()).is_cuda
