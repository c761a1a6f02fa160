"""Data stages: write the synthetic recording, read a source into ``recording.zarr``, bin it into
``dataset.zarr``."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurodyn.data.binned import BinningOptions, bin_to_store
from neurodyn.data.dataset import open_dataset, summary
from neurodyn.data.recording import Recording, load_recording, save_recording
from neurodyn.errors import ConfigError
from neurodyn.io.registry import READERS, check_remote_kind, detect_kind, read_source, source_options
from neurodyn.options import Options
from neurodyn.storage import config_hash

log = logging.getLogger("neurodyn")


def synthesize_stage(generator_cfg: dict[str, Any], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write a synthetic recording (NWB + EDF) and its teacher's ground truth into ``out_dir``."""
    from neurodyn.synthetic import TeacherConfig, synthesize  # scipy and the simulator: only this stage needs them

    config = TeacherConfig.from_dict(dict(generator_cfg))
    log.info(
        "synthesizing a %s teacher: %d units, %d trials (seed %d)",
        config.dynamics,
        config.n_units,
        config.n_trials,
        config.seed,
    )
    return synthesize(config, out_dir)


# keys of a dataset's ``source`` entry that say where the data come from, not how to read them
SOURCE_KEYS = ("kind", "path", "generator", "file")


def reader_of(source_cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(reader kind, reader options) of a ``source`` entry; a synthetic source is read as the
    generated file it names (``file``: nwb or edf)."""
    kind = source_cfg.get("kind")
    file_kind = source_cfg.get("file", "nwb") if kind == "synthetic" else kind
    return file_kind, {k: v for k, v in source_cfg.items() if k not in SOURCE_KEYS}


def binning_of(dataset_cfg: dict[str, Any]) -> BinningOptions:
    return BinningOptions.from_config(dataset_cfg.get("binning"), dataset_cfg.get("split"), dataset_cfg.get("heldout"))


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset entry's options, each checked once: the reader of its source with the reader's
    options, and the binning (with split and held-out channels)."""

    kind: str
    reader: Options
    binning: BinningOptions

    @classmethod
    def of(cls, dataset_cfg: dict[str, Any]) -> DatasetSpec:
        kind, options = reader_of(dataset_cfg["source"])
        return cls(kind, source_options(kind, options), binning_of(dataset_cfg))

    @property
    def config_hash(self) -> str:
        """SHA-256 of the options that shape the store — the reader's and the binning's, defaults
        filled in — so that the same options give the same hash however they were written
        (workflow, command line or Python). The source file is identified by its own SHA-256."""
        return config_hash({"source": {"kind": self.kind, **self.reader.as_dict()}, "binning": self.binning.as_dict()})

    def read(self, source_path: str | os.PathLike[str]) -> Recording:
        """Read the source: a local file, or an NWB file's URL or ``dandi://`` asset."""
        check_remote_kind(source_path, self.kind)
        recording = READERS[self.kind].read(source_path, **self.reader.as_dict())
        log.info("read %s (%s)", source_path, recording.kind)
        return recording


def dataset_entry(
    source: str | os.PathLike[str],
    options: dict[str, Any],
    *,
    split: dict[str, Any] | None = None,
    heldout: dict[str, Any] | None = None,
    label: Callable[[str], str] = str,
) -> dict[str, Any]:
    """The dataset entry (as in the workflow configuration) of ``source`` from one flat mapping of
    reader and binning options, as the command line and the Python API take them. An option that
    neither the file's reader nor the binning takes is a ConfigError naming it (``label(name)``)."""
    kind = detect_kind(source)
    reader_names = {o.name for o in READERS[kind].Options.describe()}
    binning_names = {o.name for o in BinningOptions.describe()}
    foreign = sorted(set(options) - reader_names - binning_names)
    if foreign:
        raise ConfigError(
            label(foreign[0]),
            f"does not apply to {kind} sources ({source}): it is neither a {kind} reader option nor a binning option",
        )
    return {
        "source": {"kind": kind, "path": str(source), **{k: v for k, v in options.items() if k in reader_names}},
        "binning": {k: v for k, v in options.items() if k in binning_names},
        "split": dict(split or {}),
        "heldout": dict(heldout or {}),
    }


def ingest_stage(source_path: str | os.PathLike[str], source_cfg: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Read and check a source file; store its event-level recording (``recording.zarr``)."""
    kind, options = reader_of(source_cfg)
    recording = read_source(source_path, kind=kind, **options)
    log.info("read %s (%s)", source_path, recording.kind)
    return save_recording(recording, out)


def bin_stage(recording_path: str | os.PathLike[str], dataset_cfg: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Bin a stored recording into the dataset store, per the dataset's config."""
    return bin_recording_stage(load_recording(recording_path), dataset_cfg, out)


def bin_recording_stage(
    recording: Recording,
    dataset_cfg: dict[str, Any],
    out: str | os.PathLike[str],
    *,
    block_bytes: int | None = None,
) -> Path:
    """Bin a recording into the dataset store ``out`` (``block_bytes``: binned data held in memory
    at once; trials are binned and written in blocks)."""
    return _write_store(recording, DatasetSpec.of(dataset_cfg), out, block_bytes)


def _write_store(recording: Recording, spec: DatasetSpec, out: str | os.PathLike[str], block_bytes: int | None) -> Path:
    extra = {} if block_bytes is None else {"block_bytes": block_bytes}
    path = bin_to_store(recording, spec.binning, out, config_hash=spec.config_hash, **extra)
    info = summary(open_dataset(path, load=False))
    log.info(
        "binned: %d trials × %d bins × %d channels (%s)",
        info["n_trials"],
        info["n_time_bins"],
        info["n_channels"],
        ", ".join(f"{k} {v}" for k, v in info["splits"].items()),
    )
    return path


def ingest_and_bin_stage(
    source_path: str | os.PathLike[str],
    dataset_cfg: dict[str, Any],
    out: str | os.PathLike[str],
    *,
    block_bytes: int | None = None,
) -> Path:
    """``ingest`` then ``bin`` without storing the event-level recording: what ``neurodyn ingest``
    runs, giving the same store (and ``config_hash``) as the workflow for the same options. Every
    option is checked before the source is read."""
    spec = DatasetSpec.of(dataset_cfg)
    return _write_store(spec.read(source_path), spec, out, block_bytes)
