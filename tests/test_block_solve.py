"""Block-tridiagonal solve of the PLRNN E-step: the compiled (numba) kernels against the torch loop
and against a dense solve, batched, in float64 and float32, with failed Cholesky factorisations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.models.plrnn_em.block_solve import block_tridiag_solve_numba
from neurodyn.models.plrnn_em.core import block_tridiag_solve

pytest.importorskip("numba")

FIELDS = ("z", "logdet", "cov_diag", "cov_lower")


def random_system(batch: tuple[int, ...], T: int, M: int, dtype=torch.float64, seed: int = 0):
    """A random symmetric positive-definite block-tridiagonal H (blocks) and right-hand side.

    Block-diagonally dominant: H_tt = QQᵀ/M + (1 + ‖H_{t,t−1}‖ + ‖H_{t+1,t}‖) I, so λ_min(H) ≥ 1.
    """
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(*batch, T, M, M, generator=gen, dtype=torch.float64)
    lower = torch.randn(*batch, T - 1, M, M, generator=gen, dtype=torch.float64) / M**0.5
    norm = torch.linalg.matrix_norm(lower, ord=2)  # (..., T-1)
    shift = torch.ones(*batch, T, dtype=torch.float64)
    shift[..., 1:] += norm
    shift[..., :-1] += norm
    diag = q @ q.mT / M + shift[..., None, None] * torch.eye(M, dtype=torch.float64)
    rhs = torch.randn(*batch, T, M, generator=gen, dtype=torch.float64)
    return diag.to(dtype), lower.to(dtype), rhs.to(dtype)


def dense(diag: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(T·M × T·M) matrix of one system: diag (T, M, M), lower (T−1, M, M)."""
    T, M = diag.shape[0], diag.shape[-1]
    H = np.zeros((T * M, T * M))
    for t in range(T):
        H[t * M : (t + 1) * M, t * M : (t + 1) * M] = diag[t]
        if t < T - 1:
            H[(t + 1) * M : (t + 2) * M, t * M : (t + 1) * M] = lower[t]
            H[t * M : (t + 1) * M, (t + 1) * M : (t + 2) * M] = lower[t].T
    return H


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float) -> None:
    """Elementwise |a − e| ≤ rtol·|e| + rtol·max|e| (the second term for entries near zero)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("T", [1, 2, 7, 50])
@pytest.mark.parametrize("M", [1, 3, 18])
def test_compiled_solve_equals_torch_loop(dtype, T, M):
    diag, lower, rhs = random_system((2, 3), T, M, dtype, seed=T * 100 + M)
    ref = block_tridiag_solve(diag, lower, rhs, covariance=True, engine="torch")
    got = block_tridiag_solve(diag, lower, rhs, covariance=True, engine="numba")
    rtol = 1e-10 if dtype == torch.float64 else 1e-4
    for name in FIELDS:
        assert_close(getattr(got, name), getattr(ref, name), rtol)
    assert not got.failed.any() and got.failed.shape == (2, 3)
    assert torch.equal(got.cov_diag, got.cov_diag.mT)
    plain = block_tridiag_solve(diag, lower, rhs, engine="numba")
    assert plain.cov_diag is None and plain.cov_lower is None
    assert torch.equal(plain.z, got.z) and torch.equal(plain.logdet, got.logdet)


@pytest.mark.parametrize("engine", ["numba", "torch"])
@pytest.mark.parametrize("T", [1, 2, 7])
@pytest.mark.parametrize("M", [1, 3, 18])
def test_solve_equals_dense_solve_and_inverse(engine, T, M):
    diag, lower, rhs = random_system((2,), T, M, seed=7 + T + M)
    sol = block_tridiag_solve(diag, lower, rhs, covariance=True, engine=engine)
    for b in range(2):
        H = dense(diag[b].numpy(), lower[b].numpy())
        inv = np.linalg.inv(H)
        np.testing.assert_allclose(sol.z[b].numpy().ravel(), np.linalg.solve(H, rhs[b].numpy().ravel()), rtol=1e-10)
        np.testing.assert_allclose(float(sol.logdet[b]), np.linalg.slogdet(H)[1], rtol=1e-12)
        for t in range(T):
            block = inv[t * M : (t + 1) * M, t * M : (t + 1) * M]
            np.testing.assert_allclose(sol.cov_diag[b, t].numpy(), block, rtol=1e-10, atol=1e-12)
            if t < T - 1:
                block = inv[(t + 1) * M : (t + 2) * M, t * M : (t + 1) * M]
                np.testing.assert_allclose(sol.cov_lower[b, t].numpy(), block, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bad_t", [0, 3, 5])
@pytest.mark.parametrize("M", [1, 4])
def test_indefinite_element_is_flagged_and_the_others_are_solved(dtype, bad_t, M):
    diag, lower, rhs = random_system((2, 2), 6, M, dtype, seed=11)
    diag[0, 1, bad_t] = -diag[0, 1, bad_t]  # one batch element loses positive definiteness
    if M > 1:  # and another where only the block's last pivot is negative
        diag[1, 1, bad_t, -1, -1] = -10.0 * diag[1, 1, bad_t].abs().sum()
    expect = torch.tensor([[False, True], [False, M > 1]])
    ref = block_tridiag_solve(diag, lower, rhs, covariance=True, engine="torch")
    got = block_tridiag_solve(diag, lower, rhs, covariance=True, engine="numba")
    assert torch.equal(ref.failed, expect) and torch.equal(got.failed, expect)
    rtol = 1e-10 if dtype == torch.float64 else 1e-4
    ok = ~expect
    for name in FIELDS:
        assert_close(getattr(got, name)[ok], getattr(ref, name)[ok], rtol)
        # a failed element is NaN, not garbage
        assert torch.isnan(getattr(got, name)[expect]).all()
    # the good elements do not depend on their neighbours in the batch
    alone = block_tridiag_solve(diag[1, 0], lower[1, 0], rhs[1, 0], covariance=True, engine="numba")
    assert torch.equal(alone.z, got.z[1, 0]) and torch.equal(alone.cov_diag, got.cov_diag[1, 0])


def test_non_finite_block_is_flagged():
    diag, lower, rhs = random_system((3,), 4, 3, seed=2)
    diag[2, 2, 1, 1] = float("nan")
    assert block_tridiag_solve(diag, lower, rhs, engine="numba").failed.tolist() == [False, False, True]
    assert block_tridiag_solve(diag, lower, rhs, engine="torch").failed.tolist() == [False, False, True]


def test_no_batch_dims_and_many_batch_dims():
    diag, lower, rhs = random_system((2, 1, 3), 5, 3, seed=4)
    full = block_tridiag_solve_numba(diag, lower, rhs, covariance=True)
    assert (
        full.z.shape == (2, 1, 3, 5, 3)
        and full.logdet.shape == (2, 1, 3)
        and full.cov_lower.shape == (2, 1, 3, 4, 3, 3)
    )
    one = block_tridiag_solve_numba(diag[1, 0, 2], lower[1, 0, 2], rhs[1, 0, 2], covariance=True)
    assert one.z.shape == (5, 3) and one.logdet.shape == () and one.failed.shape == ()
    for name in FIELDS:
        assert torch.equal(getattr(one, name), getattr(full, name)[1, 0, 2])


def test_auto_picks_the_compiled_path_and_keeps_torch_for_autograd():
    diag, lower, rhs = random_system((2,), 50, 18, seed=5)
    auto = block_tridiag_solve(diag, lower, rhs, covariance=True)
    compiled = block_tridiag_solve(diag, lower, rhs, covariance=True, engine="numba")
    loop = block_tridiag_solve(diag, lower, rhs, covariance=True, engine="torch")
    # the two paths round differently (operation order), so bitwise equality tells which one ran
    assert not torch.equal(compiled.cov_diag, loop.cov_diag)
    assert torch.equal(auto.z, compiled.z) and torch.equal(auto.cov_diag, compiled.cov_diag)
    # with a gradient to track, auto stays on the tensor loop (which records the graph)
    rhs_g = rhs.clone().requires_grad_(True)
    sol = block_tridiag_solve(diag, lower, rhs_g)
    assert sol.z.requires_grad
    assert torch.equal(sol.z.detach(), loop.z)
    with torch.no_grad():
        assert torch.equal(block_tridiag_solve(diag, lower, rhs_g).z, compiled.z)  # no graph: compiled
    with pytest.raises(ValueError, match="require grad"):
        block_tridiag_solve(diag, lower, rhs_g, engine="numba")
    with pytest.raises(ValueError, match="engine"):
        block_tridiag_solve(diag, lower, rhs, engine="fast")
    with pytest.raises(ValueError, match="float32/float64"):
        block_tridiag_solve(diag.to(torch.float32), lower, rhs, engine="numba")
