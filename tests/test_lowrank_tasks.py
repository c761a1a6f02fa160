"""Tests for neurodyn.studies.lowrank_tasks.inputs (Sec. 5, time-varying inputs) and neurodyn.studies.lowrank_tasks.tasks (Sec. 6).

Reference: "A new look at low-rank recurrent neural networks" (anonymous, under review).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from neurodyn.errors import ConfigError
from neurodyn.studies.lowrank_tasks.inputs import (
    TARGET_KINDS,
    InputDrivenFlow,
    NominalTrajectory,
    classify_deviation,
    embed_input_flow,
    instantaneous_fixed_point,
    perturbation_deviation,
    sample_input_flow,
    simulate_input_driven,
    time_from_input,
    trajectory_targets,
)
from neurodyn.studies.lowrank_tasks.tasks import (
    TorchRNN,
    bistable_flow,
    decision_targets,
    decision_trials,
    fit_decision_regression,
    fit_flipflop_regression,
    flipflop_targets,
    flipflop_trials,
    flow_fixed_points,
    flow_target_trials,
    masked_loss,
    masked_mse,
    select_input_gain,
    sign_accuracy,
    train_bptt_rnn,
    train_test_split,
)

torch.set_num_threads(1)

TRAJ = NominalTrajectory()  # ż = (36 − z²)/3 from z0 = −5.5: −6 unstable, +6 stable
T_END = 3.0
T_GRID = np.linspace(0.0, T_END, 121)
DELTA = 0.2
ALPHA = 1.0
# the documented direction of each perturbation: e(t) = δ·e^{−αt} (stable), δ·e^{+|α|t} (unstable), δ (none)
EXPECTED = {"autonomous": "decays", "stable": "decays", "unstable": "grows", "none": "persists"}


@pytest.fixture(scope="module")
def targets():
    return trajectory_targets(TRAJ, ALPHA)


@pytest.fixture(scope="module")
def embedded(targets):
    """Each Fig. 4 flow embedded in 400 neurons with a decaying input and a tonic input (Sec. 5)."""
    out = {}
    for kind, f in targets.items():
        z, v, dz = sample_input_flow(f, (-10.0, 10.0), (0.0, T_END), n_z=61, n_t=61)
        out[kind] = embed_input_flow(z, v, dz, 400, weight_scale=0.2, input_scale=4.0, bias_scale=1.0, seed=0)
    return out


# ================================================================================================ Sec. 5


def test_nominal_trajectory_closed_form():
    z = TRAJ.z(T_GRID)
    assert z[0] == pytest.approx(TRAJ.z0)
    assert z[-1] > 5.9 and np.all(np.diff(z) > 0)  # from near −6 up to near +6
    # ż* = g(z*) by central differences
    h = 1e-6
    np.testing.assert_allclose(
        (TRAJ.z(T_GRID + h) - TRAJ.z(T_GRID - h)) / (2 * h), TRAJ.dz(T_GRID), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(time_from_input(np.exp(-T_GRID)), T_GRID, atol=1e-12)
    with pytest.raises(ConfigError):
        NominalTrajectory(z0=-7.0)


def test_targets_share_the_nominal_trajectory(targets):
    """All four flows of Fig. 4 give z*(t) from z0 (to solver tolerance), and differ off the trajectory."""
    assert set(targets) == set(TARGET_KINDS)
    runs = {}
    for kind, f in targets.items():
        z, v = simulate_input_driven(f, TRAJ.z0, 1.0, T_GRID, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(v[:, 0], np.exp(-T_GRID), rtol=1e-8)
        runs[kind] = z[:, 0]
        assert np.abs(z[:, 0] - TRAJ.z(T_GRID)).max() < 1e-6, kind
    # on the trajectory all flows agree; 1 unit away they do not
    t = np.linspace(0.1, 2.5, 7)
    v = np.exp(-t)[:, None]
    on = {k: f(TRAJ.z(t)[:, None], v) for k, f in targets.items()}
    off = {k: f(TRAJ.z(t)[:, None] + 1.0, v) for k, f in targets.items()}
    for k in TARGET_KINDS:
        np.testing.assert_allclose(on[k], on["none"], atol=1e-9)
    assert np.abs(off["stable"] - off["unstable"]).min() > 1.9  # differ by 2α·1
    np.testing.assert_allclose(off["none"], on["none"])  # Eq. 14 ignores z


def test_exact_targets_separate_under_perturbation(targets):
    for kind, f in targets.items():
        _, _, e = perturbation_deviation(f, TRAJ.z0, DELTA, T_GRID)
        assert classify_deviation(e) == EXPECTED[kind], kind
        assert e[0] == pytest.approx(DELTA)
    # exact rates: ė = −α e
    _, _, e = perturbation_deviation(targets["stable"], TRAJ.z0, DELTA, T_GRID)
    np.testing.assert_allclose(e, DELTA * np.exp(-ALPHA * T_GRID), rtol=1e-6)
    _, _, e = perturbation_deviation(targets["unstable"], TRAJ.z0, DELTA, T_GRID)
    np.testing.assert_allclose(e, DELTA * np.exp(ALPHA * T_GRID), rtol=1e-6)
    _, _, e = perturbation_deviation(targets["none"], TRAJ.z0, DELTA, T_GRID)
    np.testing.assert_allclose(e, DELTA, rtol=1e-6)
    # autonomous: the perturbed run is the nominal one shifted earlier in time (Fig. 4A)
    _, perturbed, _ = perturbation_deviation(targets["autonomous"], TRAJ.z0, DELTA, T_GRID)
    shift = (np.arctanh((TRAJ.z0 + DELTA) / TRAJ.a) - np.arctanh(TRAJ.z0 / TRAJ.a)) / (TRAJ.a * TRAJ.kappa)
    np.testing.assert_allclose(perturbed, TRAJ.z(T_GRID + shift), atol=1e-6)


def test_instantaneous_fixed_point_moves_right():
    t = np.linspace(0.0, T_END, 50)
    stable, unstable = instantaneous_fixed_point(TRAJ, ALPHA, t), instantaneous_fixed_point(TRAJ, -ALPHA, t)
    assert np.all(stable > TRAJ.z(t)) and np.all(unstable < TRAJ.z(t))  # ahead of / behind the state
    # net movement from left to right (not monotone: the offset ż*/α peaks mid-way)
    assert stable[-1] - stable[0] > 9 and unstable[-1] - unstable[0] > 9
    np.testing.assert_allclose([stable[-1], unstable[-1]], TRAJ.a, atol=0.05)
    with pytest.raises(ConfigError):
        instantaneous_fixed_point(TRAJ, 0.0, t)


def test_embedded_flows_reproduce_targets(targets, embedded):
    """Least squares on (z, v) samples embeds each non-autonomous flow; the network keeps its behaviour."""
    for kind, f in targets.items():
        flow = embedded[kind]
        assert flow.M.shape == (400, 1) and flow.I_in.shape == (400, 1) and flow.bias.shape == (400,)
        z, v, dz = sample_input_flow(f, (-9.5, 9.5), (0.0, T_END), n_z=37, n_t=41)  # off the fitting grid
        assert flow.rel_mse(z, v, dz) < 1e-6, kind  # measured ≤ 1e-10
        zs, _ = flow.simulate(TRAJ.z0, 1.0, T_GRID)
        assert np.abs(zs[:, 0] - TRAJ.z(T_GRID)).max() < 5e-3, kind  # same nominal trajectory
        _, _, e = perturbation_deviation(flow.flow, TRAJ.z0, DELTA, T_GRID, rtol=1e-8, atol=1e-8)
        assert classify_deviation(e) == EXPECTED[kind], kind  # and the same separation
    # growth/decay factors over 3 time units: e^{∓3}
    _, _, e = perturbation_deviation(embedded["unstable"].flow, TRAJ.z0, DELTA, T_GRID, rtol=1e-8, atol=1e-8)
    assert e[-1] / e[0] == pytest.approx(np.exp(3.0), rel=0.02)
    _, _, e = perturbation_deviation(embedded["stable"].flow, TRAJ.z0, DELTA, T_GRID, rtol=1e-8, atol=1e-8)
    assert e[-1] / e[0] == pytest.approx(np.exp(-3.0), rel=0.05)


def test_frozen_flows_have_moving_or_no_fixed_points(embedded):
    """Rows of Fig. 4's quiver plots: the frozen network flow has one moving fixed point (B, C) or none (D)."""
    zgrid = np.linspace(-9.5, 9.5, 1901)
    for t in (0.0, 0.2, 1.5, 2.0):  # times at which both fixed points lie inside the fitted |z| ≤ 10
        v = np.exp(-t)
        for kind, sign in (("stable", -1), ("unstable", 1)):
            frozen = embedded[kind].frozen(v)
            values = frozen.flow(zgrid)[:, 0]
            crossings = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))
            assert len(crossings) == 1, (kind, t)
            z_fp = zgrid[crossings[0]]
            assert z_fp == pytest.approx(instantaneous_fixed_point(TRAJ, -sign * ALPHA, t), abs=0.02)
            assert np.sign(frozen.jacobian(np.array([z_fp]))[0, 0, 0]) == sign
        assert np.all(embedded["none"].frozen(v).flow(zgrid) > 0)  # uniform drift, no fixed point


