"""Spectral views of latent dynamics: Jacobian eigenvalues as time constants and frequencies."""

from __future__ import annotations

import numpy as np


def discrete_to_continuous(eigenvalues: np.ndarray, dt: float) -> np.ndarray:
    """Continuous-time rates s = log(λ) / dt of a discrete-time map's eigenvalues λ.

    eigenvalues: (k,) complex → (k,) complex, in 1/s (principal branch of the logarithm).
    """
    eig = np.asarray(eigenvalues, dtype=np.complex128)
    with np.errstate(divide="ignore"):
        return np.log(eig) / dt


def eigen_timescales(eigenvalues: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Time constants and oscillation frequencies of a discrete-time map's eigenmodes.

    A mode λ evolves as |λ|^t e^{i arg(λ) t}: its amplitude changes by e per
    τ = dt / |log|λ|| seconds (decaying when |λ| < 1, growing when |λ| > 1; ∞ when |λ| = 1) and
    it rotates at f = |arg λ| / (2π dt) Hz (0 for real positive λ; the Nyquist rate 1/(2 dt) for
    real negative λ).
    eigenvalues: (k,) complex → (time_constants_s (k,), frequencies_hz (k,)).
    """
    eig = np.asarray(eigenvalues, dtype=np.complex128)
    log_mod = np.log(np.abs(eig))
    with np.errstate(divide="ignore"):
        tau = np.where(log_mod == 0, np.inf, dt / np.abs(log_mod))
    return tau, np.abs(np.angle(eig)) / (2 * np.pi * dt)


def resolvent_response(
    jacobian: np.ndarray, input_matrix: np.ndarray, output_matrix: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """H(s) = C (s I − J)⁻¹ B evaluated at complex points s.

    jacobian J: (L, L); input_matrix B: (L, I); output_matrix C: (O, L); points: (F,) complex.
    Returns (F, O, I) complex. One batched linear solve per point (no inverse is formed); the poles
    of H are the eigenvalues of J (those whose modes B excites and C sees). A point exactly on a
    pole gives an infinite response.
    """
    J = np.asarray(jacobian, dtype=np.complex128)
    B = np.asarray(input_matrix, dtype=np.complex128)
    C = np.asarray(output_matrix, dtype=np.complex128)
    s = np.asarray(points, dtype=np.complex128).reshape(-1)
    L = J.shape[0]
    system = s[:, None, None] * np.eye(L) - J[None]  # (F, L, L)
    rhs = np.broadcast_to(B, (s.size, *B.shape))
    try:
        X = np.linalg.solve(system, rhs)  # (F, L, I)
    except np.linalg.LinAlgError:  # a point sits exactly on a pole (e.g. a line attractor at 0 Hz)
        X = np.empty((s.size, *B.shape), dtype=np.complex128)
        for k in range(s.size):
            try:
                X[k] = np.linalg.solve(system[k], B)
            except np.linalg.LinAlgError:
                X[k] = np.nan
    with np.errstate(invalid="ignore"):
        H = C[None] @ X
    return np.where(np.isnan(H), np.inf, H)


def transfer_function(
    jacobian: np.ndarray,
    input_matrix: np.ndarray,
    output_matrix: np.ndarray,
    frequencies_hz: np.ndarray,
    dt: float,
    *,
    continuous: bool = False,
) -> np.ndarray:
    """Input→output transfer function of the linearisation around a fixed point.

    Discrete time (a map z_{t+1} = J z_t + B u_t, y_t = C z_t): H(ω) = C (e^{iω dt} I − J)⁻¹ B;
    continuous time (ż = J z + B u): H(ω) = C (iω I − J)⁻¹ B (cf. Rivkind & Barak 2017, PRL, for the
    open-loop gain of a trained network). frequencies_hz: (F,), ω = 2π f; returns (F, O, I) complex.
    """
    omega = 2 * np.pi * np.asarray(frequencies_hz, dtype=np.float64)
    points = 1j * omega if continuous else np.exp(1j * omega * dt)
    return resolvent_response(jacobian, input_matrix, output_matrix, points)


def resonance(frequencies_hz: np.ndarray, response: np.ndarray) -> dict[str, float | np.ndarray]:
    """Gain curve and its peak. response: (F, O, I) complex from :func:`transfer_function`.

    The gain at each frequency is the largest singular value of H(ω) (the largest amplification of
    any input direction). Returns ``gain`` (F,), ``peak_hz``, ``peak_gain``, ``dc_gain`` (gain at
    the lowest frequency) and ``selectivity`` = peak_gain / dc_gain (> 1: a resonance away from 0 Hz;
    NaN when either is infinite).
    """
    finite = np.isfinite(response).all(axis=(1, 2))
    gain = np.full(response.shape[0], np.inf)
    if finite.any():
        gain[finite] = np.linalg.svd(response[finite], compute_uv=False)[:, 0]
    peak = int(np.argmax(gain))
    dc = float(gain[0])
    selectivity = float(gain[peak] / dc) if 0 < dc < np.inf and np.isfinite(gain[peak]) else float("nan")
    return {
        "gain": gain,
        "peak_hz": float(np.asarray(frequencies_hz)[peak]),
        "peak_gain": float(gain[peak]),
        "dc_gain": dc,
        "selectivity": selectivity,
    }
