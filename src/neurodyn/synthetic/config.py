"""Options of the synthetic teacher and session (:class:`TeacherConfig`), and its random streams.

Every option is a typed field (:mod:`neurodyn.options`): a mapping from YAML/JSON is parsed with
:meth:`TeacherConfig.from_dict`, which names a bad option ``synthetic.<field>``; constructing a
:class:`TeacherConfig` directly checks the same things and names it ``TeacherConfig.<field>``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from neurodyn.errors import ConfigError
from neurodyn.options import Options, option

LATENT_DIM = 2
N_INPUTS = 2
DYNAMICS = ("limit_cycle", "ring")
NONLINEARITIES = ("tanh", "clipped")
SPLIT_NAMES = ("train", "val", "test")

# child-stream ids of the session SeedSequence (fixed: changing them changes every output)
STREAM_TEACHER = 0
STREAM_SESSION = 1
STREAM_SPIKES = 2
STREAM_EEG = 3
STREAM_SPLITS = 4

# set while Options.parse builds an instance: parse checks it, naming fields <where>.<field>


def physical_memory_bytes() -> float:
    """This machine's memory in bytes (infinite where the OS does not say)."""
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:,.1f} GiB" if n_bytes >= 2**28 else f"{n_bytes / 2**20:,.0f} MiB"


