"""Selection vectors of the 3-bit task (Smith, Linderman & Sussillo 2021, Figs. A.1–A.2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from neurodyn.errors import ConfigError
from neurodyn.studies.jslds_tasks.analysis import (
    effective_inputs,
    flip_table,
    group_by_output_state,
    normalised_products,
    three_bit_selection,
)
from neurodyn.studies.jslds_tasks.train import train_task

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


class DiagonalLinearCell(nn.Module):
    """h' = diag(a) h + B u: left eigenvectors are the unit vectors, J_u = B."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.a, self.b = nn.Parameter(a), nn.Parameter(b)
        self.n_hidden, self.n_inputs = b.shape

    def forward(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return h * self.a + u @ self.b.T


def test_effective_inputs_and_products_are_exact_for_a_linear_cell():
    g = torch.Generator().manual_seed(0)
    b = torch.randn(4, 3, generator=g, dtype=torch.float64)
    cell = DiagonalLinearCell(torch.tensor([0.9, 0.5, 0.3, 0.1], dtype=torch.float64), b)
    points = torch.randn(2, 4, generator=g, dtype=torch.float64)
    u_star = torch.tensor([0.0, 0.5, 0.0], dtype=torch.float64)
    inputs = torch.eye(3, dtype=torch.float64)
    eff = effective_inputs(cell, points, u_star, inputs)
    expected = b @ (inputs - u_star).T
    torch.testing.assert_close(eff, expected.expand(2, -1, -1))
    # with the unit vectors as left eigenvectors the product is |B_i·(u − u*)| / ‖B (u − u*)‖
    prod = normalised_products(torch.eye(4, dtype=torch.float64).expand(2, -1, -1), eff)
    torch.testing.assert_close(prod[0], expected.abs() / expected.norm(dim=0))
    assert float(prod.detach().max()) <= 1 + 1e-12
    zero = normalised_products(torch.eye(4, dtype=torch.float64)[None], torch.zeros(1, 4, 2, dtype=torch.float64))
    assert float(zero.detach().abs().max()) == 0.0


def test_group_by_output_state_averages_points_per_stored_state():
    states = np.array([[[1, 1, 0], [1, 1, -1], [1, 1, -1]], [[-1, 1, -1], [-1, 1, -1], [1, 1, -1]]])
    points = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    labels, means, counts, spread = group_by_output_state(points, states)
    assert labels.tolist() == [[-1, 1, -1], [1, 1, -1]]
    assert counts.tolist() == [2, 3]
    np.testing.assert_allclose(means[0], points[1, :2].mean(0))
    np.testing.assert_allclose(means[1], np.stack([points[0, 1], points[0, 2], points[1, 2]]).mean(0))
    assert spread[0] == pytest.approx(np.sqrt(2.0))
    with pytest.raises(ConfigError, match="every output state"):
        group_by_output_state(points, np.zeros_like(states))
    with pytest.raises(ConfigError, match="shape"):
        group_by_output_state(points[:1], states)


def test_flip_table_marks_the_pulses_that_change_a_stored_bit():
    flips = flip_table(np.array([[1, -1, 1]]))
    # inputs: 1−, 1+, 2−, 2+, 3−, 3+
    assert flips.tolist() == [[True, False, False, True, True, False]]


def test_three_bit_selection_on_a_co_trained_model(tmp_path):
    res = train_task("3bit", cotrain=True, n_steps=150, batch_size=32, hidden=12, seed=0, device="cpu")
    sel = three_bit_selection(res.cell, res.readout, res.expansion, n_trials=64, seed=3, n_vectors=5)
    s = sel.output_states.shape[0]
    assert sel.output_states.shape == (s, 3) and 1 <= s <= 8 and set(np.unique(sel.output_states)) <= {-1, 1}
    assert sel.selection.shape == (s, 5, 6) and sel.readout.shape == (s, 3, 6)
    assert np.all((sel.selection >= 0) & (sel.selection <= 1 + 1e-9))
    assert np.all(np.abs(sel.eigenvalues[:, :-1]) >= np.abs(sel.eigenvalues[:, 1:]) - 1e-12)
    assert sel.counts.sum() > 0 and np.all(sel.speed >= 0)
    payload = json.loads(json.dumps(sel.to_json()))
    assert set(payload) >= {"selection_flip_mean", "selection_hold_mean", "readout_flip_mean", "eigenvalues"}
