"""Tests for neurodyn.analysis.fixed_points.piecewise and its command.

The reference is the brute force over all 2^N / 3^N activation patterns (its own enumeration of
unit pieces, solved per pattern); fixed points are also checked against the map itself
(F(z*) = z*, Jacobian = torch.func.jacrev of F) and the paper's region count.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neurodyn.analysis.fixed_points import FixedPoint
from neurodyn.analysis.fixed_points.piecewise import (
    _small_cells,
    exact_fixed_points,
    piecewise_map,
    to_fixed_points,
)
from neurodyn.analysis.fixed_points.piecewise_reference import brute_force_fixed_points, random_restart_fixed_points
from neurodyn.cli.fixed_points import add_fixed_point_commands, load_weights
from neurodyn.errors import ConfigError, InputFileError

REPO = Path(__file__).resolve().parents[1]


def random_network(rng: np.random.Generator, n_units: int, rank: int, nonlinearity: str):
    """Self-exciting low-rank networks (N ≈ gain·M) so that several fixed points are common."""
    M = rng.standard_normal((n_units, rank))
    if nonlinearity == "relu":
        N = rng.uniform(0.3, 1.6) * 2 * M / n_units + 0.3 * rng.standard_normal((n_units, rank)) / np.sqrt(n_units)
        h = rng.standard_normal(n_units)
    else:
        N = rng.uniform(2, 8) * M / n_units + 0.3 * rng.standard_normal((n_units, rank)) / np.sqrt(n_units)
        h = rng.uniform(0.5, 3, n_units) * rng.choice([-1, 1], n_units)
    a = rng.uniform(0.0, 0.9)
    offset = 0.5 * rng.standard_normal(n_units)
    return M, N, h, a, offset


def assert_same_points(found, expected, *, box=None, atol=1e-8):
    """Same number, same locations (both sorted lexicographically), same stability off boundaries."""
    z_exp, stable_exp, boundary_exp = expected.z, expected.stable, expected.on_boundary
    if box is not None:
        keep = np.all((z_exp >= box[0]) & (z_exp <= box[1]), axis=1)
        z_exp, stable_exp, boundary_exp = z_exp[keep], stable_exp[keep], boundary_exp[keep]
    assert found.z.shape == z_exp.shape, f"{len(found)} fixed points found, {len(z_exp)} expected"
    if len(z_exp):
        np.testing.assert_allclose(found.z, z_exp, atol=atol, rtol=0)
        interior = ~(found.on_boundary | boundary_exp)
        np.testing.assert_array_equal(found.stable[interior], stable_exp[interior])


# --- exact == brute force ---------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["relu", "clipped"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_exact_matches_brute_force_on_random_networks(nonlinearity, rank):
    multi = 0
    n_nets = 50
    for seed in range(n_nets):
        rng = np.random.default_rng(1000 * rank + seed)
        n_units = int(rng.integers(4, 9 if nonlinearity == "relu" else 8))
        M, N, h, a, c = random_network(rng, n_units, rank, nonlinearity)
        expected = brute_force_fixed_points(M, N, h, a, nonlinearity, c)
        found = exact_fixed_points(M, N, h, a, nonlinearity, c)
        assert_same_points(found, expected)
        assert np.all(found.residuals < 1e-9)
        interior = ~found.on_boundary
        assert [r for r, i in zip(found.regions, interior) if i] == [
            r for r, i in zip(expected.regions, ~expected.on_boundary) if i
        ]
        multi += len(expected) >= 2
        if seed < 10:
            # the other enumeration strategy must agree too (dedup = the paper's Algorithm 1)
            other = "dedup" if nonlinearity == "clipped" else "canonical"
            box = None if other == "dedup" else (np.full(rank, -40.0), np.full(rank, 40.0))
            assert_same_points(
                exact_fixed_points(M, N, h, a, nonlinearity, c, strategy=other, box=box), expected, box=box
            )
    # the comparison is only informative if many networks have several fixed points
    assert multi >= 0.15 * n_nets, f"only {multi}/{n_nets} networks have ≥ 2 fixed points"


def test_share_of_networks_with_several_fixed_points():
    counts = []
    for nonlinearity in ("relu", "clipped"):
        for seed in range(40):
            rng = np.random.default_rng(7000 + seed)
            M, N, h, a, c = random_network(rng, 6, 2, nonlinearity)
            counts.append(len(exact_fixed_points(M, N, h, a, nonlinearity, c)))
    counts = np.array(counts)
    assert np.mean(counts >= 2) >= 0.2
    assert counts.max() >= 3


# --- degenerate arrangements ------------------------------------------------------------------


def _degenerate_cases():
    rng = np.random.default_rng(11)
    cases = {}
    M = np.array([[1.0, 0.5], [2.0, 1.0], [-1, -0.5], [0.3, 1.0], [1, -1]])
    cases["parallel hyperplanes"] = (M, 0.5 * M + 0.1, np.array([0.5, -0.3, 0.2, 0.1, -0.4]), 0.5, None)
    z0 = np.array([0.3, -0.2])
    M = rng.standard_normal((5, 2))
    h = -(M @ z0)
    h[3:] += 0.5
    cases["three lines through one point"] = (M, 0.75 * M, h, 0.3, None)
    M = np.outer([1, -2, 0.5, 1.5], [1.0, 2.0])
    cases["all normals parallel"] = (M, rng.standard_normal((4, 2)), np.array([0.2, -0.1, 0.3, -0.5]), 0.4, None)
    M = rng.standard_normal((2, 3))
    cases["R > N (2 units, rank 3)"] = (M, 1.2 * M, np.array([0.5, -0.3]), 0.2, None)
    M = rng.standard_normal((2, 4))
    cases["R > N (2 units, rank 4)"] = (M, 1.2 * M, np.array([0.5, -0.3]), 0.2, None)
    M = rng.standard_normal((3, 2))
    h = rng.standard_normal(3)
    cases["duplicate units"] = (np.vstack([M, M[:2]]), 2 * rng.standard_normal((5, 2)), np.r_[h, h[:2]], 0.3, None)
    for rank in (2, 3):
        M = rng.standard_normal((7, rank))
        cases[f"all through the origin, rank {rank}"] = (M, 0.8 * M, np.zeros(7), 0.3, None)
    M = rng.standard_normal((5, 3))
    cases["some h = 0"] = (M, 1.3 * M, np.array([0, 0.5, 0, -1, 0.2]), 0.3, 0.3 * rng.standard_normal(5))
    cases["no units"] = (np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), 0.5, None)
    M = np.array([[0.0, 0.0], [1.0, 0.5], [0, 0]])
    cases["all-zero rows of M"] = (M, rng.standard_normal((3, 2)), np.array([0.5, -0.2, -0.3]), 0.5, None)
    z0 = np.array([0.1, 0.2, -0.3])
    M = rng.standard_normal((6, 3))
    M[2] = M[0] + M[1]
    h = -(M @ z0)
    h[4:] = rng.standard_normal(2)
    cases["rank 3: planes through a line and a point"] = (M, 1.2 * M + 0.1, h, 0.3, None)
    M = np.array([[1.0], [2.0], [-1.0], [0.5]])
    cases["rank 1: coincident points"] = (M, 0.9 * M, np.array([0.5, 1.0, -0.5, 0.1]), 0.4, None)
    M = rng.standard_normal((6, 4))
    cases["rank 4, general position"] = (
        M,
        0.5 * M + 0.2 * rng.standard_normal((6, 4)),
        rng.standard_normal(6),
        np.array([0.1, 0.3, 0.5, 0.7]),
        None,
    )
    return cases


DEGENERATE = _degenerate_cases()


@pytest.mark.parametrize("strategy", ["auto", "dedup", "box"])
@pytest.mark.parametrize("nonlinearity", ["relu", "clipped"])
@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_degenerate_arrangements_match_brute_force(case, nonlinearity, strategy):
    M, N, h, a, c = DEGENERATE[case]
    rank = M.shape[1]
    expected = brute_force_fixed_points(M, N, h, a, nonlinearity, c)
    if strategy == "box":
        box = (np.full(rank, -1e3), np.full(rank, 1e3))
        found = exact_fixed_points(M, N, h, a, nonlinearity, c, box=box)
        assert found.strategy == "canonical"
        assert_same_points(found, expected, box=box)
    else:
        found = exact_fixed_points(M, N, h, a, nonlinearity, c, strategy=strategy)
        assert_same_points(found, expected)
    assert np.all(found.residuals < 1e-9)


def test_region_counts_of_degenerate_arrangements():
    # 7 lines through one point cut the plane into 14 sectors
    rng = np.random.default_rng(3)
    M = rng.standard_normal((7, 2))
    res = exact_fixed_points(M, M, np.zeros(7), 0.5, "relu")
    assert res.n_regions == 14
    # all normals parallel: 4 distinct parallel lines → 5 strips (lineality direction handled)
    M = np.outer([1, -2, 0.5, 1.5], [1.0, 2.0])
    res = exact_fixed_points(M, M, np.array([0.2, -0.1, 0.3, -0.5]), 0.5, "relu")
    assert res.n_regions == 5
    # duplicate units do not add regions
    M = rng.standard_normal((3, 2))
    h = rng.standard_normal(3)
    one = exact_fixed_points(M, M, h, 0.5, "relu")
    two = exact_fixed_points(np.vstack([M, M]), np.vstack([M, M]) / 2, np.r_[h, h], 0.5, "relu")
    assert one.n_regions == two.n_regions == 7


# --- counting: the paper's reference figure and Zaslavsky's formula ---------------------------


def test_paper_region_and_solve_count_rank2_relu_60_units():
    rng = np.random.default_rng(0)
    M, N, h = rng.standard_normal((60, 2)), 0.1 * rng.standard_normal((60, 2)), rng.standard_normal(60)
    res = exact_fixed_points(M, N, h, 0.5, "relu")
    assert res.n_regions == 1 + 60 + math.comb(60, 2) == 1831
    assert res.n_vertices == math.comb(60, 2)
    assert res.n_linear_solves == math.comb(60, 2) + 1831 == 3601


@pytest.mark.parametrize("rank,n_planes", [(1, 9), (2, 12), (3, 10)])
def test_region_count_is_zaslavsky_bound_in_general_position(rank, n_planes):
    rng = np.random.default_rng(rank)
    M, h = rng.standard_normal((n_planes, rank)), rng.standard_normal(n_planes)
    bound = sum(math.comb(n_planes, i) for i in range(rank + 1))
    res = exact_fixed_points(M, 0.1 * M, h, 0.5, "relu")
    assert res.n_regions == bound
    # the independent small enumerator (itertools-free but separate code path) agrees
    assert _small_cells(M, h, 1e-9, np.random.default_rng(0)).shape[0] == bound


def test_streaming_chunks_do_not_change_the_result():
    rng = np.random.default_rng(5)
    M, N, h, a, c = random_network(rng, 8, 3, "clipped")
    big = exact_fixed_points(M, N, h, a, "clipped", c)
    small = exact_fixed_points(M, N, h, a, "clipped", c, chunk_size=1)
    assert (small.n_regions, small.n_linear_solves) == (big.n_regions, big.n_linear_solves)
    np.testing.assert_allclose(small.z, big.z, atol=1e-12)


# --- the map, Jacobians, stability --------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["relu", "clipped"])
def test_jacobian_matches_jacrev_and_points_are_fixed(nonlinearity):
    checked = 0
    for seed in range(30):
        rng = np.random.default_rng(300 + seed)
        M, N, h, _, c = random_network(rng, 7, 3, nonlinearity)
        a = rng.uniform(0.1, 0.9, 3)  # per-latent leak
        res = exact_fixed_points(M, N, h, a, nonlinearity, c)
        for z, jac, eig, stable, boundary in zip(res.z, res.jacobians, res.eigenvalues, res.stable, res.on_boundary):
            zt = torch.tensor(z)
            fz = piecewise_map(zt, M, N, h, a, nonlinearity, c)
            np.testing.assert_allclose(fz.numpy(), z, atol=1e-10)
            if boundary:
                continue
            jr = torch.func.jacrev(lambda x, w=(M, N, h, a, c): piecewise_map(x, *w[:4], nonlinearity, w[4]))(zt)
            np.testing.assert_allclose(jac, jr.numpy(), atol=1e-12)
            np.testing.assert_allclose(np.sort_complex(eig), np.sort_complex(np.linalg.eigvals(jr.numpy())), atol=1e-10)
            assert stable == (np.abs(np.linalg.eigvals(jr.numpy())).max() < 1)
            checked += 1
    assert checked >= 20


def test_stability_of_a_known_bistable_network():
    # rank 1, one unit: z = 0.5 z + relu(z − 0.2)·0.8 has fixed points 0 (stable) and 0.5333 (unstable)
    res = exact_fixed_points(np.array([[1.0]]), np.array([[0.8]]), np.array([-0.2]), 0.5, "relu")
    np.testing.assert_allclose(res.z[:, 0], [0.0, 0.16 / 0.3], atol=1e-12)
    np.testing.assert_array_equal(res.stable, [True, False])
    assert res.regions == ["0", "1"]


def test_line_attractor_is_reported_as_non_isolated():
    # z > 0: F(z) = 0.5 z + 0.5 z = z, a half-line of fixed points; singular cell system
    for fn in (exact_fixed_points, brute_force_fixed_points):
        res = fn(np.array([[1.0]]), np.array([[0.5]]), np.array([0.0]), 0.5, "relu")
        assert len(res) == 1 and not res.isolated[0]
        np.testing.assert_allclose(res.z, [[0.0]], atol=1e-12)
    points = to_fixed_points(exact_fixed_points(np.array([[1.0]]), np.array([[0.5]]), np.array([0.0]), 0.5, "relu"))
    assert "non-isolated" in points[0].method


# --- boxes --------------------------------------------------------------------------------------


def _box_away_from(points: np.ndarray, rank: int, rng: np.random.Generator, margin: float = 1e-3):
    """A random box whose faces stay ≥ margin away from every given point's coordinates."""
    for _ in range(100):
        lo, hi = np.sort(rng.uniform(-3, 3, (2, rank)), axis=0)
        if np.all(hi - lo > 0.5) and not np.any(np.abs(points[:, None, :] - np.stack([lo, hi])[None]) < margin):
            return lo, hi
    raise AssertionError("no suitable box")


