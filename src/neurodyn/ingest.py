"""Ingest: read a source file into a recording, and bin a recording into a dataset.

``read_source`` picks the reader from the file's signature (NWB/HDF5 or EDF/BDF);
``bin_recording`` turns a recording into the binned dataset of :mod:`neurodyn.dataset`
according to :class:`BinningOptions`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodyn import binning
from neurodyn.dataset import (
    build_dataset,
    combine_moments,
    dataset_encoding,
    open_dataset,
    trial_blocks,
    validate_dataset,
)
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.recording import ContinuousRecording, Recording, SpikeRecording, write_atomically
from neurodyn.trials import (
    TrialWindows,
    from_annotations,
    from_trials_table,
    normalise_split_labels,
    seeded_heldout,
    seeded_split,
    tiling,
)

log = logging.getLogger(__name__)

SEGMENTS = ("auto", "trials", "events", "windows", "continuous")


@dataclass
class SplitOptions:
    """column: ``auto`` (use a ``split`` column when it has training trials), a column name, or
    None (seeded); fractions of valid/test trials for seeded splits (stratified by condition)."""

    column: str | None = "auto"
    fractions: dict[str, float] = field(default_factory=lambda: {"train": 0.7, "valid": 0.15, "test": 0.15})
    seed: int = 0


@dataclass
class HeldoutOptions:
    """column: ``auto`` (a boolean ``heldout`` unit column when it marks any unit), a column name,
    or None (seeded); fraction of channels held out when seeded."""

    column: str | None = "auto"
    fraction: float = 0.2
    seed: int = 0


@dataclass
class BinningOptions:
    """How a recording becomes trials × bins × channels (see :mod:`neurodyn.trials`).

    bin_size_s: bin width (spikes: 1–100 ms; continuous: None keeps the sampling period);
    segment: auto | trials | events | windows | continuous (auto: trials when a trials table
    exists, else continuous); align_event: trials-table column to align to (default start_time);
    window_s: [start, stop] seconds around the alignment event; segment_length_s: window length
    for ``windows``; event_labels: annotation labels for ``events`` (None: all);
    condition_column: ``auto`` (``condition`` when present), a column, or None;
    on_missing_event: error | drop; min_spikes: drop units with fewer spikes in the binned data;
    zscore: z-score each continuous channel.
    """

    bin_size_s: float | None = 0.02
    segment: str = "auto"
    align_event: str | None = None
    window_s: tuple[float, float] | None = None
    segment_length_s: float | None = None
    event_labels: list[str] | None = None
    condition_column: str | None = "auto"
    on_missing_event: str = "error"
    min_spikes: int = 1
    zscore: bool = False
    split: SplitOptions = field(default_factory=SplitOptions)
    heldout: HeldoutOptions = field(default_factory=HeldoutOptions)

    @classmethod
    def from_config(
        cls, binning_cfg: dict | None = None, split: dict | None = None, heldout: dict | None = None
    ) -> BinningOptions:
        """Build from config sections, naming any unknown key or bad value."""
        binning_cfg = dict(binning_cfg or {})
        known = {f.name for f in fields(cls)} - {"split", "heldout"}
        for section, allowed, given in (
            ("binning", known, binning_cfg),
            ("split", {f.name for f in fields(SplitOptions)}, split or {}),
            ("heldout", {f.name for f in fields(HeldoutOptions)}, heldout or {}),
        ):
            unknown = sorted(set(given) - allowed)
            if unknown:
                raise ConfigError(f"{section}.{unknown[0]}", "unknown option")
        opts = cls(**binning_cfg, split=SplitOptions(**(split or {})), heldout=HeldoutOptions(**(heldout or {})))
        opts.check()
        return opts

    def check(self) -> None:
        if self.window_s is not None:
            self.window_s = (float(self.window_s[0]), float(self.window_s[1]))
            if not self.window_s[1] > self.window_s[0]:
                raise ConfigError("binning.window_s", f"stop must be after start, got {list(self.window_s)}")
            if self.bin_size_s is not None and self.window_s[1] - self.window_s[0] < self.bin_size_s:
                raise ConfigError("binning.window_s", f"{list(self.window_s)} is shorter than one bin")
        if self.segment not in SEGMENTS:
            raise ConfigError("binning.segment", f"must be one of {SEGMENTS}, got {self.segment!r}")
        if self.bin_size_s is not None and not (0 < self.bin_size_s <= 1.0):
            raise ConfigError("binning.bin_size_s", f"must be in (0, 1] seconds, got {self.bin_size_s}")
        if self.on_missing_event not in ("error", "drop"):
            raise ConfigError("binning.on_missing_event", f"must be 'error' or 'drop', got {self.on_missing_event!r}")
        if self.min_spikes < 0:
            raise ConfigError("binning.min_spikes", "must be >= 0")
        fr = self.split.fractions
        if (
            any(k not in ("train", "valid", "test") or v < 0 for k, v in fr.items())
            or fr.get("valid", 0) + fr.get("test", 0) >= 1
        ):
            raise ConfigError("split.fractions", f"need non-negative train/valid/test with valid + test < 1, got {fr}")
        if not 0 <= self.heldout.fraction < 1:
            raise ConfigError("heldout.fraction", f"must be in [0, 1), got {self.heldout.fraction}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect_kind(path: str | os.PathLike[str]) -> str:
    """``nwb``, ``edf`` or ``array`` (``.npy``/``.npz``) from the file signature."""
    from neurodyn.io.array import is_array_file
    from neurodyn.io.edf import is_edf
    from neurodyn.io.nwb import is_hdf5

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputFileError(path, "is empty")
    if is_hdf5(path):
        return "nwb"
    if is_edf(path):
        return "edf"
    if is_array_file(path):
        return "array"
    raise InputFileError(path, "not an NWB (HDF5), EDF/BDF or NumPy (.npy/.npz) file")


def read_source(path: str | os.PathLike[str], *, kind: str | None = None, **options) -> Recording:
    """Read an NWB, EDF or NumPy array file. options go to the reader (``inputs`` for NWB;
    ``channels``, ``l_freq``, ``h_freq``, ``resample_hz`` for EDF; ``sfreq``, ``key``,
    ``start_sample``, ``n_samples``, ``channel_names``, ``unit`` for arrays)."""
    kind = kind or detect_kind(path)
    if kind == "nwb":
        from neurodyn.io.nwb import read_nwb

        return read_nwb(path, inputs=options.get("inputs"))
    if kind == "edf":
        from neurodyn.io.edf import read_edf

        return read_edf(
            path, **{k: v for k, v in options.items() if k in ("channels", "l_freq", "h_freq", "resample_hz")}
        )
    if kind == "array":
        from neurodyn.io.array import read_array

        if "sfreq" not in options:
            raise ConfigError("source.sfreq", "is required for array sources (the file has no sampling rate)")
        return read_array(
            path,
            **{
                k: v
                for k, v in options.items()
                if k in ("sfreq", "key", "start_sample", "n_samples", "channel_names", "unit")
            },
        )
    raise ConfigError("source.kind", f"must be nwb, edf or array, got {kind!r}")


# --- binning a recording -----------------------------------------------------------------------


def _check_inside(windows: TrialWindows, extent: tuple[float, float], source: str) -> None:
    starts = windows.starts
    stops = starts + windows.n_bins * windows.bin_size
    slack = 1e-6 * windows.bin_size
    outside = (starts < extent[0] - slack) | (stops > extent[1] + slack)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputFileError(
            source,
            f"{int(outside.sum())} trial window(s) lie outside the recording "
            f"[{extent[0]:.3f}, {extent[1]:.3f}] s, e.g. trial {windows.trial_ids[i]} "
            f"at [{starts[i]:.3f}, {stops[i]:.3f}] s",
        )


def _segment(rec: Recording, opts: BinningOptions, bin_size: float) -> TrialWindows:
    segment = opts.segment
    if segment == "auto":
        segment = "trials" if isinstance(rec, SpikeRecording) and rec.trials is not None else "continuous"
    if segment == "trials":
        if not isinstance(rec, SpikeRecording) or rec.trials is None:
            raise InputFileError(rec.source, "has no trials table (use segment: windows or continuous)")
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
    return tiling(rec.extent, bin_size=bin_size, length=length)


def _split_labels(windows: TrialWindows, opts: SplitOptions, source: str) -> np.ndarray:
    column = opts.column
    if column == "auto":
        column = None
        if "split" in windows.columns:
            labels = normalise_split_labels(windows.columns["split"], "split")
            if (labels == "train").any():
                return labels
            log.info("split column has no training trials; using a seeded split instead")
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
    """Bin a recording into an in-memory, contract-conforming dataset (see :mod:`neurodyn.dataset`)."""
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
            if k == 0:
                encoding = dataset_encoding(block, trials_per_chunk=trials.stop - trials.start)
                block.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False, encoding=encoding)
            else:
                block.to_zarr(tmp, append_dim="trial", zarr_format=3, consolidated=False)
            if len(blocks) > 1:
                log.info("binned trials %d–%d of %d", trials.start, trials.stop - 1, plan.n_trials)
        validate_dataset(open_dataset(tmp, load=False, validate=False), str(out))

    return write_atomically(write, out)


def _plan(rec: Recording, opts: BinningOptions, config_hash: str, block_bytes: int | None) -> _Plan:
    opts.check()
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
    return build_dataset(
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
    if rec.obs_intervals is None:
        return counts, np.ones(counts.shape, dtype=bool)
    return counts, binning.observed_mask(rec.obs_intervals, edges, tolerance=1e-6 * windows.bin_size)


def _plan_spikes(rec: SpikeRecording, opts: BinningOptions, config_hash: str, block_bytes: int | None) -> _Plan:
    if opts.bin_size_s is None or not (0.001 - 1e-12 <= opts.bin_size_s <= 0.1 + 1e-12):
        raise ConfigError("binning.bin_size_s", f"spike data needs a bin size of 1–100 ms, got {opts.bin_size_s}")
    windows = _segment(rec, opts, opts.bin_size_s)
    if windows.trial_ids.size == 0:
        raise InputFileError(rec.source, "no trials left after filtering")
    _check_inside(windows, rec.extent, rec.source)
    labels = rec.unit_labels()

    # first pass: spikes per unit in observed bins (for min_spikes) and the largest count (dtype)
    n_trials = windows.trial_ids.size
    blocks = (
        [slice(0, n_trials)]
        if block_bytes is None
        else trial_blocks(n_trials, windows.n_bins * rec.n_units * 5, block_bytes)
    )
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
        channel_coords={k: v for k, v in info.items() if k != "heldout"},
        trial_coords={k: v for k, v in windows.columns.items() if k != "split"},
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
