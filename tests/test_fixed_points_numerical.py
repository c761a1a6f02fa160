"""Tests for neurodyn.analysis.fixed_points.numerical (batched Adam on q = ½‖F(h) − h‖²) and the tanh RNN
branch of ``neurodyn fixed-points``.

References are independent of the finder: the closed form (I − A)⁻¹ c of an affine map, 1-D root
finding of x = tanh(w x) (scipy) for a diagonal tanh network, and the exact enumeration of
:mod:`neurodyn.analysis.fixed_points.piecewise` for a clipped low-rank network.
"""

from __future__ import annotations

import functools
import itertools
import json

import numpy as np
import pytest
import scipy.optimize
import torch

from neurodyn.analysis.fixed_points import FixedPoint, classify, find_fixed_points
from neurodyn.analysis.fixed_points.numerical import adam_fixed_points
from neurodyn.analysis.fixed_points.piecewise import exact_fixed_points, piecewise_map
from neurodyn.cli import main
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.models.base import Dynamics


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny batches: one thread avoids OpenMP spin-waiting on a busy machine (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- references -------------------------------------------------------------------------------------


def tanh_roots(w: float) -> list[float]:
    """The solutions of x = tanh(w x): 0, and ±x* when w > 1."""
    if w <= 1:
        return [0.0]
    x = scipy.optimize.brentq(lambda x: np.tanh(w * x) - x, 1e-6, 1.0, xtol=1e-15)
    return [-x, 0.0, x]


def diagonal_tanh_fixed_points(w: np.ndarray) -> list[tuple[np.ndarray, bool, str]]:
    """(z, stable, kind) of h ↦ tanh(diag(w) h): every combination of per-unit roots."""
    out = []
    for z in itertools.product(*(tanh_roots(wi) for wi in w)):
        z = np.array(z)
        lam = w / np.cosh(w * z) ** 2
        out.append((z, bool(np.all(np.abs(lam) < 1)), classify(lam)))
    return out


def real_matrix(eigenvalues: list[complex], rng: np.random.Generator) -> np.ndarray:
    """A real, non-normal matrix with these eigenvalues (complex ones given once, conjugate implied)."""
    blocks = []
    for lam in eigenvalues:
        if abs(lam.imag) > 0:
            blocks.append(np.array([[lam.real, lam.imag], [-lam.imag, lam.real]]))
        else:
            blocks.append(np.array([[lam.real]]))
    D = np.zeros((sum(b.shape[0] for b in blocks),) * 2)
    i = 0
    for blk in blocks:
        k = blk.shape[0]
        D[i : i + k, i : i + k] = blk
        i += k
    S = rng.standard_normal(D.shape) + 2 * np.eye(len(D))
    return S @ D @ np.linalg.inv(S)


def assert_eigenvectors(point_z: np.ndarray, J: np.ndarray, lam: np.ndarray, R: np.ndarray, Lf: np.ndarray) -> None:
    np.testing.assert_allclose(J @ R, R * lam[None, :], atol=1e-9)
    np.testing.assert_allclose(Lf.T @ J, lam[:, None] * Lf.T, atol=1e-8)
    np.testing.assert_allclose(Lf.T @ R, np.eye(len(lam)), atol=1e-9)
    assert np.all(np.diff(np.abs(lam)) <= 1e-12), "modes are sorted by |λ| descending"


# --- affine maps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "eigenvalues,stable",
    [
        ([0.5, -0.3, 0.6 + 0.3j], True),
        ([1.5, -1.3, 1.1 + 0.5j], False),
        ([1.2, 0.4, 0.3 + 0.2j], False),  # a saddle
    ],
)
def test_affine_map_fixed_point_eigenvalues_and_stability(eigenvalues, stable):
    rng = np.random.default_rng(1)
    A = real_matrix(eigenvalues, rng)
    c = rng.standard_normal(len(A))
    z_star = np.linalg.solve(np.eye(len(A)) - A, c)
    A_t, c_t = torch.tensor(A), torch.tensor(c)
    starts = torch.tensor(z_star + 2 * rng.standard_normal((40, len(A))))
    res = adam_fixed_points(lambda h: h @ A_t.T + c_t, starts)
    assert len(res) == 1 and res.n_starts == 40 and res.n_converged == 40 and res.n_duplicates == 39
    assert res.counts.tolist() == [40] and res.n_outliers == 0
    np.testing.assert_allclose(res.z[0], z_star, atol=1e-10)
    assert res.q[0] < 1e-20 and res.stable[0] == stable
    expected = np.array([e for lam in eigenvalues for e in ((lam, np.conj(lam)) if lam.imag else (lam,))])
    np.testing.assert_allclose(np.sort(np.abs(res.eigenvalues[0]))[::-1], np.sort(np.abs(expected))[::-1], atol=1e-9)
    np.testing.assert_allclose(np.sort_complex(res.eigenvalues[0]), np.sort_complex(expected), atol=1e-9)
    np.testing.assert_allclose(res.jacobians[0], A, atol=1e-12)
    assert_eigenvectors(
        res.z[0], res.jacobians[0], res.eigenvalues[0], res.right_eigenvectors[0], res.left_eigenvectors[0]
    )
    (fp,) = res.to_fixed_points()
    assert fp.method == "adam" and fp.q == res.q[0] and fp.stable == stable
    assert fp.residual == pytest.approx(np.sqrt(2 * res.q[0]))


