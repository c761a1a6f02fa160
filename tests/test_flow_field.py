"""Tests of the flow field of a latent map (neurodyn.analysis.flow_field) on maps with a known flow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.analysis.flow_field import MIN_SIDE_RATIO, flow_field, principal_plane


def linear_step(matrix: np.ndarray, offset: np.ndarray | None = None):
    a = torch.as_tensor(matrix, dtype=torch.float64)
    b = torch.zeros(a.shape[0], dtype=torch.float64) if offset is None else torch.as_tensor(offset)
    return lambda z: z @ a.T + b


def lattice_states(flow: dict) -> np.ndarray:
    """(Y, X, L) states of the lattice from the plane's coordinates, basis and centre."""
    gx, gy = np.meshgrid(flow["flow_x"], flow["flow_y"])
    return flow["flow_centre"] + gx[..., None] * flow["flow_basis"][:, 0] + gy[..., None] * flow["flow_basis"][:, 1]


def test_one_dimensional_linear_map_gives_the_known_increment_over_the_widened_range():
    visited = np.array([[-1.0], [0.5], [3.0]])
    flow = flow_field(linear_step(np.array([[0.8]])), visited, grid=7, widen=0.25)
    assert set(flow) == {"flow_x", "flow_u", "flow_basis", "flow_centre"}
    x = flow["flow_x"]
    assert x.shape == (49,) and flow["flow_u"].shape == (49,)
    assert x[0] == pytest.approx(-1.0 - 0.25 * 4.0) and x[-1] == pytest.approx(3.0 + 0.25 * 4.0)
    np.testing.assert_allclose(flow["flow_u"], (0.8 - 1.0) * x, atol=1e-12)
    np.testing.assert_array_equal(flow["flow_basis"], [[1.0]])
    np.testing.assert_array_equal(flow["flow_centre"], [0.0])


def test_two_dimensional_affine_map_on_the_widened_bounding_box():
    rng = np.random.default_rng(1)
    visited = rng.uniform([-2.0, -1.0], [2.0, 1.5], size=(200, 2))
    a = np.array([[0.9, -0.3], [0.2, 1.1]])
    b = np.array([0.1, -0.2])
    flow = flow_field(linear_step(a, b), visited, grid=11, widen=0.15)
    assert flow["flow_x"].shape == (11,) and flow["flow_y"].shape == (11,)
    assert flow["flow_u"].shape == flow["flow_v"].shape == (11, 11)
    assert "flow_w" not in flow
    lo, hi = visited.min(0), visited.max(0)
    np.testing.assert_allclose([flow["flow_x"][0], flow["flow_y"][0]], lo - 0.15 * (hi - lo))
    np.testing.assert_allclose([flow["flow_x"][-1], flow["flow_y"][-1]], hi + 0.15 * (hi - lo))
    z = lattice_states(flow)
    expected = z @ (a - np.eye(2)).T + b  # (Y, X, 2)
    np.testing.assert_allclose(flow["flow_u"], expected[..., 0], atol=1e-12)
    np.testing.assert_allclose(flow["flow_v"], expected[..., 1], atol=1e-12)
    # row index is y, column index is x
    np.testing.assert_allclose(z[3, 5], [flow["flow_x"][5], flow["flow_y"][3]])


def test_tanh_rnn_matches_a_direct_numpy_evaluation():
    w = np.array([[1.6, -0.7], [0.9, 0.4]])
    visited = np.array([[-1.2, -0.4], [0.8, 1.1], [0.1, 0.0]])
    weights = torch.as_tensor(w)
    flow = flow_field(lambda h: torch.tanh(h @ weights.T), visited, grid=9)
    for iy, y in enumerate(flow["flow_y"]):
        for ix, x in enumerate(flow["flow_x"]):
            h = np.array([x, y])
            du, dv = np.tanh(w @ h) - h
            assert flow["flow_u"][iy, ix] == pytest.approx(du, abs=1e-12)
            assert flow["flow_v"][iy, ix] == pytest.approx(dv, abs=1e-12)


