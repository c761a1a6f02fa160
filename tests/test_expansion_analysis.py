"""Expansion-point eigenmodes and jPCA vs JSLDS eigen-planes on a linear system with known planes."""

import numpy as np
import pytest
import torch
from scipy.linalg import expm

from neurodyn.analysis.expansion import (
    expansion_modes,
    jpca_comparison,
    random_plane_angle,
)
from neurodyn.errors import ConfigError

DT = 0.01
FREQS = (4.0, 2.0, 0.7)


def _system(n: int = 16, n_conditions: int = 10, repeats: int = 2, n_time: int = 50, seed: int = 0):
    """Trials of the linear map h ↦ J h whose slow modes rotate in three known planes of R^n."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    gen = np.zeros((n, n))
    for k, f in enumerate(FREQS):
        w = 2 * np.pi * f
        gen[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = [[-0.2, -w], [w, -0.2]]
    gen[6:, 6:] = -40.0 * np.eye(n - 6)  # fast real decay: no rotation plane among the top ones
    jac = q @ expm(gen * DT) @ q.T
    x0 = rng.standard_normal((n_conditions, 6)) @ q[:, :6].T  # initial states in the rotation planes
    trials = np.repeat(x0, repeats, axis=0)
    states = [trials]
    for _ in range(n_time - 1):
        states.append(states[-1] @ jac.T)
    latents = np.stack(states, axis=1)
    conditions = np.repeat(np.arange(n_conditions), repeats).astype(str)
    step_matrix = torch.as_tensor(jac)

    def step(z: torch.Tensor) -> torch.Tensor:
        return z @ step_matrix.T

    planes = np.stack([q[:, 2 * k : 2 * k + 2] for k in range(3)])
    return step, latents, conditions, planes, jac


def test_jpca_planes_match_the_eigen_planes_of_the_linear_dynamics():
    step, latents, conditions, _, _ = _system()
    # a linear map has its (only) fixed point at 0: expansion points there
    expansion = 1e-3 * np.random.default_rng(1).standard_normal(latents.shape)
    summary, projection, names = jpca_comparison(step, latents, expansion, conditions, DT)
    assert summary["n_conditions"] == 10 and len(names) == 10 and projection.shape == (10, 50, 2)
    np.testing.assert_allclose(sorted(summary["expansion_frequencies_hz"]), sorted(FREQS), rtol=1e-9)
    np.testing.assert_allclose(summary["expansion_decay_s"], 5.0, rtol=1e-9)  # τ = 1 / 0.2 s
    # each jPCA plane is one of the eigen-planes (angles < 1°), matched to the one rotating at its frequency
    assert max(summary["matched_angle_deg"]) < 1.0
    jslds_hz = np.array(summary["expansion_frequencies_hz"])[summary["match"]]
    np.testing.assert_allclose(summary["jpca_frequencies_hz"], jslds_hz, rtol=0.01)
    assert summary["random_plane_angle_deg"] > 60 and summary["r2_skew"] > 0.95
    assert summary["expansion_point_q"] < 1e-5


def test_expansion_modes_report_the_jacobian_spectrum_along_the_trial():
    step, latents, _, _, jac = _system()
    time = np.arange(latents.shape[1]) * DT
    anchors = expansion_modes(step, latents, time, DT, n_anchors=5, n_modes=6)
    assert [a["time"] for a in anchors] == pytest.approx(time[[0, 12, 24, 37, 49]].tolist())
    lam = np.sort(np.abs(np.linalg.eigvals(jac)))[::-1][:6]
    for a in anchors:
        got = np.abs([complex(*v) for v in a["eigenvalues"]])
        np.testing.assert_allclose(got, lam, rtol=1e-9)
        np.testing.assert_allclose(a["time_constants_s"], 5.0, rtol=1e-6)
        assert sorted(set(np.round(a["frequencies_hz"], 6))) == pytest.approx(sorted(FREQS), rel=1e-6)
        # the anchor is the trial nearest the across-trial mean at its bin; q and spread as defined
        b = int(np.argmin(np.abs(time - a["time"])))
        mean = latents[:, b].mean(0)
        assert a["trial"] == int(np.argmin(((latents[:, b] - mean) ** 2).sum(-1)))
        z = latents[a["trial"], b]
        assert a["q"] == pytest.approx(0.5 * np.sum((jac @ z - z) ** 2), rel=1e-9)
        assert a["spread"] == pytest.approx(np.sqrt(((latents[:, b] - mean) ** 2).sum(-1).mean()), rel=1e-12)
    with pytest.raises(ConfigError, match="expansion"):
        expansion_modes(step, latents[0], time, DT)


def test_jpca_comparison_needs_two_conditions_or_uses_trials():
    step, latents, _, _, _ = _system()
    with pytest.raises(ConfigError, match="2 conditions"):
        jpca_comparison(step, latents, latents, np.zeros(latents.shape[0]).astype(str), DT)
    summary, projection, names = jpca_comparison(step, latents, 0 * latents, None, DT)
    assert summary["grouping"] == "trials" and summary["n_conditions"] == latents.shape[0] == len(names)
    assert projection.shape == (latents.shape[0], latents.shape[1], 2) and max(summary["matched_angle_deg"]) < 1.0


def test_random_plane_angle_grows_with_dimension():
    assert random_plane_angle(3) < random_plane_angle(50)
    assert random_plane_angle(50) > 75
