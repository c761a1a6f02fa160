"""The fixed-point search with a completeness record (neurodyn.analysis.fixed_points.search), checked
against an independent dense-grid Newton search written here in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.analysis.fixed_points import locate_fixed_points
from neurodyn.analysis.fixed_points.point import classify
from neurodyn.analysis.fixed_points.search import (
    FixedPointSearch,
    deflation_log_gradient,
    search_fixed_points,
)
from neurodyn.cli.fixed_points import tanh_rnn_starts
from neurodyn.errors import ConfigError
from neurodyn.models.base import Dynamics, FixedPointRegion


def dense_newton_roots(residual_and_jacobian, n: int, per_axis: int, iters: int = 80) -> np.ndarray:
    """Distinct roots of G from a per_axis^n grid of cell centres over (−1, 1)ⁿ by plain Newton
    (steps capped at 0.5); ``residual_and_jacobian`` (B, n) → G (B, n), ∂G/∂z (B, n, n)."""
    axis = (np.arange(per_axis) + 0.5) / per_axis * 2 - 1
    z = np.stack(np.meshgrid(*([axis] * n), indexing="ij"), -1).reshape(-1, n)
    active = np.arange(len(z))
    for _ in range(iters):
        g, jac = residual_and_jacobian(z[active])
        moving = np.linalg.norm(g, axis=1) > 1e-13  # converged rows stay where they are
        active, g, jac = active[moving], g[moving], jac[moving]
        if not len(active):
            break
        step = np.linalg.solve(jac, -g[..., None])[..., 0]
        norm = np.linalg.norm(step, axis=1, keepdims=True)
        z[active] = np.clip(z[active] + step * np.minimum(1.0, 0.5 / np.maximum(norm, 1e-300)), -1.5, 1.5)
    g, _ = residual_and_jacobian(z)
    left, roots = z[np.linalg.norm(g, axis=1) < 1e-10], []
    while len(left):  # each root once: the first remaining and everything within 1e-6 of it
        roots.append(left[0])
        left = left[np.linalg.norm(left - left[0], axis=1) > 1e-6]
    return np.array(roots).reshape(-1, n)


def tanh_net(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """h ↦ tanh(W h + b) with W symmetric, eigenvalues in [1.5, 3], |b| ≤ 0.1: up to 3ⁿ fixed points."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return Q @ np.diag(rng.uniform(1.5, 3.0, n)) @ Q.T, rng.uniform(-0.1, 0.1, n)


def tanh_residual(W: np.ndarray, b: np.ndarray):
    def fn(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.tanh(z @ W.T + b)
        return t - z, (1 - t**2)[:, :, None] * W[None] - np.eye(len(b))

    return fn


def assert_same_points(found: FixedPointSearch, reference: np.ndarray, stable_reference: np.ndarray) -> None:
    z = np.array([p.z for p in found.points]).reshape(-1, reference.shape[1])
    assert len(z) == len(reference), f"found {len(z)} fixed points, the dense grid {len(reference)}"
    for r, stable in zip(reference, stable_reference, strict=True):
        distance = np.linalg.norm(z - r, axis=1)
        i = int(distance.argmin())
        assert distance[i] < 1e-8
        assert found.points[i].stable == stable


def _random_tanh_cases(n: int, count: int, seed: int):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        W, b = tanh_net(rng, n)
        reference = dense_newton_roots(tanh_residual(W, b), n, per_axis=121 if n == 2 else 31)
        if len(reference) >= 9:
            t = np.tanh(reference @ W.T + b)
            radius = np.abs(np.linalg.eigvals((1 - t**2)[:, :, None] * W[None])).max(-1)
            cases.append((W, b, reference, radius < 1))
    return cases


@pytest.mark.parametrize("n", [2, 3])
def test_every_fixed_point_of_25_random_tanh_networks_like_a_dense_grid_newton(n):
    kinds: set[str] = set()
    for W, b, reference, stable in _random_tanh_cases(n, 25, seed=n):
        Wt, bt = torch.tensor(W), torch.tensor(b)

        def step(z, Wt=Wt, bt=bt):
            return torch.tanh(z @ Wt.T + bt)

        cube = (-torch.ones(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64))
        for mode in ("grid", "space_filling"):
            found = search_fixed_points(step, n, region=cube, mode=mode)
            assert_same_points(found, reference, stable)
            record = found.completeness()
            assert record["new_in_last_round"] == 0 and record["rounds_without_new_points"] == 2
            assert record["estimated_total"] >= len(reference) and not record["truncated"]
            assert all(p.found_by == ("grid" if mode == "grid" else "space_filling") for p in found.points)
        kinds |= {classify(p.eigenvalues) for p in found.points}
    # stable points, saddles and sources are all among them
    assert {"stable node", "saddle", "unstable node"} <= kinds


def _gru(n: int, seed: int):
    torch.manual_seed(seed)
    cell = torch.nn.GRUCell(1, n).double()
    with torch.no_grad():  # a strong symmetric candidate recurrence: many fixed points
        Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64))
        cell.weight_hh[2 * n :] = Q @ torch.diag(torch.empty(n, dtype=torch.float64).uniform_(2.5, 5.0)) @ Q.T
        cell.bias_hh[2 * n :] *= 0.2
        cell.bias_ih[2 * n :] *= 0.2
    u = torch.zeros(1, 1, dtype=torch.float64)

    def step(h):
        return cell(u.expand(h.shape[0], 1), h)

    return step


