"""The readers, by kind: how each file kind is recognised, read, and which options it takes.

Each reader imports its library (pynwb, mne) only when it reads, so importing this module is cheap.
A reader's options are a dataclass (:class:`neurodyn.options.Options`): the workflow's schema, the
``neurodyn ingest`` flags and ``neurodyn options source KIND`` come from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurodyn.data.recording import Recording
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.io.array import ArrayOptions, is_array_file, read_array
from neurodyn.io.edf import EDFOptions, is_edf, read_edf
from neurodyn.io.nwb import NWBOptions, is_hdf5, read_nwb
from neurodyn.options import Options


@dataclass(frozen=True)
class Reader:
    """One source kind: ``detect(path)`` tells a file of this kind by its signature; ``read(path,
    **options)`` returns the recording; ``Options`` are the options it takes."""

    kind: str
    description: str
    detect: Callable[[Path], bool]
    read: Callable[..., Recording]
    Options: type[Options]


READERS: dict[str, Reader] = {
    reader.kind: reader
    for reader in (
        Reader(
            "nwb",
            "NWB (HDF5) file with a units table: spike times, trials, inputs, behaviour",
            is_hdf5,
            read_nwb,
            NWBOptions,
        ),
        Reader("edf", "EDF/BDF file: a continuous multichannel signal with annotations", is_edf, read_edf, EDFOptions),
        Reader(
            "array",
            "NumPy .npy or .npz (sample × channel): a continuous signal",
            is_array_file,
            read_array,
            ArrayOptions,
        ),
    )
}


def detect_kind(path: str | os.PathLike[str]) -> str:
    """``nwb``, ``edf`` or ``array`` (``.npy``/``.npz``) from the file signature."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputFileError(path, "is empty")
    for reader in READERS.values():
        if reader.detect(path):
            return reader.kind
    raise InputFileError(path, "not an NWB (HDF5), EDF/BDF or NumPy (.npy/.npz) file")


def get_reader(kind: str, where: str = "source.kind") -> Reader:
    if kind not in READERS:
        raise ConfigError(where, f"must be one of {sorted(READERS)}, got {kind!r}")
    return READERS[kind]


def source_options(kind: str, options: dict[str, Any] | None, where: str = "source") -> Options:
    """The reader options of a source of ``kind``, checked (ConfigError names ``<where>.<option>``)."""
    return get_reader(kind).Options.parse(options, where)


def read_source(
    path: str | os.PathLike[str], *, kind: str | None = None, where: str = "source", **options: Any
) -> Recording:
    """Read an NWB, EDF or NumPy array file with its reader's options (see :data:`READERS`)."""
    kind = kind or detect_kind(path)
    opts = source_options(kind, options, where)
    return READERS[kind].read(path, **opts.as_dict())
