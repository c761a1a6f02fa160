"""Read spike recordings from NWB files (HDF5 backend) with pynwb.

What is read, in bulk (one read per dataset, never unit by unit):
* ``units``: the flat ``spike_times`` vector and its index, ``obs_intervals`` (+ index) when
  present, a boolean ``heldout`` column when present, and each unit's electrode ``location``;
* ``intervals/trials``: every non-ragged column (``start_time``, ``stop_time``, event times,
  condition labels, ``split``...);
* ``stimulus/presentation``: the time series named in ``inputs`` (conditioning inputs);
* ``processing/behavior``: every time series it holds (directly, or inside containers such as
  ``Position`` or ``BehavioralTimeSeries``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurodyn.data.recording import SampledSeries, SpikeRecording
from neurodyn.errors import InputFileError
from neurodyn.options import Options, option
from neurodyn.storage import file_sha256

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: str | os.PathLike[str]) -> bool:
    """True if the file carries the HDF5 signature (at offset 0 or a power-of-two userblock)."""
    with open(path, "rb") as handle:
        offset = 0
        while True:
            handle.seek(offset)
            head = handle.read(8)
            if head == HDF5_SIGNATURE:
                return True
            if len(head) < 8:
                return False
            offset = 512 if offset == 0 else offset * 2


def _series_timestamps(series, path: Path) -> np.ndarray:
    n = series.data.shape[0]
    if series.timestamps is not None:
        stamps = np.asarray(series.timestamps[:], dtype=np.float64)
    elif series.rate is not None:
        stamps = float(series.starting_time or 0.0) + np.arange(n) / float(series.rate)
    else:
        raise InputFileError(path, f"time series '{series.name}' has neither timestamps nor rate")
    if stamps.shape[0] != n:
        raise InputFileError(path, f"time series '{series.name}' has {stamps.shape[0]} timestamps for {n} samples")
    if not np.all(np.isfinite(stamps)) or np.any(np.diff(stamps) < 0):
        raise InputFileError(path, f"time series '{series.name}' has non-finite or decreasing timestamps")
    return stamps


def _read_series(series, path: Path) -> SampledSeries:
    values = np.asarray(series.data[:], dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise InputFileError(
            path,
            f"time series '{series.name}' has {values.ndim}-D data; "
            "only 1-D or 2-D (time, column) series are supported",
        )
    stamps = _series_timestamps(series, path)
    n_cols = values.shape[1]
    if n_cols == 1:
        columns = [series.name]
    elif n_cols <= 3 and type(series).__name__ == "SpatialSeries":
        columns = [f"{series.name}_{axis}" for axis in "xyz"[:n_cols]]
    else:
        columns = [f"{series.name}_{i}" for i in range(n_cols)]
    return SampledSeries(series.name, stamps, values, columns, unit=str(series.unit or ""))


def _behavior_series(nwbfile, path: Path) -> list[SampledSeries]:
    from pynwb import TimeSeries

    module = nwbfile.processing.get("behavior")
    if module is None:
        return []
    found: list[SampledSeries] = []
    for interface in module.data_interfaces.values():
        if isinstance(interface, TimeSeries):
            found.append(_read_series(interface, path))
            continue
        # containers (Position, BehavioralTimeSeries, CompassDirection, ...) hold a dict of series
        for attr in ("spatial_series", "time_series"):
            for series in getattr(interface, attr, {}).values():
                found.append(_read_series(series, path))
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise InputFileError(path, f"processing/behavior has duplicate series names: {sorted(names)}")
    return found


def _input_series(nwbfile, names: list[str], path: Path) -> list[SampledSeries]:
    out = []
    for name in names:
        if name not in nwbfile.stimulus:
            raise InputFileError(
                path, f"stimulus/presentation has no time series '{name}' (available: {sorted(nwbfile.stimulus)})"
            )
        out.append(_read_series(nwbfile.stimulus[name], path))
    return out


def _ragged(table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Flat data and (n_rows + 1,) int64 offsets of a ragged column, read in two bulk reads."""
    index = table[f"{column}_index"]
    ends = np.asarray(index.data[:], dtype=np.int64)  # may be stored as uint16/uint32
    flat = np.asarray(index.target.data[:])
    return flat, np.concatenate([[0], ends])


