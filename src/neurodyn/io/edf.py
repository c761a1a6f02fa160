"""Read continuous recordings (EEG and similar) from EDF/EDF+ and BDF files with mne.

The header is checked first (:func:`check_edf_signals`): a channel without a digital range is
refused, and so are channels at different sampling rates unless ``resample_hz`` brings them to
one rate (mne would otherwise upsample every channel to the highest rate without a word).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurodyn.data.recording import ContinuousRecording
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.storage import file_sha256

EDF_SIGNATURE = b"0       "
BDF_SIGNATURE = b"\xffBIOSEMI"

# physical-unit scale from volts, for the units we store
_SCALE_FROM_VOLTS = {"uV": 1e6, "mV": 1e3, "V": 1.0}

log = logging.getLogger(__name__)


def is_edf(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with the EDF or BDF header version field."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    return head in (EDF_SIGNATURE, BDF_SIGNATURE)


def clean_channel_name(name: str) -> str:
    """Strip the padding dots and spaces some EDF writers add (``'Fc5.'`` → ``'Fc5'``,
    ``'C5..'`` → ``'C5'``)."""
    return re.sub(r"[.\s]+$", "", name.strip()) or name.strip()


def unique_names(names: list[str]) -> list[str]:
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


@dataclass(frozen=True)
class EDFSignal:
    """One signal of an EDF/BDF header: its label, digital range and samples per data record."""

    label: str
    digital_min: int
    digital_max: int
    samples_per_record: int

    @property
    def is_annotation(self) -> bool:
        return self.label.strip() in ("EDF Annotations", "BDF Annotations")


@dataclass(frozen=True)
class EDFHeader:
    """What we check of an EDF/BDF header before mne reads the file (EDF spec: a 256-byte fixed
    header, then 256 bytes per signal: label 16, transducer 80, physical dimension 8, physical
    minimum 8, physical maximum 8, digital minimum 8, digital maximum 8, prefiltering 80, samples
    per record 8, reserved 32, each field for every signal in turn)."""

    header_bytes: int
    n_records: int
    record_duration_s: float
    signals: list[EDFSignal]


def _ascii_fields(raw: bytes, width: int, count: int) -> list[str]:
    return [raw[i * width : (i + 1) * width].decode("ascii", "replace").strip() for i in range(count)]


def read_edf_header(path: Path) -> EDFHeader:
    """The header of an EDF/BDF file; InputFileError naming the file and field when malformed."""
    with open(path, "rb") as handle:
        fixed = handle.read(256)
        try:
            header_bytes = int(fixed[184:192].decode("ascii").strip())
            n_records = int(fixed[236:244].decode("ascii").strip())
            duration = float(fixed[244:252].decode("ascii").strip())
            n_signals = int(fixed[252:256].decode("ascii").strip())
        except ValueError:
            raise InputFileError(path, "has a malformed EDF header (record or signal counts are not numbers)") from None
        if n_signals < 1:
            raise InputFileError(path, f"has a malformed EDF header (number of signals {n_signals})")
        per_signal = handle.read(256 * n_signals)
    if len(per_signal) < 256 * n_signals:
        raise InputFileError(path, f"is truncated: its header announces {n_signals} signals")

    def column(offset: int, width: int) -> list[str]:
        return _ascii_fields(per_signal[offset * n_signals :], width, n_signals)

    labels = column(0, 16)
    try:
        dig_min = [int(v) for v in column(120, 8)]
        dig_max = [int(v) for v in column(128, 8)]
    except ValueError:
        raise InputFileError(path, "has a malformed EDF header (digital minimum or maximum)") from None
    try:
        per_record = [int(v) for v in column(216, 8)]
    except ValueError:
        raise InputFileError(path, "has a malformed EDF header (samples per record)") from None
    signals = [EDFSignal(*fields) for fields in zip(labels, dig_min, dig_max, per_record, strict=True)]
    return EDFHeader(header_bytes, n_records, duration, signals)


def check_edf_size(path: Path, header: EDFHeader | None = None) -> None:
    """Refuse a file shorter than its header promises (``n_records`` records of sum(samples per
    record) 2-byte (EDF) or 3-byte (BDF) samples after the header). A record count of -1
    (unknown) is not checked."""
    header = header or read_edf_header(path)
    with open(path, "rb") as handle:
        sample_bytes = 3 if handle.read(1) == b"\xff" else 2
    per_record = sum(s.samples_per_record for s in header.signals)
    expected = header.header_bytes + max(header.n_records, 0) * per_record * sample_bytes
    actual = path.stat().st_size
    if header.n_records >= 0 and actual < expected:
        raise InputFileError(
            path,
            f"is truncated: its header promises {header.n_records} data records "
            f"({expected} bytes) but the file has {actual} bytes",
        )


def check_edf_signals(path: Path, header: EDFHeader, channels: list[str] | None, resample_hz: float | None) -> None:
    """Refuse what mne would read wrongly without a word.

    * a data channel whose digital minimum equals its maximum: the scale from digital to physical
      values, (physical max − min) / (digital max − min), is undefined, and mne would return
      values off by orders of magnitude;
    * data channels at different rates (samples per record): mne would silently upsample every
      channel to the highest rate. They are read only when ``resample_hz`` is given (then every
      channel ends at that rate, and a warning names the rates) or when ``channels`` keeps
      channels of one rate.
    """
    data = [s for s in header.signals if not s.is_annotation]
    names = unique_names([clean_channel_name(s.label) for s in data])
    kept = [(n, s) for n, s in zip(names, data, strict=True) if not channels or n in channels]
    for name, signal in kept:
        if signal.digital_min >= signal.digital_max:
            raise InputFileError(
                path,
                f"channel '{name}' has digital minimum {signal.digital_min} and maximum {signal.digital_max}: "
                "its values cannot be scaled to physical units (the maximum must exceed the minimum)",
            )
    duration = header.record_duration_s if header.record_duration_s > 0 else 1.0
    rates: dict[float, list[str]] = {}
    for name, signal in kept:
        rates.setdefault(signal.samples_per_record / duration, []).append(name)
    if len(rates) <= 1:
        return
    listing = "; ".join(
        f"{', '.join(chans[:4])}{' …' if len(chans) > 4 else ''} at {rate:g} Hz"
        for rate, chans in sorted(rates.items())
    )
    if resample_hz is None:
        raise InputFileError(
            path,
            f"has channels at different rates ({listing}); keep channels of one rate with 'channels', "
            "or set 'resample_hz' to read them all at that rate",
        )
    log.warning("%s: channels at different rates (%s) are all resampled to %g Hz", path, listing, resample_hz)


def is_bdf(path: Path) -> bool:
    """A BDF (24-bit) file starts with byte 0xFF where an EDF file has "0"."""
    with open(path, "rb") as handle:
        return handle.read(1) == b"\xff"


def open_raw(path: Path, *, preload: bool):
    """The file as an mne Raw (EDF, or BDF by its first byte); InputFileError naming it when mne
    cannot read it. ``preload=False`` reads the header only."""
    import mne

    reader = mne.io.read_raw_bdf if is_bdf(path) else mne.io.read_raw_edf
    try:
        return reader(str(path), preload=preload, verbose="error")
    except Exception as exc:
        raise InputFileError(path, " ".join(f"cannot be read as EDF ({type(exc).__name__}: {exc})".split())) from None


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

    Refused with InputFileError naming the file and channel: a truncated file, a channel whose
    digital minimum is not below its maximum, and channels at different rates unless
    ``resample_hz`` is given or ``channels`` keeps channels of one rate (see
    :func:`check_edf_signals`).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    if not is_edf(path):
        raise InputFileError(path, "not an EDF/BDF file (header does not start with the EDF version field)")
    if unit not in _SCALE_FROM_VOLTS:
        raise ConfigError("unit", f"must be one of {sorted(_SCALE_FROM_VOLTS)}, got {unit!r}")
    header = read_edf_header(path)
    check_edf_size(path, header)
    check_edf_signals(path, header, channels, resample_hz)
    raw = open_raw(path, preload=True)
    if raw.n_times == 0 or len(raw.ch_names) == 0:
        raise InputFileError(path, "contains no samples")

    cleaned = unique_names([clean_channel_name(n) for n in raw.ch_names])
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
