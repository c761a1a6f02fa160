"""What each reader takes beyond the file: one option dataclass per source kind (:mod:`neurodyn.io.registry`).

Only the standard library and :mod:`neurodyn.options` are imported here, so that the ``neurodyn
ingest`` flags, the workflow's schema and ``neurodyn options source KIND`` come from these
dataclasses without loading numpy, xarray or a file format's library; the readers themselves are
:mod:`neurodyn.io.nwb`, :mod:`neurodyn.io.edf` and :mod:`neurodyn.io.array`.
"""

from __future__ import annotations

from dataclasses import dataclass

from neurodyn.errors import ConfigError
from neurodyn.options import Options, option


@dataclass(frozen=True)
class NWBOptions(Options):
    """What an NWB reader takes beyond the file (trial and condition columns are binning options)."""

    inputs: list[str] = option([], "stimulus time series (stimulus/presentation) to bin as conditioning inputs")
    intervals: str = option(
        "trials", "the intervals table whose rows are the trials: trials, epochs, or any table under intervals/"
    )
    units_where: list[str] = option(
        [],
        "keep only units matching every filter on a units column: COLUMN=VALUE[|VALUE...], COLUMN!=VALUE, "
        "COLUMN>=NUMBER (also <=, >, <), e.g. quality=good",
    )
    behavior: list[str] | None = option(
        None,
        "behaviour series to bin, by name (processing/behavior, then acquisition); null: all of processing/behavior",
    )


@dataclass(frozen=True)
class EDFOptions(Options):
    """How an EDF/BDF file is read: channels kept, optional band-pass and resampling (mne)."""

    channels: list[str] | None = option(None, "channels to keep, by cleaned name (null: every data channel)")
    l_freq: float | None = option(None, "band-pass low edge in Hz (mne's zero-phase FIR filter; null: none)", gt=0)
    h_freq: float | None = option(None, "band-pass high edge in Hz (null: none)", gt=0)
    resample_hz: float | None = option(None, "resample to this rate in Hz after filtering (null: keep)", gt=0)
    unit: str = option("uV", "physical unit the signal is stored in", choices=("uV", "mV", "V"))


@dataclass(frozen=True)
class ArrayOptions(Options):
    """How a (sample × channel) NumPy array becomes a continuous recording."""

    sfreq: float | None = option(None, "sampling rate in Hz (required: the file has none)", gt=0)
    key: str | None = option(None, "which array of an .npz archive (null: its only array)")
    start_sample: int = option(0, "first sample kept", ge=0)
    n_samples: int | None = option(None, "number of samples kept (null: to the end)", ge=2)
    channel_names: list[str] | None = option(None, "one name per column (null: ch0, ch1, ...)")
    unit: str = option("a.u.", "physical unit of the values")

    def check(self, where: str) -> None:
        if self.sfreq is None:
            raise ConfigError(f"{where}.sfreq", "is required for array sources (the file has no sampling rate)")
