"""Read continuous recordings (EEG and similar) from EDF/EDF+ and BDF files with mne."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurodyn.data.recording import ContinuousRecording
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.options import Options, option
from neurodyn.storage import file_sha256

EDF_SIGNATURE = b"0       "
BDF_SIGNATURE = b"\xffBIOSEMI"

# physical-unit scale from volts, for the units we store
_SCALE_FROM_VOLTS = {"uV": 1e6, "mV": 1e3, "V": 1.0}


def is_edf(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with the EDF or BDF header version field."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    return head in (EDF_SIGNATURE, BDF_SIGNATURE)


def clean_channel_name(name: str) -> str:
    """Strip the padding dots and spaces some EDF writers add (``'Fc5.'`` → ``'Fc5'``,
    ``'C5..'`` → ``'C5'``)."""
    return re.sub(r"[.\s]+$", "", name.strip()) or name.strip()


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            name = f"{name}-{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def check_edf_size(path: Path) -> None:
    """Refuse a file shorter than its header promises (EDF spec: a 256-byte fixed header, 256
    bytes per signal, then ``n_records`` records of sum(samples per record) 2-byte (EDF) or
    3-byte (BDF) samples). A record count of -1 (unknown) is not checked."""
    with open(path, "rb") as handle:
        fixed = handle.read(256)
        try:
            header_bytes = int(fixed[184:192].decode("ascii").strip())
            n_records = int(fixed[236:244].decode("ascii").strip())
            n_signals = int(fixed[252:256].decode("ascii").strip())
        except ValueError:
            raise InputFileError(path, "has a malformed EDF header (record or signal counts are not numbers)")
        handle.seek(256 + n_signals * 216)  # the per-signal 'samples per record' fields
        try:
            per_record = sum(int(handle.read(8).decode("ascii").strip()) for _ in range(n_signals))
        except ValueError:
            raise InputFileError(path, "has a malformed EDF header (samples per record)")
    sample_bytes = 3 if fixed[:1] == b"\xff" else 2
    expected = header_bytes + max(n_records, 0) * per_record * sample_bytes
    actual = path.stat().st_size
    if n_records >= 0 and actual < expected:
        raise InputFileError(
            path,
            f"is truncated: its header promises {n_records} data records "
            f"({expected} bytes) but the file has {actual} bytes",
        )


@dataclass(frozen=True)
class EDFOptions(Options):
    """How an EDF/BDF file is read: channels kept, optional band-pass and resampling (mne)."""

    channels: list[str] | None = option(None, "channels to keep, by cleaned name (null: every data channel)")
    l_freq: float | None = option(None, "band-pass low edge in Hz (mne's zero-phase FIR filter; null: none)", gt=0)
    h_freq: float | None = option(None, "band-pass high edge in Hz (null: none)", gt=0)
    resample_hz: float | None = option(None, "resample to this rate in Hz after filtering (null: keep)", gt=0)
    unit: str = option("uV", "physical unit the signal is stored in", choices=("uV", "mV", "V"))


def read_edf(
    path: str | os.PathLike[str],
    *,
    channels: list[str] | None = None,
    l_freq: float | None = None,
    h_freq: float | None = None,
    resample_hz: float | None = None,
    unit: str = "uV",
) -> ContinuousRecording:
    """Read an EDF/BDF file into a :class:`ContinuousRecording`.

    channels: cleaned names to keep (default: every data channel; the EDF+ annotation channel is
    never a data channel); l_freq/h_freq: optional band-pass (mne's zero-phase FIR filter);
    resample_hz: optional resampling (mne, after filtering); unit: one of uV, mV, V.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    if not is_edf(path):
        raise InputFileError(path, "not an EDF/BDF file (header does not start with the EDF version field)")
    if unit not in _SCALE_FROM_VOLTS:
        raise ConfigError("unit", f"must be one of {sorted(_SCALE_FROM_VOLTS)}, got {unit!r}")
    check_edf_size(path)
    import mne

    reader = mne.io.read_raw_bdf if open(path, "rb").read(1) == b"\xff" else mne.io.read_raw_edf
    try:
        raw = reader(str(path), preload=True, verbose="error")
    except Exception as exc:
        raise InputFileError(path, f"cannot be read as EDF ({type(exc).__name__}: {exc})".replace("\n", " "))
    if raw.n_times == 0 or len(raw.ch_names) == 0:
        raise InputFileError(path, "contains no samples")

    cleaned = _unique([clean_channel_name(n) for n in raw.ch_names])
    raw.rename_channels(dict(zip(raw.ch_names, cleaned)))
    if channels:
        missing = [c for c in channels if c not in cleaned]
        if missing:
            raise ConfigError("channels", f"{missing} not in {path} (available: {cleaned})")
        raw.pick(channels)
    if l_freq is not None or h_freq is not None:
        raw.filter(l_freq, h_freq, verbose="error")
    if resample_hz is not None:
        raw.resample(resample_hz, verbose="error")

    volts = raw.get_data()
    if not np.all(np.isfinite(volts)):
        raise InputFileError(path, "contains non-finite samples")
    samples = (volts * _SCALE_FROM_VOLTS[unit]).astype(np.float32).T  # (time, channel)
    annotations = raw.annotations
    # with an orig_time, mne counts onsets from the measurement start, where the first sample
    # lies first_time seconds later; we count time from the first sample
    onsets = np.asarray(annotations.onset, dtype=np.float64)
    if annotations.orig_time is not None:
        onsets = onsets - raw.first_time
    return ContinuousRecording(
        source=str(path.resolve()),
        source_sha256=file_sha256(path),
        samples=np.ascontiguousarray(samples),
        sfreq=float(raw.info["sfreq"]),
        channel_names=list(raw.ch_names),
        unit=unit,
        first_time=0.0,
        annotations={
            "onset": onsets,
            "duration": np.asarray(annotations.duration, dtype=np.float64),
            "description": np.asarray([str(d) for d in annotations.description]),
        },
        channel_info={"type": np.asarray(raw.get_channel_types(), dtype=str)},
        description=f"EDF recording {path.name}",
    )
