"""Read spike recordings from NWB files (HDF5 backend) with pynwb, by the NWB schema rather than one
lab's habits.

What is read, in bulk (one read per dataset, never unit by unit):
* ``units``: the flat ``spike_times`` vector and its index, ``obs_intervals`` (+ index) when
  present, every scalar column (e.g. ``heldout``, quality labels, depth), and each unit's electrode
  ``location`` whether ``units.electrodes`` is ragged, one electrode per unit, or absent. Units may
  be filtered by any scalar column (``units_where``);
* one TimeIntervals table as the trials (``intervals``: ``trials``, ``epochs`` or any table under
  ``intervals/``): every scalar column (start and stop times, event times, condition labels...);
* ``stimulus/presentation``: the time series named in ``inputs`` (conditioning inputs);
* behaviour: every time series in ``processing/behavior`` (directly, or inside containers such as
  ``Position`` or ``BehavioralTimeSeries``), or the series named in ``behavior`` (searched there,
  then in ``acquisition``).

Optional lookups (electrode locations) never fail a file: they degrade to nothing with a warning
naming the column.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from neurodyn.data.recording import SampledSeries, SpikeRecording
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.io.reader_options import NWBOptions
from neurodyn.io.remote import RemoteFile, is_remote, open_remote, probe
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


def _container_series(interface) -> list:
    """The series of one data interface: itself when it is a series, else those a container such as
    ``Position`` or ``BehavioralTimeSeries`` holds."""
    from pynwb import TimeSeries

    if isinstance(interface, TimeSeries):
        return [interface]
    found = []
    for attr in ("spatial_series", "time_series"):
        found.extend(getattr(interface, attr, {}).values())
    return found


def _behavior_series(nwbfile, path: Path, names: list[str] | None) -> list[SampledSeries]:
    """Every series of ``processing/behavior`` (``names`` None), or the named ones, looked up in
    ``processing/behavior`` then ``acquisition``."""
    module = nwbfile.processing.get("behavior")
    in_module = [s for i in (module.data_interfaces.values() if module else []) for s in _container_series(i)]
    if names is None:
        chosen = in_module
    else:
        available = {s.name: s for s in in_module}
        for interface in nwbfile.acquisition.values():
            for series in _container_series(interface):
                available.setdefault(series.name, series)
        missing = [n for n in names if n not in available]
        if missing:
            raise InputFileError(
                path,
                f"no behaviour series {missing} in processing/behavior or acquisition (available: {sorted(available)})",
            )
        chosen = [available[n] for n in names]
    names_found = [s.name for s in chosen]
    if len(set(names_found)) != len(names_found):
        raise InputFileError(path, f"processing/behavior has duplicate series names: {sorted(names_found)}")
    return [_read_series(series, path) for series in chosen]


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


def _intervals_tables(nwbfile) -> dict:
    """Every TimeIntervals table of the file by name (``trials``, ``epochs``, ``invalid_times`` and
    any other table under ``intervals/``)."""
    tables = dict(nwbfile.intervals or {})
    for name in ("trials", "epochs"):
        table = getattr(nwbfile, name, None)
        if table is not None:
            tables.setdefault(name, table)
    return tables


def _text(values: np.ndarray) -> np.ndarray:
    return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=str)


def _scalar_columns(table, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The columns of a DynamicTable holding one number, boolean or text per row (ragged columns,
    references to other tables and multi-dimensional columns are left out); text is decoded to ``str``."""
    columns: dict[str, np.ndarray] = {}
    for name in table.colnames:
        if name in skip or _is_ragged(table, name) or name.endswith("_index"):
            continue
        column = table[name]
        if type(column).__name__ in ("VectorIndex", "DynamicTableRegion", "TimeSeriesReferenceVectorData"):
            continue
        values = np.asarray(column.data[:])
        if values.ndim != 1 or values.dtype.kind not in "biufSUO":
            continue
        if values.dtype.kind in "SO":
            if values.dtype.kind == "O" and any(not isinstance(v, str | bytes) for v in values):
                continue  # objects that are not text (e.g. references)
            values = _text(values)
        columns[name] = values
    return columns


def _intervals_table(nwbfile, name: str, path: Path) -> dict[str, np.ndarray] | None:
    """The columns of the TimeIntervals table ``name`` that becomes the trials, each (row,), with
    ``id``, ``start_time`` and ``stop_time``; None when the default ``trials`` table is absent or
    empty. A named table other than ``trials`` that the file lacks is an error listing those it has."""
    tables = _intervals_tables(nwbfile)
    table = tables.get(name)
    if table is None:
        if name == "trials":
            return None
        raise InputFileError(
            path, f"has no intervals table '{name}' (source.intervals; tables in the file: {sorted(tables) or 'none'})"
        )
    if len(table) == 0:
        if name == "trials":
            return None
        raise InputFileError(path, f"intervals table '{name}' has no rows")
    columns = {"id": np.asarray(table.id.data[:], dtype=np.int64), **_scalar_columns(table)}
    for required in ("start_time", "stop_time"):
        if required not in columns or columns[required].dtype.kind not in "fiu":
            raise InputFileError(path, f"intervals table '{name}' lacks a numeric '{required}' column")
    start, stop = (columns[c].astype(np.float64) for c in ("start_time", "stop_time"))
    bad = ~(np.isfinite(start) & np.isfinite(stop))
    if bad.any():
        raise InputFileError(
            path,
            f"intervals table '{name}' has non-finite start_time/stop_time in {int(bad.sum())} row(s) "
            f"(ids {columns['id'][bad][:5].tolist()})",
        )
    reversed_rows = stop < start
    if reversed_rows.any():
        raise InputFileError(
            path,
            f"intervals table '{name}' has stop_time before start_time in {int(reversed_rows.sum())} row(s) "
            f"(ids {columns['id'][reversed_rows][:5].tolist()})",
        )
    return columns