def _is_ragged(table, column: str) -> bool:
    """Whether ``column`` of an hdmf DynamicTable holds a list per row (it has a ``<column>_index``)."""
    return any(c.name == f"{column}_index" for c in table.columns)


def _unit_locations(nwbfile, units, path: Path) -> np.ndarray | None:
    """Each unit's electrode ``location`` (the first electrode's when a unit has several), or None.

    The NWB schema allows ``units.electrodes`` as a list of electrodes per unit (ragged), one
    electrode per unit (a plain region column, as several writers store it), or no column at all.
    The location is optional: a lookup that cannot be made (no electrodes table or location column,
    a reference outside the table) gives no locations and a warning naming the column, never a
    failed file."""
    if "electrodes" not in units.colnames or nwbfile.electrodes is None:
        return None
    if "location" not in nwbfile.electrodes.colnames:
        return None
    if _is_ragged(units, "electrodes"):
        rows, offsets = _ragged(units, "electrodes")
        if rows.size == 0:
            return None
        first = np.where(np.diff(offsets) > 0, rows[np.minimum(offsets[:-1], len(rows) - 1)], -1)
    else:
        first = np.asarray(units["electrodes"].data[:]).reshape(len(units), -1)[:, 0]
    first = np.asarray(first, dtype=np.int64)
    locations = np.asarray(nwbfile.electrodes["location"].data[:]).astype(str)
    if np.any(first >= len(locations)):
        warnings.warn(
            f"{path}: units/electrodes refers to electrode row {int(first.max())} of a {len(locations)}-row "
            "electrodes table; unit locations are left out",
            stacklevel=2,
        )
        return None
    return np.where(first >= 0, locations[np.clip(first, 0, None)], "")


def _trials_table(nwbfile, path: Path) -> dict[str, np.ndarray] | None:
    trials = nwbfile.trials
    if trials is None or len(trials) == 0:
        return None
    columns: dict[str, np.ndarray] = {"id": np.asarray(trials.id.data[:], dtype=np.int64)}
    for name in trials.colnames:
        col = trials[name]
        if type(col).__name__ == "VectorIndex" or name.endswith("_index"):
            continue  # ragged columns (e.g. timeseries references) are not trial scalars
        values = np.asarray(col.data[:])
        if values.ndim != 1:
            continue
        if values.dtype.kind in "SO":
            values = np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in values])
        columns[name] = values
    for required in ("start_time", "stop_time"):
        if required not in columns:
            raise InputFileError(path, f"trials table lacks the required column '{required}'")
    return columns


@dataclass(frozen=True)
class NWBOptions(Options):
    """What an NWB reader takes beyond the file (trial and condition columns are binning options)."""

    inputs: list[str] = option([], "stimulus time series (acquisition or stimulus) to bin as conditioning inputs")


