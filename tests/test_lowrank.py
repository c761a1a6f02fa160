"""Tests for neurodyn.lowrank: closed-form embedding (Eqs. 9–11), OMP (Algorithm 1) and its command.

Reference: "A new look at low-rank recurrent neural networks" (anonymous, under review).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from scipy.optimize import brentq

from neurodyn.cli.lowrank import add_lowrank_commands, load_samples
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.lowrank import (
    LowRankFlow,
    design_matrix,
    embed_flow,
    even_part,
    fit_readout,
    odd_part,
    omp_lowrank,
    sample_basis,
)


def bistable(z: np.ndarray) -> np.ndarray:
    """ż = z − z³: stable fixed points at ±1, unstable at 0 (the paper's Fig. 1 and Fig. 3 example)."""
    return z - z**3


def symmetric_grid(half_width: float, n: int) -> np.ndarray:
    """(n, 1) points with z[i] = −z[n−1−i] exactly, so odd and even parts are exactly orthogonal."""
    z = np.linspace(-half_width, half_width, n)
    return ((z - z[::-1]) / 2)[:, None]


def hopf(z: np.ndarray, centre=(0.5, 0.0), omega: float = 1.0) -> np.ndarray:
    """Hopf normal form with a stable unit limit cycle around ``centre`` (not odd-symmetric about 0)."""
    x, y = z[:, 0] - centre[0], z[:, 1] - centre[1]
    r2 = x * x + y * y
    return np.stack([x - omega * y - x * r2, omega * x + y - y * r2], axis=1)


def plane_grid(half_width: float, n: int) -> np.ndarray:
    axis = np.linspace(-half_width, half_width, n)
    return np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)


# ---------------------------------------------------------------- embedding


def test_sample_basis_shapes_and_grid():
    M, I = sample_basis(30, 2, seed=1)
    assert M.shape == (30, 2) and I.shape == (30,)
    M1, _ = sample_basis(30, 2, seed=1)
    np.testing.assert_array_equal(M, M1)
    M, I = sample_basis(25, 1, kind="grid", input_scale=2.0, weight_scale=3.0)
    assert M.shape == (25, 1) and sorted(set(np.round(M[:, 0], 12))) == pytest.approx(np.linspace(-3, 3, 5))
    assert np.abs(I).max() == pytest.approx(2.0)
    M, I = sample_basis(40, 2, kind="grid", weight_scale=2.0)
    np.testing.assert_allclose(np.linalg.norm(M, axis=1), 2.0)  # directions on a circle
    assert len(np.unique(np.round(np.arctan2(M[:, 1], M[:, 0]), 9))) >= 7
    with pytest.raises(ConfigError, match="latent_dim 1 or 2"):
        sample_basis(10, 3, kind="grid")
    with pytest.raises(ConfigError, match="kind"):
        sample_basis(10, 1, kind="uniform")


def test_design_matrix_entries():
    z = np.array([[0.3, -1.0], [2.0, 0.5]])
    M = np.array([[1.0, 2.0], [-0.5, 0.0], [0.0, 1.0]])
    I = np.array([0.1, -0.2, 0.0])
    Phi = design_matrix(z, M, I, "tanh")
    assert Phi.shape == (2, 3)
    assert Phi[1, 0] == pytest.approx(np.tanh(2.0 + 1.0 + 0.1))
    relu = design_matrix(z, M, I, "relu")
    assert relu[0, 1] == 0.0 and relu[1, 2] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="nonlinearity"):
        design_matrix(z, M, I, "sigmoid")


def test_span_recovery_is_exact():
    """A target built from the same basis is recovered to rounding (least squares, Eq. 9)."""
    rng = np.random.default_rng(1)
    z = np.linspace(-2, 2, 200)[:, None]
    for k in (5, 20):
        M, I = sample_basis(k, 1, seed=3)
        true = LowRankFlow(M=M, N=rng.standard_normal((k, 1)), I=I, decay=1.0, nonlinearity="tanh")
        dz = true.flow(z)
        fit = embed_flow(z, dz, k, seed=3)
        np.testing.assert_array_equal(fit.M, M)
        assert np.abs(fit.flow(z) - dz).max() < 1e-10
        assert fit.rel_mse(z, dz) < 1e-20
        if k == 5:  # well conditioned: the weights themselves come back
            np.testing.assert_allclose(fit.N, true.N, atol=1e-10)