def test_three_dimensional_section_lies_in_the_plane_of_the_visited_states():
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    mean = np.array([0.5, -1.0, 2.0])
    # a symmetric 20 × 20 patch: variance along q[:, 0], then q[:, 1], no covariance between them
    local = np.stack(np.meshgrid(np.linspace(-3, 3, 20), np.linspace(-1, 1, 20)), axis=-1).reshape(-1, 2)
    visited = (mean + local @ q[:, :2].T).reshape(20, 20, 3)
    a = np.array([[0.9, -0.2, 0.1], [0.3, 0.8, 0.0], [0.0, 0.2, 0.7]])
    flow = flow_field(linear_step(a), visited, grid=8)
    basis, centre = flow["flow_basis"], flow["flow_centre"]
    assert basis.shape == (3, 2) and centre.shape == (3,)
    np.testing.assert_allclose(basis.T @ basis, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(basis @ basis.T, q[:, :2] @ q[:, :2].T, atol=1e-9)  # the same plane
    np.testing.assert_allclose(np.abs(basis.T @ q[:, :2]), np.eye(2), atol=1e-9)  # PC 1 first
    np.testing.assert_allclose(centre, visited.reshape(-1, 3).mean(0), atol=1e-12)
    z = lattice_states(flow)
    displacement = z @ (a - np.eye(3)).T
    np.testing.assert_allclose(flow["flow_u"], displacement @ basis[:, 0], atol=1e-12)
    np.testing.assert_allclose(flow["flow_v"], displacement @ basis[:, 1], atol=1e-12)
    normal = np.cross(basis[:, 0], basis[:, 1])
    np.testing.assert_allclose(flow["flow_w"], displacement @ normal, atol=1e-12)
    # in-plane plus normal components give back the whole displacement
    rebuilt = (
        flow["flow_u"][..., None] * basis[:, 0]
        + flow["flow_v"][..., None] * basis[:, 1]
        + flow["flow_w"][..., None] * normal
    )
    np.testing.assert_allclose(rebuilt, displacement, atol=1e-12)


def test_a_map_that_keeps_the_plane_has_no_normal_flow():
    """A rotation of the (z1, z2) plane with states in z3 = 0: the section is exact."""
    theta = 0.3
    a = np.array([[np.cos(theta), -np.sin(theta), 0.0], [np.sin(theta), np.cos(theta), 0.0], [0.0, 0.0, 0.5]])
    visited = np.stack([np.cos(np.arange(50)), 0.5 * np.sin(np.arange(50)), np.zeros(50)], axis=1)
    flow = flow_field(linear_step(a), visited, grid=6)
    np.testing.assert_allclose(flow["flow_w"], 0.0, atol=1e-12)
    assert np.abs(flow["flow_u"]).max() > 0.1


def test_principal_plane_signs_do_not_depend_on_the_svd():
    rng = np.random.default_rng(3)
    states = rng.normal(size=(100, 3)) * [2.0, 1.0, 0.1]
    _, basis = principal_plane(states)
    _, flipped = principal_plane(-states + 2 * states.mean(0))  # the same cloud mirrored
    for k in range(2):
        assert basis[np.argmax(np.abs(basis[:, k])), k] > 0
    np.testing.assert_allclose(np.abs(basis), np.abs(flipped), atol=1e-9)


def test_the_lattice_goes_through_step_once_without_gradients():
    calls = []

    def step(z: torch.Tensor) -> torch.Tensor:
        calls.append((tuple(z.shape), z.dtype, torch.is_grad_enabled()))
        return 0.5 * z

    flow_field(step, np.array([[0.0, 0.0], [1.0, 2.0]]), grid=13)
    assert calls == [((169, 2), torch.float64, False)]


def test_non_finite_visited_rows_are_ignored_and_too_few_give_nothing():
    step = linear_step(np.eye(2) * 0.5)
    visited = np.array([[0.0, 0.0], [np.nan, 5.0], [1.0, 1.0], [np.inf, 0.0]])
    flow = flow_field(step, visited, grid=5, widen=0.0)
    assert flow["flow_x"][[0, -1]].tolist() == [0.0, 1.0] and flow["flow_y"][[0, -1]].tolist() == [0.0, 1.0]
    assert flow_field(step, np.array([[0.0, 0.0], [np.nan, 1.0]])) == {}
    assert flow_field(step, np.full((10, 2), np.nan)) == {}
    assert flow_field(lambda z: z, np.zeros((10, 4))) == {}  # four latents: no flow field


def test_non_finite_next_states_give_nan_flow():
    def step(z: torch.Tensor) -> torch.Tensor:
        out = 0.5 * z
        out[z[:, 0] > 0.5] = float("inf")
        return out

    flow = flow_field(step, np.array([[0.0, 0.0], [1.0, 1.0]]), grid=5, widen=0.0)
    right = flow["flow_x"] > 0.5
    assert np.isnan(flow["flow_u"][:, right]).all() and np.isnan(flow["flow_v"][:, right]).all()
    assert np.isfinite(flow["flow_u"][:, ~right]).all()


def test_windows_of_degenerate_and_elongated_clouds():
    step = linear_step(np.eye(2))
    point = flow_field(step, np.array([[2.0, -1.0], [2.0, -1.0]]), grid=5)
    assert point["flow_x"][[0, -1]].tolist() == [1.0, 3.0] and point["flow_y"][[0, -1]].tolist() == [-2.0, 0.0]
    line = flow_field(step, np.array([[0.0, 0.0], [10.0, 0.0]]), grid=5, widen=0.0)
    assert np.ptp(line["flow_x"]) == pytest.approx(10.0)
    assert np.ptp(line["flow_y"]) == pytest.approx(MIN_SIDE_RATIO * 10.0)
    assert line["flow_y"].mean() == pytest.approx(0.0)
    np.testing.assert_allclose(line["flow_u"], 0.0)  # the identity map does not move