UNIT_FILTER_OPERATORS = ("!=", ">=", "<=", "=", ">", "<")


def _parse_unit_filter(expression: str) -> tuple[str, str, str]:
    """``"quality=good|mua"`` → ("quality", "=", "good|mua")."""
    for operator in UNIT_FILTER_OPERATORS:
        column, found, value = expression.partition(operator)
        if found and column.strip() and value.strip():
            return column.strip(), operator, value.strip()
    raise ConfigError(
        "source.units_where",
        f"{expression!r} is not COLUMN=VALUE[|VALUE...], COLUMN!=VALUE or COLUMN>=|<=|>|<NUMBER",
    )


def units_matching(expressions: list[str], columns: dict[str, np.ndarray], n_units: int) -> np.ndarray:
    """(unit,) bool: the units every expression of ``units_where`` accepts.

    columns: the units table's scalar columns, each (unit,). ``=`` and ``!=`` compare as text
    (``|`` separates accepted values; ``True``/``true``/``1`` all match a boolean True); the
    order comparisons need a numeric column and a number."""
    keep = np.ones(n_units, dtype=bool)
    for expression in expressions:
        name, operator, value = _parse_unit_filter(expression)
        if name not in columns:
            raise ConfigError(
                "source.units_where", f"{expression!r}: the units table has no column '{name}' (have {sorted(columns)})"
            )
        values = columns[name]
        if operator in ("=", "!="):
            accepted = {v.strip() for v in value.split("|")}
            if values.dtype.kind == "b":
                truth = {"true": True, "1": True, "false": False, "0": False}
                accepted_bools = {truth.get(v.lower()) for v in accepted}
                if None in accepted_bools:
                    raise ConfigError("source.units_where", f"{expression!r}: column '{name}' is true/false")
                match = np.isin(values, list(accepted_bools))
            elif values.dtype.kind in "iuf":
                try:
                    numbers = [float(v) for v in accepted]
                except ValueError:
                    raise ConfigError("source.units_where", f"{expression!r}: column '{name}' holds numbers") from None
                match = np.isin(values.astype(np.float64), numbers)
            else:
                match = np.isin(values.astype(str), list(accepted))
            keep &= match if operator == "=" else ~match
            continue
        if values.dtype.kind not in "iuf":
            raise ConfigError("source.units_where", f"{expression!r}: column '{name}' is not numeric")
        try:
            threshold = float(value)
        except ValueError:
            raise ConfigError("source.units_where", f"{expression!r}: {value!r} is not a number") from None
        compare = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less}[operator]
        keep &= compare(values.astype(np.float64), threshold)
    return keep


def read_nwb(
    path: str | os.PathLike[str],
    *,
    inputs: list[str] | None = None,
    intervals: str = "trials",
    units_where: list[str] | None = None,
    behavior: list[str] | None = None,
) -> SpikeRecording:
    """Read the units, trials, inputs and behaviour of an NWB file (options: :class:`NWBOptions`).

    Raises :class:`InputFileError` (one line naming the file and the problem) for a file that is
    not NWB/HDF5, cannot be read, has no or an empty units table, or has NaN or unsorted spike times.
    """
    remote = is_remote(path)
    if remote:
        path = probe(path)  # a RemoteFile, named by the URL (or dandi:// URI) as given
        if not path.has_hdf5_signature:
            raise InputFileError(path, "not an NWB file (no HDF5 signature)")
    else:
        path = Path(path)
        if not path.is_file():
            raise InputFileError(path, "no such file")
        if not is_hdf5(path):
            raise InputFileError(path, "not an NWB file (no HDF5 signature)")
    import h5py
    from pynwb import NWBHDF5IO

    h5file = None  # a remote file: h5py on a lazily read remfile, closed after the NWB reader
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # namespace-version chatter is not the user's concern
            if remote:
                h5file = h5py.File(open_remote(path.url), "r")
                io = NWBHDF5IO(file=h5file, mode="r", load_namespaces=True)
            else:
                io = NWBHDF5IO(str(path), "r", load_namespaces=True)
            nwbfile = io.read()
    except Exception as exc:
        if h5file is not None:
            h5file.close()
        if isinstance(exc, InputFileError):
            raise
        raise InputFileError(path, f"cannot be read as NWB ({type(exc).__name__}: {exc})".replace("\n", " "))
    try:
        return _read_open_nwb(
            nwbfile,
            path,
            NWBOptions(
                inputs=list(inputs or []), intervals=intervals, units_where=list(units_where or []), behavior=behavior
            ),
        )
    except InputFileError:
        raise
    except (OSError, KeyError, ValueError) as exc:  # truncated datasets surface only on read
        raise InputFileError(path, f"cannot be read as NWB ({type(exc).__name__}: {exc})".replace("\n", " "))
    finally:
        io.close()
        if h5file is not None:
            h5file.close()