def test_fit_readout_weights_and_ridge():
    rng = np.random.default_rng(0)
    Phi = rng.standard_normal((50, 4))
    target = rng.standard_normal((50, 2))
    weights = rng.uniform(0.1, 2.0, 50)
    N = fit_readout(Phi, target, weights=weights)
    W = np.diag(weights)
    np.testing.assert_allclose(N, np.linalg.solve(Phi.T @ W @ Phi, Phi.T @ W @ target), atol=1e-10)
    N_ridge = fit_readout(Phi, target, ridge=3.0)
    np.testing.assert_allclose(N_ridge, np.linalg.solve(Phi.T @ Phi + 3.0 * np.eye(4), Phi.T @ target), atol=1e-10)
    with pytest.raises(ConfigError, match="weights"):
        fit_readout(Phi, target, weights=-weights)
    with pytest.raises(ConfigError, match="ridge"):
        fit_readout(Phi, target, ridge=-1.0)


def test_no_inputs_capture_only_the_odd_part():
    """I = 0 with odd tanh: only the odd part of g is embedded, the even part stays in the residual (Sec. 3)."""
    z = symmetric_grid(1.5, 301)
    g, g_minus = bistable(z) + 0.5, bistable(-z) + 0.5  # even part: the constant 0.5
    odd, even = odd_part(g, g_minus), even_part(g, g_minus)
    np.testing.assert_allclose(odd, bistable(z), atol=1e-15)
    no_input = embed_flow(z, g, 10, inputs=False, seed=0)
    odd_only = embed_flow(z, odd, 10, inputs=False, seed=0)
    assert np.all(no_input.I == 0)
    np.testing.assert_allclose(no_input.flow(z), odd_only.flow(z), atol=1e-6)
    np.testing.assert_allclose(g - no_input.flow(z), even, atol=1e-6)  # the residual is the even part
    np.testing.assert_allclose(no_input.flow(-z), -no_input.flow(z), atol=1e-12)
    assert no_input.rel_mse(z, g) == pytest.approx(np.sum(even**2) / np.sum(g**2), rel=1e-6)
    with_inputs = embed_flow(z, g, 10, inputs=True, seed=0)
    assert with_inputs.rel_mse(z, g) < 1e-8
    assert np.abs(with_inputs.flow(z) - g).max() < 1e-3


def test_hopf_limit_cycle_embeds_in_rank_two():
    """Fig. 2: a 2-D limit cycle is embedded by least squares in a Gaussian basis; without inputs it fails."""
    z = plane_grid(1.5, 31)
    dz = hopf(z)
    fit = embed_flow(z, dz, 100, seed=0)
    assert fit.M.shape == (100, 2) and fit.N.shape == (100, 2)
    assert fit.rel_mse(z, dz) < 1e-2
    assert fit.rel_mse(z, dz) < 1e-6  # measured ≈ 1e-9
    no_input = embed_flow(z, dz, 100, seed=0, inputs=False)
    assert no_input.rel_mse(z, dz) > 0.1  # a shifted cycle is not odd-symmetric
    # the fitted flow has the cycle: radial velocity vanishes on the unit circle around the centre
    theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    circle = np.stack([0.5 + np.cos(theta), np.sin(theta)], axis=1)
    radial = np.sum(fit.flow(circle) * (circle - [0.5, 0.0]), axis=1)
    assert np.abs(radial).max() < 1e-3


def test_jacobian_matches_finite_differences():
    M, I = sample_basis(12, 2, seed=4)
    flow = LowRankFlow(M=M, N=np.random.default_rng(4).standard_normal((12, 2)), I=I, decay=0.7, nonlinearity="tanh")
    z = np.array([[0.2, -0.4]])
    eps = 1e-6
    numeric = np.stack([(flow.flow(z + eps * e) - flow.flow(z - eps * e))[0] / (2 * eps) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(flow.jacobian(z)[0], numeric, atol=1e-8)


# ---------------------------------------------------------------- orthogonal matching pursuit


def _zeros(flow: LowRankFlow, lo: float, hi: float) -> list[float]:
    """Zeros of a 1-D flow on [lo, hi]: sign changes on a grid (even count: 0 is not a node), refined."""
    grid = np.linspace(lo, hi, 2000)
    values = flow.flow(grid)[:, 0]

    def f(x):
        return float(flow.flow(np.array([x]))[0, 0])

    return [brentq(f, grid[i], grid[i + 1]) for i in np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))]