@pytest.mark.parametrize("n", [2, 3])
def test_every_fixed_point_of_small_grus_like_a_dense_grid_newton(n):
    for seed in range(3):
        step = _gru(n, seed)
        jacobian = torch.func.vmap(torch.func.jacrev(lambda x, step=step: step(x[None])[0]))

        def residual(z, step=step, jacobian=jacobian):
            zt = torch.as_tensor(z)
            with torch.no_grad():
                g = (step(zt) - zt).numpy()
            return g, (jacobian(zt) - torch.eye(n, dtype=torch.float64)).detach().numpy()

        reference = dense_newton_roots(residual, n, per_axis=101 if n == 2 else 25, iters=60)
        with torch.no_grad():
            zt = torch.as_tensor(reference)
            stable = np.abs(np.linalg.eigvals(jacobian(zt).numpy())).max(-1) < 1
        assert len(reference) >= 5
        cube = (-torch.ones(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64))
        for mode in ("grid", "space_filling"):
            assert_same_points(search_fixed_points(step, n, region=cube, mode=mode), reference, stable)


def _flip_flop_3():
    W, b = 2.0 * np.eye(3), np.zeros(3)  # 27 fixed points: every coordinate in {−x*, 0, x*}
    Wt, bt = torch.tensor(W), torch.tensor(b)
    return lambda z: torch.tanh(z @ Wt.T + bt)