@pytest.mark.parametrize("nonlinearity", ["relu", "clipped"])
def test_box_pruning_equals_unpruned_result_restricted_to_the_box(nonlinearity):
    for seed in range(12):
        rng = np.random.default_rng(500 + seed)
        rank = 2 + seed % 2
        M, N, h, a, c = random_network(rng, 7, rank, nonlinearity)
        full = exact_fixed_points(M, N, h, a, nonlinearity, c)
        box = _box_away_from(full.z.reshape(-1, rank), rank, rng)
        pruned = exact_fixed_points(M, N, h, a, nonlinearity, c, box=box)
        assert_same_points(pruned, full, box=box, atol=1e-10)
        # a box meets no more cells than a larger box around it (like with like: a search with a box
        # counts the cells inside its box; relu's unpruned search counts unbounded cells instead)
        points = full.z.reshape(-1, rank)
        lo, hi = box
        if len(points):
            lo, hi = np.minimum(lo, points.min(0)), np.maximum(hi, points.max(0))
        larger = exact_fixed_points(M, N, h, a, nonlinearity, c, box=(lo - 1.0, hi + 1.0))
        assert pruned.n_regions <= larger.n_regions
        assert_same_points(larger, full, atol=1e-10)
        if nonlinearity == "clipped":  # the unpruned clipped search is itself a box search (the sound box)
            assert pruned.n_regions <= full.n_regions
        # the other strategy inside the same box visits the same cells
        dedup = exact_fixed_points(M, N, h, a, nonlinearity, c, box=box, strategy="dedup")
        assert dedup.n_regions == pruned.n_regions
        assert_same_points(dedup, full, box=box, atol=1e-10)


