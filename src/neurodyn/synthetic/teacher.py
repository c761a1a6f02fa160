"""The teacher: a rank-2 low-rank RNN drawn from a :class:`TeacherConfig`, its flow and Jacobian.

``τ ż = −z + (1/N_units) Nᵀ φ(M z + W_u u + h)``; see :mod:`neurodyn.synthetic` for the science.
Pure functions on numpy arrays.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurodyn.synthetic.config import LATENT_DIM, N_INPUTS, STREAM_TEACHER, TeacherConfig, random_stream


@dataclass
class TeacherParams:
    """Parameters of the rank-2 teacher network and of its readouts.

    Shapes: M, N (n_units, 2); W_u (n_units, 2); h (n_units,); G, B (2, 2); r0_hz, beta
    (n_units,); cursor_readout (2, 2) in cm per latent unit; cursor_offset_cm (2,);
    eeg_mixing (n_eeg_channels, 2) in µV per latent unit.
    """

    M: np.ndarray
    N: np.ndarray
    W_u: np.ndarray
    h: np.ndarray
    G: np.ndarray
    B: np.ndarray
    tau_s: float
    dt_s: float
    nonlinearity: str
    relu_clip: float
    dynamics: str
    r0_hz: np.ndarray
    beta: np.ndarray
    cursor_readout: np.ndarray
    cursor_offset_cm: np.ndarray
    eeg_mixing: np.ndarray

    @property
    def n_units(self) -> int:
        return int(self.M.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.M.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        """All array-valued parameters by name (float64)."""
        return {
            f.name: np.asarray(getattr(self, f.name), dtype=np.float64)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }

    def scalars(self) -> dict[str, Any]:
        """Scalar parameters as plain Python values."""
        return {
            "tau_s": float(self.tau_s),
            "dt_s": float(self.dt_s),
            "nonlinearity": str(self.nonlinearity),
            "relu_clip": float(self.relu_clip),
            "dynamics": str(self.dynamics),
            "n_units": self.n_units,
            "latent_dim": self.latent_dim,
            "n_inputs": int(self.W_u.shape[1]),
            "n_eeg_channels": int(self.eeg_mixing.shape[0]),
        }


def rotation(angle: float) -> np.ndarray:
    """2×2 counter-clockwise rotation matrix, shape (2, 2)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def phi(x: np.ndarray, nonlinearity: str, clip: float = 1.0) -> np.ndarray:
    """Transfer function φ, elementwise (any shape).

    ``tanh`` or the clipped ReLU ``φ(x) = max(0, x + c) − max(0, x)`` (= clip(x + c, 0, c)).
    """
    if nonlinearity == "tanh":
        return np.tanh(x)
    return np.clip(x + clip, 0.0, clip)


def phi_prime(x: np.ndarray, nonlinearity: str, clip: float = 1.0) -> np.ndarray:
    """Derivative φ'(x), elementwise (any shape); for the clipped ReLU 1 on (−c, 0), else 0."""
    if nonlinearity == "tanh":
        return 1.0 / np.cosh(x) ** 2
    return ((x > -clip) & (x < 0.0)).astype(np.float64)