def test_deflation_finds_the_points_a_few_starts_miss():
    step = _flip_flop_3()
    cube = (-torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    plain = search_fixed_points(
        step, 3, region=cube, mode="space_filling", round_size=4, max_rounds=1, deflation_passes=0
    )
    deflated = search_fixed_points(step, 3, region=cube, mode="space_filling", round_size=4, max_rounds=1)
    assert len(plain.points) <= 4 < len(deflated.points)
    by_deflation = [p for p in deflated.points if p.found_by == "deflation"]
    assert len(by_deflation) == len(deflated.points) - sum(p.found_by == "space_filling" for p in deflated.points) > 0
    assert deflated.rounds[0].deflated_new_points == len(by_deflation)
    # every point found is a genuine fixed point, none repeated
    z = np.array([p.z for p in deflated.points])
    assert max(p.residual for p in deflated.points) < 1e-10
    assert np.min(np.linalg.norm(z[:, None] - z[None], axis=-1) + 10 * np.eye(len(z))) > 1e-3


def test_the_deflation_gradient_is_the_gradient_of_log_m():
    rng = np.random.default_rng(3)
    z = torch.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    known = torch.tensor(rng.standard_normal((4, 3)))
    d2 = ((z.unsqueeze(1) - known.unsqueeze(0)) ** 2).sum(-1)
    log_m = torch.log(1 / d2 + 1).sum(1)  # M = Π (‖d‖⁻² + 1)
    (grad,) = torch.autograd.grad(log_m.sum(), z)
    torch.testing.assert_close(deflation_log_gradient(z.detach(), known), grad, rtol=1e-12, atol=1e-12)


def test_the_source_that_free_runs_never_visit_is_found():
    # the networks: searched from visited states only, one of the 9 points can be missed;
    # the space-filling rounds find it and say which search did
    missed_before = 0
    for W, b, reference, stable in _random_tanh_cases(2, 6, seed=11):
        Wt, bt = torch.tensor(W), torch.tensor(b)

        def step(z, Wt=Wt, bt=bt):
            return torch.tanh(z @ Wt.T + bt)

        visited = tanh_rnn_starts(Wt, bt, 64, 0, n_trajectories=16, n_steps=50)
        cube = (-torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
        only = search_fixed_points(step, 2, visited=visited, region=cube, mode="visited")
        full = search_fixed_points(step, 2, visited=visited, region=cube, mode="space_filling")
        missed_before += len(only.points) < len(reference)
        assert_same_points(full, reference, stable)
        visited_points = {tuple(np.round(p.z, 8)) for p in only.points}
        for p in full.points:
            assert (p.found_by == "visited") == (tuple(np.round(p.z, 8)) in visited_points)
    assert missed_before >= 1


def test_a_continuum_of_fixed_points_stops_at_max_points_and_says_so():
    def step(z):  # every point of the z₁ axis is fixed: a line attractor
        return torch.stack([z[:, 0], 0.5 * z[:, 1]], -1)

    box = (-torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    found = search_fixed_points(step, 2, region=box, mode="space_filling", max_points=40)
    record = found.completeness()
    assert record["truncated"] and len(found.points) >= 40 and record["stopped"].startswith("40 points")
    assert all(abs(p.z[1]) < 1e-12 for p in found.points)


def test_four_latents_81_points_found_by_rounds_of_sobol_starts():
    W, b = 2.0 * np.eye(4), np.zeros(4)
    Wt, bt = torch.tensor(W), torch.tensor(b)
    x = dense_newton_roots(tanh_residual(W[:1, :1], b[:1]), 1, per_axis=101)[:, 0]  # the 1-D roots
    reference = np.stack(np.meshgrid(*([np.sort(x)] * 4), indexing="ij"), -1).reshape(-1, 4)
    found = search_fixed_points(
        lambda z: torch.tanh(z @ Wt.T + bt), 4, region=(-torch.ones(4), torch.ones(4)), mode="auto"
    )
    assert found.mode == "space_filling" and len(reference) == 81
    assert_same_points(found, reference, np.all(np.abs(reference) > 0.5, axis=1))
    assert found.completeness()["rounds_without_new_points"] == 2


def test_chao1_estimate_from_basin_counts():
    z = np.zeros(1)
    search = FixedPointSearch(
        points=[None] * 6,  # type: ignore[list-item]
        basin_counts=np.array([1, 1, 1, 2, 5, 40]),
        mode="space_filling",
        region=(z - 1, z + 1),
        region_kind="given",
    )
    # n + f1 (f1 − 1) / (2 (f2 + 1)) = 6 + 3·2 / 4
    assert search.chao1 == pytest.approx(7.5)


def test_dynamics_declare_their_region_and_locate_records_the_search():
    W = torch.tensor([[2.0, 0.0], [0.0, 1.5]], dtype=torch.float64)

    def step(z, u=None):
        return torch.tanh(z @ W.T)

    def region(u=None):
        return FixedPointRegion(-torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), "cube")

    visited = torch.tensor([[0.9, 0.8], [-0.9, 0.8]], dtype=torch.float64)
    bounded = Dynamics(latent_dim=2, input_dim=0, dt=0.1, step=step, fixed_point_region=region)
    located = locate_fixed_points(bounded, None, states=visited)
    assert len(located.points) == 9 and located.search["region_kind"] == "cube" and located.search["mode"] == "grid"
    # without a declared region the box is the visited states' bounding box widened by a quarter of its
    # extent per side (a flat side by the widest extent, 1.8): z₂ ∈ [0.35, 1.25] holds 3 of the 9 points
    unbounded = Dynamics(latent_dim=2, input_dim=0, dt=0.1, step=step)
    located = locate_fixed_points(unbounded, None, states=visited)
    assert located.search["region"][0] == pytest.approx([-1.35, 0.35]) and len(located.points) == 3
    assert all(p.z[1] > 0.35 for p in located.points)
    visited_only = locate_fixed_points(bounded, None, states=visited, search="visited")
    assert visited_only.search["mode"] == "visited" and len(visited_only.search["rounds"]) == 1


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"mode": "everywhere"}, "fixed_point_search"),
        ({"round_size": 0}, "round_size"),
        ({"max_rounds": 1.5}, "max_rounds"),
        ({"region": (torch.ones(2), -torch.ones(2))}, "fixed_point_search"),
        ({"region": None}, "fixed_point_search"),
    ],
)
def test_bad_search_settings_name_the_setting(kwargs, field):
    settings = {"region": (-torch.ones(2), torch.ones(2)), **kwargs}
    with pytest.raises(ConfigError) as err:
        search_fixed_points(lambda z: torch.tanh(2 * z), 2, **settings)
    assert field in str(err.value)