def test_float32_map_is_searched_in_float64_and_evaluated_in_float32():
    A = torch.tensor([[0.5, 0.2], [-0.1, 0.7]], dtype=torch.float32)
    c = torch.tensor([1.0, -2.0], dtype=torch.float32)
    z_star = np.linalg.solve(np.eye(2) - A.double().numpy(), c.double().numpy())

    def step(h: torch.Tensor) -> torch.Tensor:
        assert h.dtype == torch.float32
        return h @ A.T + c

    res = adam_fixed_points(
        step, torch.randn(30, 2, generator=torch.Generator().manual_seed(0)), step_dtype=torch.float32
    )
    assert len(res) == 1 and res.z.dtype == np.float64
    np.testing.assert_allclose(res.z[0], z_star, atol=1e-5)
    assert res.q[0] < 1e-10


# --- a tanh network with nine known fixed points --------------------------------------------------------


def test_diagonal_tanh_network_all_nine_fixed_points_and_their_kinds():
    w = np.array([2.0, 1.5])
    W = torch.tensor(np.diag(w))
    grid = np.linspace(-1.2, 1.2, 13)
    starts = torch.tensor(np.array(list(itertools.product(grid, grid))))
    res = adam_fixed_points(lambda h: torch.tanh(h @ W.T), starts)
    ref = diagonal_tanh_fixed_points(w)
    assert len(res) == len(ref) == 9
    assert res.n_converged == 169 and res.n_duplicates == 160 and res.counts.sum() == 169
    assert res.polished.all() and np.all(res.q < 1e-28)
    for z_ref, stable, kind in ref:
        (i,) = np.flatnonzero(np.linalg.norm(res.z - z_ref, axis=1) < 1e-12)
        assert res.stable[i] == stable and classify(res.eigenvalues[i]) == kind
        np.testing.assert_allclose(np.sort(res.eigenvalues[i].real), np.sort(w / np.cosh(w * z_ref) ** 2), atol=1e-12)
        assert_eigenvectors(
            res.z[i], res.jacobians[i], res.eigenvalues[i], res.right_eigenvectors[i], res.left_eigenvectors[i]
        )
    kinds = sorted(classify(e) for e in res.eigenvalues)
    assert kinds == ["saddle"] * 4 + ["stable node"] * 4 + ["unstable node"]