def _orthonormal_columns(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis (n, k) of the column space of a (n, k) (QR with sign fix)."""
    q, r = np.linalg.qr(a)
    return q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))


def make_teacher(config: TeacherConfig) -> TeacherParams:
    """Draw the teacher network and its readouts (deterministic for ``config.seed``).

    * M: Gaussian, then orthogonalised so that ``MᵀM / N_units = I`` exactly (for the clipped
      ReLU also orthogonal to ``φ(h)``, which makes the origin an exact fixed point).
    * N = M Gᵀ + N_rand with N_rand orthogonal to M (and φ(h)), entries of std
      ``connectivity_noise``; the Jacobian at the origin is then exactly ``(−I + G)/τ``
      (Mastrogiuseppe & Ostojic 2018; Beiran et al. 2021).
    * W_u = M B + W_perp, B = b Rot(−ω) (limit_cycle) or b I (ring), so that a pulse
      u = A(cos θ, sin θ) drives z towards direction θ (after the rotation by G).
    * h = 0 (tanh) or ``−c/2`` ± jitter inside the linear range (clipped ReLU).
    * r0 log-normal around ``rate_median_hz`` (clipped to [2, 25] Hz), β log-normal around
      ``rate_gain`` (clipped to [0.3, 2]) with random sign, cursor readout = scaled rotation,
      EEG mixing Gaussian.
    """
    rng = random_stream(config.seed, STREAM_TEACHER)
    n, r = config.n_units, LATENT_DIM
    c = config.relu_clip
    g, w = config.gain, config.rotation_rad

    if config.dynamics == "limit_cycle":
        G = g * rotation(w)
        B = config.input_gain * rotation(-w)
    else:
        G = g * np.eye(r)
        B = config.input_gain * np.eye(r)

    if config.nonlinearity == "tanh":
        h = np.zeros(n)
        avoid = np.zeros((n, 0))
    else:
        h = np.clip(-0.5 * c + 0.1 * c * rng.standard_normal(n), -0.85 * c, -0.15 * c)
        avoid = (h + c)[:, None]  # φ(h) with every unit in its linear range

    raw = rng.standard_normal((n, r))
    # project the directions to avoid out of M (only possible when n > r + #avoid)
    if avoid.shape[1] and n > r + avoid.shape[1]:
        qa = _orthonormal_columns(avoid)
        raw = raw - qa @ (qa.T @ raw)
    M = math.sqrt(n) * _orthonormal_columns(raw)

    basis = np.concatenate([M / math.sqrt(n), _orthonormal_columns(avoid) if avoid.shape[1] else avoid], axis=1)

    def orth_noise(std: float, k: int) -> np.ndarray:
        x = std * rng.standard_normal((n, k))
        if n > basis.shape[1]:
            x = x - basis @ (basis.T @ x)
        else:
            x = np.zeros((n, k))
        return x

    N = M @ G.T + orth_noise(config.connectivity_noise, r)
    W_u = M @ B + orth_noise(config.input_offaxis, N_INPUTS)

    r0 = np.clip(config.rate_median_hz * np.exp(config.rate_spread * rng.standard_normal(n)), 2.0, 25.0)
    beta = np.clip(config.rate_gain * np.exp(config.rate_gain_spread * rng.standard_normal(n)), 0.3, 2.0) * rng.choice(
        np.array([-1.0, 1.0]), size=n
    )
    cursor_readout = config.cursor_scale_cm * rotation(rng.uniform(0.0, 2 * math.pi))
    cursor_offset = rng.normal(0.0, 2.0, size=2)
    eeg_mixing = config.eeg_signal_uv * rng.standard_normal((config.n_eeg_channels, r))

    return TeacherParams(
        M=M,
        N=N,
        W_u=W_u,
        h=h,
        G=G,
        B=B,
        tau_s=float(config.tau_s),
        dt_s=float(config.dt_s),
        nonlinearity=config.nonlinearity,
        relu_clip=float(c),
        dynamics=config.dynamics,
        r0_hz=r0,
        beta=beta,
        cursor_readout=cursor_readout,
        cursor_offset_cm=cursor_offset,
        eeg_mixing=eeg_mixing,
    )


def unit_activity(params: TeacherParams, z: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """Unit activity ``x = M z + W_u u + h``: z (T, 2), u (T, 2) or None → x (T, n_units)."""
    x = np.asarray(z, dtype=np.float64) @ params.M.T
    if u is not None:
        x += np.asarray(u, dtype=np.float64) @ params.W_u.T
    x += params.h
    return x


def latent_velocity(params: TeacherParams, z: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """Noise-free latent flow ``ż = (−z + (1/N_units) Nᵀ φ(M z + W_u u + h)) / τ``.

    z (..., 2), u (..., 2) or None (no input) → ż (..., 2) in latent units per second.
    """
    z = np.asarray(z, dtype=np.float64)
    x = z @ params.M.T + params.h
    if u is not None:
        x = x + np.asarray(u, dtype=np.float64) @ params.W_u.T
    rec = phi(x, params.nonlinearity, params.relu_clip) @ params.N / params.n_units
    return (rec - z) / params.tau_s


def latent_jacobian(params: TeacherParams, z: np.ndarray) -> np.ndarray:
    """Jacobian of the input-free flow at z (2,): ``(−I + (1/N) Nᵀ diag(φ'(Mz+h)) M)/τ``, (2, 2)."""
    x = params.M @ np.asarray(z, dtype=np.float64) + params.h
    d = phi_prime(x, params.nonlinearity, params.relu_clip)
    jac = (params.N * d[:, None]).T @ params.M / params.n_units
    return (jac - np.eye(params.latent_dim)) / params.tau_s


__all__ = [
    "TeacherParams",
    "latent_jacobian",
    "latent_velocity",
    "make_teacher",
    "phi",
    "phi_prime",
    "rotation",
    "unit_activity",
]
