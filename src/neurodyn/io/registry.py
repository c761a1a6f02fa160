"""The readers, by kind: how each file kind is recognised, read, and which options it takes.

Each reader's module (numpy, xarray, and pynwb or mne when it reads) is imported on its first
detect or read, so importing this module is cheap: the ``neurodyn ingest`` flags, the workflow's
schema and ``neurodyn options source KIND`` come from a reader's options
(:mod:`neurodyn.io.reader_options`, dataclasses of :class:`neurodyn.options.Options`) alone.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurodyn.errors import ConfigError, InputFileError
from neurodyn.io.reader_options import ArrayOptions, EDFOptions, NWBOptions
from neurodyn.io.remote import is_remote, probe, suffix
from neurodyn.options import Options

if TYPE_CHECKING:
    from neurodyn.data.recording import Recording


@dataclass(frozen=True)
class Reader:
    """One source kind: ``detect(path)`` tells a file of this kind by its signature; ``read(path,
    **options)`` returns the recording; ``Options`` are the options it takes. Both functions live
    in the reader's module (``module``, a dotted name), imported when one of them is first called."""

    kind: str
    description: str
    module: str
    detect_function: str
    read_function: str
    Options: type[Options]

    def detect(self, path: Path) -> bool:
        return getattr(importlib.import_module(self.module), self.detect_function)(path)

    def read(self, path: str | os.PathLike[str], **options: Any) -> Recording:
        return getattr(importlib.import_module(self.module), self.read_function)(path, **options)


READERS: dict[str, Reader] = {
    reader.kind: reader
    for reader in (
        Reader(
            "nwb",
            "NWB (HDF5) file with a units table: spike times, trials, inputs, behaviour",
            "neurodyn.io.nwb",
            "is_hdf5",
            "read_nwb",
            NWBOptions,
        ),
        Reader(
            "edf",
            "EDF/BDF file: a continuous multichannel signal with annotations",
            "neurodyn.io.edf",
            "is_edf",
            "read_edf",
            EDFOptions,
        ),
        Reader(
            "array",
            "NumPy .npy or .npz (sample × channel): a continuous signal",
            "neurodyn.io.array",
            "is_array_file",
            "read_array",
            ArrayOptions,
        ),
    )
}


# kinds read from a URL or dandi:// asset (lazily, by HTTP range requests); the others need a local file
REMOTE_KINDS = ("nwb",)
# what a remote source's suffix says it is when its first bytes carry no HDF5 signature
_SUFFIX_KINDS = {".nwb": "nwb", ".edf": "edf", ".bdf": "edf", ".npy": "array", ".npz": "array"}


def detect_kind(path: str | os.PathLike[str]) -> str:
    """``nwb``, ``edf`` or ``array`` (``.npy``/``.npz``) from the file signature.

    A remote source (``https://``, ``http://``, ``dandi://``; see :mod:`neurodyn.io.remote`) is
    told by the HDF5 signature in its first bytes, read with one range request, or else by its
    suffix; only NWB is read remotely, other kinds are an InputFileError saying so."""
    if is_remote(path):
        return _remote_kind(path)
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputFileError(path, "is empty")
    for reader in READERS.values():
        if reader.detect(path):
            return reader.kind
    raise InputFileError(path, "not an NWB (HDF5), EDF/BDF or NumPy (.npy/.npz) file")


def _remote_kind(path: str) -> str:
    remote = probe(path)
    kind = "nwb" if remote.has_hdf5_signature else _SUFFIX_KINDS.get(suffix(remote.url) or suffix(path))
    if kind is None:
        raise InputFileError(path, "not an NWB (HDF5) file; only NWB files are read from a URL")
    check_remote_kind(path, kind)
    return kind


def check_remote_kind(path: str | os.PathLike[str], kind: str) -> None:
    """InputFileError unless a source of ``kind`` at ``path`` can be read: local, or an NWB URL."""
    if is_remote(path) and kind not in REMOTE_KINDS:
        raise InputFileError(
            path,
            f"{kind} sources are read from local files only; only NWB files are read from a URL "
            "(download the file and ingest the local copy)",
        )


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
    """Read an NWB, EDF or NumPy array file with its reader's options (see :data:`READERS`); an NWB
    file may also be a URL or a ``dandi://`` asset (:mod:`neurodyn.io.remote`)."""
    kind = kind or detect_kind(path)
    check_remote_kind(path, kind)
    opts = source_options(kind, options, where)
    return READERS[kind].read(path, **opts.as_dict())
