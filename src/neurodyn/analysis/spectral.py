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
