"""Read a continuous (time × channel) signal stored as a NumPy array (``.npy`` or one key of ``.npz``).

Dynamical-systems benchmarks (simulated neurons, Lorenz systems, preprocessed EEG) are commonly
shared as bare arrays; the sampling rate is not in the file, so it comes from the configuration.
Arrays are read with ``allow_pickle=False`` (object arrays are refused) and ``.npy`` files are
memory-mapped, so cropping a long recording reads only the samples kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurodyn.data.recording import ContinuousRecording
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.storage import file_sha256

NPY_SIGNATURE = b"\x93NUMPY"
ZIP_SIGNATURE = b"PK\x03\x04"


def is_array_file(path: str | os.PathLike[str]) -> bool:
    """True for a ``.npy`` file (by its magic string) or a ``.npz`` archive (zip, by name)."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    return head == NPY_SIGNATURE or (head[:4] == ZIP_SIGNATURE and str(path).endswith(".npz"))


def _load(path: Path, key: str | None) -> np.ndarray:
    try:
        if str(path).endswith(".npz"):
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if key is None:
                    if len(names) != 1:
                        raise InputFileError(path, f"holds arrays {names}; name one with source.key")
                    key = names[0]
                if key not in names:
                    raise InputFileError(path, f"has no array '{key}' (has {names})")
                return archive[key]
        if key is not None:
            raise ConfigError("source.key", "only applies to .npz archives")
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (InputFileError, ConfigError):
        raise
    except Exception as exc:  # noqa: BLE001 — numpy reports a malformed header as a tokenize or syntax error
        text = " ".join(str(exc).split())[:200]
        raise InputFileError(path, f"is not a readable NumPy array ({type(exc).__name__}: {text})") from None


def read_array(
    path: str | os.PathLike[str],
    *,
    sfreq: float,
    key: str | None = None,
    start_sample: int = 0,
    n_samples: int | None = None,
    channel_names: list[str] | None = None,
    unit: str = "a.u.",
) -> ContinuousRecording:
    """A (sample, channel) array as a continuous recording sampled at ``sfreq`` Hz.

    A 1-D array is one channel. ``start_sample``/``n_samples`` crop the recording (e.g. the first
    1,501 samples of a benchmark series); ``channel_names`` label the columns (default ``ch0``,
    ``ch1``, …). Raises :class:`InputFileError` for non-numeric, empty, >2-D or non-finite data
    and :class:`ConfigError` for options that do not fit the array.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    if sfreq is None or not np.isfinite(sfreq) or sfreq <= 0:
        raise ConfigError("source.sfreq", f"must be a positive sampling rate in Hz, got {sfreq!r}")
    array = _load(path, key)
    if array.dtype.kind not in "iuf":
        raise InputFileError(path, f"holds {array.dtype} values; need real numbers")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InputFileError(path, f"must be a non-empty (sample, channel) array, got shape {array.shape}")
    total = array.shape[0]
    if not (isinstance(start_sample, int) and 0 <= start_sample < total):
        raise ConfigError("source.start_sample", f"must be an integer in [0, {total}), got {start_sample!r}")
    stop = total if n_samples is None else start_sample + n_samples
    if n_samples is not None and not (isinstance(n_samples, int) and n_samples >= 2 and stop <= total):
        raise ConfigError(
            "source.n_samples", f"must be an integer >= 2 with start_sample + n_samples <= {total}, got {n_samples!r}"
        )
    samples = np.asarray(array[start_sample:stop], dtype=np.float32)
    bad = ~np.isfinite(samples)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise InputFileError(
            path, f"{int(bad.sum())} non-finite value(s), first at sample {start_sample + row}, channel {col}"
        )
    n_channels = samples.shape[1]
    names = [f"ch{i}" for i in range(n_channels)] if channel_names is None else [str(c) for c in channel_names]
    if len(names) != n_channels or len(set(names)) != n_channels:
        raise ConfigError("source.channel_names", f"need {n_channels} distinct names, got {channel_names!r}")
    return ContinuousRecording(
        source=str(path.resolve()),
        source_sha256=file_sha256(path),
        samples=np.ascontiguousarray(samples),
        sfreq=float(sfreq),
        channel_names=names,
        unit=unit,
        first_time=0.0,
        description=f"{path.name}{'[' + key + ']' if key else ''}: samples {start_sample}–{stop - 1} of {total} "
        f"at {sfreq:g} Hz",
    )