def random_stream(seed: int, stream: int) -> np.random.Generator:
    """Independent, reproducible child stream ``stream`` of the root SeedSequence(seed)."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(stream,)))


def steps_per_sample(dt_s: float, sfreq: float, name: str) -> int:
    """Number of simulation steps per sample at ``sfreq``; ConfigError naming ``name`` unless an integer."""
    ratio = 1.0 / (sfreq * dt_s)
    k = int(round(ratio))
    if k < 1 or abs(ratio - k) > 1e-6 * ratio:
        field = name.rsplit(".", 1)[-1]
        raise ConfigError(name, f"1/{field} must be a whole multiple of dt_s ({dt_s}), got {sfreq}")
    return k


@dataclass(frozen=True)
class TeacherConfig(Options):
    """All knobs of the synthetic teacher and session (defaults = the embedded dataset).

    Times are in seconds, rates in Hz.  Bad values raise :class:`neurodyn.errors.ConfigError`
    naming the field, both from :meth:`from_dict` and on direct construction.
    """

    seed: int = option(0, "seed of every random stream (teacher, session, spikes, EEG, splits)", ge=0)
    # teacher dynamics
    dynamics: str = option("limit_cycle", "teacher flow: a limit cycle or a (broken) ring attractor", choices=DYNAMICS)
    nonlinearity: str = option(
        "tanh",
        "transfer function phi of the units: tanh, or clipped: max(0, x + c) − max(0, x)",
        choices=NONLINEARITIES,
    )
    n_units: int = option(60, "number of rate units (recorded neurons)", ge=2)
    tau_s: float = option(0.02, "time constant tau of the units (s)", gt=0)
    dt_s: float = option(0.001, "simulation step (s); also the spike-time resolution, so at most 10 ms", gt=0, le=0.01)
    gain: float = option(2.0, "g of the overlap matrix G; limit_cycle needs g cos(rotation_rad) > 1, ring needs g > 1")
    rotation_rad: float = option(
        math.acos(0.8), "rotation angle of G = g Rot(rotation_rad) (limit_cycle only; in (0, pi/2))"
    )
    connectivity_noise: float = option(0.2, "std of the random part of N (orthogonal to M)", ge=0)
    relu_clip: float = option(1.0, "c of the clipped ReLU", gt=0)
    latent_noise: float = option(0.1, "stationary std of the (linear, leaky) latent noise", ge=0)
    burn_in_s: float = option(0.5, "simulated before t = 0 and discarded (s)", ge=0)
    # task
    n_conditions: int = option(8, "number of stimulus directions", ge=1)
    n_trials: int = option(120, "number of trials", ge=1)
    trial_duration_s: float = option(1.0, "trial duration (s)", gt=0)
    iti_s: float = option(0.3, "inter-trial interval (s)", ge=0)
    stim_onset_s: float = option(0.2, "stimulus pulse onset after trial start (s)", ge=0)
    stim_duration_s: float = option(0.1, "stimulus pulse duration (s); the pulse ends within the trial", gt=0)
    stim_amplitude: float = option(1.0, "stimulus amplitude A of u = A (cos theta, sin theta)", ge=0)
    input_gain: float = option(3.0, "b of W_u = M B + ..., B = b Rot(-rotation_rad) (limit_cycle) or b I (ring)", ge=0)
    input_offaxis: float = option(0.1, "std of the part of W_u orthogonal to M", ge=0)
    # spiking readout: rate_i = r0_i exp(β_i ψ(x_i))
    rate_median_hz: float = option(8.0, "median baseline rate r0 (Hz)", gt=0)
    rate_spread: float = option(0.35, "log-normal sigma of the baseline rates r0", ge=0)
    rate_gain: float = option(1.0, "median rate gain beta", gt=0)
    rate_gain_spread: float = option(0.2, "log-normal sigma of the rate gains beta", ge=0)
    # behaviour
    cursor_sfreq: float = option(100.0, "cursor sampling rate (Hz); 1/cursor_sfreq a whole multiple of dt_s", gt=0)
    cursor_scale_cm: float = option(10.0, "cursor readout scale (cm per latent unit)", gt=0)
    # EEG-like signal
    n_eeg_channels: int = option(8, "number of EEG-like channels", ge=1)
    eeg_sfreq: float = option(
        200.0, "EEG sampling rate (whole Hz, for EDF); 1/eeg_sfreq a whole multiple of dt_s", gt=0
    )
    eeg_signal_uv: float = option(20.0, "std of the latent-to-EEG mixing weights (µV per latent unit)", ge=0)
    eeg_noise_uv: float = option(8.0, "std of the EEG noise (µV)", ge=0)
    eeg_noise_ar: float = option(0.95, "AR(1) coefficient of the EEG noise at eeg_sfreq", ge=0, lt=1)
    # data splits stored with the recording
    heldout_fraction: float = option(0.2, "fraction of units marked held out", ge=0, lt=1)
    split_fractions: tuple[float, ...] = option(
        (0.7, 0.15, 0.15), "fractions of train/val/test trials (sum 1)", ge=0, length=3
    )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, where: str = "synthetic") -> Self:
        """Build a config from a plain mapping; unknown keys or bad values raise ConfigError
        naming ``<where>.<field>``."""
        return cls.parse(d, where)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict in field order (tuples become lists): what teacher.json records."""
        return self.as_dict()

    # -- checks between options ------------------------------------------------------------
    def check(self, where: str) -> None:
        """Raise ConfigError naming ``<where>.<field>`` for the first bad combination."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{where}.{f.name}", f"must be finite, got {v!r}")
        if self.dt_s >= self.tau_s:
            raise ConfigError(f"{where}.dt_s", f"must be smaller than tau_s ({self.tau_s}), got {self.dt_s}")
        if self.stim_onset_s + self.stim_duration_s > self.trial_duration_s:
            raise ConfigError(
                f"{where}.stim_duration_s",
                "stimulus pulse (stim_onset_s + stim_duration_s) must end within the trial",
            )
        if not float(self.eeg_sfreq).is_integer():
            raise ConfigError(f"{where}.eeg_sfreq", f"must be a whole number of Hz (EDF), got {self.eeg_sfreq}")
        for name in ("eeg_sfreq", "cursor_sfreq"):
            steps_per_sample(self.dt_s, getattr(self, name), f"{where}.{name}")
        if self.dynamics == "limit_cycle":
            if not 0.0 < self.rotation_rad < math.pi / 2:
                raise ConfigError(f"{where}.rotation_rad", f"must be in (0, pi/2), got {self.rotation_rad}")
            if not self.gain * math.cos(self.rotation_rad) > 1.0:
                raise ConfigError(
                    f"{where}.gain",
                    "limit_cycle needs gain*cos(rotation_rad) > 1 (unstable origin), got "
                    f"{self.gain * math.cos(self.rotation_rad):.3g}",
                )
        elif not self.gain > 1.0:
            raise ConfigError(f"{where}.gain", f"ring needs gain > 1, got {self.gain}")
        if not math.isclose(sum(self.split_fractions), 1.0, abs_tol=1e-6):
            raise ConfigError(f"{where}.split_fractions", f"must sum to 1, got {sum(self.split_fractions)}")
        need, have = self.memory_bytes(), physical_memory_bytes()
        if need > have:
            raise ConfigError(
                where,
                f"this session would need about {_gib(need)} of memory ({self.n_trials} trials of "
                f"{self.trial_duration_s + self.iti_s:g} s at dt_s {self.dt_s:g}: {self.n_simulation_steps:,} steps "
                f"× {self.n_units} units), more than this machine's {_gib(have)}; lower n_trials, "
                "trial_duration_s or n_units, or raise dt_s",
            )

    # -- derived quantities -------------------------------------------------------------------
    @property
    def n_simulation_steps(self) -> int:
        """Simulation steps of the burn-in and the session."""
        return int(round((self.session_duration_s + self.burn_in_s) / self.dt_s))

    def memory_bytes(self) -> float:
        """A generous estimate of the memory the simulation holds at once (bytes): per step the
        latent, its noise, the input code and stimulus (~8 float64); the spikes (time and unit,
        16 bytes each, at four times the median rate); the EEG (three float64 copies); and the
        rates of one 20,000-step chunk. Twice that, for the copies the writers make."""
        steps = float(self.n_simulation_steps)
        spikes = 4.0 * self.rate_median_hz * self.n_units * self.session_duration_s
        eeg = self.session_duration_s * self.eeg_sfreq * self.n_eeg_channels
        chunk = min(20_000.0, steps) * self.n_units
        return 2.0 * (64.0 * steps + 16.0 * spikes + 24.0 * eeg + 24.0 * chunk)

    @property
    def session_duration_s(self) -> float:
        """Recorded duration: n_trials (trial + ITI), rounded up to whole seconds (EDF blocks)."""
        return float(math.ceil(self.n_trials * (self.trial_duration_s + self.iti_s) - 1e-9))


__all__ = [
    "DYNAMICS",
    "LATENT_DIM",
    "NONLINEARITIES",
    "N_INPUTS",
    "SPLIT_NAMES",
    "TeacherConfig",
    "random_stream",
    "steps_per_sample",
]
