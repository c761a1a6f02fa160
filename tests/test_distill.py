"""Distilling a model's latent map into the smallest low-rank tanh RNN (neurodyn.analysis.distill)."""

from __future__ import annotations

import numpy as np
import torch

from neurodyn.analysis.distill import compare_fixed_points, distill_dynamics
from neurodyn.analysis.fixed_points import find_fixed_points
from neurodyn.models.base import Dynamics


def _bistable_2d():
    """z ↦ z + 0.1·(z₁ − z₁³, −z₂): stable points at (±1, 0), a saddle at the origin."""

    def step(z, u=None):
        z = z.to(torch.float64)
        return z + 0.1 * torch.stack([z[..., 0] - z[..., 0] ** 3, -z[..., 1]], -1)

    return Dynamics(latent_dim=2, input_dim=0, dt=0.01, step=step)


def test_distilled_network_has_the_source_fixed_points():
    dyn = _bistable_2d()
    rng = np.random.default_rng(0)
    states = rng.uniform([-1.5, -1.0], [1.5, 1.0], size=(1500, 2))
    source = find_fixed_points(dyn, None, states=torch.as_tensor(states[:300]))
    assert len(source) == 3 and sum(p.stable for p in source) == 2
    result = distill_dynamics(dyn, states, source, tol=1e-3, max_neurons=60)
    assert result.reached_tol and result.rel_mse <= 1e-3 and 1 <= result.n_neurons <= 60
    assert np.all(np.diff(result.curve) <= 0)
    comp = result.comparison
    assert comp["same"], comp
    assert comp["n_source"] == comp["n_distilled"] == comp["n_matched"] == 3 and comp["n_distilled_stable"] == 2
    assert comp["max_relative_distance"] < 0.05
    # the distilled map in original coordinates reproduces the source step on the states
    z = torch.as_tensor(states[:50])
    flow = (z.numpy() - result.centre) / result.scale
    velocity = -flow + np.tanh(flow @ result.M.T + result.I) @ result.N
    np.testing.assert_allclose(states[:50] + result.scale * velocity, dyn.step(z).numpy(), atol=0.02)
    assert result.to_json(0.01)["comparison"] == comp


def test_comparison_counts_missing_extra_and_unstable_mismatches():
    lo, hi = np.array([-2.0]), np.array([2.0])
    src = np.array([[-1.0], [0.0], [1.0], [5.0]])  # the last lies outside the box and is ignored
    stable = np.array([True, False, True, True])
    same = compare_fixed_points(src, stable, src[:3] + 0.01, stable[:3], lo=lo, hi=hi, scale=1.0)
    assert same["same"] and same["n_source"] == 3 and abs(same["max_relative_distance"] - 0.01) < 1e-12
    missing = compare_fixed_points(src, stable, src[:2], stable[:2], lo=lo, hi=hi, scale=1.0)
    assert not missing["same"] and missing["n_matched"] == 2
    flipped = compare_fixed_points(src, stable, src[:3], ~stable[:3], lo=lo, hi=hi, scale=1.0)
    assert not flipped["same"] and not flipped["stability_agrees"]
    far = compare_fixed_points(src, stable, src[:3] + 0.5, stable[:3], lo=lo, hi=hi, scale=1.0)
    assert far["n_matched"] == 0 and not far["same"]


def test_runaway_states_are_left_out():
    dyn = _bistable_2d()
    rng = np.random.default_rng(1)
    states = rng.uniform([-1.5, -1.0], [1.5, 1.0], size=(1500, 2))
    runaway = np.array([[1e150, 0.0], [3e200, 1.0]])  # the cubic overflows there
    source = find_fixed_points(dyn, None, states=torch.as_tensor(states[:300]))
    result = distill_dynamics(dyn, np.concatenate([states, runaway]), source, tol=1e-3, max_neurons=60)
    assert np.isfinite(result.scale) and result.scale < 2 and result.comparison["same"]
    import pytest

    from neurodyn.errors import NeurodynError

    with pytest.raises(NeurodynError, match="usable visited states"):
        distill_dynamics(dyn, runaway, source)