def test_left_and_right_eigenvectors_of_a_random_tanh_network():
    rng = np.random.default_rng(2)
    n = 6
    W = torch.tensor(3.0 * rng.standard_normal((n, n)) / np.sqrt(n))  # this seed: 5 fixed points
    b = torch.tensor(0.2 * rng.standard_normal(n))
    starts = torch.tensor(rng.uniform(-1, 1, (200, n)))
    res = adam_fixed_points(lambda h: torch.tanh(h @ W.T + b), starts)
    assert len(res) >= 2 and np.any(np.abs(res.eigenvalues.imag) > 1e-6), "want complex modes too"
    for i in range(len(res)):
        z = torch.tensor(res.z[i])
        np.testing.assert_allclose(torch.tanh(W @ z + b).numpy(), res.z[i], atol=1e-12)
        J = (1 - torch.tanh(W @ z + b) ** 2)[:, None] * W
        np.testing.assert_allclose(res.jacobians[i], J.numpy(), atol=1e-12)
        assert_eigenvectors(
            res.z[i], res.jacobians[i], res.eigenvalues[i], res.right_eigenvectors[i], res.left_eigenvectors[i]
        )
    fps = res.to_fixed_points()
    np.testing.assert_allclose(fps[0].right_eigenvectors, res.right_eigenvectors[0])
    np.testing.assert_allclose(fps[0].left_eigenvectors, res.left_eigenvectors[0])


# --- agreement with the exact piecewise-linear finder ---------------------------------------------------


def test_numerical_points_are_exact_fixed_points_and_every_stable_one_is_found():
    n_stable_seen = 0
    for seed in range(3):
        rng = np.random.default_rng(seed)
        U, R = 12, 2
        M = rng.standard_normal((U, R))
        N = rng.uniform(2, 8) * M / U + 0.3 * rng.standard_normal((U, R)) / np.sqrt(U)
        h = rng.uniform(0.5, 3, U) * rng.choice([-1, 1], U)
        a, c = rng.uniform(0, 0.9), 0.5 * rng.standard_normal(U)
        exact = exact_fixed_points(M, N, h, a, "clipped", c)
        assert not exact.on_boundary.any() and exact.isolated.all()
        lo, hi = exact.z.min(0) - 1, exact.z.max(0) + 1
        # starts: random points of the region around the fixed points and a few steps of trajectories
        z = torch.tensor(rng.uniform(lo, hi, (300, R)))
        visited = [z]
        for _ in range(5):
            z = piecewise_map(z, M, N, h, a, "clipped", c)
            visited.append(z)
        step = functools.partial(piecewise_map, M=M, N=N, h=h, a=a, nonlinearity="clipped", offset=c)
        res = adam_fixed_points(step, torch.cat(visited))
        assert len(res) >= 1
        for i in range(len(res)):
            dist = np.linalg.norm(exact.z - res.z[i], axis=1)
            j = int(np.argmin(dist))
            assert dist[j] < 1e-6, f"numerical point {res.z[i]} is not an exact fixed point"
            assert res.stable[i] == exact.stable[j]
            np.testing.assert_allclose(res.jacobians[i], exact.jacobians[j], atol=1e-9)
        for j in np.flatnonzero(exact.stable):
            assert np.linalg.norm(res.z - exact.z[j], axis=1).min() < 1e-6, "a stable fixed point was missed"
            n_stable_seen += 1
    assert n_stable_seen >= 3


# --- outliers, duplicates, noise, validation ----------------------------------------------------------


def cubic(h: torch.Tensor) -> torch.Tensor:
    """h ↦ h + 0.1 h (30 − h)/30 per coordinate: fixed points 0 (unstable, F' = 1.1) and 30 (stable, F' = 0.9)."""
    return h + 0.1 * h * (30 - h) / 30


def test_outliers_are_dropped_and_duplicates_merged():
    rng = np.random.default_rng(0)
    near = rng.uniform(-1, 1, (50, 1))
    far = np.array([[20.0], [21.0]])  # these descend to the fixed point at 30
    starts = torch.tensor(np.vstack([near, far]))
    spread = np.sqrt(((starts.numpy() - starts.numpy().mean(0)) ** 2).sum(1).mean())
    assert 30 - starts.numpy().mean() > 5 * spread  # 30 lies beyond 5 spreads of the starts' centroid
    res = adam_fixed_points(cubic, starts, outlier_distance=5.0)
    assert res.n_outliers == 2 and res.n_converged == 50 and res.n_duplicates == 49
    assert len(res) == 1 and abs(res.z[0, 0]) < 1e-12 and not res.stable[0]
    every = adam_fixed_points(cubic, starts, outlier_distance=float("inf"))
    assert every.n_outliers == 0 and every.n_duplicates == 50 and len(every) == 2
    assert every.counts.tolist() == [50, 2]  # most-visited first
    np.testing.assert_allclose(every.z[:, 0], [0.0, 30.0], atol=1e-10)
    assert every.stable.tolist() == [False, True]
    # a merge radius wider than the gap makes one point of two: the lowest-q one is kept
    wide = adam_fixed_points(cubic, starts, outlier_distance=float("inf"), tol_unique=40.0)
    assert len(wide) == 1 and wide.n_duplicates == 51 and wide.counts.tolist() == [52]


