"""Tests for neurodyn.analysis.fixed_points.plrnn (PLRNN fixed points, k-cycles, continuous time) and the
PLRNN branch of ``neurodyn fixed-points``.

References are written independently here: a plain numpy loop over all activation patterns (and
pattern sequences for cycles), the map F itself iterated in numpy, and an RK4 integration of the
continuous-time system.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import scipy.linalg
import torch

from neurodyn.analysis.fixed_points import FixedPoint, find_fixed_points
from neurodyn.analysis.fixed_points.plrnn import (
    continuous_time_fixed_points,
    continuous_time_region,
    plrnn_cycles,
    plrnn_fixed_points,
    plrnn_map,
    to_fixed_points,
)
from neurodyn.cli import main
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.models.base import Dynamics
from neurodyn.models.structure import PLRNNMap

# --- independent references --------------------------------------------------------------------


def F(a, W, h, z):
    """The PLRNN map in numpy: a ⊙ z + W relu(z) + h."""
    return a * z + W @ np.maximum(z, 0) + h


def jac(a, W, d):
    return np.diag(a) + W * np.asarray(d, float)[None, :]


def brute_force_fixed_points(a, W, h):
    """All (z, stable, label) by looping over every pattern; singular patterns skipped."""
    M = len(a)
    out = []
    for d in itertools.product([0, 1], repeat=M):
        J = jac(a, W, d)
        L = np.eye(M) - J
        if np.linalg.cond(L) > 1e10:
            continue
        z = np.linalg.solve(L, h)
        if all((z[i] > 0) if d[i] else (z[i] <= 0) for i in range(M)):
            out.append((z, bool(np.abs(np.linalg.eigvals(J)).max() < 1), "".join(map(str, d))))
    out.sort(key=lambda t: tuple(t[0]))
    return out


def brute_force_cycles(a, W, h, k):
    """All k-cycles (minimal period k) as sets of points, by looping over every pattern sequence."""
    M = len(a)
    cycles = []
    for flat in itertools.product([0, 1], repeat=M * k):
        seq = np.array(flat).reshape(k, M)
        P, c = np.eye(M), np.zeros(M)
        for d in seq:
            J = jac(a, W, d)
            P, c = J @ P, J @ c + h
        if np.linalg.cond(np.eye(M) - P) > 1e10:
            continue
        z = np.linalg.solve(np.eye(M) - P, c)
        orbit = [z]
        for d in seq[:-1]:
            orbit.append(jac(a, W, d) @ orbit[-1] + h)
        orbit = np.array(orbit)
        if not np.all(np.where(seq == 1, orbit > 0, orbit <= 0)):
            continue
        if any(np.abs(orbit[p] - orbit[0]).max() < 1e-9 for p in range(1, k)):
            continue  # a lower-order orbit
        if not any(same_cycle(orbit, other) for other in cycles):
            cycles.append(orbit)
    return cycles


def same_cycle(x, y, atol=1e-8):
    """Whether two orbits (k, M) are the same cycle up to rotation."""
    return x.shape == y.shape and any(np.abs(np.roll(y, -r, axis=0) - x).max() < atol for r in range(len(x)))


def random_plrnn(rng, M, *, gain=0.8):
    """Random multistable PLRNNs: uncoupled, each unit (slope aᵢ < 1 below 0, aᵢ + wᵢᵢ > 1 above, hᵢ < 0)
    has two fixed points; random coupling of strength ``gain`` removes some of the 2^M."""
    a = rng.uniform(0.1, 0.7, M)
    W = gain * rng.standard_normal((M, M)) / np.sqrt(M) + np.diag(rng.uniform(1.1, 1.6, M) - a)
    h = -rng.uniform(0.2, 1.0, M)
    return a, W, h


def oscillating_plrnn(rng, M, *, gain=0.6):
    """Random PLRNNs whose units overshoot (slope aᵢ + wᵢᵢ < −1 above 0, hᵢ > 0): 2- and 3-cycles are common."""
    a = rng.uniform(0.2, 0.9, M)
    W = gain * rng.standard_normal((M, M)) / np.sqrt(M) + np.diag(rng.uniform(-3.0, -1.5, M))
    h = rng.uniform(0.3, 1.5, M)
    return a, W, h


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The batches here are tiny; on a busy 2-core machine OpenMP threads spinning on them made the
    searches ~20× slower than one thread, so this file runs single-threaded (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_same_fixed_points(result, reference, atol=1e-8):
    assert len(result) == len(reference), f"{len(result)} fixed points found, {len(reference)} expected"
    if reference:
        np.testing.assert_allclose(result.z, np.array([r[0] for r in reference]), atol=atol, rtol=0)
        assert list(result.stable) == [r[1] for r in reference]
        assert result.regions == [r[2] for r in reference]


# --- fixed points: exhaustive --------------------------------------------------------------------


def test_exhaustive_matches_brute_force_on_random_plrnns():
    n_stable = 0
    for M in range(2, 7):
        for seed in range(8):
            rng = np.random.default_rng(100 * M + seed)
            a, W, h = random_plrnn(rng, M, gain=rng.uniform(0.3, 1.5))
            ref = brute_force_fixed_points(a, W, h)
            res = plrnn_fixed_points(a, W, h)
            assert res.method == "exhaustive" and res.n_linear_solves == 2**M
            assert_same_fixed_points(res, ref)
            assert np.all(res.residuals < 1e-10) and not res.on_boundary.any()
            assert len(ref) >= 2, "these systems are multistable, or the comparison is weak"
            n_stable += int(res.stable.sum())
    assert n_stable >= 40


def test_chunking_torch_inputs_and_diagonal_matrix_A_do_not_change_the_result():
    a, W, h = random_plrnn(np.random.default_rng(5), 6)
    ref = plrnn_fixed_points(a, W, h)
    assert len(ref) >= 2
    for res in (
        plrnn_fixed_points(a, W, h, chunk_size=7),
        plrnn_fixed_points(torch.tensor(np.diag(a)), torch.tensor(W), torch.tensor(h)),
    ):
        np.testing.assert_array_equal(res.z, ref.z)
        assert res.regions == ref.regions


def test_bistable_1d_and_uncoupled_2d_maps():
    # F(z) = 0.5 z + relu(z) − 0.2: z* = −0.4 (slope 0.5, stable), z* = 0.4 (slope 1.5, unstable)
    res = plrnn_fixed_points([0.5], [[1.0]], [-0.2])
    np.testing.assert_allclose(res.z[:, 0], [-0.4, 0.4], atol=1e-14)
    assert list(res.stable) == [True, False] and res.regions == ["0", "1"]
    np.testing.assert_allclose(res.eigenvalues[:, 0], [0.5, 1.5])
    # two copies of it: four fixed points, only (−0.4, −0.4) stable
    res = plrnn_fixed_points([0.5, 0.5], np.eye(2), [-0.2, -0.2])
    np.testing.assert_allclose(res.z, [[-0.4, -0.4], [-0.4, 0.4], [0.4, -0.4], [0.4, 0.4]], atol=1e-14)
    assert list(res.stable) == [True, False, False, False]
    assert res.regions == ["00", "01", "10", "11"]


def test_fixed_point_on_a_region_boundary_is_reported_once():
    # F(z) = 0.5 z − relu(z): z* = 0 solves both the "0" and the "1" system
    res = plrnn_fixed_points([0.5], [[-1.0]], [0.0])
    assert len(res) == 1 and res.z[0, 0] == 0 and res.on_boundary[0]
    assert res.regions == ["0"], "z = 0 belongs to the z ≤ 0 region"
    assert "boundary" in to_fixed_points(res)[0].method


def test_line_attractor_of_the_paper_is_singular_and_does_not_crash():
    # Schmidt et al. 2021, Suppl. 7.1.1 (addition problem), input s = 0: F(z) = (z₁ + relu(z₂), −1),
    # a line of fixed points {(z₁, −1)}: regions 00 and 10 have singular but consistent systems.
    A, W, h, C = np.diag([1.0, 0.0]), np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([0.0, -1.0]), np.eye(2)
    res = plrnn_fixed_points(A, W, h)
    assert len(res) == 0 and res.n_singular == 4
    assert res.singular_regions == ["00", "10"]
    np.testing.assert_allclose(res.singular_points[:, 1], [-1, -1])
    for z in res.singular_points:  # points of the continuum are fixed points
        np.testing.assert_allclose(F(np.diag(A), W, h, z), z, atol=1e-8)
    cycles = plrnn_cycles(A, W, h, 3)
    assert len(cycles) == 0 and "00,00" in cycles.singular_sequences
    # with input s = (1, 0) the first unit drifts: singular and inconsistent, so no continuum either
    res = plrnn_fixed_points(A, W, h + C @ np.array([1.0, 0.0]))
    assert len(res) == 0 and res.n_singular == 4 and res.singular_regions == []
    # the identity map: every point is fixed, every region singular and met by its continuum
    res = plrnn_fixed_points(np.ones(3), np.zeros((3, 3)), np.zeros(3))
    assert len(res) == 0 and len(res.singular_regions) == 8 and res.n_singular_unchecked == 0
    assert not plrnn_fixed_points(A, W, h, method="heuristic", n_restarts=64).z.size


def test_bad_parameters_raise_config_errors():
    with pytest.raises(ConfigError, match="'A'"):
        plrnn_fixed_points([[0.5, 0.1], [0.0, 0.5]], np.eye(2), np.zeros(2))
    with pytest.raises(ConfigError, match="'h'"):
        plrnn_fixed_points([0.5, 0.5], np.eye(2), np.zeros(3))
    with pytest.raises(ConfigError, match="'W'"):
        plrnn_fixed_points([0.5, 0.5], np.full((2, 2), np.inf), np.zeros(2))
    with pytest.raises(ConfigError, match="method"):
        plrnn_fixed_points([0.5], [[1.0]], [0.0], method="newton")


# --- fixed points: SCYFI heuristic -----------------------------------------------------------------


def test_heuristic_finds_every_fixed_point_of_random_8_to_10_unit_systems():
    total = 0
    for M, seed in ((8, 0), (8, 1), (9, 2), (10, 3), (10, 4)):
        a, W, h = random_plrnn(np.random.default_rng(700 + seed), M, gain=1.0)
        exact = plrnn_fixed_points(a, W, h)
        heur = plrnn_fixed_points(a, W, h, method="heuristic", n_restarts=4096, max_iters=50, seed=seed)
        assert heur.method == "heuristic"
        assert heur.z.shape == exact.z.shape
        np.testing.assert_allclose(heur.z, exact.z, atol=1e-9)
        assert heur.regions == exact.regions and list(heur.stable) == list(exact.stable)
        total += len(exact)
    assert total >= 10


def test_heuristic_on_30_units_returns_only_consistent_fixed_points():
    M = 30
    a, W, h = random_plrnn(np.random.default_rng(30), M, gain=0.5)
    res = plrnn_fixed_points(a, W, h, n_restarts=256, max_iters=60)
    assert res.method == "heuristic" and len(res) >= 1
    for z, label, stable, eig in zip(res.z, res.regions, res.stable, res.eigenvalues):
        np.testing.assert_allclose(F(a, W, h, z), z, atol=1e-9)
        assert label == "".join("1" if x > 0 else "0" for x in z)
        J = jac(a, W, z > 0)
        assert stable == bool(np.abs(np.linalg.eigvals(J)).max() < 1)
        np.testing.assert_allclose(np.sort(np.abs(eig)), np.sort(np.abs(np.linalg.eigvals(J))), atol=1e-9)
    assert len({tuple(np.round(z, 6)) for z in res.z}) == len(res)


# --- cycles --------------------------------------------------------------------------------------


def test_known_two_cycle_of_a_1d_map():
    # F(z) = 0.5 z − 2 relu(z) + 1: slope 0.5 for z ≤ 0, −1.5 for z > 0; the 2-cycle solves
    # z₂ = 0.5 z₁ + 1, z₁ = −1.5 z₂ + 1 → z₁ = −2/7, z₂ = 6/7, multiplier 0.5·(−1.5) = −0.75.
    a, W, h = [0.5], [[-2.0]], [1.0]
    fixed = plrnn_fixed_points(a, W, h)
    np.testing.assert_allclose(fixed.z[:, 0], [0.4])
    assert list(fixed.stable) == [False]
    res = plrnn_cycles(a, W, h, 4)
    assert [c.order for c in res.cycles] == [2], "no 3- or 4-cycles, and the 2-cycle once (not per rotation)"
    cyc = res.cycles[0]
    np.testing.assert_allclose(cyc.points[:, 0], [-2 / 7, 6 / 7], atol=1e-14)
    assert cyc.regions == ["0", "1"] and cyc.stable
    np.testing.assert_allclose(cyc.eigenvalues, [-0.75])
    out = cyc.to_json()
    assert out["order"] == 2 and out["stable"] is True and out["eigenvalues"] == [[-0.75, 0.0]]


def cycle_systems():
    """Small overshooting systems: together they have 2- and 3-cycles."""
    for seed in range(8):
        M = 2 if seed < 5 else 3
        yield M, oscillating_plrnn(np.random.default_rng(50 + seed), M)


def test_cycles_match_brute_force_and_are_exact_orbits_of_minimal_period():
    n_cycles = {2: 0, 3: 0}
    for M, (a, W, h) in cycle_systems():
        max_order = 3
        res = plrnn_cycles(a, W, h, max_order)
        assert set(res.methods.values()) == {"exhaustive"}
        for k in range(2, max_order + 1):
            ref = brute_force_cycles(a, W, h, k)
            found = res.of_order(k)
            assert len(found) == len(ref)
            for cyc in found:
                assert any(same_cycle(cyc.points, r) for r in ref)
                z = cyc.points[0]
                for t in range(k):  # each point maps onto the next, and F^k back onto the start
                    np.testing.assert_allclose(F(a, W, h, cyc.points[t]), cyc.points[(t + 1) % k], atol=1e-9)
                    z = F(a, W, h, z)
                np.testing.assert_allclose(z, cyc.points[0], atol=1e-9)
                assert all(np.abs(cyc.points[p] - cyc.points[0]).max() > 1e-6 for p in range(1, k))
                P = np.eye(M)
                for x in cyc.points:
                    P = jac(a, W, x > 0) @ P
                assert cyc.stable == bool(np.abs(np.linalg.eigvals(P)).max() < 1)
                np.testing.assert_allclose(
                    np.sort_complex(cyc.eigenvalues), np.sort_complex(np.linalg.eigvals(P)), atol=1e-9
                )
            n_cycles[k] += len(found)
    assert n_cycles[2] >= 5 and n_cycles[3] >= 3, "the systems should have cycles, or the comparison is weak"


def test_heuristic_cycles_agree_with_exhaustive_on_a_small_system():
    compared = 0
    for _M, (a, W, h) in cycle_systems():
        exact = plrnn_cycles(a, W, h, 3)
        heur = plrnn_cycles(a, W, h, 3, method="heuristic", n_restarts=2048, max_iters=30)
        assert set(heur.methods.values()) == {"heuristic"}
        assert [c.order for c in heur.cycles] == [c.order for c in exact.cycles]
        for x, y in zip(exact.cycles, heur.cycles):
            np.testing.assert_allclose(x.points, y.points, atol=1e-9)
            assert x.regions == y.regions and x.stable == y.stable
        compared += len(exact)
    assert compared >= 5


def test_cycle_chunking_and_a_larger_system_use_the_heuristic():
    _, (a, W, h) = next(iter(cycle_systems()))
    ref = plrnn_cycles(a, W, h, 3)
    small = plrnn_cycles(a, W, h, 3, chunk_size=5)
    assert [c.points.tolist() for c in small.cycles] == [c.points.tolist() for c in ref.cycles]
    a, W, h = oscillating_plrnn(np.random.default_rng(9), 12)
    res = plrnn_cycles(a, W, h, 2, n_restarts=256, max_iters=30)
    assert res.methods == {2: "heuristic"} and len(res) >= 1
    for cyc in res.cycles:
        np.testing.assert_allclose(F(a, W, h, F(a, W, h, cyc.points[0])), cyc.points[0], atol=1e-9)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    a, W, h = random_plrnn(np.random.default_rng(3), 9)
    cpu = plrnn_fixed_points(a, W, h)
    for method in ("exhaustive", "heuristic"):
        gpu = plrnn_fixed_points(a, W, h, method=method, device="cuda", n_restarts=4096)
        np.testing.assert_allclose(gpu.z, cpu.z, atol=1e-9)
        assert gpu.regions == cpu.regions
    a, W, h = oscillating_plrnn(np.random.default_rng(55), 3)
    ref, gpu = plrnn_cycles(a, W, h, 3), plrnn_cycles(a, W, h, 3, device="cuda")
    assert [c.regions for c in gpu.cycles] == [c.regions for c in ref.cycles]


# --- continuous time ------------------------------------------------------------------------------


def rk4(f, z, t_end, n_steps):
    dt = t_end / n_steps
    for _ in range(n_steps):
        k1 = f(z)
        k2 = f(z + dt / 2 * k1)
        k3 = f(z + dt / 2 * k2)
        k4 = f(z + dt * k3)
        z = z + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return z


def test_continuous_time_flow_over_dt_equals_the_map_in_the_positive_orthant():
    a = np.array([0.6, 0.6, 0.5])
    W = np.array([[0.0, -0.3, 0.05], [0.3, 0.0, 0.0], [0.1, 0.1, 0.1]])
    h = np.array([0.4, -0.1, 0.3])
    dt = 0.1
    ct = continuous_time_region(a, W, h, "111", dt)
    assert ct.convertible and ct.reason is None
    z0 = np.array([0.7, 0.2, 1.1])
    assert np.all(z0 > 0)
    z_dt = rk4(lambda z: ct.W @ z + ct.h, z0, dt, 400)
    np.testing.assert_allclose(z_dt, F(a, W, h, z0), atol=1e-10)
    np.testing.assert_allclose(plrnn_map(a, W, h, torch.tensor(z0)).numpy(), F(a, W, h, z0), atol=1e-14)
    J = jac(a, W, [1, 1, 1])
    np.testing.assert_allclose(scipy.linalg.expm(ct.W * dt), J, atol=1e-12)
    # Eq. 20: h̃ = −W̃ (I − J)⁻¹ h, i.e. G(z*) = 0 at the region's fixed point
    z_star = np.linalg.solve(np.eye(3) - J, h)
    np.testing.assert_allclose(ct.h, -ct.W @ z_star, atol=1e-12)
    mu = np.log(np.linalg.eigvals(J).astype(complex)) / dt
    np.testing.assert_allclose(np.sort_complex(ct.eigenvalues), np.sort_complex(mu), atol=1e-10)
    np.testing.assert_allclose(ct.time_constants, -1 / ct.eigenvalues.real)
    assert np.any(np.abs(ct.eigenvalues.imag) > 0.1), "a rotating mode: complex logarithms are exercised"


def test_continuous_time_with_a_unit_eigenvalue_and_per_fixed_point():
    # J = diag(1, 0.5) in region 00: Eq. 20 has no (I − J)⁻¹, but the flow condition still fixes h̃.
    a, W, h = np.array([1.0, 0.5]), np.array([[0.0, 0.3], [0.2, 0.0]]), np.array([-0.2, -0.3])
    ct = continuous_time_region(a, W, h, np.array([0, 0]), dt=2.0)
    assert ct.convertible and np.isinf(ct.time_constants).sum() == 1
    z0 = np.array([-0.3, -0.8])
    np.testing.assert_allclose(rk4(lambda z: ct.W @ z + ct.h, z0, 2.0, 400), F(a, W, h, z0), atol=1e-10)
    # one ContinuousTimeRegion per fixed point, for its region
    a, W, h = np.array([0.5, 0.5]), np.eye(2), np.array([-0.2, -0.2])
    res = plrnn_fixed_points(a, W, h)
    cts = continuous_time_fixed_points(a, W, h, res, dt=0.01)
    assert [c.region for c in cts] == res.regions and all(c.convertible for c in cts)
    np.testing.assert_allclose(cts[0].time_constants, [0.01 / np.log(2)] * 2)
    for c, z in zip(cts, res.z):
        np.testing.assert_allclose(c.W @ z + c.h, 0, atol=1e-12)


@pytest.mark.parametrize(
    "a,W,region,reason",
    [
        ([-0.5], [[0.0]], "0", "negative real"),
        ([0.5], [[-1.5]], "1", "negative real"),
        ([0.0, 0.5], np.zeros((2, 2)), "00", "zero eigenvalue"),
        ([0.5, 0.5], [[0.0, 1.0], [0.0, 0.0]], "01", "not diagonalisable"),
    ],
)
def test_non_convertible_regions_say_why(a, W, region, reason):
    ct = continuous_time_region(a, W, np.zeros(len(a)), region)
    assert not ct.convertible and reason in ct.reason and ct.W is None
    assert ct.to_json()["convertible"] is False


# --- project integration ---------------------------------------------------------------------------


def test_to_fixed_points_and_find_fixed_points_dispatch_with_input():
    a, W, h = random_plrnn(np.random.default_rng(5), 6)
    C = np.random.default_rng(6).standard_normal((6, 2))
    u = np.array([0.3, -0.2])
    ref = plrnn_fixed_points(a, W, h + C @ u)
    assert len(ref) >= 2
    structure = PLRNNMap(A=torch.tensor(a), W=torch.tensor(W), h=torch.tensor(h), C=torch.tensor(C))
    dyn = Dynamics(latent_dim=6, input_dim=2, dt=0.01, step=lambda z, u: z, structure=structure)
    points = find_fixed_points(dyn, u)
    assert all(isinstance(p, FixedPoint) for p in points)
    np.testing.assert_allclose([p.z for p in points], ref.z)
    assert [p.region for p in points] == ref.regions
    assert [p.stable for p in points] == list(ref.stable)
    js = points[0].to_json(0.01)
    assert js["region"] == ref.regions[0] and len(js["eigenvalues"]) == 6
    # without input, and restricted to a box
    box = (np.full(6, -1e9), np.full(6, 1e9))
    box[1][0] = ref.z[0, 0]
    np.testing.assert_allclose([p.z for p in find_fixed_points(dyn)], plrnn_fixed_points(a, W, h).z)
    assert len(find_fixed_points(dyn, u, box=box)) == int(np.sum(ref.z[:, 0] <= ref.z[0, 0]))


# --- command line ---------------------------------------------------------------------------------


def _archive(tmp_path, name="plrnn.npz", **override):
    a, W, h = random_plrnn(np.random.default_rng(5), 6)
    fields = {"A": a, "W": W, "h": h}
    fields.update(override)
    path = tmp_path / name
    np.savez(path, **{k: v for k, v in fields.items() if v is not None})
    return path, a, W, h


def test_cli_writes_plrnn_fixed_points_and_cycles(tmp_path, capsys):
    _, a, W, h = _archive(tmp_path)
    path, *_ = _archive(tmp_path, name="diagonal_matrix_A.npz", A=np.diag(a))
    assert main(["fixed-points", str(path), "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = plrnn_fixed_points(a, W, h)
    assert out["model"] == "plrnn" and out["method"] == "exhaustive" and out["n_units"] == 6
    assert out["n_fixed_points"] == len(ref) >= 2 and out["n_linear_solves"] == 64
    assert isinstance(out["seconds"], float) and out["n_singular"] == 0 and "cycles" not in out
    np.testing.assert_allclose([p["z"] for p in out["fixed_points"]], ref.z)
    for p, fp in zip(out["fixed_points"], to_fixed_points(ref)):
        expected = fp.to_json(1.0)
        assert {k: p[k] for k in expected} == expected
        assert p["continuous_time"]["region"] == p["region"] and p["on_boundary"] is False
    # --cycles and --dt, to a file
    target = tmp_path / "sub" / "fp.json"
    assert main(["fixed-points", str(path), "--cycles", "2", "--dt", "0.01", "--out", str(target)]) == 0
    saved = json.loads(target.read_text())
    assert saved["dt"] == 0.01
    slow = np.array([p["time_constants_s"][0] or np.inf for p in out["fixed_points"]])
    np.testing.assert_allclose([p["time_constants_s"][0] or np.inf for p in saved["fixed_points"]], 0.01 * slow)
    ref_cycles = plrnn_cycles(a, W, h, 2)
    assert saved["n_cycles"] == len(saved["cycles"]) == len(ref_cycles)
    for c, r in zip(saved["cycles"], ref_cycles.cycles):
        assert c["order"] == 2 and isinstance(c["stable"], bool)
        np.testing.assert_allclose(c["points"], r.points)
        assert all(len(e) == 2 for e in c["eigenvalues"])
    assert saved["cycle_search"]["2"]["method"] in ("exhaustive", "heuristic")
    assert sorted(p.name for p in target.parent.iterdir()) == ["fp.json"]


def test_cli_reports_a_known_two_cycle(tmp_path, capsys):
    path = tmp_path / "cycle.npz"
    np.savez(path, A=np.array([0.5]), W=np.array([[-2.0]]), h=np.array([1.0]))
    assert main(["fixed-points", str(path), "--cycles", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["z"] for p in out["fixed_points"]] == [[pytest.approx(0.4)]]
    assert out["fixed_points"][0]["continuous_time"]["convertible"] is False
    assert len(out["cycles"]) == 1
    cyc = out["cycles"][0]
    assert cyc["order"] == 2 and cyc["stable"] is True
    np.testing.assert_allclose(cyc["points"], [[-2 / 7], [6 / 7]])
    np.testing.assert_allclose(cyc["eigenvalues"], [[-0.75, 0.0]])


@pytest.mark.parametrize(
    "override,field",
    [
        ({"W": None}, "'W'"),
        ({"A": None}, "'A'"),
        ({"h": np.array([0.1, np.nan, 0, 0, 0, 0])}, "'h'"),
        ({"A": np.diag(np.full(6, 0.5)) + np.eye(6, k=1) * 0.1}, "'A'"),
        ({"A": np.full(5, 0.5)}, "'A'"),
        ({"W": np.ones((6, 5))}, "'W'"),
        ({"W": np.array([["x"] * 6] * 6)}, "'W'"),
        ({"h": np.ones(4)}, "'h'"),
        ({"s": np.ones(2)}, "'C'"),
        ({"C": np.ones((6, 2)), "s": np.ones(3)}, "'s'"),
        ({"nonlinearity": np.array("relu")}, "'nonlinearity'"),
    ],
)
def test_cli_rejects_bad_plrnn_archives_naming_file_and_field(tmp_path, capsys, override, field):
    path, *_ = _archive(tmp_path, **override)
    target = tmp_path / "out" / "fp.json"
    assert main(["fixed-points", str(path), "--out", str(target), "--cycles", "2"]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and field in err
    assert not target.exists() and not (target.parent.exists() and any(target.parent.iterdir()))
    from neurodyn.cli.fixed_points import load_weights

    with pytest.raises(InputFileError, match=field):
        load_weights(path)


def test_cli_options_that_do_not_apply_are_errors(tmp_path, capsys):
    from neurodyn.cli.fixed_points import fixed_points_report

    rng = np.random.default_rng(0)
    low_rank = tmp_path / "lowrank.npz"
    np.savez(
        low_rank,
        M=rng.standard_normal((5, 2)),
        N=rng.standard_normal((5, 2)),
        h=rng.standard_normal(5),
        a=np.float64(0.5),
        nonlinearity=np.array("relu"),
    )
    target = tmp_path / "fp.json"
    assert main(["fixed-points", str(low_rank), "--cycles", "2", "--out", str(target)]) == 1
    assert "--cycles" in capsys.readouterr().err and not target.exists()
    with pytest.raises(ConfigError, match="--dt"):
        fixed_points_report(low_rank, dt=0.01)
    path, *_ = _archive(tmp_path)
    with pytest.raises(ConfigError, match="--dt"):
        fixed_points_report(path, dt=-1.0)
    assert main(["fixed-points", str(low_rank)]) == 0  # the low-rank archive itself is fine
    assert "n_regions" in json.loads(capsys.readouterr().out)