def test_default_box_for_clipped_contains_every_fixed_point():
    for seed in range(30):
        rng = np.random.default_rng(900 + seed)
        rank = 1 + seed % 3
        M, N, h, a, c = random_network(rng, 6, rank, "clipped")
        res = exact_fixed_points(M, N, h, a, "clipped", c)
        lo, hi = res.box
        np.testing.assert_allclose(hi, np.abs(N).T @ np.abs(h) / (1 - a))
        brute = brute_force_fixed_points(M, N, h, a, "clipped", c)
        assert np.all((brute.z >= lo) & (brute.z <= hi))
    relu = exact_fixed_points(M, N, h, a, "relu", c)
    assert relu.box is None and relu.strategy == "dedup"


def test_box_outside_the_sound_region_finds_nothing():
    rng = np.random.default_rng(1)
    M, N, h, a, c = random_network(rng, 5, 2, "clipped")
    res = exact_fixed_points(M, N, h, a, "clipped", c, box=(np.full(2, 1e3), np.full(2, 2e3)))
    assert len(res) == 0


# --- baseline -----------------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["relu", "clipped"])
def test_random_restart_finds_a_subset_of_the_exact_set(nonlinearity):
    for seed in range(8):
        rng = np.random.default_rng(40 + seed)
        M, N, h, a, c = random_network(rng, 8, 2, nonlinearity)
        exact = exact_fixed_points(M, N, h, a, nonlinearity, c)
        rr = random_restart_fixed_points(M, N, h, a, nonlinearity, c, n_solves=exact.n_linear_solves, seed=seed)
        assert rr.n_linear_solves == exact.n_linear_solves
        for z in rr.z:
            assert np.min(np.abs(exact.z - z).max(1)) < 1e-8


