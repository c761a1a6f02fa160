"""BPTT path for (regularised) PLRNNs on the addition problem (Schmidt et al. 2021, ICLR)."""

from __future__ import annotations

import pytest
import torch

from neurodyn.studies.plrnn_addition.bptt import (
    PLRNN,
    addition_problem,
    addition_scores,
    exact_addition_plrnn,
    lstm_parameter_count,
    make_matched_lstm,
    make_plrnn,
    make_rplrnn,
    match_lstm_hidden,
    train_bptt,
)

TARGET_VARIANCE = 1.0 / 6.0  # sum of two U[0, 1) values: MSE of predicting the mean


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# ---------------------------------------------------------------------------------------- task


@pytest.mark.parametrize("T", [4, 10, 37, 200])
def test_addition_problem_has_two_markers_in_the_first_half_and_sums_them(T):
    g = torch.Generator().manual_seed(T)
    x, y = addition_problem(500, T, g)
    assert x.shape == (500, T, 2) and y.shape == (500,) and x.dtype == torch.float32
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) <= {0.0, 1.0}
    assert (markers.sum(1) == 2).all()
    pos = markers.nonzero()[:, 1].reshape(500, 2)
    assert (pos < T // 2).all()  # both in the first half: memory > T/2 steps
    assert (pos.min(1).values < min(10, T // 2)).all()  # one of them in the first 10 steps
    expected = torch.stack([values[i, pos[i]].sum() for i in range(500)])
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)


def test_addition_problem_is_reproducible_and_has_the_expected_target_law():
    x1, y1 = addition_problem(20000, 30, torch.Generator().manual_seed(3))
    x2, y2 = addition_problem(20000, 30, torch.Generator().manual_seed(3))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert abs(y1.mean().item() - 1.0) < 0.02
    assert abs(y1.var().item() - TARGET_VARIANCE) < 0.01
    # the first marker is spread over all of the first 10 steps, the second over the whole half
    pos = x1[..., 1].nonzero()[:, 1].reshape(-1, 2)
    assert set(pos.min(1).values.tolist()) == set(range(10))
    assert pos.max(1).values.max().item() == 14


def test_addition_problem_rejects_too_short_sequences():
    with pytest.raises(ValueError):
        addition_problem(5, 3, torch.Generator().manual_seed(0))


# ------------------------------------------------------------------------- exact 2-unit solution


@pytest.mark.parametrize("T", [4, 10, 100, 1000])
def test_exact_two_unit_solution_solves_the_addition_problem(T):
    x, y = addition_problem(300, T, torch.Generator().manual_seed(T))
    model = exact_addition_plrnn()
    out = model(x).output.reshape(-1)
    assert (out - y).abs().max().item() < 1e-6
    assert addition_scores(model, (x, y))["p_correct"] == 1.0
    assert model.n_parameters() == 2 + 2 + 4 + 2 + 2


def test_eq8_as_printed_with_c_identity_does_not_solve_it():
    """Documents the correction: with C = I (as printed in Eq. 8) unit 2 is never active."""
    x, y = addition_problem(300, 20, torch.Generator().manual_seed(0))
    model = exact_addition_plrnn()
    with torch.no_grad():
        model.C.copy_(torch.eye(2))
    err = (model(x).output.reshape(-1) - y).abs()
    assert err.min().item() > 0.04


# ------------------------------------------------------------------------------------- penalty


def test_penalty_is_zero_at_the_line_attractor_init_and_pulls_back_to_it():
    g = torch.Generator().manual_seed(0)
    model = make_rplrnn(12, tau=5.0, generator=g)
    r = model.n_reg
    assert r == 6
    assert torch.equal(model.A[:r], torch.ones(r))
    assert torch.equal(model.W[:r], torch.zeros(r, 12)) and torch.equal(model.h[:r], torch.zeros(r))
    assert model.penalty().item() == 0.0
    # the free units are not at the line attractor
    assert (model.A[r:] != 1).all() and model.W[r:].abs().sum() > 0
    with torch.no_grad():  # move the regularised parameters away from the attractor
        model.A[:r] += 0.3 * torch.randn(r, generator=g)
        model.W[:r] += 0.3 * torch.randn(r, 12, generator=g) * model.offdiag[:r]
        model.h[:r] += 0.3 * torch.randn(r, generator=g)
    pen = model.penalty()
    assert pen.item() > 0
    pen.backward()
    # gradient = 2τ(θ − θ*): a descent step moves every regularised parameter towards (1, 0, 0)
    torch.testing.assert_close(model.A.grad[:r], 10.0 * (model.A[:r] - 1).detach())
    torch.testing.assert_close(model.W.grad[:r], 10.0 * model.W_offdiag[:r].detach())
    torch.testing.assert_close(model.h.grad[:r], 10.0 * model.h[:r].detach())
    for grad in (
        model.A.grad[r:],
        model.W.grad[r:],
        model.h.grad[r:],
    ):
        assert torch.equal(grad, torch.zeros_like(grad))
    assert model.C.grad is None and model.B.grad is None
    dist0 = ((model.A[:r] - 1) ** 2).sum() + (model.W[:r] ** 2).sum() + (model.h[:r] ** 2).sum()
    with torch.no_grad():
        for p in (model.A, model.W, model.h):
            p -= 0.01 * p.grad
    dist1 = ((model.A[:r] - 1) ** 2).sum() + (model.W[:r] ** 2).sum() + (model.h[:r] ** 2).sum()
    assert dist1 < dist0
    assert make_plrnn(12, generator=g).penalty().item() == 0.0


def test_plain_plrnn_init_is_random_with_spectral_radius_below_one():
    model = make_plrnn(20, generator=torch.Generator().manual_seed(1))
    assert model.n_reg == 0 and model.tau == 0.0
    J = torch.diag(model.A) + model.W_offdiag
    rho = torch.linalg.eigvals(J.double()).abs().max().item()
    assert 0.5 < rho < 1.0
    assert torch.equal(torch.diagonal(model.W), torch.zeros(20))


# ------------------------------------------------------------------------------------ training


def test_diagonal_of_w_stays_zero_and_the_penalty_is_in_the_loss():
    g = torch.Generator().manual_seed(0)
    data = addition_problem(128, 8, g)
    model = make_rplrnn(8, tau=5.0, generator=g)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = train_bptt(model, data, epochs=2, generator=g)
    assert res.n_steps == 16
    assert torch.equal(torch.diagonal(model.W), torch.zeros(8))
    assert torch.equal(torch.diagonal(model.W_offdiag), torch.zeros(8))
    assert not torch.equal(model.W, before["W"])  # the off-diagonal did train
    # same run without the penalty ends elsewhere
    g2 = torch.Generator().manual_seed(0)
    data2 = addition_problem(128, 8, g2)
    model2 = make_rplrnn(8, tau=5.0, generator=g2)
    train_bptt(model2, data2, epochs=2, generator=g2, penalty=False)
    assert not torch.equal(model.A, model2.A)


def test_short_training_beats_the_predict_the_mean_baseline():
    g = torch.Generator().manual_seed(0)
    train = addition_problem(3200, 10, g)
    test = addition_problem(1000, 10, g)
    model = make_rplrnn(16, tau=5.0, generator=g)
    before = addition_scores(model, test)
    res = train_bptt(model, train, epochs=10, generator=g)
    after = addition_scores(model, test)
    assert res.n_steps == 2000 and len(res.loss) == 10
    assert before["mse"] > TARGET_VARIANCE
    assert after["mse"] < 0.2 * TARGET_VARIANCE, after
    assert after["p_correct"] > 0.15
    assert res.loss[-1] < 0.1 * res.loss[0]
    assert res.wall_time > 0


def test_best_epoch_state_is_restored():
    g = torch.Generator().manual_seed(0)
    data = addition_problem(64, 8, g)
    model = make_rplrnn(6, generator=g)
    res = train_bptt(model, data, epochs=6, lr=0.2, generator=g)  # large lr: the loss goes back up
    assert res.best_epoch == min(range(len(res.loss)), key=res.loss.__getitem__)
    assert res.best_epoch < len(res.loss) - 1  # precondition of this test
    state = model.state_dict()
    for k, v in res.best_state.items():
        assert torch.equal(state[k], v)
    assert any(not torch.equal(state[k], v) for k, v in res.final_state.items())
    # the stored state is a copy, not a view of the live parameters
    with torch.no_grad():
        model.A.add_(1.0)
    assert not torch.equal(model.A, res.best_state["A"])


def test_max_steps_caps_training():
    g = torch.Generator().manual_seed(0)
    data = addition_problem(160, 6, g)
    res = train_bptt(make_plrnn(5, generator=g), data, epochs=5, generator=g, max_steps=13)
    assert res.n_steps == 13 and len(res.loss) == 2


# -------------------------------------------------------------------------------------- LSTM


@pytest.mark.parametrize("M", [16, 20, 40, 100])
def test_lstm_parameter_matching(M):
    plrnn = make_rplrnn(M, generator=torch.Generator().manual_seed(0))
    n = plrnn.n_parameters()
    assert n == M + M * (M - 1) + 2 * M + M + M
    H, count = match_lstm_hidden(n)
    assert abs(count - n) / n < 0.05
    for other in (H - 1, H + 1):
        assert abs(lstm_parameter_count(other) - n) >= abs(count - n)
    lstm = make_matched_lstm(plrnn, generator=torch.Generator().manual_seed(0))
    assert lstm.hidden_size == H and lstm.n_parameters() == count


def test_lstm_baseline_runs_and_trains():
    g = torch.Generator().manual_seed(0)
    data = addition_problem(64, 8, g)
    lstm = make_matched_lstm(200, generator=g)
    out = lstm(data[0])
    assert out.output.shape == (64, 1) and out.state[0].shape == (64, lstm.hidden_size)
    assert lstm.penalty().item() == 0.0
    res = train_bptt(lstm, data, epochs=2, generator=g)
    assert res.n_steps == 8 and all(torch.isfinite(torch.tensor(res.loss)))


def test_models_are_reproducible_from_the_generator():
    a = make_rplrnn(10, generator=torch.Generator().manual_seed(5))
    b = make_rplrnn(10, generator=torch.Generator().manual_seed(5))
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(v, w), k


@pytest.mark.gpu
def test_cuda_matches_cpu():
    dev = torch.device("cuda")
    x, y = addition_problem(64, 20, torch.Generator().manual_seed(0))
    cpu = make_rplrnn(10, generator=torch.Generator().manual_seed(1))
    gpu = make_rplrnn(10, generator=torch.Generator().manual_seed(1), device=dev)
    torch.testing.assert_close(gpu(x.to(dev)).output.cpu(), cpu(x).output, rtol=1e-4, atol=1e-4)
    exact = exact_addition_plrnn(device=dev)
    assert addition_scores(exact, (x.to(dev), y.to(dev)))["p_correct"] == 1.0
    res = train_bptt(gpu, (x.to(dev), y.to(dev)), epochs=1, generator=torch.Generator().manual_seed(0))
    assert res.n_steps == 4 and gpu.A.device.type == "cuda"


def test_plrnn_validates_arguments():
    with pytest.raises(ValueError):
        PLRNN(4, n_reg=5)
    with pytest.raises(ValueError):
        PLRNN(4, n_reg=2, tau=-1.0)