def read_nwb(path: str | os.PathLike[str], *, inputs: list[str] | None = None) -> SpikeRecording:
    """Read the units, trials, inputs and behaviour of an NWB file.

    Raises :class:`InputFileError` (one line naming the file and the problem) for a file that is
    not NWB/HDF5, cannot be read, has no or an empty units table, or has NaN or unsorted spike times.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    if not is_hdf5(path):
        raise InputFileError(path, "not an NWB file (no HDF5 signature)")
    from pynwb import NWBHDF5IO

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # namespace-version chatter is not the user's concern
            io = NWBHDF5IO(str(path), "r", load_namespaces=True)
            nwbfile = io.read()
    except Exception as exc:
        raise InputFileError(path, f"cannot be read as NWB ({type(exc).__name__}: {exc})".replace("\n", " "))
    try:
        return _read_open_nwb(nwbfile, path, inputs or [])
    except InputFileError:
        raise
    except (OSError, KeyError, ValueError) as exc:  # truncated datasets surface only on read
        raise InputFileError(path, f"cannot be read as NWB ({type(exc).__name__}: {exc})".replace("\n", " "))
    finally:
        io.close()


def _read_open_nwb(nwbfile, path: Path, inputs: list[str]) -> SpikeRecording:
    units = nwbfile.units
    if units is None:
        raise InputFileError(path, "has no units table")
    if len(units) == 0:
        raise InputFileError(path, "the units table is empty")
    if "spike_times" not in units.colnames:
        raise InputFileError(path, "the units table has no 'spike_times' column")
    spike_times, offsets = _ragged(units, "spike_times")
    spike_times = spike_times.astype(np.float64, copy=False)
    unit_ids = np.asarray(units.id.data[:], dtype=np.int64)
    if offsets[-1] != spike_times.size or np.any(np.diff(offsets) < 0):
        raise InputFileError(path, "units/spike_times_index is inconsistent with units/spike_times")
    bad = ~np.isfinite(spike_times)
    if bad.any():
        unit = unit_ids[np.searchsorted(offsets, np.flatnonzero(bad)[0], side="right") - 1]
        raise InputFileError(path, f"units/spike_times has {int(bad.sum())} non-finite value(s) (first in unit {unit})")
    decreasing = np.diff(spike_times) < 0
    decreasing[offsets[1:-1] - 1] = False  # steps across unit boundaries may decrease
    if decreasing.any():
        unit = unit_ids[np.searchsorted(offsets, np.flatnonzero(decreasing)[0], side="right") - 1]
        raise InputFileError(path, f"units/spike_times are not sorted within unit {unit}")

    unit_info: dict[str, np.ndarray] = {}
    if "heldout" in units.colnames:
        unit_info["heldout"] = np.asarray(units["heldout"].data[:], dtype=bool)
    locations = _unit_locations(nwbfile, units, path)
    if locations is not None:
        unit_info["location"] = locations

    obs_intervals = None
    if "obs_intervals" in units.colnames:
        flat, obs_offsets = _ragged(units, "obs_intervals")
        flat = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
        if not np.all(np.isfinite(flat)) or np.any(flat[:, 1] < flat[:, 0]):
            raise InputFileError(path, "units/obs_intervals has non-finite or reversed intervals")
        obs_intervals = [flat[obs_offsets[i] : obs_offsets[i + 1]] for i in range(len(unit_ids))]

    trials = _trials_table(nwbfile, path)
    behavior = _behavior_series(nwbfile, path)
    input_series = _input_series(nwbfile, inputs, path)

    extent = _extent(spike_times, obs_intervals, trials)
    return SpikeRecording(
        source=str(path.resolve()),
        source_sha256=file_sha256(path),
        spike_times=spike_times,
        unit_offsets=offsets,
        unit_ids=unit_ids,
        unit_info=unit_info,
        obs_intervals=obs_intervals,
        trials=trials,
        inputs=input_series,
        behavior=behavior,
        extent=extent,
        description=str(nwbfile.session_description or ""),
    )


def _extent(spike_times, obs_intervals, trials) -> tuple[float, float]:
    """The time span the recording covers: the hull of the observation intervals when given,
    otherwise from 0 (or the first spike/trial, if earlier) to the last spike or trial end."""
    if obs_intervals is not None and any(len(iv) for iv in obs_intervals):
        flat = np.concatenate([iv for iv in obs_intervals if len(iv)])
        return float(flat[:, 0].min()), float(flat[:, 1].max())
    starts = [0.0]
    stops = []
    if spike_times.size:
        starts.append(float(spike_times.min()))
        stops.append(float(spike_times.max()))
    if trials is not None:
        starts.append(float(np.nanmin(trials["start_time"])))
        stops.append(float(np.nanmax(trials["stop_time"])))
    return min(starts), max(stops) if stops else 0.0