# units columns that are not per-unit scalars to keep (read separately or not at all)
_UNIT_COLUMNS_READ_APART = ("spike_times", "obs_intervals", "electrodes", "waveform_mean", "waveform_sd", "waveforms")


def _read_open_nwb(nwbfile, path: Path, options: NWBOptions) -> SpikeRecording:
    units = nwbfile.units
    if units is None:
        raise InputFileError(path, "has no units table")
    if len(units) == 0:
        raise InputFileError(path, "the units table is empty")
    if "spike_times" not in units.colnames:
        raise InputFileError(path, "the units table has no 'spike_times' column")
    spike_times, offsets = _ragged(units, "spike_times")
    if spike_times.dtype.kind not in "fiu":
        raise InputFileError(path, f"units/spike_times holds {spike_times.dtype} values, not numbers of seconds")
    spike_times = spike_times.astype(np.float64, copy=False)
    unit_ids = np.asarray(units.id.data[:], dtype=np.int64)
    if offsets.size != unit_ids.size + 1 or offsets[-1] != spike_times.size or np.any(np.diff(offsets) < 0):
        raise InputFileError(path, "units/spike_times_index is inconsistent with units/spike_times")
    if spike_times.size == 0:
        raise InputFileError(path, f"the units table's spike lists are all empty ({unit_ids.size} units, no spike)")
    bad = ~np.isfinite(spike_times)
    if bad.any():
        unit = unit_ids[np.searchsorted(offsets, np.flatnonzero(bad)[0], side="right") - 1]
        raise InputFileError(path, f"units/spike_times has {int(bad.sum())} non-finite value(s) (first in unit {unit})")
    decreasing = np.diff(spike_times) < 0
    boundaries = offsets[1:-1]
    boundaries = boundaries[(boundaries > 0) & (boundaries < spike_times.size)]
    decreasing[boundaries - 1] = False  # steps across unit boundaries may decrease
    if decreasing.any():
        unit = unit_ids[np.searchsorted(offsets, np.flatnonzero(decreasing)[0], side="right") - 1]
        raise InputFileError(path, f"units/spike_times are not sorted within unit {unit}")

    unit_info = _scalar_columns(units, skip=_UNIT_COLUMNS_READ_APART)
    if "heldout" in unit_info:
        if unit_info["heldout"].dtype.kind not in "biu":
            raise InputFileError(path, f"units/heldout holds {unit_info['heldout'].dtype} values, not true/false")
        unit_info["heldout"] = unit_info["heldout"].astype(bool)
    locations = _unit_locations(nwbfile, units, path)
    if locations is not None:
        unit_info.setdefault("location", locations)

    obs_intervals = None
    if "obs_intervals" in units.colnames:
        flat, obs_offsets = _ragged(units, "obs_intervals")
        flat = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
        if not np.all(np.isfinite(flat)) or np.any(flat[:, 1] < flat[:, 0]):
            raise InputFileError(path, "units/obs_intervals has non-finite or reversed intervals")
        obs_intervals = [flat[obs_offsets[i] : obs_offsets[i + 1]] for i in range(len(unit_ids))]

    trials = _intervals_table(nwbfile, options.intervals, path)
    behavior = _behavior_series(nwbfile, path, options.behavior)
    input_series = _input_series(nwbfile, options.inputs, path)
    extent = _extent(spike_times, obs_intervals, trials)

    if options.units_where:
        keep = units_matching(options.units_where, unit_info, unit_ids.size)
        if not keep.any():
            raise ConfigError("source.units_where", f"{options.units_where} matches none of the {unit_ids.size} units")
        spike_times, offsets = _subset_ragged(spike_times, offsets, keep)
        unit_ids = unit_ids[keep]
        unit_info = {k: v[keep] for k, v in unit_info.items()}
        if obs_intervals is not None:
            obs_intervals = [iv for iv, k in zip(obs_intervals, keep) if k]
    return SpikeRecording(
        source=str(path) if isinstance(path, RemoteFile) else str(path.resolve()),
        source_sha256=path.identity if isinstance(path, RemoteFile) else file_sha256(path),
        spike_times=spike_times,
        unit_offsets=offsets,
        unit_ids=unit_ids,
        unit_info=unit_info,
        obs_intervals=obs_intervals,
        trials=trials,
        trials_table=options.intervals,
        inputs=input_series,
        behavior=behavior,
        extent=extent,
        description=str(nwbfile.session_description or ""),
    )


def _subset_ragged(flat: np.ndarray, offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``keep`` (bool, (row,)) of a ragged array given as flat values and (row + 1,) offsets."""
    lengths = np.diff(offsets)
    rows = np.repeat(keep, lengths)
    return flat[rows], np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)


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