def test_random_restart_counts_and_finds_a_stable_point():
    res = random_restart_fixed_points(
        np.array([[1.0]]), np.array([[0.8]]), np.array([-0.2]), 0.5, "relu", n_solves=37, batch=8
    )
    assert res.n_linear_solves == 37
    np.testing.assert_allclose(res.z[:, 0][:1], [0.0], atol=1e-12)


# --- validation and conversion ------------------------------------------------------------------


def test_bad_inputs_raise_config_errors():
    M = np.ones((3, 2))
    with pytest.raises(ConfigError, match="nonlinearity"):
        exact_fixed_points(M, M, np.zeros(3), 0.5, "tanh")
    with pytest.raises(ConfigError, match="'M'"):
        exact_fixed_points(np.ones(3), M, np.zeros(3), 0.5)
    with pytest.raises(ConfigError, match="'N'"):
        exact_fixed_points(M, np.ones((3, 3)), np.zeros(3), 0.5)
    with pytest.raises(ConfigError, match="'h'"):
        exact_fixed_points(M, M, np.zeros(4), 0.5)
    with pytest.raises(ConfigError, match="'a'"):
        exact_fixed_points(M, M, np.zeros(3), 1.5)
    with pytest.raises(ConfigError, match="'a'"):
        exact_fixed_points(M, M, np.zeros(3), np.array([0.5, 0.5, 0.5]))
    with pytest.raises(ConfigError, match="'offset'"):
        exact_fixed_points(M, M, np.zeros(3), 0.5, offset=np.zeros(2))
    with pytest.raises(ConfigError, match="'M'"):
        exact_fixed_points(np.full((3, 2), np.nan), M, np.zeros(3), 0.5)
    with pytest.raises(ConfigError, match="'box'"):
        exact_fixed_points(M, M, np.zeros(3), 0.5, box=(np.ones(2), np.zeros(2)))
    with pytest.raises(ConfigError, match="strategy"):
        exact_fixed_points(M, M, np.zeros(3), 0.5, strategy="canonical")  # relu without a box


