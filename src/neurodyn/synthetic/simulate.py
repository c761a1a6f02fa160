"""A simulated session of the teacher: latent, stimulus, Poisson spikes, trials, cursor and EEG.

Pure functions on numpy arrays; all randomness comes from the named child streams of
``TeacherConfig.seed`` (:func:`neurodyn.synthetic.config.random_stream`).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal

from neurodyn.synthetic.config import (
    LATENT_DIM,
    N_INPUTS,
    STREAM_EEG,
    STREAM_SESSION,
    STREAM_SPIKES,
    STREAM_SPLITS,
    TeacherConfig,
    random_stream,
    steps_per_sample,
)
from neurodyn.synthetic.teacher import TeacherParams, phi, unit_activity

# namespace of the session identifier (uuid5 of the config): fixed, so the identifier is too
_UUID_NAMESPACE = uuid.UUID("6f1c2b8e-4d1a-5b7e-9c3f-2a8d0e4b7c11")


@dataclass
class SyntheticSession:
    """One simulated session (times in seconds from session start).

    latent (T, 2) at ``dt_s`` (sample k at k·dt_s); stimulus (T, 2) on the same grid.
    Spikes are NWB-style ragged: unit i owns ``spike_times[start:spike_times_index[i]]`` with
    ``start = spike_times_index[i-1]`` (0 for i = 0); each unit's slice is sorted.
    Trial columns have shape (n_trials,).  cursor (T_b, 2) in cm at ``cursor_timestamps``;
    eeg (T_e, n_eeg_channels) in volts at ``eeg_sfreq`` (sample k at k/eeg_sfreq).
    """

    dt_s: float
    session_end_s: float
    latent: np.ndarray
    stimulus: np.ndarray
    spike_times: np.ndarray
    spike_times_index: np.ndarray
    heldout: np.ndarray
    start_time: np.ndarray
    stop_time: np.ndarray
    stim_on_time: np.ndarray
    stim_off_time: np.ndarray
    condition: np.ndarray
    condition_angle: np.ndarray
    split: np.ndarray
    cursor: np.ndarray
    cursor_timestamps: np.ndarray
    eeg: np.ndarray
    eeg_sfreq: float
    eeg_channel_names: list[str]
    eeg_annotation_onsets: np.ndarray
    eeg_annotation_durations: np.ndarray
    eeg_annotation_descriptions: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return int(self.spike_times_index.shape[0])

    @property
    def n_trials(self) -> int:
        return int(self.start_time.shape[0])

    def unit_spike_times(self, i: int) -> np.ndarray:
        """Sorted spike times (s) of unit i, shape (n_spikes_i,)."""
        start = 0 if i == 0 else int(self.spike_times_index[i - 1])
        return self.spike_times[start : int(self.spike_times_index[i])]

    def spike_trains(self) -> list[np.ndarray]:
        """Per-unit sorted spike-time arrays."""
        return np.split(self.spike_times, self.spike_times_index[:-1])


def simulate_latent(
    params: TeacherParams,
    z0: np.ndarray,
    n_steps: int,
    noise: np.ndarray | None = None,
    input_code: np.ndarray | None = None,
    input_drives: np.ndarray | None = None,
) -> np.ndarray:
    """Euler–Maruyama simulation of the latent (discrete form of Pals et al. 2024).

    ``z_{t+1} = a z_t + (1−a)(1/N) Nᵀ φ(M z_t + d_{code_t}) + noise_t``, ``a = 1 − dt/τ``.

    z0 (2,); noise (n_steps − 1, 2) already scaled, or None (noise-free); input_code
    (n_steps,) small ints selecting a row of input_drives (K, n_units) = ``W_u u + h`` for
    each distinct input value (None: u = 0 throughout).  Returns z (n_steps, 2).
    The loop runs over time only; each step is a handful of BLAS-free numpy calls.
    """
    a = 1.0 - params.dt_s / params.tau_s
    nt = np.ascontiguousarray(params.N.T * ((1.0 - a) / params.n_units))  # (2, n_units)
    m = np.ascontiguousarray(params.M)
    if input_drives is None:
        input_drives = params.h[None, :]
        input_code = None
    drives = np.ascontiguousarray(input_drives, dtype=np.float64)
    code = np.zeros(n_steps, dtype=np.intp) if input_code is None else np.asarray(input_code, dtype=np.intp)
    if noise is None:
        noise = np.zeros((max(n_steps - 1, 0), LATENT_DIM))
    z = np.empty((n_steps, LATENT_DIM))
    z[0] = z0
    buf = np.empty(params.n_units)
    rec = np.empty(LATENT_DIM)
    tanh = params.nonlinearity == "tanh"
    c = params.relu_clip
    for t in range(n_steps - 1):
        np.dot(m, z[t], out=buf)
        buf += drives[code[t]]
        if tanh:
            np.tanh(buf, out=buf)
        else:
            buf += c
            np.clip(buf, 0.0, c, out=buf)
        np.dot(nt, buf, out=rec)
        z[t + 1] = a * z[t] + rec + noise[t]
    return z


def _psi(x: np.ndarray, nonlinearity: str, clip: float) -> np.ndarray:
    """φ(x) rescaled to [−1, 1] (identity map for tanh), the argument of the rate readout."""
    if nonlinearity == "tanh":
        return np.tanh(x)
    return 2.0 * phi(x, nonlinearity, clip) / clip - 1.0


def firing_rates(params: TeacherParams, z: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """Per-unit rates ``r_i = r0_i exp(β_i ψ(x_i))`` in Hz, ψ = φ rescaled to [−1, 1].

    z (T, 2), u (T, 2) or None → rates (T, n_units).
    """
    x = unit_activity(params, z, u)
    return params.r0_hz * np.exp(params.beta * _psi(x, params.nonlinearity, params.relu_clip))


def sample_spikes(
    rates_hz: np.ndarray, dt_s: float, rng: np.random.Generator, t0_step: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson spike counts per step, each spike uniform within its step.

    rates_hz (T, n_units) → (times (S,), units (S,)) unsorted; step k covers
    [(t0_step + k) dt, (t0_step + k + 1) dt).
    """
    counts = rng.poisson(rates_hz * dt_s)
    t_idx, unit = np.nonzero(counts)
    reps = counts[t_idx, unit]
    t_idx = np.repeat(t_idx, reps)
    unit = np.repeat(unit, reps)
    times = (t_idx + t0_step + rng.random(t_idx.shape[0])) * dt_s
    return times, unit