@pytest.mark.parametrize("selection", ["omp", "ols"])
def test_omp_bistable_needs_few_neurons(selection):
    """Sec. 4 / Fig. 3: the bistable cubic needs about 5 neurons; the fit keeps its fixed points."""
    z = np.linspace(-1.5, 1.5, 301)[:, None]
    dz = bistable(z)
    result = omp_lowrank(z, dz, tol=1e-3, max_neurons=50, selection=selection)
    assert result.reached_tol and result.rel_mse <= 1e-3
    assert 1 <= result.n_neurons <= 6  # measured: omp 5, ols 3 (data-scaled basis; fixed: omp 6)
    assert len(result.curve) == result.n_neurons == len(result.selected) == result.flow.n_neurons
    assert np.all(np.diff(result.curve) <= 0)
    assert result.curve[0] < result.rel_mse_linear
    assert result.rel_mse == pytest.approx(result.curve[-1], rel=1e-6, abs=1e-12)
    assert result.rel_mse == pytest.approx(result.flow.rel_mse(z, dz))
    zeros = _zeros(result.flow, -1.5, 1.5)
    assert len(zeros) == 3
    np.testing.assert_allclose(zeros, [-1.0, 0.0, 1.0], atol=0.05)
    slopes = result.flow.jacobian(np.array(zeros))[:, 0, 0]
    assert slopes[0] < 0 and slopes[1] > 0 and slopes[2] < 0  # stable, unstable, stable


def test_omp_curve_nonincreasing_until_max_neurons():
    z = np.linspace(-1.5, 1.5, 201)[:, None]
    dz = bistable(z) + 0.3 * np.sin(3 * z)
    result = omp_lowrank(z, dz, tol=0.0, max_neurons=15, n_candidates=500, kind="gaussian", seed=2)
    assert result.n_neurons == 15 and not result.reached_tol
    assert np.all(np.diff(result.curve) <= 0)
    # the greedy refit equals a plain least-squares fit on the selected columns
    Phi = design_matrix(z, result.flow.M, result.flow.I)
    N = fit_readout(Phi, dz + z)
    np.testing.assert_allclose(result.flow.N, N, rtol=1e-6, atol=1e-8)


def test_omp_two_dimensional():
    z = plane_grid(1.5, 21)
    dz = hopf(z)
    result = omp_lowrank(z, dz, tol=1e-2, max_neurons=60, n_candidates=800)
    assert result.rel_mse <= 1e-2 and result.flow.M.shape == (result.n_neurons, 2)
    assert np.all(np.diff(result.curve) <= 0)


def scaled_bistable(a: float, n: int = 301) -> tuple[np.ndarray, np.ndarray]:
    """ż = z − z³/a² sampled uniformly on [−4a/3, 4a/3]: stable ±a, unstable 0."""
    z = np.linspace(-4 * a / 3, 4 * a / 3, n)[:, None]
    return z, z - z**3 / a**2


@pytest.mark.parametrize("refine", [False, True])
@pytest.mark.parametrize("a", [1.0, 3.0, 30.0])
def test_omp_data_scaled_basis_is_scale_free(a, refine):
    """The issue's target: ≤ 5 tanh neurons at every scale (fixed basis: 6, 7 and 24 at a = 1, 3, 30)."""
    z, dz = scaled_bistable(a)
    result = omp_lowrank(z, dz, tol=1e-3, refine=refine)
    assert result.reached_tol and result.rel_mse <= 1e-3
    assert result.n_neurons <= (3 if refine else 5)  # measured: 5 greedy, 3 refined, at every a
    assert result.rel_mse == pytest.approx(result.flow.rel_mse(z, dz))
    zeros = _zeros(result.flow, -4 * a / 3, 4 * a / 3)
    assert len(zeros) == 3
    np.testing.assert_allclose(np.array(zeros) / a, [-1.0, 0.0, 1.0], atol=0.03)
    slopes = result.flow.jacobian(np.array(zeros))[:, 0, 0]
    assert slopes[0] < 0 and slopes[1] > 0 and slopes[2] < 0


