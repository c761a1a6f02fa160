"""Ingest: read a source file into a recording, and bin a recording into a dataset.

``read_source`` picks the reader from the file's signature (NWB/HDF5 or EDF/BDF);
``bin_recording`` turns a recording into the binned dataset of :mod:`neurodyn.data.dataset`
according to :class:`BinningOptions`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodyn.data import binning
from neurodyn.data.binning_options import BinningOptions, HeldoutOptions, SplitOptions
from neurodyn.data.dataset import (
    build_dataset,
    combine_moments,
    dataset_encoding,
    describe_zscore,
    open_dataset,
    trial_blocks,
    validate_dataset,
)
from neurodyn.data.recording import ContinuousRecording, Recording, SpikeRecording
from neurodyn.data.trials import (
    TrialWindows,
    from_annotations,
    from_trials_table,
    normalise_split_labels,
    seeded_heldout,
    seeded_split,
    tiling,
)
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.storage import consolidate_store, strings_as_objects, write_atomically

log = logging.getLogger(__name__)

SPIKE_BIN_RANGE_S = (0.001, 0.1)


def check_spike_bin_size(size: float | None, where: str, what: str = "spike data") -> None:
    """Spike counts are binned at 1–100 ms (:data:`SPIKE_BIN_RANGE_S`); ConfigError naming ``where`` otherwise."""
    low, high = SPIKE_BIN_RANGE_S
    if size is None or not (low - 1e-12 <= size <= high + 1e-12):
        raise ConfigError(where, f"{what} needs a bin size of {low * 1e3:g}–{high * 1e3:g} ms, got {size}")


# --- binning a recording -----------------------------------------------------------------------


def _check_inside(windows: TrialWindows, extent: tuple[float, float], source: str, overhang: float = 0.0) -> None:
    """Every window lies inside the recording (the last may reach ``overhang`` seconds past its end)."""
    starts = windows.starts
    stops = starts + windows.n_bins * windows.bin_size
    slack = 1e-6 * windows.bin_size
    outside = (starts < extent[0] - slack) | (stops > extent[1] + overhang + slack)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputFileError(
            source,
            f"{int(outside.sum())} trial window(s) lie outside the recording "
            f"[{extent[0]:.3f}, {extent[1]:.3f}] s, e.g. trial {windows.trial_ids[i]} "
            f"at [{starts[i]:.3f}, {stops[i]:.3f}] s",
        )


def _resolved_segment(rec: Recording, opts: BinningOptions) -> str:
    """The segmentation ``auto`` stands for, after checking that every option given applies to it:
    an option that cannot apply (an alignment event for a file without trials, a window for one
    continuous trial...) is an error naming it, never silently ignored."""
    has_trials = isinstance(rec, SpikeRecording) and rec.trials is not None
    segment = opts.segment
    if segment == "auto":
        segment = "trials" if has_trials else "continuous"
    defaults = BinningOptions()
    given = {
        name
        for name in ("align_event", "window_s", "segment_length_s", "event_labels", "condition_column")
        if getattr(opts, name) != getattr(defaults, name)
    }
    applies = {
        "trials": {"align_event", "window_s", "condition_column"},
        "events": {"window_s", "event_labels"},
        "windows": {"segment_length_s"},
        "continuous": set(),
    }[segment]
    for name in sorted(given - applies):
        if name == "condition_column" and opts.condition_column is None:
            continue  # "no conditions" holds for any segmentation
        if segment == "continuous" and isinstance(rec, SpikeRecording) and not has_trials:
            tables = rec.trials_table if opts.segment == "trials" else "trials"
            why = f"{rec.source} has no '{tables}' intervals table, so the recording is binned as one continuous trial"
            hint = " (choose another table with source.intervals, e.g. epochs; `neurodyn inspect` lists them)"
            raise ConfigError(f"binning.{name}", f"does not apply: {why}{hint}")
        raise ConfigError(f"binning.{name}", f"does not apply to segment: {segment}")
    return segment


def _segment(rec: Recording, opts: BinningOptions, bin_size: float) -> TrialWindows:
    segment = _resolved_segment(rec, opts)
    if segment == "trials":
        if not isinstance(rec, SpikeRecording) or rec.trials is None:
            name = rec.trials_table if isinstance(rec, SpikeRecording) else "trials"
            raise InputFileError(
                rec.source, f"has no '{name}' intervals table (use source.intervals, or segment: windows or continuous)"
            )
        condition = opts.condition_column
        if condition == "auto":
            condition = "condition" if "condition" in rec.trials else None
        return from_trials_table(
            rec.trials,
            bin_size=bin_size,
            align_event=opts.align_event,
            window=opts.window_s,
            condition_column=condition,
            on_missing_event=opts.on_missing_event,
            table=rec.trials_table,
        )
    if segment == "events":
        if not isinstance(rec, ContinuousRecording) or not len(rec.annotations.get("onset", [])):
            raise InputFileError(rec.source, "has no annotations to align to (segment: events)")
        if opts.window_s is None:
            raise ConfigError("binning.window_s", "is required with segment: events")
        return from_annotations(rec.annotations, bin_size=bin_size, labels=opts.event_labels, window=opts.window_s)
    length = opts.segment_length_s if segment == "windows" else None
    if segment == "windows" and length is None:
        raise ConfigError("binning.segment_length_s", "is required with segment: windows")
    # one continuous trial of spikes keeps every spike: a final partial bin, masked as unobserved
    keep_partial = segment == "continuous" and isinstance(rec, SpikeRecording)
    return tiling(rec.extent, bin_size=bin_size, length=length, keep_partial=keep_partial)


def _split_labels(windows: TrialWindows, opts: SplitOptions, source: str) -> np.ndarray:
    column = opts.column
    if column == "auto":
        column = None
        found = next((name for name in opts.AUTO_COLUMNS if name in windows.columns), None)
        if found is not None:
            labels = normalise_split_labels(windows.columns[found], found)
            if (labels == "train").any():
                return labels
            log.info("%s column has no training trials; using a seeded split instead", found)
    if column is not None:
        if column not in windows.columns:
            raise ConfigError("split.column", f"trials table of {source} has no column '{column}'")
        labels = normalise_split_labels(windows.columns[column], column)
        if not (labels == "train").any():
            raise ConfigError(
                "split.column", f"column '{column}' marks no trial as train; use split.column: null for a seeded split"
            )
        return labels
    if windows.trial_ids.size == 1:
        return np.asarray(["train"], dtype=object)
    return seeded_split(windows.trial_ids.size, fractions=opts.fractions, seed=opts.seed, conditions=windows.conditions)


def _heldout_flags(info: dict[str, np.ndarray], n_channels: int, opts: HeldoutOptions) -> np.ndarray:
    column = opts.column
    if column == "auto":
        column = "heldout" if "heldout" in info and np.asarray(info["heldout"], bool).any() else None
    if column is not None:
        if column not in info:
            raise ConfigError("heldout.column", f"no per-channel column '{column}' (have {sorted(info)})")
        flags = np.asarray(info[column], dtype=bool)
        if flags.all():
            raise ConfigError("heldout.column", f"column '{column}' holds out every channel")
        return flags
    return seeded_heldout(n_channels, fraction=opts.fraction, seed=opts.seed)


def _sampled(series_list, edges, kind: str, source: str):
    if not series_list:
        return None
    blocks, names = [], []
    for series in series_list:
        values = binning.resample_series(series.timestamps, series.values, edges)
        if kind == "inputs" and np.isnan(values).any():
            log.warning("%s: input '%s' does not cover every bin; uncovered bins set to 0", source, series.name)
            values = np.nan_to_num(values, nan=0.0)
        blocks.append(values)
        names.extend(series.columns)
    return np.concatenate(blocks, axis=-1), names


DEFAULT_BLOCK_BYTES = 256 << 20


@dataclass
class _Plan:
    """Everything about a binned dataset except its per-bin arrays, decided once for all blocks."""

    kind: str
    windows: TrialWindows
    channel_ids: np.ndarray
    heldout: np.ndarray
    split: np.ndarray
    channel_coords: dict[str, np.ndarray]
    trial_coords: dict[str, np.ndarray]
    attrs: dict[str, Any]
    data_units: str
    dtype: np.dtype
    keep: np.ndarray | None = None  # spikes: which units are kept
    labels: np.ndarray | None = None  # spikes: (spike,) unit index
    samples_per_bin: int = 1  # continuous
    zscore: tuple[np.ndarray, np.ndarray] | None = None  # continuous: per-channel mean, std
    bad_intervals: np.ndarray | None = None  # continuous: spans annotated BAD*
    extra_vars: dict[str, xr.Variable] = field(default_factory=dict)
    cached: tuple[np.ndarray, np.ndarray] | None = None  # spikes: (counts, mask) of all trials, if computed

    @property
    def n_trials(self) -> int:
        return int(self.windows.trial_ids.size)


def bin_recording(rec: Recording, opts: BinningOptions, *, config_hash: str = "") -> xr.Dataset:
    """Bin a recording into an in-memory, contract-conforming dataset (see :mod:`neurodyn.data.dataset`)."""
    plan = _plan(rec, opts, config_hash, block_bytes=None)
    dataset = _block_dataset(rec, plan, slice(0, plan.n_trials))
    validate_dataset(dataset)
    return dataset


def bin_to_store(
    rec: Recording,
    opts: BinningOptions,
    out: str | os.PathLike[str],
    *,
    config_hash: str = "",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Path:
    """Bin a recording and write the dataset store, holding about ``block_bytes`` of binned data
    in memory at a time: trials are binned in blocks appended to the store, which is written
    under a temporary name and renamed into place once complete and valid."""
    plan = _plan(rec, opts, config_hash, block_bytes=block_bytes)
    per_trial = plan.windows.n_bins * plan.channel_ids.size * (plan.dtype.itemsize + 1)
    blocks = trial_blocks(plan.n_trials, per_trial, block_bytes)

    def write(tmp: Path) -> None:
        for k, trials in enumerate(blocks):
            block = _block_dataset(rec, plan, trials)
            block = strings_as_objects(block)  # variable-length UTF-8 in the store
            if k == 0:
                encoding = dataset_encoding(block, trials_per_chunk=trials.stop - trials.start)
                block.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False, encoding=encoding)
            else:
                block.to_zarr(tmp, append_dim="trial", zarr_format=3, consolidated=False)
            if len(blocks) > 1:
                log.info("binned trials %d–%d of %d", trials.start, trials.stop - 1, plan.n_trials)
        consolidate_store(tmp)
        validate_dataset(open_dataset(tmp, load=False, validate=False), str(out))

    return write_atomically(write, out)


def _plan(rec: Recording, opts: BinningOptions, config_hash: str, block_bytes: int | None) -> _Plan:
    if isinstance(rec, SpikeRecording):
        return _plan_spikes(rec, opts, config_hash, block_bytes)
    return _plan_continuous(rec, opts, config_hash, block_bytes)


def _common_attrs(rec: Recording, windows: TrialWindows, config_hash: str) -> dict:
    return {
        "bin_size_s": float(windows.bin_size),
        "align_event": windows.align_event,
        "window_s": [float(windows.offset), float(windows.offset + windows.n_bins * windows.bin_size)],
        "source": rec.source,
        "source_sha256": rec.source_sha256,
        "config_hash": config_hash,
        "description": rec.description,
    }


def _block_dataset(rec: Recording, plan: _Plan, trials: slice) -> xr.Dataset:
    """The dataset of one block of trials (not yet validated: a block may lack training trials)."""
    windows = plan.windows.select(np.arange(plan.n_trials)[trials])
    edges = windows.edges()
    whole = (trials.start, trials.stop) == (0, plan.n_trials)
    if plan.kind == "counts":
        counts, mask = plan.cached if plan.cached is not None and whole else _spike_block(rec, plan.labels, windows)
        data, mask = counts[:, :, plan.keep].astype(plan.dtype), mask[:, :, plan.keep]
        inputs = _sampled(rec.inputs, edges, "inputs", rec.source)
        behavior = _sampled(rec.behavior, edges, "behavior", rec.source)
    else:
        data, mask = _continuous_block(rec, plan, windows)
        inputs = behavior = None
    block = build_dataset(
        data=data,
        kind=plan.kind,
        data_units=plan.data_units,
        time=windows.time,
        trial_ids=windows.trial_ids,
        align_times=windows.align_times,
        conditions=windows.conditions,
        split=plan.split[trials],
        channel_ids=plan.channel_ids,
        heldout=plan.heldout,
        mask=mask,
        channel_coords=plan.channel_coords,
        trial_coords={k: v[trials] for k, v in plan.trial_coords.items()},
        inputs=inputs,
        behavior=behavior,
        extra_vars=plan.extra_vars,
        attrs=plan.attrs,
        validate=False,
    )
    return block if plan.zscore is None else describe_zscore(block, rec.unit)


# --- spikes ------------------------------------------------------------------------------------


def _spikes_between(rec: SpikeRecording, labels: np.ndarray, lo: float, hi: float):
    """Spikes with lo <= t < hi, found per unit by bisection (spikes are sorted within units)."""
    firsts, lasts = [], []
    for unit in range(rec.n_units):
        a, b = rec.unit_offsets[unit], rec.unit_offsets[unit + 1]
        firsts.append(a + np.searchsorted(rec.spike_times[a:b], lo, side="left"))
        lasts.append(a + np.searchsorted(rec.spike_times[a:b], hi, side="left"))
    lengths = np.asarray(lasts) - np.asarray(firsts)
    index = np.repeat(np.asarray(firsts) - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(
        lengths.sum()
    )
    return rec.spike_times[index], labels[index]


def _spike_block(rec: SpikeRecording, labels: np.ndarray, windows: TrialWindows) -> tuple[np.ndarray, np.ndarray]:
    """(counts, mask) of every unit for these windows: (trial, time, unit) uint32 and bool."""
    edges = windows.edges()
    lo, hi = float(edges.min()), float(edges.max()) + windows.bin_size
    if lo <= rec.extent[0] and hi > rec.extent[1]:  # the block spans the recording: no need to subset
        times, units = rec.spike_times, labels
    else:
        times, units = _spikes_between(rec, labels, lo, hi)
    counts = binning.spike_counts(times, units, rec.n_units, windows.starts, windows.bin_size, windows.n_bins)
    slack = 1e-6 * windows.bin_size
    if rec.obs_intervals is None:
        mask = np.ones(counts.shape, dtype=bool)
    else:
        mask = binning.observed_mask(rec.obs_intervals, edges, tolerance=slack)
    mask &= (edges[:, 1:] <= rec.extent[1] + slack)[:, :, None]  # a final partial bin is not wholly observed
    return counts, mask


# bytes per (bin, unit) while binning spikes: the uint32 counts, their transpose, the mask, a masked copy
_SPIKE_BIN_BYTES = 4 + 4 + 1 + 4


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_memory(rec: Recording, windows: TrialWindows, trials_at_once: int, n_channels: int, per_value: int) -> None:
    """Refuse up front, with the size it would need, a binning whose smallest step (one block of
    trials; at least one trial) does not fit in the memory available."""
    needed = trials_at_once * windows.n_bins * n_channels * per_value
    available = available_memory()
    if available is not None and needed > available:
        raise InputFileError(
            rec.source,
            f"binning {trials_at_once} trial(s) of {windows.n_bins} bins × {n_channels} channels at once needs "
            f"{needed / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB available; use larger bins "
            "(binning.bin_size_s) or cut the recording into windows (segment: windows, segment_length_s)",
        )


# names the dataset already uses; a recording's own columns with these names get a prefix
_RESERVED_NAMES = frozenset(
    ("trial", "time", "channel", "heldout", "align_time", "data", "split", "mask", "condition", "input", "inputs")
    + ("behavior", "behavior_var", "annotation", "annotation_onset", "annotation_duration", "annotation_description")
)


def _unreserved(columns: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {(f"{prefix}_{k}" if k in _RESERVED_NAMES else k): v for k, v in columns.items()}


def _plan_spikes(rec: SpikeRecording, opts: BinningOptions, config_hash: str, block_bytes: int | None) -> _Plan:
    check_spike_bin_size(opts.bin_size_s, "binning.bin_size_s")
    windows = _segment(rec, opts, opts.bin_size_s)
    if windows.trial_ids.size == 0:
        raise InputFileError(rec.source, "no trials left after filtering")
    _check_inside(windows, rec.extent, rec.source, overhang=windows.bin_size)
    labels = rec.unit_labels()

    # first pass: spikes per unit in observed bins (for min_spikes) and the largest count (dtype)
    n_trials = windows.trial_ids.size
    per_trial = windows.n_bins * rec.n_units * _SPIKE_BIN_BYTES
    blocks = [slice(0, n_trials)] if block_bytes is None else trial_blocks(n_trials, per_trial, block_bytes)
    _check_memory(rec, windows, blocks[0].stop - blocks[0].start, rec.n_units, _SPIKE_BIN_BYTES)
    totals = np.zeros(rec.n_units, dtype=np.int64)
    largest = np.zeros(rec.n_units, dtype=np.int64)
    cached = None
    for trials in blocks:
        counts, mask = _spike_block(rec, labels, windows.select(np.arange(n_trials)[trials]))
        totals += (counts * mask).sum(axis=(0, 1), dtype=np.int64)
        largest = np.maximum(largest, counts.max(axis=(0, 1), initial=0))
        cached = (counts, mask) if len(blocks) == 1 else None

    keep = totals >= max(opts.min_spikes, 0)
    if not keep.all():
        log.warning(
            "%s: dropping %d unit(s) with fewer than %d spike(s) in the binned data: ids %s",
            rec.source,
            int((~keep).sum()),
            opts.min_spikes,
            rec.unit_ids[~keep][:20].tolist(),
        )
    if not keep.any():
        raise InputFileError(rec.source, f"no units left after filtering (min_spikes={opts.min_spikes})")
    info = {k: np.asarray(v)[keep] for k, v in rec.unit_info.items()}
    dtype = np.dtype(np.uint16 if largest[keep].max() <= np.iinfo(np.uint16).max else np.uint32)
    return _Plan(
        kind="counts",
        windows=windows,
        channel_ids=rec.unit_ids[keep],
        heldout=_heldout_flags(info, int(keep.sum()), opts.heldout),
        split=_split_labels(windows, opts.split, rec.source),
        channel_coords=_unreserved({k: v for k, v in info.items() if k != "heldout"}, "unit"),
        trial_coords=_unreserved(
            {k: v for k, v in windows.columns.items() if k not in {*opts.split.AUTO_COLUMNS, opts.split.column}},
            "trial",
        ),
        attrs=_common_attrs(rec, windows, config_hash),
        data_units="count",
        dtype=dtype,
        keep=keep,
        labels=labels,
        cached=cached,
    )


# --- continuous signals ------------------------------------------------------------------------


def _continuous_block(rec: ContinuousRecording, plan: _Plan, windows: TrialWindows) -> tuple[np.ndarray, np.ndarray]:
    """(signal, mask) for these windows: (trial, time, channel) float32 and bool."""
    try:
        data = binning.continuous_windows(
            rec.samples, rec.sfreq, rec.first_time, windows.starts, windows.n_bins, plan.samples_per_bin
        )
    except ValueError as exc:
        raise InputFileError(rec.source, str(exc)) from None
    if plan.zscore is not None:
        mean, std = plan.zscore
        data = (data - mean) / std
    mask = np.ones(data.shape, dtype=bool)
    if plan.bad_intervals is not None:  # mne convention: BAD* annotations mark unusable spans
        good = binning.observed_mask([_complement(plan.bad_intervals, rec.extent)], windows.edges(), 1e-9)
        mask &= good
    return data.astype(np.float32), mask


def _channel_moments(rec: ContinuousRecording, plan: _Plan, blocks: list[slice]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over all binned values, combined over blocks."""
    moments = (0, 0.0, 0.0)
    for trials in blocks:
        data, _ = _continuous_block(rec, plan, plan.windows.select(np.arange(plan.n_trials)[trials]))
        moments = combine_moments(moments, data.reshape(-1, data.shape[-1]).astype(np.float64))
    count, mean, m2 = moments
    return np.asarray(mean), np.sqrt(np.asarray(m2) / count)