def _ragged(times: np.ndarray, units: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort spikes by (unit, time) → flat times (S,) and per-unit end index (n_units,)."""
    order = np.lexsort((times, units))
    index = np.cumsum(np.bincount(units, minlength=n_units)).astype(np.int64)
    return times[order].astype(np.float64), index


def ar1_noise(n_samples: int, n_channels: int, coef: float, std: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) noise y_t = coef y_{t−1} + e_t with marginal std ``std``: (n_samples, n_channels)."""
    e = rng.standard_normal((n_samples, n_channels))
    e[1:] *= math.sqrt(1.0 - coef**2)
    return std * signal.lfilter([1.0], [1.0, -coef], e, axis=0)


def _trial_splits(n_trials: int, fractions: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Random 'train'/'val'/'test' labels (n_trials,) in the given proportions."""
    n_val = int(round(fractions[1] * n_trials))
    n_test = int(round(fractions[2] * n_trials))
    n_train = max(n_trials - n_val - n_test, 0)
    labels = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * n_test, dtype="<U5")
    return labels[rng.permutation(n_trials)][:n_trials]


def simulate_session(params: TeacherParams, config: TeacherConfig) -> SyntheticSession:
    """Simulate a whole session: latent, stimulus, spikes, trials, cursor and EEG.

    The latent runs continuously through trials and ITIs (a burn-in of ``burn_in_s`` before
    t = 0 is discarded).  Trial k starts at ``k (trial_duration_s + iti_s)``; its stimulus is
    ``u = stim_amplitude (cos θ_c, sin θ_c)`` for ``stim_duration_s`` from
    ``stim_onset_s`` after trial start, with θ_c = 2π c / n_conditions and c uniform.
    State noise: ε_t = latent_noise · sqrt(2 dt/τ) ξ_t, ξ ~ N(0, I), so a leaky latent
    (G = 0) would fluctuate with stationary std ``latent_noise``.
    """
    dt = config.dt_s
    rng = random_stream(config.seed, STREAM_SESSION)
    end = config.session_duration_s
    n_steps = int(round(end / dt))
    n_burn = int(round(config.burn_in_s / dt))

    # trials and stimulus
    period = config.trial_duration_s + config.iti_s
    start = np.arange(config.n_trials) * period
    stop = start + config.trial_duration_s
    on_step = np.round((start + config.stim_onset_s) / dt).astype(np.int64)
    off_step = on_step + int(round(config.stim_duration_s / dt))
    stim_on, stim_off = on_step * dt, off_step * dt
    cond = rng.integers(0, config.n_conditions, size=config.n_trials).astype(np.int64)
    angles_c = 2.0 * np.pi * np.arange(config.n_conditions) / config.n_conditions
    u_c = config.stim_amplitude * np.stack([np.cos(angles_c), np.sin(angles_c)], axis=1)

    code = np.zeros(n_steps, dtype=np.intp)  # 0: no input, 1 + c: condition c
    for k in range(config.n_trials):
        code[on_step[k] : off_step[k]] = cond[k] + 1
    stimulus = np.vstack([np.zeros((1, N_INPUTS)), u_c])[code]
    drives = np.vstack([params.h[None, :], u_c @ params.W_u.T + params.h])

    # latent: burn-in (no input) then the session, one continuous Euler–Maruyama run
    z0 = 0.1 * rng.standard_normal(LATENT_DIM)
    noise = (
        config.latent_noise
        * math.sqrt(2.0 * dt / config.tau_s)
        * rng.standard_normal((n_burn + n_steps - 1, LATENT_DIM))
    )
    full_code = np.concatenate([np.zeros(n_burn, dtype=np.intp), code])
    z = simulate_latent(params, z0, n_burn + n_steps, noise, full_code, drives)[n_burn:]

    # spikes, in time chunks to bound memory
    spk_rng = random_stream(config.seed, STREAM_SPIKES)
    chunk = 20_000
    all_t, all_u = [], []
    for s in range(0, n_steps, chunk):
        rates = firing_rates(params, z[s : s + chunk], stimulus[s : s + chunk])
        t_k, u_k = sample_spikes(rates, dt, spk_rng, t0_step=s)
        all_t.append(t_k)
        all_u.append(u_k)
    spike_times, spike_index = _ragged(np.concatenate(all_t), np.concatenate(all_u), params.n_units)

    # behaviour: cursor = fixed linear readout of z, sampled (not averaged) at cursor_sfreq
    cs = steps_per_sample(dt, config.cursor_sfreq, "cursor_sfreq")
    cursor = z[::cs] @ params.cursor_readout.T + params.cursor_offset_cm
    cursor_t = np.arange(cursor.shape[0]) * (cs * dt)

    # EEG: mixture of z (block-averaged to eeg_sfreq) + AR(1) noise, µV → V
    es = steps_per_sample(dt, config.eeg_sfreq, "eeg_sfreq")
    n_e = n_steps // es
    z_e = z[: n_e * es].reshape(n_e, es, LATENT_DIM).mean(axis=1)
    eeg_rng = random_stream(config.seed, STREAM_EEG)
    eeg_uv = z_e @ params.eeg_mixing.T + ar1_noise(
        n_e, config.n_eeg_channels, config.eeg_noise_ar, config.eeg_noise_uv, eeg_rng
    )
    eeg = 1e-6 * eeg_uv

    split_rng = random_stream(config.seed, STREAM_SPLITS)
    splits = _trial_splits(config.n_trials, config.split_fractions, split_rng)
    n_held = int(round(config.heldout_fraction * params.n_units))
    if config.heldout_fraction > 0:
        n_held = min(max(n_held, 1), params.n_units - 1)
    heldout = np.zeros(params.n_units, dtype=bool)
    heldout[split_rng.choice(params.n_units, size=n_held, replace=False)] = True

    return SyntheticSession(
        dt_s=float(dt),
        session_end_s=float(end),
        latent=z,
        stimulus=stimulus,
        spike_times=spike_times,
        spike_times_index=spike_index,
        heldout=heldout,
        start_time=start.astype(np.float64),
        stop_time=stop.astype(np.float64),
        stim_on_time=stim_on,
        stim_off_time=stim_off,
        condition=cond,
        condition_angle=angles_c[cond],
        split=splits,
        cursor=cursor,
        cursor_timestamps=cursor_t,
        eeg=eeg,
        eeg_sfreq=float(config.eeg_sfreq),
        eeg_channel_names=[f"E{i + 1}" for i in range(config.n_eeg_channels)],
        eeg_annotation_onsets=stim_on.copy(),
        eeg_annotation_durations=stim_off - stim_on,
        eeg_annotation_descriptions=[f"stim/c{int(c)}" for c in cond],
        metadata={
            "seed": int(config.seed),
            "dynamics": config.dynamics,
            "nonlinearity": config.nonlinearity,
            "n_conditions": int(config.n_conditions),
            "identifier": str(uuid.uuid5(_UUID_NAMESPACE, json.dumps(config.to_dict(), sort_keys=True))),
        },
    )


__all__ = [
    "SyntheticSession",
    "ar1_noise",
    "firing_rates",
    "sample_spikes",
    "simulate_latent",
    "simulate_session",
]