def test_omp_data_scaled_basis_maps_back_exactly():
    """Scaling and shifting z (and dz) by (s, c) gives the same fit: the same flow in the new units."""
    # random (asymmetric) samples: on a symmetric grid, mirrored candidates tie exactly
    z = np.sort(np.random.default_rng(0).uniform(-4 / 3, 4 / 3, 201))[:, None]
    dz = z - z**3
    base = omp_lowrank(z, dz, tol=1e-3, decay=0.0)
    moved = omp_lowrank(7.0 * z + 2.0, 7.0 * dz, tol=1e-3, decay=0.0)
    np.testing.assert_array_equal(moved.selected, base.selected)
    assert moved.rel_mse == pytest.approx(base.rel_mse, rel=1e-6)
    np.testing.assert_allclose(moved.flow.flow(7.0 * z + 2.0), 7.0 * base.flow.flow(z), rtol=1e-6, atol=1e-9)
    fixed = omp_lowrank(7.0 * z + 2.0, 7.0 * dz, tol=1e-3, decay=0.0, basis_scale="fixed")
    assert fixed.n_neurons > base.n_neurons  # the fixed ±1 basis does not fit the moved samples as well


@pytest.mark.parametrize(
    ("selection", "kind", "expected"),
    [
        ("omp", "auto", [10, 152, 270, 22, 42, 257, 108, 412, 481, 4]),
        ("ols", "auto", [11, 466, 206, 148]),
        ("omp", "gaussian", [284, 236, 495, 247, 438, 238, 348, 478, 403]),
    ],
)
def test_omp_fixed_basis_scale_keeps_previous_selection(selection, kind, expected):
    """basis_scale="fixed" is the former behaviour: these indices were recorded before the option existed."""
    a = 3.0 if selection == "omp" and kind == "auto" else 1.0
    z, dz = scaled_bistable(a, 301 if a == 3.0 else 201)
    result = omp_lowrank(z, dz, selection=selection, kind=kind, n_candidates=500, basis_scale="fixed")
    assert result.selected.tolist() == expected and not result.refined


def test_omp_refine_finds_three_neuron_flipflop():
    """3-bit flip-flop latent flow ż_c = −z_c + tanh(2z_c)/tanh(2) (Sec. 6, Fig. 5A: 3 neurons).

    The Gaussian candidates in 3-D are never axis-aligned, so greedy OMP needs many neurons; refining
    the first three selected neurons' slopes and offsets recovers the exact 3-neuron network.
    """
    axis = np.linspace(-1.5, 1.5, 7)
    Z = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    G = -Z + np.tanh(2 * Z) / np.tanh(2.0)
    greedy = omp_lowrank(Z, G, tol=1e-3, max_neurons=60)
    refined = omp_lowrank(Z, G, tol=1e-3, max_neurons=60, refine=True)
    assert greedy.n_neurons > 10  # measured: 60 (tol not reached)
    assert refined.refined and refined.reached_tol and refined.n_neurons == 3
    assert refined.rel_mse <= 1e-6  # measured: 3e-13
    assert len(refined.curve) == 3 and refined.curve[-1] > refined.rel_mse


def test_omp_rejects_bad_options():
    z = np.linspace(-1, 1, 20)[:, None]
    with pytest.raises(ConfigError, match="dz"):
        omp_lowrank(z, z[:10])
    with pytest.raises(ConfigError, match="max_neurons"):
        omp_lowrank(z, z, n_candidates=10, max_neurons=11)
    with pytest.raises(ConfigError, match="selection"):
        omp_lowrank(z, z, selection="best")
    with pytest.raises(ConfigError, match="basis_scale"):
        omp_lowrank(z, z, basis_scale="auto")
    with pytest.raises(ConfigError, match="z"):
        omp_lowrank(z * np.nan, z)


# ---------------------------------------------------------------- command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurodyn")
    add_lowrank_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(argv: list[str], capsys) -> dict:
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


