"""Data stages: write the synthetic recording, read a source into ``recording.zarr``, bin it into
``dataset.zarr``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from neurodyn.data.binned import BinningOptions, bin_to_store
from neurodyn.data.dataset import open_dataset, summary
from neurodyn.data.recording import Recording, load_recording, save_recording
from neurodyn.io.registry import read_source, source_options
from neurodyn.storage import config_hash
from neurodyn.synthetic import TeacherConfig, synthesize

log = logging.getLogger("neurodyn")


def synthesize_stage(generator_cfg: dict[str, Any], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write a synthetic recording (NWB + EDF) and its teacher's ground truth into ``out_dir``."""
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


def dataset_config_hash(dataset_cfg: dict[str, Any]) -> str:
    """SHA-256 of the options that shape a dataset store — the reader's and the binning's, with
    defaults filled in — so that the same options give the same hash however they were written
    (workflow or command line). The source file itself is identified by its own SHA-256."""
    kind, options = reader_of(dataset_cfg["source"])
    reader = source_options(kind, options).as_dict()
    return config_hash({"source": {"kind": kind, **reader}, "binning": binning_of(dataset_cfg).as_dict()})


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
    opts = binning_of(dataset_cfg)
    extra = {} if block_bytes is None else {"block_bytes": block_bytes}
    path = bin_to_store(recording, opts, out, config_hash=dataset_config_hash(dataset_cfg), **extra)
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
    runs, giving the same store (and ``config_hash``) as the workflow for the same options."""
    kind, options = reader_of(dataset_cfg["source"])
    binning_of(dataset_cfg)  # a bad binning option stops before the source is read
    recording = read_source(source_path, kind=kind, **options)
    log.info("read %s (%s)", source_path, recording.kind)
    return bin_recording_stage(recording, dataset_cfg, out, block_bytes=block_bytes)