def _plan_continuous(
    rec: ContinuousRecording, opts: BinningOptions, config_hash: str, block_bytes: int | None
) -> _Plan:
    if opts.bin_size_s is None:
        samples_per_bin = 1
    else:
        ratio = opts.bin_size_s * rec.sfreq
        samples_per_bin = int(round(ratio))
        if samples_per_bin < 1 or abs(ratio - samples_per_bin) > 1e-6:
            raise ConfigError(
                "binning.bin_size_s",
                f"{opts.bin_size_s} s is not a whole number of samples "
                f"at {rec.sfreq} Hz; use source.resample_hz or bin_size_s: null",
            )
    if opts.segment == "trials":
        raise ConfigError(
            "binning.segment", "continuous recordings have no trials table; use events, windows or continuous"
        )
    windows = _segment(rec, opts, samples_per_bin / rec.sfreq)
    _check_inside(windows, rec.extent, rec.source)
    notes = rec.annotations
    bad = None
    if len(notes.get("onset", [])):
        is_bad = np.char.startswith(np.asarray(notes["description"]).astype(str), "BAD")
        if is_bad.any():
            bad = np.stack([notes["onset"][is_bad], notes["onset"][is_bad] + notes["duration"][is_bad]], axis=1)
    n_channels = rec.samples.shape[1]
    plan = _Plan(
        kind="continuous",
        windows=windows,
        channel_ids=np.arange(n_channels, dtype=np.int64),
        heldout=_heldout_flags({}, n_channels, opts.heldout),
        split=_split_labels(windows, opts.split, rec.source),
        channel_coords={"channel_name": np.asarray(rec.channel_names), **rec.channel_info},
        trial_coords={},
        attrs={**_common_attrs(rec, windows, config_hash), "sfreq": float(rec.sfreq)},
        data_units="z" if opts.zscore else rec.unit,
        dtype=np.dtype(np.float32),
        samples_per_bin=samples_per_bin,
        bad_intervals=bad,
        extra_vars=_annotation_vars(notes),
    )
    if opts.zscore:
        per_trial = windows.n_bins * n_channels * 5
        blocks = (
            [slice(0, plan.n_trials)] if block_bytes is None else trial_blocks(plan.n_trials, per_trial, block_bytes)
        )
        mean, std = _channel_moments(rec, plan, blocks)
        if (std == 0).any():
            raise InputFileError(
                rec.source, f"cannot z-score constant channel(s) {np.asarray(rec.channel_names)[std == 0].tolist()}"
            )
        plan.zscore = (mean, std)
        plan.channel_coords.update(channel_mean=mean, channel_std=std)
    return plan


def _annotation_vars(notes: dict[str, np.ndarray]) -> dict[str, xr.Variable]:
    if not len(notes.get("onset", [])):
        return {}
    return {
        "annotation_onset": xr.Variable(
            "annotation",
            np.asarray(notes["onset"], float),
            {"units": "s", "long_name": "annotation onset in the recording"},
        ),
        "annotation_duration": xr.Variable(
            "annotation", np.asarray(notes["duration"], float), {"units": "s", "long_name": "annotation duration"}
        ),
        "annotation_description": xr.Variable(
            "annotation",
            np.asarray([str(d) for d in notes["description"]], dtype=object),
            {"units": "1", "long_name": "annotation label"},
        ),
    }


def _complement(intervals: np.ndarray, extent: tuple[float, float]) -> np.ndarray:
    """Parts of ``extent`` not covered by ``intervals`` ((k, 2) → (m, 2))."""
    merged = binning.merge_intervals(intervals)
    bounds = np.concatenate([[extent[0]], merged.ravel(), [extent[1]]]).reshape(-1, 2)
    return bounds[bounds[:, 1] > bounds[:, 0]]
