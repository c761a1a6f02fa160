"""jPCA, eigen-planes and principal angles on systems whose rotation planes are known."""

import numpy as np
import pytest
from scipy.linalg import expm

from neurodyn.analysis.rotations import eigen_planes, jpca, match_planes, plane_angles
from neurodyn.errors import ConfigError

FREQS = np.array([3.0, 1.5, 0.5])  # Hz, one per plane
DT = 0.01


def _rotation_generator(decay: float = 0.0) -> np.ndarray:
    """(6, 6) block-diagonal continuous-time generator: three planes rotating at FREQS."""
    a = np.zeros((6, 6))
    for k, f in enumerate(FREQS):
        w = 2 * np.pi * f
        a[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = [[-decay, -w], [w, -decay]]
    return a


def _embedded_system(n: int = 20, n_conditions: int = 12, n_time: int = 60, seed: int = 0):
    """Condition trajectories of ẋ = A x in a random 6-dim subspace Q of R^n, plus a shared mean."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, 6)))
    step = expm(_rotation_generator() * DT)
    x0 = rng.standard_normal((n_conditions, 6)) * np.array([3, 3, 2, 2, 1, 1.0])
    states = [x0]
    for _ in range(n_time - 1):
        states.append(states[-1] @ step.T)
    latent = np.stack(states, axis=1)  # (C, T, 6)
    shared = np.sin(np.linspace(0, 3, n_time))[:, None] * rng.standard_normal(n)  # condition-independent
    return latent @ q.T + shared, q


def test_jpca_recovers_the_planes_and_frequencies_of_an_embedded_rotation():
    x, q = _embedded_system()
    res = jpca(x, DT, n_components=6)
    assert res.planes.shape == (3, 20, 2)
    # the midpoint rule fits (2/dt)·tan(ω dt/2) exactly: 0.3 % above ω at 3 Hz, dt = 10 ms
    omega = 2 * np.pi * FREQS
    np.testing.assert_allclose(res.frequencies_hz, 2 / DT * np.tan(omega * DT / 2) / (2 * np.pi), rtol=1e-6)
    truth = np.stack([q[:, 2 * k : 2 * k + 2] for k in range(3)])
    angles = plane_angles(res.planes, truth)
    assert np.all(np.diagonal(angles, axis1=0, axis2=1) < 0.5)  # each plane found, to < 0.5°
    assert np.all(angles[~np.eye(3, dtype=bool)] > 89.0)  # and not confused with another
    np.testing.assert_array_equal(match_planes(angles), [0, 1, 2])
    assert res.r2_skew > 0.999 and res.r2_unconstrained >= res.r2_skew - 1e-12
    np.testing.assert_allclose(res.components.T @ res.components, np.eye(6), atol=1e-10)
    assert res.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(res.plane_variance.sum(), 1.0, atol=1e-9)


def test_jpca_says_non_rotational_dynamics_are_not_rotational():
    rng = np.random.default_rng(1)
    decay = np.exp(-DT * np.array([1.0, 2, 3, 4, 5, 6]))  # pure decay, no rotation
    x0 = rng.standard_normal((10, 6))
    x = np.stack([x0 * decay**t for t in range(40)], axis=1)
    res = jpca(x, DT, n_components=6)
    assert res.r2_skew < 0.2 < res.r2_unconstrained


def test_eigen_planes_of_a_discrete_map_match_the_jpca_planes():
    x, q = _embedded_system()
    n = q.shape[0]
    # the discrete map: the rotation in Q, fast decay elsewhere (real eigenvalues: no plane)
    rest = np.eye(n) - q @ q.T
    jac = q @ expm(_rotation_generator(decay=0.5) * DT) @ q.T + 0.3 * rest
    lam, vec = np.linalg.eig(jac)
    planes = eigen_planes(lam, vec, DT)
    assert planes.planes.shape == (3, n, 2)
    np.testing.assert_allclose(np.sort(planes.frequencies_hz), np.sort(FREQS), rtol=1e-9)
    np.testing.assert_allclose(planes.decay_s, 2.0, rtol=1e-9)  # τ = 1 / 0.5 per second
    angles = plane_angles(jpca(x, DT).planes, planes.planes)
    matched = match_planes(angles)
    assert np.all(angles[np.arange(3), matched].max(axis=-1) < 0.5)
    np.testing.assert_allclose(planes.frequencies_hz[matched], FREQS, rtol=1e-9)
    assert eigen_planes(lam, vec, DT, max_planes=1).planes.shape == (1, n, 2)
    growing = eigen_planes(np.array([1.1j + 0.2, 0.5]), np.eye(2, dtype=complex), DT)
    assert growing.decay_s[0] < 0


def test_plane_angles_are_zero_for_the_same_plane_and_ninety_for_orthogonal_ones():
    e = np.eye(5)
    a = np.stack([e[:, :2], e[:, 2:4]])
    rotated = np.stack([e[:, :2] @ np.array([[0.6, -0.8], [0.8, 0.6]])])
    angles = plane_angles(a, rotated)
    np.testing.assert_allclose(angles[0, 0], [0, 0], atol=1e-6)
    np.testing.assert_allclose(angles[1, 0], [90, 90], atol=1e-6)
    assert match_planes(np.zeros((2, 0, 2))).tolist() == [-1, -1]


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((1, 10, 8)), "conditions"),
        (np.zeros((3, 2, 8)), "time steps"),
        (np.full((3, 10, 8), np.nan), "NaN"),
        (np.zeros((10, 8)), "conditions, time, dims"),
    ],
)
def test_jpca_rejects_unusable_trajectories(bad, match):
    with pytest.raises(ConfigError, match=match):
        jpca(bad, DT)


def test_jpca_rejects_bad_options():
    x, _ = _embedded_system(n=8)
    with pytest.raises(ConfigError, match="n_components"):
        jpca(x, DT, n_components=5)
    with pytest.raises(ConfigError, match="n_components"):
        jpca(x, DT, n_components=10)
    with pytest.raises(ConfigError, match="dt"):
        jpca(x, 0.0)
