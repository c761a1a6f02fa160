"""Event-level recordings: what ingest reads from a source file, before binning.

Two kinds, one per modality:

* :class:`SpikeRecording` — sorted spike times per unit as a flat array plus offsets (the NWB
  ragged-array layout), the trials table, per-unit observation intervals, and sampled series for
  stimulus inputs and behaviour;
* :class:`ContinuousRecording` — a (time, channel) signal at a fixed sampling rate with its
  annotations (e.g. EEG from EDF).

Both are stored as a zarr v3 store (``recording.zarr``) between the workflow's ``ingest`` and
``bin`` rules, so that changing binning options never re-reads the source file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from neurodyn.errors import InputFileError
from neurodyn.storage import open_store, text_array, write_store

RECORDING_FORMAT = "neurodyn.recording/1"


@dataclass
class SampledSeries:
    """A sampled multichannel series (a stimulus input or a behavioural variable).

    timestamps: (sample,) seconds, non-decreasing; values: (sample, column).
    """

    name: str
    timestamps: np.ndarray
    values: np.ndarray
    columns: list[str]
    unit: str = ""


@dataclass
class SpikeRecording:
    """Spike trains of many units, plus trials, observation intervals and sampled series.

    spike_times: (spike,) float64 seconds, sorted within each unit;
    unit_offsets: (unit + 1,) int64, spikes of unit ``u`` are ``spike_times[off[u]:off[u+1]]``;
    unit_ids: (unit,) int64; unit_info: per-unit columns, each (unit,) (e.g. ``heldout``, ``location``);
    obs_intervals: per unit an (interval, 2) array of [start, stop] seconds, or None when unknown;
    trials: the columns of the intervals table whose rows are the trials (``trials_table`` names it),
    each (trial,), always with ``id``, ``start_time``, ``stop_time`` when present; extent: (start,
    stop) seconds the recording covers.
    """

    source: str
    source_sha256: str
    spike_times: np.ndarray
    unit_offsets: np.ndarray
    unit_ids: np.ndarray
    unit_info: dict[str, np.ndarray] = field(default_factory=dict)
    obs_intervals: list[np.ndarray] | None = None
    trials: dict[str, np.ndarray] | None = None
    trials_table: str = "trials"
    inputs: list[SampledSeries] = field(default_factory=list)
    behavior: list[SampledSeries] = field(default_factory=list)
    extent: tuple[float, float] = (0.0, 0.0)
    description: str = ""

    kind = "spikes"

    @property
    def n_units(self) -> int:
        return len(self.unit_ids)

    def unit_labels(self) -> np.ndarray:
        """(spike,) int64 unit index of every spike."""
        return np.repeat(np.arange(self.n_units, dtype=np.int64), np.diff(self.unit_offsets))


@dataclass
class ContinuousRecording:
    """A continuously sampled multichannel signal.

    samples: (time, channel) float32 in ``unit``; sample ``k`` is at ``first_time + k / sfreq``
    seconds; annotations: ``onset`` (seconds, same clock), ``duration``, ``description``, each (event,).
    """

    source: str
    source_sha256: str
    samples: np.ndarray
    sfreq: float
    channel_names: list[str]
    unit: str = "uV"
    first_time: float = 0.0
    annotations: dict[str, np.ndarray] = field(default_factory=dict)
    channel_info: dict[str, np.ndarray] = field(default_factory=dict)
    description: str = ""

    kind = "continuous"

    @property
    def extent(self) -> tuple[float, float]:
        return (self.first_time, self.first_time + self.samples.shape[0] / self.sfreq)


Recording = SpikeRecording | ContinuousRecording


# --- storage of the event-level recording (zarr v3 via xarray) ---------------------------------


def _column(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    return text_array(values) if values.dtype.kind in "USOT" else values


def _time_units(column: str, values: np.ndarray) -> dict[str, str]:
    """``{"units": "s"}`` for a trials column of times (NWB names them ``*_time``), else nothing."""
    return {"units": "s"} if column.endswith("_time") and np.asarray(values).dtype.kind == "f" else {}


def _series_to_vars(prefix: str, series: list[SampledSeries]) -> dict[str, xr.DataArray]:
    out: dict[str, xr.DataArray] = {}
    for s in series:
        dims = (f"{prefix}_{s.name}_sample", f"{prefix}_{s.name}_column")
        out[f"{prefix}.{s.name}"] = xr.DataArray(
            np.asarray(s.values, dtype=np.float64),
            dims=dims,
            coords={dims[1]: text_array(s.columns)},
            attrs={"units": s.unit, "series_name": s.name},
        )
        out[f"{prefix}.{s.name}.timestamps"] = xr.DataArray(
            np.asarray(s.timestamps, dtype=np.float64), dims=dims[:1], attrs={"units": "s"}
        )
    return out


def _series_from_vars(ds: xr.Dataset, prefix: str) -> list[SampledSeries]:
    series = []
    for name in ds.attrs.get(f"{prefix}_series", []):
        values = ds[f"{prefix}.{name}"]
        series.append(
            SampledSeries(
                name=name,
                timestamps=ds[f"{prefix}.{name}.timestamps"].values,
                values=values.values,
                columns=[str(c) for c in values[values.dims[1]].values],
                unit=values.attrs.get("units", ""),
            )
        )
    return series


def recording_to_xarray(rec: Recording) -> xr.Dataset:
    """Pack a recording into an xarray Dataset (flat/ragged arrays, one dimension each)."""
    attrs = {
        "format": RECORDING_FORMAT,
        "kind": rec.kind,
        "source": rec.source,
        "source_sha256": rec.source_sha256,
        "description": rec.description,
    }
    data: dict[str, xr.DataArray] = {}
    if isinstance(rec, SpikeRecording):
        data["spike_times"] = xr.DataArray(rec.spike_times, dims="spike", attrs={"units": "s"})
        data["unit_offsets"] = xr.DataArray(rec.unit_offsets, dims="unit_edge")
        data["unit_id"] = xr.DataArray(rec.unit_ids, dims="unit")
        for key, values in rec.unit_info.items():
            data[f"unit.{key}"] = xr.DataArray(_column(values), dims="unit")
        if rec.obs_intervals is not None:
            counts = [len(iv) for iv in rec.obs_intervals]
            flat = np.concatenate([np.reshape(iv, (-1, 2)) for iv in rec.obs_intervals])
            data["obs_intervals"] = xr.DataArray(flat, dims=("interval", "bound"), attrs={"units": "s"})
            data["obs_offsets"] = xr.DataArray(
                np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), dims="unit_edge"
            )
        if rec.trials is not None:
            for key, values in rec.trials.items():
                data[f"trials.{key}"] = xr.DataArray(_column(values), dims="trial", attrs=_time_units(key, values))
            attrs["trial_columns"] = list(rec.trials)
            attrs["trials_table"] = rec.trials_table
        data.update(_series_to_vars("inputs", rec.inputs))
        data.update(_series_to_vars("behavior", rec.behavior))
        attrs["inputs_series"] = [s.name for s in rec.inputs]
        attrs["behavior_series"] = [s.name for s in rec.behavior]
        attrs["unit_columns"] = list(rec.unit_info)
        attrs["extent"] = [float(rec.extent[0]), float(rec.extent[1])]
    else:
        data["samples"] = xr.DataArray(
            rec.samples,
            dims=("sample", "channel"),
            coords={"channel": text_array(rec.channel_names)},
            attrs={"units": rec.unit},
        )
        for key, values in rec.annotations.items():
            attrs_of = {"units": "s"} if key in ("onset", "duration") else {}
            data[f"annotations.{key}"] = xr.DataArray(_column(values), dims="annotation", attrs=attrs_of)
        for key, values in rec.channel_info.items():
            data[f"channel.{key}"] = xr.DataArray(_column(values), dims="channel")
        attrs.update(sfreq=float(rec.sfreq), first_time=float(rec.first_time))
        attrs["annotation_columns"] = list(rec.annotations)
        attrs["channel_columns"] = list(rec.channel_info)
    return xr.Dataset(data, attrs=attrs)


def save_recording(rec: Recording, path: str | os.PathLike[str]) -> Path:
    """Write a recording as a zarr v3 store with consolidated metadata, atomically."""
    return write_store(recording_to_xarray(rec), path)


def load_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a store written by :func:`save_recording`."""
    try:
        ds = open_store(path)
    except Exception as exc:  # any failure to open is a problem with that path
        raise InputFileError(path, f"not a readable recording store ({type(exc).__name__}: {exc})")
    if ds.attrs.get("format") != RECORDING_FORMAT:
        raise InputFileError(path, f"not a neurodyn recording store (format={ds.attrs.get('format')!r})")
    common = dict(
        source=ds.attrs["source"], source_sha256=ds.attrs["source_sha256"], description=ds.attrs.get("description", "")
    )
    if ds.attrs["kind"] == "spikes":
        offsets = ds["unit_offsets"].values
        obs = None
        if "obs_intervals" in ds:
            flat, obs_off = ds["obs_intervals"].values, ds["obs_offsets"].values
            obs = [flat[obs_off[i] : obs_off[i + 1]] for i in range(len(obs_off) - 1)]
        trials = None
        if "trial_columns" in ds.attrs:
            trials = {k: ds[f"trials.{k}"].values for k in ds.attrs["trial_columns"]}
        return SpikeRecording(
            spike_times=ds["spike_times"].values,
            unit_offsets=offsets,
            unit_ids=ds["unit_id"].values,
            unit_info={k: ds[f"unit.{k}"].values for k in ds.attrs.get("unit_columns", [])},
            obs_intervals=obs,
            trials=trials,
            trials_table=ds.attrs.get("trials_table", "trials"),
            inputs=_series_from_vars(ds, "inputs"),
            behavior=_series_from_vars(ds, "behavior"),
            extent=tuple(ds.attrs["extent"]),
            **common,
        )
    return ContinuousRecording(
        samples=ds["samples"].values,
        sfreq=float(ds.attrs["sfreq"]),
        channel_names=[str(c) for c in ds["channel"].values],
        unit=ds["samples"].attrs.get("units", ""),
        first_time=float(ds.attrs["first_time"]),
        annotations={k: ds[f"annotations.{k}"].values for k in ds.attrs.get("annotation_columns", [])},
        channel_info={k: ds[f"channel.{k}"].values for k in ds.attrs.get("channel_columns", [])},
        **common,
    )