def test_noise_is_seeded_and_acceptance_threshold_applies():
    starts = torch.zeros(20, 2, dtype=torch.float64) + 0.3
    W = torch.tensor([[2.0, 0.0], [0.0, 1.5]], dtype=torch.float64)

    def step(h):
        return torch.tanh(h @ W.T)

    a = adam_fixed_points(step, starts, noise_scale=0.3, seed=4)
    b = adam_fixed_points(step, starts, noise_scale=0.3, seed=4)
    np.testing.assert_array_equal(a.z, b.z)
    np.testing.assert_array_equal(a.candidate_q, b.candidate_q)
    assert len(adam_fixed_points(step, starts)) == 1  # identical starts, no noise: one basin
    # stopping the descent early leaves q above a strict acceptance threshold: nothing converges
    few = adam_fixed_points(step, starts, noise_scale=0.3, seed=4, max_iters=2, accept_q=1e-14, tol_q=1e-14)
    assert few.iterations == 2 and few.n_converged == 0 and len(few) == 0 and few.z.shape == (0, 2)
    assert few.to_fixed_points() == [] and np.all(few.candidate_iterations == 2)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"tol_q": 0.0}, "tol_q"),
        ({"tol_unique": -1.0}, "tol_unique"),
        ({"max_iters": 0}, "max_iters"),
        ({"lr": float("nan")}, "lr"),
        ({"noise_scale": -0.1}, "noise_scale"),
        ({"lr_shrink": 1.5}, "lr_growth"),
        ({"max_iters": 2.5}, "max_iters"),
    ],
)
def test_bad_options_are_config_errors(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        adam_fixed_points(torch.tanh, torch.zeros(3, 2), **kwargs)
    with pytest.raises(ConfigError, match="starts"):
        adam_fixed_points(torch.tanh, torch.zeros(3))


def test_fixed_point_json_has_q_only_when_known_and_find_fixed_points_searches_from_visited_states():
    plain = FixedPoint(
        z=np.zeros(1), jacobian=np.eye(1) * 0.5, eigenvalues=np.array([0.5 + 0j]), stable=True, method="exact"
    )
    assert "q" not in plain.to_json(1.0)
    with_q = FixedPoint(
        z=np.zeros(1), jacobian=np.eye(1) * 0.5, eigenvalues=np.array([0.5 + 0j]), stable=True, method="adam", q=1e-20
    )
    assert with_q.to_json(1.0)["q"] == 1e-20
    assert set(with_q.to_json(1.0)) == set(plain.to_json(1.0)) | {"q"}

    def step(z, u=None):  # z ↦ z + 0.1·(z₁ − z₁³, −z₂): stable (±1, 0), a saddle at 0
        z = z.to(torch.float64)
        return z + 0.1 * torch.stack([z[..., 0] - z[..., 0] ** 3, -z[..., 1]], -1)

    dyn = Dynamics(latent_dim=2, input_dim=0, dt=0.01, step=step)
    states = torch.tensor(np.random.default_rng(0).uniform([-1.5, -1.0], [1.5, 1.0], (200, 2)))
    points = find_fixed_points(dyn, None, states=states)
    assert len(points) == 3 and all(p.method == "newton" and p.q is not None and p.residual < 1e-10 for p in points)
    # the visited states surround all three, so the Adam search from them finds each first
    assert {p.found_by for p in points} == {"visited"} and all(p.to_json(1.0)["found_by"] == "visited" for p in points)
    np.testing.assert_allclose(sorted(p.z[0] for p in points), [-1.0, 0.0, 1.0], atol=1e-10)
    assert sorted(classify(p.eigenvalues) for p in points) == ["saddle", "stable node", "stable node"]


# --- command line -------------------------------------------------------------------------------------


def _tanh_archive(tmp_path, name="tanh.npz", **override):
    fields = {"W": np.diag([2.0, 1.5]), "b": np.zeros(2)}
    fields.update(override)
    path = tmp_path / name
    np.savez(path, **{k: v for k, v in fields.items() if v is not None})
    return path


def test_cli_finds_the_fixed_points_of_a_tanh_archive(tmp_path, capsys):
    path = _tanh_archive(tmp_path)
    target = tmp_path / "sub" / "fp.json"
    assert (
        main(
            [
                "fixed-points",
                str(path),
                "--device",
                "cpu",
                "--n-starts",
                "512",
                "--seed",
                "1",
                "--dt",
                "0.01",
                "--out",
                str(target),
            ]
        )
        == 0
    )
    out = json.loads(target.read_text())
    assert sorted(p.name for p in target.parent.iterdir()) == ["fp.json"]
    assert out["model"] == "tanh_rnn" and out["method"] == "newton" and out["n_units"] == 2 and out["dt"] == 0.01
    assert out["device"] == "cpu" and isinstance(out["seconds"], float)
    search = out["search"]
    assert out["settings"]["seed"] == 1 and out["settings"]["n_starts"] == 512
    assert search["mode"] == "grid" and search["rounds"][0]["source"] == "visited"
    # 512 visited states, the 96 × 96 grid, then rounds of 256 Sobol starts until two find nothing new
    assert search["rounds"][0]["n_starts"] == 512 and search["rounds"][1]["n_starts"] == 96**2
    assert out["n_starts"] == sum(r["n_starts"] for r in search["rounds"]) and search["rounds_without_new_points"] == 2
    assert search["new_in_last_round"] == 0 and search["estimated_total"] == 9 and not search["truncated"]
    assert sum(search["found_by"].values()) == 9 and search["region_kind"] == "open cube (−1, 1)ⁿ"
    ref = diagonal_tanh_fixed_points(np.array([2.0, 1.5]))
    assert out["n_fixed_points"] == len(out["fixed_points"]) == 9
    for p in out["fixed_points"]:
        assert p["method"] == "newton" and p["q"] < 1e-20 and isinstance(p["stable"], bool)
        assert p["found_by"] in ("visited", "grid", "space_filling", "deflation")
        (match,) = [r for r in ref if np.allclose(r[0], p["z"], atol=1e-10)]
        assert p["stable"] == match[1]
        assert all(len(e) == 2 for e in p["eigenvalues"]) and len(p["time_constants_s"]) == 2
    # the same seed gives the same answer; --box keeps the points inside it
    assert (
        main(
            [
                "fixed-points",
                str(path),
                "--device",
                "cpu",
                "--n-starts",
                "512",
                "--seed",
                "1",
                "--dt",
                "0.01",
                "--box",
                "0",
                "2",
            ]
        )
        == 0
    )
    boxed = json.loads(capsys.readouterr().out)
    assert boxed["n_fixed_points"] == 4 and all(min(p["z"]) >= 0 for p in boxed["fixed_points"])


@pytest.mark.parametrize(
    "override,field",
    [
        ({"W": np.array([[np.nan, 0.0], [0.0, 1.5]])}, "'W'"),
        ({"b": np.zeros(3)}, "'b'"),
        ({"b": np.zeros((2, 1))}, "'b'"),
        ({"W": np.ones((2, 3))}, "'W'"),
        ({"A": np.ones(2)}, "'A'"),
        ({"h": np.zeros(2)}, "'h'"),
        ({"W": None}, "'W'"),
        ({"b": None}, "'b'"),
        ({"b": np.array(["x", "y"])}, "'b'"),
    ],
)
def test_cli_rejects_bad_tanh_archives_naming_file_and_field(tmp_path, capsys, override, field):
    from neurodyn.cli.fixed_points import load_weights

    path = _tanh_archive(tmp_path, **override)
    target = tmp_path / "out" / "fp.json"
    assert main(["fixed-points", str(path), "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and field in err
    assert not target.exists() and not (target.parent.exists() and any(target.parent.iterdir()))
    with pytest.raises(InputFileError, match=field):
        load_weights(path)


def test_cli_rejects_bad_search_options_and_options_that_do_not_apply(tmp_path, capsys):
    from neurodyn.cli.fixed_points import fixed_points_report

    path = _tanh_archive(tmp_path)
    target = tmp_path / "fp.json"
    for option, value in (
        ("--n-starts", "0"),
        ("--max-iters", "-3"),
        ("--tol-q", "nan"),
        ("--tol-q", "0"),
        ("--tol-unique", "-1"),
        ("--seed", "-1"),
        ("--cycles", "2"),
    ):
        assert main(["fixed-points", str(path), option, value, "--out", str(target)]) == 1
        assert option in capsys.readouterr().err and not target.exists()
    with pytest.raises(ConfigError, match="--tol-q"):
        fixed_points_report(path, tol_q=float("inf"))
    plrnn = tmp_path / "plrnn.npz"
    np.savez(plrnn, A=np.array([0.5]), W=np.array([[-2.0]]), h=np.array([1.0]))
    with pytest.raises(ConfigError, match="--n-starts"):
        fixed_points_report(plrnn, n_starts=10)
    assert main(["fixed-points", str(plrnn)]) == 0  # the PLRNN archive itself is fine
    assert json.loads(capsys.readouterr().out)["model"] == "plrnn"


# --- CUDA ----------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_cuda_matches_cpu():
    w = np.array([2.0, 1.5])
    grid = np.linspace(-1.2, 1.2, 13)
    starts = torch.tensor(np.array(list(itertools.product(grid, grid))))
    results = {}
    for dev in ("cpu", "cuda"):
        W = torch.tensor(np.diag(w), device=dev)
        res = adam_fixed_points(lambda h, W=W: torch.tanh(h @ W.T), starts.to(dev))
        assert res.device.startswith(dev)
        results[dev] = res
    cpu, gpu = results["cpu"], results["cuda"]
    assert len(gpu) == len(cpu) == 9
    order_c, order_g = np.lexsort(cpu.z.T), np.lexsort(gpu.z.T)
    np.testing.assert_allclose(gpu.z[order_g], cpu.z[order_c], atol=1e-10)
    assert gpu.stable[order_g].tolist() == cpu.stable[order_c].tolist()


def test_fixed_point_json_names_the_rotation_of_its_linearisation_and_lists_every_mode():
    dt = 0.01
    fast, slow = 0.5, 0.95  # a fast-decaying 20 Hz rotation, a slow-decaying 4 Hz rotation and a real mode
    modes = [fast * np.exp(2j * np.pi * 20.0 * dt), slow * np.exp(2j * np.pi * 4.0 * dt), 0.2 + 0j]
    eig = np.array([modes[0], np.conj(modes[0]), modes[1], np.conj(modes[1]), modes[2]])
    point = FixedPoint(z=np.zeros(5), jacobian=np.eye(5), eigenvalues=eig, stable=True, method="exact")
    js = point.to_json(dt)
    assert "leading_oscillation_hz" not in js and "leading_oscillation_time_constant_s" not in js
    # the slowest-decaying rotating mode: 4 Hz, τ = −Δt / ln 0.95
    assert js["rotation_hz"] == pytest.approx(4.0) and js["rotation_time_constant_s"] == pytest.approx(
        -dt / np.log(slow)
    )
    # every mode, ordered by decreasing |λ|
    assert js["frequencies_hz"] == pytest.approx([4.0, 4.0, 20.0, 20.0, 0.0])
    assert js["time_constants_s"] == pytest.approx([-dt / np.log(m) for m in (slow, slow, fast, fast, 0.2)])
    real = FixedPoint(z=np.zeros(1), jacobian=np.eye(1), eigenvalues=np.array([0.5 + 0j]), stable=True, method="exact")
    assert real.to_json(dt)["rotation_hz"] is None and real.to_json(dt)["rotation_time_constant_s"] is None
    json.dumps(js)