def test_torch_inputs_and_conversion_to_project_fixed_points():
    rng = np.random.default_rng(2)
    M, N, h, a, c = random_network(rng, 6, 2, "clipped")
    res_np = exact_fixed_points(M, N, h, a, "clipped", c)
    res_t = exact_fixed_points(
        torch.tensor(M), torch.tensor(N), torch.tensor(h), torch.tensor(a), "clipped", torch.tensor(c)
    )
    np.testing.assert_allclose(res_t.z, res_np.z)
    points = to_fixed_points(res_np)
    assert len(points) == len(res_np) and all(isinstance(p, FixedPoint) for p in points)
    assert points[0].region == res_np.regions[0] and points[0].method == "exact piecewise-linear"
    json.dumps(points[0].to_json(dt=0.01))


@pytest.mark.gpu
def test_cuda_matches_cpu():
    rng = np.random.default_rng(3)
    M, N, h, a, c = random_network(rng, 40, 3, "clipped")
    cpu = exact_fixed_points(M, N, h, a, "clipped", c)
    gpu = exact_fixed_points(M, N, h, a, "clipped", c, device="cuda")
    assert (gpu.n_regions, gpu.n_linear_solves) == (cpu.n_regions, cpu.n_linear_solves)
    np.testing.assert_allclose(gpu.z, cpu.z, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("nonlinearity,n_units", [("clipped", 13), ("relu", 20)])
def test_larger_rank3_networks_match_brute_force(nonlinearity, n_units):
    for seed in range(4):
        rng = np.random.default_rng(77 + seed)
        M, N, h, a, c = random_network(rng, n_units, 3, nonlinearity)
        assert_same_points(
            exact_fixed_points(M, N, h, a, nonlinearity, c), brute_force_fixed_points(M, N, h, a, nonlinearity, c)
        )


# --- command line -------------------------------------------------------------------------------


def _parser():
    import argparse

    parser = argparse.ArgumentParser(prog="neurodyn")
    add_fixed_point_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def _weights(tmp_path: Path, **override) -> Path:
    rng = np.random.default_rng(0)
    M, N, h, a, c = random_network(rng, 6, 2, "clipped")
    fields = {"M": M, "N": N, "h": h, "a": np.float64(a), "nonlinearity": np.array("clipped"), "offset": c}
    fields.update(override)
    fields = {k: v for k, v in fields.items() if v is not None}
    path = tmp_path / "weights.npz"
    np.savez(path, **fields)
    return path


def test_command_writes_the_json_schema(tmp_path, capsys):
    path = _weights(tmp_path)
    args = _parser().parse_args(["fixed-points", str(path), "--device", "cpu"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out["n_linear_solves"], int) and isinstance(out["n_regions"], int)
    assert out["fixed_points"], "this network has fixed points"
    for point in out["fixed_points"]:
        assert len(point["z"]) == 2 and isinstance(point["stable"], bool)
        assert all(len(e) == 2 for e in point["eigenvalues"])
    w = load_weights(path)
    ref = exact_fixed_points(w["M"], w["N"], w["h"], w["a"], "clipped", w["offset"])
    np.testing.assert_allclose([p["z"] for p in out["fixed_points"]], ref.z)
    # --out (atomically) and a per-dimension box
    target = tmp_path / "sub" / "fp.json"
    args = _parser().parse_args(["fixed-points", str(path), "--out", str(target), "--box", "-5", "5", "-4", "4"])
    assert args.func(args) == 0
    saved = json.loads(target.read_text())
    assert saved["box"][0] == [-5.0, -4.0]
    assert sorted(p.name for p in target.parent.iterdir()) == ["fp.json"]


@pytest.mark.parametrize(
    "override,field",
    [
        ({"h": None}, "'h'"),
        ({"nonlinearity": None}, "'nonlinearity'"),
        ({"M": np.full((6, 2), np.nan)}, "'M'"),
        ({"nonlinearity": np.array("tanh")}, "'nonlinearity'"),
        ({"nonlinearity": np.array([1.0])}, "'nonlinearity'"),
        ({"N": np.ones((6, 3))}, "'N'"),
        ({"h": np.ones(5)}, "'h'"),
        ({"a": np.float64(1.0)}, "'a'"),
        ({"offset": np.ones(4)}, "'offset'"),
    ],
)
def test_command_rejects_bad_files_naming_the_field(tmp_path, override, field):
    path = _weights(tmp_path, **override)
    target = tmp_path / "out" / "fp.json"
    args = _parser().parse_args(["fixed-points", str(path), "--out", str(target)])
    with pytest.raises(InputFileError, match=field) as info:
        args.func(args)
    assert str(path) in str(info.value)
    assert not target.exists() and not (target.parent.exists() and any(target.parent.iterdir()))


def test_command_rejects_unreadable_files_and_bad_boxes(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_text("not an archive")
    with pytest.raises(InputFileError, match="x.npz"):
        load_weights(bad)
    with pytest.raises(InputFileError, match="no such file"):
        load_weights(tmp_path / "missing.npz")
    path = _weights(tmp_path)
    args = _parser().parse_args(["fixed-points", str(path), "--box", "1", "2", "3"])
    with pytest.raises(ConfigError, match="--box"):
        args.func(args)


def test_command_in_a_subprocess(tmp_path):
    path = _weights(tmp_path)
    code = (
        "import argparse, sys\n"
        "from neurodyn.cli.fixed_points import add_fixed_point_commands\n"
        "p = argparse.ArgumentParser(prog='neurodyn'); add_fixed_point_commands(p.add_subparsers(dest='c'))\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "fixed-points", str(path), "--box=-5,5"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n_regions"] > 0 and out["box"] == [[-5.0, -5.0], [5.0, 5.0]]