def test_input_driven_flow_jacobian_and_frozen():
    rng = np.random.default_rng(0)
    flow = InputDrivenFlow(
        M=rng.standard_normal((8, 2)),
        N=rng.standard_normal((8, 2)),
        I_in=rng.standard_normal((8, 1)),
        bias=rng.standard_normal(8),
        decay=1.0,
        nonlinearity="tanh",
    )
    z, v = np.array([[0.3, -0.2]]), np.array([[0.7]])
    np.testing.assert_allclose(flow.frozen(0.7).flow(z), flow.flow(z, v), atol=1e-14)
    eps = 1e-6
    numeric = np.stack(
        [(flow.flow(z + eps * e, v) - flow.flow(z - eps * e, v))[0] / (2 * eps) for e in np.eye(2)], axis=1
    )
    np.testing.assert_allclose(flow.jacobian(z, v)[0], numeric, atol=1e-8)
    with pytest.raises(ConfigError, match="v"):
        flow.flow(np.zeros((3, 2)), np.zeros((2, 1)))


# ================================================================================================ Sec. 6 tasks


def test_flipflop_targets_hand_checked():
    u = np.zeros((10, 2))
    u[2:4, 0] = 1.0  # channel 0: + pulse at 2–3, − pulse at 6
    u[6, 0] = -1.0
    u[0, 1] = -1.0  # channel 1: − pulse at 0, then − again at 8
    u[8, 1] = -1.0
    targets, mask = flipflop_targets(u)
    np.testing.assert_array_equal(targets[:, 0], [0, 0, 1, 1, 1, 1, -1, -1, -1, -1])
    np.testing.assert_array_equal(mask[:, 0], [0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(targets[:, 1], [-1] * 10)
    np.testing.assert_array_equal(mask[:, 1], [1] * 10)


def test_decision_targets_hand_checked():
    evidence = np.array([0.5, -0.2, 0.1, 0.0, 0.0, 0.0])  # stimulus mean 0.4/3 > 0
    targets, mask = decision_targets(evidence, 3)
    np.testing.assert_array_equal(targets, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(mask, [0, 0, 0, 1, 1, 1])
    targets, _ = decision_targets(np.array([[0.3, -0.5, 0.1, 0.0, 0.0]]), 3)  # mean −0.1/3 < 0
    np.testing.assert_array_equal(targets[0, :, 0], [0, 0, 0, -1, -1])
    with pytest.raises(ConfigError, match="n_stim"):
        decision_targets(evidence, 6)


def test_flipflop_trials_structure_and_seed():
    trials = flipflop_trials(40, n_steps=80, pulse_steps=4, min_gap=12, seed=3)
    assert trials.inputs.shape == trials.targets.shape == trials.mask.shape == (40, 80, 3)
    again = flipflop_trials(40, n_steps=80, pulse_steps=4, min_gap=12, seed=3)
    np.testing.assert_array_equal(trials.inputs, again.inputs)
    assert not np.array_equal(trials.inputs, flipflop_trials(40, n_steps=80, pulse_steps=4, min_gap=12, seed=4).inputs)
    targets, mask = flipflop_targets(trials.inputs)
    np.testing.assert_array_equal(trials.targets, targets)
    np.testing.assert_array_equal(trials.mask, mask)
    assert trials.info["n_pulses"].sum() > 40
    for n, c in itertools.product(range(40), range(3)):
        u = trials.inputs[n, :, c]
        onsets = np.flatnonzero((u != 0) & (np.r_[0.0, u[:-1]] != u))
        assert len(onsets) == trials.info["n_pulses"][n, c]
        assert np.all(np.diff(onsets) >= 12)
        for t0 in onsets:  # each pulse: 4 steps of one sign
            assert np.all(u[t0 : t0 + 4] == u[t0]) and abs(u[t0]) == 1


def test_decision_trials_and_split():
    trials = decision_trials(100, n_stim=20, n_resp=10, coherences=(0.2,), noise_std=0.5, seed=1)
    assert trials.inputs.shape == (100, 30, 1)
    assert np.all(trials.inputs[:, 20:] == 0)
    np.testing.assert_array_equal(trials.targets[:, -1, 0], np.sign(trials.inputs[:, :20, 0].mean(axis=1)))
    np.testing.assert_array_equal(np.abs(trials.info["drift"]), 0.2)
    train, test = train_test_split(trials, 30, seed=5)
    assert train.n_trials == 70 and test.n_trials == 30
    all_rows = np.concatenate([train.info["mean_evidence"], test.info["mean_evidence"]])
    np.testing.assert_array_equal(np.sort(all_rows), np.sort(trials.info["mean_evidence"]))
    train2, _ = train_test_split(trials, 30, seed=5)
    np.testing.assert_array_equal(train.inputs, train2.inputs)


def test_masked_scores():
    trials = decision_trials(4, n_stim=2, n_resp=2, seed=0)
    perfect = trials.targets.copy()
    assert masked_mse(perfect, trials) == 0.0 and sign_accuracy(perfect, trials) == 1.0
    wrong_during_stimulus = perfect.copy()
    wrong_during_stimulus[:, :2] = 5.0  # masked out
    assert masked_mse(wrong_during_stimulus, trials) == 0.0
    assert masked_mse(np.zeros_like(perfect), trials) == pytest.approx(1.0)
    assert sign_accuracy(-perfect, trials) == 0.0


# ================================================================================================ regression


def test_flipflop_regression_has_cube_corner_attractors():
    model = fit_flipflop_regression(3, seed=0)
    assert model.n_neurons == 3 and model.rank == 3  # Fig. 5A: 3 neurons, rank 3
    assert np.linalg.matrix_rank(model.J) == 3
    starts = np.array(list(itertools.product([-1.0, 0.0, 1.0], repeat=3)))
    points, stable = flow_fixed_points(model.flow, starts)
    assert len(points) == 27  # 3 per register: −1, 0, +1
    assert stable.sum() == 8
    corners = points[stable]
    assert np.abs(np.abs(corners) - 1.0).max() < 0.02
    assert len({tuple(np.sign(c)) for c in corners}) == 8  # one attractor per corner
    assert np.all(np.abs(points[~stable]).min(axis=1) < 0.02)  # the others have a register at 0


def test_flipflop_regression_solves_short_trials():
    trials = flipflop_trials(120, n_steps=60, seed=7)
    train, test = train_test_split(trials, 60, seed=0)
    model, scores = select_input_gain(fit_flipflop_regression(3, seed=0), train)
    assert len(scores) == 7 and model.fit_time_s < 5.0
    neuron = model.simulate(test.inputs, test.dt)
    latent = model.simulate_latent(test.inputs, test.dt)
    np.testing.assert_allclose(neuron, latent, atol=1e-10)  # x = M z + I exactly (Eqs. 4, 6)
    mse = masked_mse(neuron, test)
    assert mse < 0.3  # measured 0.19; predicting 0 gives 1
    assert mse < 0.3 * masked_mse(np.zeros_like(neuron), test)
    assert sign_accuracy(neuron, test) == 1.0


def test_decision_regression_with_ten_neurons():
    model = fit_decision_regression(n_neurons=10, seed=0)
    assert model.n_neurons == 10 and model.rank == 1
    assert model.rel_mse < 1e-3
    points, stable = flow_fixed_points(model.flow, np.array([[-1.0], [0.0], [1.0]]))
    np.testing.assert_allclose(np.sort(points[:, 0]), [-1.0, 0.0, 1.0], atol=0.02)
    np.testing.assert_array_equal(stable[np.argsort(points[:, 0])], [True, False, True])
    trials = decision_trials(400, seed=11)
    train, test = train_test_split(trials, 200, seed=0)
    model, _ = select_input_gain(model, train)
    out = model.simulate(test.inputs, test.dt)
    assert sign_accuracy(out, test) > 0.9  # measured 0.99
    assert masked_mse(out, test) < 0.2


def test_flow_targets_follow_the_designed_ode_and_the_regression_network_reproduces_them():
    trials = decision_trials(64, seed=3)
    model = fit_decision_regression(n_neurons=10, seed=0)
    targets = flow_target_trials(trials, lambda z: bistable_flow(z, 0.5), model.B)
    # the Euler recursion written out for one trial
    z, expected = 0.0, []
    for u in trials.inputs[5, :, 0]:
        z = z + trials.dt * (0.5 * (z - z**3) + 2.0 * u)
        expected.append(z)
    np.testing.assert_allclose(targets.targets[5, :, 0], expected, rtol=1e-12)
    assert targets.mask.min() == 1 and np.array_equal(targets.info["task_targets"], trials.targets)
    # the regression network embeds that ODE, so it reproduces its trajectories far more closely
    # than the task's step targets (Fig. 5's comparison)
    on_flow = masked_mse(model.simulate(targets.inputs, targets.dt), targets)
    on_task = masked_mse(model.simulate(trials.inputs, trials.dt), trials)
    assert on_flow < 1e-4 < on_task


# ================================================================================================ BPTT


@pytest.mark.parametrize("rank", [1, None])
def test_bptt_steps_reduce_the_loss(rank):
    trials = decision_trials(32, n_stim=10, n_resp=10, seed=2)
    gen = torch.Generator().manual_seed(0)
    model = TorchRNN(6, 1, 1, rank=rank, dt=trials.dt, generator=gen)
    if rank is not None:
        assert torch.linalg.matrix_rank(model.connectivity()).item() == rank
    u, y, m = (torch.as_tensor(a) for a in (trials.inputs, trials.targets, trials.mask))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        before = masked_loss(model(u), y, m).item()
    for _ in range(5):
        opt.zero_grad()
        loss = masked_loss(model(u), y, m)
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = masked_loss(model(u), y, m).item()
    assert after < before


def test_train_bptt_rnn_runs_and_is_seeded():
    trials = flipflop_trials(16, n_steps=20, pulse_steps=3, min_gap=5, pulse_prob=0.1, seed=0)
    a = train_bptt_rnn(trials, n_neurons=3, rank=3, n_steps=4, batch_size=8, seed=1)
    b = train_bptt_rnn(trials, n_neurons=3, rank=3, n_steps=4, batch_size=8, seed=1)
    assert a.n_steps == 4 and len(a.losses) == 4 and a.wall_time_s > 0
    assert a.losses == b.losses
    assert a.model.connectivity().shape == (3, 3)