def test_command_round_trip(tmp_path, capsys):
    z = np.linspace(-1.5, 1.5, 151)
    samples = tmp_path / "samples.npz"
    np.savez(samples, z=z[:, None], dz=bistable(z)[:, None])
    payload = _run(["lowrank", "omp", str(samples), "--tol", "1e-3", "--max-neurons", "20", "--seed", "1"], capsys)
    for key in ("n_neurons", "rel_mse", "curve", "M", "N", "I", "decay", "nonlinearity", "seconds", "selected"):
        assert key in payload
    k = payload["n_neurons"]
    M, N, I = np.array(payload["M"]), np.array(payload["N"]), np.array(payload["I"])
    assert M.shape == (k, 1) and N.shape == (k, 1) and I.shape == (k,) and len(payload["curve"]) == k
    assert payload["rel_mse"] <= 1e-3 and k <= 6
    # re-evaluate the documented flow −decay·z + Nᵀ tanh(M z + I) independently
    fitted = -payload["decay"] * z[:, None] + np.tanh(z[:, None] @ M.T + I) @ N
    rel = np.sum((fitted - bistable(z)[:, None]) ** 2) / np.sum(bistable(z) ** 2)
    assert rel == pytest.approx(payload["rel_mse"], rel=1e-9, abs=1e-15)
    out = tmp_path / "result.json"
    args = _parser().parse_args(["lowrank", "omp", str(samples), "--out", str(out), "--nonlinearity", "relu"])
    assert args.func(args) == 0
    written = json.loads(out.read_text())
    assert written["nonlinearity"] == "relu" and written["n_neurons"] >= 1


def test_command_basis_scale_and_refine(tmp_path, capsys):
    """z on [-40, 40] (the cubic's stable points at ±30): the data-scaled basis needs few neurons, the
    fixed one (slopes and offsets within ±1 in units of z) many; --refine needs no more."""
    a = 30.0
    z = np.linspace(-4 * a / 3, 4 * a / 3, 301)
    samples = tmp_path / "samples.npz"
    np.savez(samples, z=z[:, None], dz=(z - z**3 / a**2)[:, None])
    base = ["lowrank", "omp", str(samples), "--tol", "1e-3", "--max-neurons", "40"]
    data = _run(base, capsys)
    fixed = _run([*base, "--basis-scale", "fixed"], capsys)
    refined = _run([*base, "--refine"], capsys)
    assert data["basis_scale"] == "data" and fixed["basis_scale"] == "fixed" and refined["refined"] is True
    assert data["n_neurons"] <= 5 < fixed["n_neurons"]
    assert refined["n_neurons"] <= data["n_neurons"] and refined["rel_mse"] <= 1e-3


@pytest.mark.parametrize(
    "fields, key, message",
    [
        ({"z": np.zeros((10, 1))}, "dz", "missing field 'dz'"),
        ({"z": np.linspace(0, 1, 10)[:, None], "dz": np.full((10, 1), np.nan)}, "dz", "NaN"),
        ({"z": np.linspace(0, 1, 10)[:, None], "dz": np.ones((9, 1))}, "dz", "shape"),
        ({"z": np.ones((1, 1)), "dz": np.ones((1, 1))}, "z", "at least 2"),
        ({"z": np.ones((4, 2, 2)), "dz": np.ones((4, 2, 2))}, "z", "shape"),
        ({"z": np.array(["a", "b"]), "dz": np.ones(2)}, "z", "numeric"),
    ],
)
def test_command_rejects_bad_samples(tmp_path, capsys, fields, key, message):
    samples = tmp_path / "bad.npz"
    np.savez(samples, **fields)
    with pytest.raises(InputFileError) as info:
        load_samples(samples)
    text = str(info.value)
    assert str(samples) in text and message in text and (f"'{key}'" in text)
    args = _parser().parse_args(["lowrank", "omp", str(samples)])
    with pytest.raises(InputFileError):
        args.func(args)


def test_command_rejects_missing_file_and_bad_options(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        load_samples(tmp_path / "absent.npz")
    samples = tmp_path / "samples.npz"
    np.savez(samples, z=np.linspace(-1, 1, 20), dz=np.linspace(-1, 1, 20))
    args = _parser().parse_args(["lowrank", "omp", str(samples), "--candidates", "5", "--max-neurons", "6"])
    with pytest.raises(ConfigError, match="--max-neurons"):
        args.func(args)
    with pytest.raises(SystemExit):
        _parser().parse_args(["lowrank", "omp", str(samples), "--tol", "-1"])
