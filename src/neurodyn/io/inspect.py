"""What a recording file holds, read cheaply, and a dataset entry to start from (``neurodyn inspect``).

:func:`inspect_file` reads only metadata and small bulk reads: for NWB, the HDF5 layout with h5py
(table columns, the spike-times index, the first and last spike of each unit; never a waveform or a
raw voltage); for EDF/BDF, the header and the annotations (mne without preloading); for NumPy
arrays, the array headers (``.npy`` memory-mapped, ``.npz`` members by their headers). It returns a
JSON-able summary with a suggested ``datasets:`` entry for the workflow configuration
(``config.entry``) and the same entry as commented YAML (``config_yaml``).
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn.errors import InputFileError
from neurodyn.io.edf import check_edf_size, clean_channel_name, is_bdf, open_raw, unique_names
from neurodyn.io.registry import detect_kind

# a column with at most this many distinct values lists them (and may label conditions)
MAX_LISTED_VALUES = 20
# an intervals table needs this many rows to make trials that split into train/valid/test
MIN_TRIAL_ROWS = 10
# rows read per column of a table to summarise its values (larger tables are described, not read)
MAX_ROWS_READ = 1_000_000
SPIKE_BIN_S = 0.02
MAX_WINDOW_S = 10.0
SPLIT_LABELS = frozenset({"train", "val", "valid", "validation", "test"})
# series types that are recordings, not behaviour, when found in acquisition
_NOT_BEHAVIOUR = ("ElectricalSeries", "SpikeEventSeries", "ImageSeries", "TwoPhotonSeries", "OnePhotonSeries")
_CONDITION_NAME = re.compile(r"cond|categ|target|stim|type|label|class", re.IGNORECASE)


def inspect_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON-able summary of an NWB, EDF/BDF or NumPy array file and a suggested dataset entry.

    Keys: ``path``, ``kind``, ``size_bytes``, the kind's own section (``nwb``, ``edf`` or
    ``array``), ``notes`` (things to know before ingesting), ``config`` (``name`` and ``entry``: a
    ``datasets:`` entry as a mapping) and ``config_yaml`` (the entry as YAML with the alternatives
    as comments). Raises :class:`InputFileError` for a path that is not a readable file of these kinds.
    """
    path = Path(path)
    if path.is_dir():
        raise InputFileError(path, "is a directory, not a recording file")
    kind = detect_kind(path)
    summary: dict[str, Any] = {"path": str(path), "kind": kind, "size_bytes": path.stat().st_size}
    section, suggestion = {"nwb": _inspect_nwb, "edf": _inspect_edf, "array": _inspect_array}[kind](path)
    summary[kind] = section
    summary["notes"] = suggestion.notes
    name = dataset_name(path)
    summary["config"] = {"name": name, "entry": suggestion.entry}
    summary["config_yaml"] = suggestion.yaml(name)
    return plain(summary)


def plain(value: Any) -> Any:
    """``value`` with JSON types only: tuples and arrays as lists, NumPy scalars as numbers, and
    non-finite numbers as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dataset_name(path: Path) -> str:
    """A dataset name for the workflow from the file name (letters, digits, ``_`` and ``-``)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", path.name.split(".")[0]).strip("_-") or "dataset"
    return name if name[0].isalpha() else f"d_{name}"


# --- the suggested entry ---------------------------------------------------------------------------


class Suggestion:
    """A ``datasets:`` entry being built: sections of options, a comment per option and commented
    alternatives per section, rendered as YAML by :meth:`yaml`."""

    def __init__(self) -> None:
        self.entry: dict[str, dict[str, Any] | list[str]] = {}
        self.comments: dict[tuple[str, str], str] = {}
        self.alternatives: dict[str, list[tuple[str, Any, str]]] = {}
        self.notes: list[str] = []

    def set(self, section: str, key: str, value: Any, comment: str = "") -> None:
        self.entry.setdefault(section, {})[key] = value  # type: ignore[index]
        if comment:
            self.comments[(section, key)] = comment

    def alternative(self, section: str, key: str, value: Any, comment: str = "") -> None:
        self.entry.setdefault(section, {})
        self.alternatives.setdefault(section, []).append((key, value, comment))

    def yaml(self, name: str) -> str:
        lines = ["datasets:", f"  {name}:"]
        for section, options in self.entry.items():
            if isinstance(options, list):
                lines.append(_line(4, section, options, self.comments.get((section, ""), "")))
                continue
            lines.append(f"    {section}:")
            for key, value in options.items():
                lines.append(_line(6, key, value, self.comments.get((section, key), "")))
            for key, value, comment in self.alternatives.get(section, []):
                lines.append(_line(6, f"# {key}", value, comment))
        return "\n".join(lines) + "\n"


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "none", "y", "n"}


def yaml_scalar(value: Any) -> str:
    """``value`` as a YAML flow scalar or flow sequence (strings quoted unless plainly safe)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)


def _line(indent: int, key: str, value: Any, comment: str) -> str:
    text = f"{' ' * indent}{key}: {yaml_scalar(value)}"
    return f"{text:<38}  # {comment}" if comment else text


def _floor_to(value: float, step: float) -> float:
    return round(math.floor(value / step + 1e-9) * step, 6)


def _counts_text(values: dict[str, int], limit: int = 6) -> str:
    items = [f"{k} {v}" for k, v in list(values.items())[:limit]]
    return ", ".join(items) + (", …" if len(values) > limit else "")


# --- NWB ---------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _colnames(group) -> list[str]:
    names = group.attrs.get("colnames")
    if names is None:
        return [n for n, item in group.items() if n != "id" and not n.endswith("_index")]
    return [_text(n) for n in np.atleast_1d(names)]


def _column_kind(dataset) -> str:
    import h5py

    neurodata_type = _text(dataset.attrs.get("neurodata_type", ""))
    if neurodata_type == "DynamicTableRegion":
        return "region"
    dtype = dataset.dtype
    if h5py.check_string_dtype(dtype) is not None or dtype.kind in "SU":
        return "text"
    if h5py.check_ref_dtype(dtype) is not None or dtype.names is not None:
        return "reference"
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "iu":
        return "integer"
    if dtype.kind == "f":
        return "number"
    if dtype.kind == "O":  # variable-length strings h5py does not flag as such
        return "text"
    return "other"


def _value_summary(values: np.ndarray, kind: str) -> dict[str, Any]:
    """Missing values, range and distinct values of one (row,) column."""
    out: dict[str, Any] = {}
    if kind in ("number", "integer"):
        numbers = values.astype(np.float64)
        finite = numbers[np.isfinite(numbers)]
        out["n_missing"] = int(numbers.size - finite.size)
        if finite.size:
            out["range"] = [_number(finite.min()), _number(finite.max())]
        distinct = np.unique(finite)
        out["n_distinct"] = int(distinct.size)
        listable = distinct.size <= MAX_LISTED_VALUES and np.all(distinct == np.round(distinct))
        if listable:
            uniq, counts = np.unique(finite, return_counts=True)
            out["values"] = {_number_text(u): int(c) for u, c in zip(uniq, counts)}
        return out
    labels = np.asarray([_text(v) for v in values]) if kind == "text" else values.astype(bool).astype(str)
    uniq, counts = np.unique(labels, return_counts=True)
    out["n_distinct"] = int(uniq.size)
    if uniq.size <= MAX_LISTED_VALUES:
        order = np.argsort(-counts, kind="stable")
        out["values"] = {str(uniq[i]): int(counts[i]) for i in order}
    return out


def _number(x: Any) -> float | int:
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _number_text(x: Any) -> str:
    return str(_number(x))


def _column(group, name: str, n_rows: int) -> tuple[dict[str, Any], np.ndarray | None]:
    """A table column's description and, for a 1-D scalar column of a table small enough, its values."""
    import h5py

    info: dict[str, Any] = {"name": name}
    dataset = group.get(name)
    if not isinstance(dataset, h5py.Dataset):
        info["kind"] = "missing"
        return info, None
    kind = _column_kind(dataset)
    info["kind"] = kind
    info["dtype"] = "text" if kind == "text" else str(dataset.dtype) if kind != "reference" else "reference"
    depth = 0
    while f"{name}{'_index' * (depth + 1)}" in group:
        depth += 1
    info["ragged"] = depth > 0
    if depth > 1:
        info["ragged_depth"] = depth
    if dataset.ndim > 1:
        info["shape"] = list(dataset.shape[1:])  # per row (per element, when ragged)
    if kind == "region" and "table" in dataset.attrs:
        try:
            info["refers_to"] = group.file[dataset.attrs["table"]].name.lstrip("/")
        except (KeyError, ValueError, TypeError):
            pass
    if depth or dataset.ndim != 1 or kind not in ("number", "integer", "bool", "text") or n_rows > MAX_ROWS_READ:
        return info, None
    values = dataset[:]
    if values.shape[0] != n_rows:
        info["length_mismatch"] = int(values.shape[0])
        return info, None
    info.update(_value_summary(values, kind))
    return info, values


def _table(group) -> tuple[int, list[dict[str, Any]], dict[str, np.ndarray]]:
    n_rows = int(group["id"].shape[0]) if "id" in group else 0
    columns, values = [], {}
    for name in _colnames(group):
        info, data = _column(group, name, n_rows)
        columns.append(info)
        if data is not None:
            values[name] = data
    return n_rows, columns, values


def _units(h5) -> dict[str, Any] | None:
    import h5py

    units = h5.get("units")
    if not isinstance(units, h5py.Group):
        return None
    n_units, columns, values = _table(units)
    out: dict[str, Any] = {"n_units": n_units, "columns": columns}
    if "spike_times" in units and "spike_times_index" in units:
        ends = units["spike_times_index"][:].astype(np.int64)
        counts = np.diff(np.concatenate([[0], ends]))
        out["total_spikes"] = int(units["spike_times"].shape[0])
        if counts.size:
            out["spikes_per_unit"] = {
                "min": int(counts.min()),
                "median": _number(np.median(counts)),
                "max": int(counts.max()),
            }
            out["n_silent_units"] = int((counts == 0).sum())
        firing = counts > 0
        if firing.any() and counts.min() >= 0 and ends[-1] <= out["total_spikes"]:
            # spikes are sorted within a unit: its first and last spikes bound the span
            firsts, lasts = ends[firing] - counts[firing], ends[firing] - 1
            rows = np.unique(np.concatenate([firsts, lasts]))
            edge = units["spike_times"][rows].astype(np.float64)
            edge = edge[np.isfinite(edge)]
            if edge.size:
                out["time_span_s"] = [float(edge.min()), float(edge.max())]
    if "obs_intervals" in units:
        hull = np.asarray(units["obs_intervals"][:], dtype=np.float64).reshape(-1, 2)
        hull = hull[np.isfinite(hull).all(axis=1)]
        if hull.size:
            out["observed_span_s"] = [float(hull[:, 0].min()), float(hull[:, 1].max())]
    if "heldout" in values:
        out["n_heldout"] = int(np.asarray(values["heldout"]).astype(bool).sum())
    return out


def _interval_table(name: str, group) -> dict[str, Any]:
    n_rows, columns, values = _table(group)
    out: dict[str, Any] = {"name": name, "path": group.name.lstrip("/"), "n_rows": n_rows, "columns": columns}
    start = values.get("start_time")
    stop = values.get("stop_time")
    if start is None or stop is None or not n_rows:
        return out
    start, stop = start.astype(np.float64), stop.astype(np.float64)
    ok = np.isfinite(start) & np.isfinite(stop)
    if ok.any():
        out["time_span_s"] = [float(start[ok].min()), float(stop[ok].max())]
        durations = stop[ok] - start[ok]
        out["duration_s"] = {
            "min": float(durations.min()),
            "median": float(np.median(durations)),
            "max": float(durations.max()),
        }
    slack = float(np.median(stop[ok] - start[ok])) if ok.any() else 0.0
    for info in columns:
        data = values.get(info["name"])
        info["align_event"] = info["condition"] = info["split"] = False
        if data is None:
            continue
        if info["kind"] in ("number", "integer"):
            times = data.astype(np.float64)
            finite = np.isfinite(times) & ok
            inside = (times >= start - slack) & (times <= stop + slack) & finite
            # an event time falls in (or next to) its own row's interval; a label or a duration does not
            info["align_event"] = bool(finite.sum() >= max(1, 0.5 * n_rows) and inside.sum() >= 0.8 * finite.sum())
        if info["name"] in ("start_time", "stop_time"):
            continue
        labels = set(info.get("values", {}))
        if info["kind"] == "text" and labels and {v.lower() for v in labels} <= SPLIT_LABELS:
            info["split"] = True
            continue
        few = 2 <= info.get("n_distinct", 0) <= MAX_LISTED_VALUES and info["n_distinct"] < n_rows
        if few and "values" in info and not info["align_event"]:
            info["condition"] = info["kind"] in ("text", "bool", "integer", "number")
    return out


def _series(group, location: str) -> dict[str, Any]:
    data = group["data"]
    info: dict[str, Any] = {
        "name": group.name.rsplit("/", 1)[-1],
        "path": group.name.lstrip("/"),
        "location": location,
        "neurodata_type": _text(group.attrs.get("neurodata_type", "")),
        "shape": list(data.shape),
        "dtype": str(data.dtype),
        "unit": _text(data.attrs.get("unit", "")),
    }
    n = data.shape[0] if data.ndim else 0
    if "timestamps" in group:
        stamps = group["timestamps"]
        info["n_timestamps"] = int(stamps.shape[0])
        if stamps.shape[0]:
            info["time_span_s"] = [float(stamps[0]), float(stamps[-1])]
            if stamps.shape[0] > 1:
                info["mean_rate_hz"] = float((stamps.shape[0] - 1) / (float(stamps[-1]) - float(stamps[0]) or np.inf))
    elif "starting_time" in group:
        rate = group["starting_time"].attrs.get("rate")
        start = float(group["starting_time"][()])
        info["starting_time_s"] = start
        if rate:
            info["rate_hz"] = float(rate)
            info["time_span_s"] = [start, start + max(n - 1, 0) / float(rate)]
    info["readable"] = bool(
        data.ndim in (1, 2) and data.dtype.kind in "biuf" and ("rate_hz" in info or "n_timestamps" in info)
    )
    return info


def _series_under(group, location: str, depth: int = 0) -> list[dict[str, Any]]:
    """Every time series in ``group``: directly, or inside containers (Position, BehavioralTimeSeries...)."""
    import h5py

    found = []
    for item in group.values():
        if not isinstance(item, h5py.Group):
            continue
        if isinstance(item.get("data"), h5py.Dataset):
            found.append(_series(item, location))
        elif depth < 2:
            found.extend(_series_under(item, location, depth + 1))
    return found


def _inspect_nwb(path: Path) -> tuple[dict[str, Any], Suggestion]:
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InputFileError(path, f"cannot be read as HDF5 ({exc})".replace("\n", " ")) from None
    with h5:
        if "nwb_version" not in h5.attrs and "nwb_version" not in h5:
            raise InputFileError(path, "is an HDF5 file but not NWB (no nwb_version attribute)")
        try:
            section = _read_nwb_layout(h5)
        except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:
            raise InputFileError(path, f"cannot be read as NWB ({type(exc).__name__}: {exc})".replace("\n", " "))
    try:
        return section, _suggest_nwb(path, section)
    except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:  # columns read for the window
        raise InputFileError(path, f"cannot be read as NWB ({type(exc).__name__}: {exc})".replace("\n", " "))


def _scalar_text(h5, name: str) -> str:
    item = h5.get(name)
    if item is None:
        return ""
    value = item[()]
    return _text(value[0] if isinstance(value, np.ndarray) and value.size else value)


def _read_nwb_layout(h5) -> dict[str, Any]:
    import h5py

    version = h5.attrs.get("nwb_version", None)
    section: dict[str, Any] = {
        "nwb_version": _text(version) if version is not None else _scalar_text(h5, "nwb_version"),
        "identifier": _scalar_text(h5, "identifier"),
        "session_description": _scalar_text(h5, "session_description"),
        "session_start_time": _scalar_text(h5, "session_start_time"),
        "units": _units(h5),
    }
    tables = []
    intervals = h5.get("intervals")
    if isinstance(intervals, h5py.Group):
        for name, group in intervals.items():
            if isinstance(group, h5py.Group) and "id" in group:
                tables.append(_interval_table(name, group))
    order = {"trials": 0, "epochs": 1}
    section["intervals"] = sorted(tables, key=lambda t: (order.get(t["name"], 2), t["name"]))
    section["behavior"] = []
    processing = h5.get("processing")
    if isinstance(processing, h5py.Group) and isinstance(processing.get("behavior"), h5py.Group):
        section["behavior"] = _series_under(processing["behavior"], "processing/behavior")
    section["acquisition"] = _series_under(h5["acquisition"], "acquisition") if "acquisition" in h5 else []
    presentation = h5.get("stimulus/presentation")
    section["stimulus"] = _series_under(presentation, "stimulus/presentation") if presentation is not None else []
    section["other_processing"] = (
        sorted(n for n in processing if n != "behavior") if isinstance(processing, h5py.Group) else []
    )
    electrodes = h5.get("general/extracellular_ephys/electrodes")
    if isinstance(electrodes, h5py.Group):
        n_rows, columns, _ = _table(electrodes)
        section["electrodes"] = {"n_rows": n_rows, "columns": columns}
    else:
        section["electrodes"] = None
    return section


def _best_table(tables: list[dict[str, Any]]) -> dict[str, Any] | None:
    def usable(t: dict[str, Any]) -> bool:
        return t["name"] != "invalid_times" and t["n_rows"] >= MIN_TRIAL_ROWS and "time_span_s" in t

    def score(t: dict[str, Any]) -> tuple:
        events = [c for c in t["columns"] if c["align_event"] and c["name"] not in ("start_time", "stop_time")]
        conditions = [c for c in t["columns"] if c["condition"]]
        return (t["name"] == "trials", bool(events), bool(conditions), t["n_rows"])

    candidates = [t for t in tables if usable(t)]
    return max(candidates, key=score) if candidates else None


def _best_event(table: dict[str, Any]) -> dict[str, Any] | None:
    events = [c for c in table["columns"] if c["align_event"] and c["name"] not in ("start_time", "stop_time")]
    if not events:
        return None
    return max(
        events,
        key=lambda c: ("onset" in c["name"].lower(), c["name"].endswith("_time"), -c.get("n_missing", 0)),
    )


def _best_condition(table: dict[str, Any]) -> dict[str, Any] | None:
    conditions = [c for c in table["columns"] if c["condition"]]
    if not conditions:
        return None
    return max(
        conditions,
        key=lambda c: (
            c["name"] == "condition",
            bool(_CONDITION_NAME.search(c["name"])),
            c["kind"] == "text",
            -c["n_distinct"],
        ),
    )


def _window(table: dict[str, Any], event: str, values: dict[str, np.ndarray], extent: tuple[float, float]):
    """[start, stop] around ``event``, in whole bins: what most rows' intervals hold around their
    event (the 10th percentiles of the time before and after it), kept inside the recording."""
    start, stop = values["start_time"], values["stop_time"]
    align = values[event]
    ok = np.isfinite(align) & np.isfinite(start) & np.isfinite(stop)
    before = float(np.percentile(align[ok] - start[ok], 10)) if event != "start_time" else 0.0
    after = float(np.percentile(stop[ok] - align[ok], 10))
    before = min(max(before, 0.0), align[ok].min() - extent[0], MAX_WINDOW_S / 2)
    after = min(after, extent[1] - align[ok].max(), MAX_WINDOW_S - before)
    window = [-_floor_to(before, SPIKE_BIN_S), _floor_to(after, SPIKE_BIN_S)]
    return window if window[1] - window[0] >= 5 * SPIKE_BIN_S else None


def _table_values(path: Path, table: dict[str, Any]) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as h5:
        group = h5[table["path"]]
        return {
            c["name"]: group[c["name"]][:].astype(np.float64)
            for c in table["columns"]
            if c["align_event"] or c["name"] in ("start_time", "stop_time")
        }


def _recording_extent(section: dict[str, Any], table: dict[str, Any] | None) -> tuple[float, float] | None:
    """The span the reader takes as the recording: the observation intervals' hull when given, else
    from 0 (or earlier spikes) to the last spike or interval end."""
    units = section["units"] or {}
    if "observed_span_s" in units:
        return tuple(units["observed_span_s"])
    spans = [s for s in (units.get("time_span_s"), (table or {}).get("time_span_s")) if s]
    if not spans:
        return None
    return min(0.0, *(s[0] for s in spans)), max(s[1] for s in spans)


def _suggest_nwb(path: Path, section: dict[str, Any]) -> Suggestion:
    s = Suggestion()
    units = section["units"]
    if units is None:
        s.notes.append("no units table: neurodyn reads spikes from units/spike_times, so this file cannot be ingested")
    elif not units.get("total_spikes"):
        s.notes.append("the units table holds no spikes: this file cannot be ingested")
    s.set("source", "kind", "nwb")
    s.set("source", "path", str(path.resolve()))
    tables = section["intervals"]
    table = _best_table(tables)
    others = [f"{t['name']} ({t['n_rows']} rows)" for t in tables if t is not table]
    if table is not None:
        s.set("source", "intervals", table["name"], "other tables: " + ", ".join(others) if others else "")
    elif tables:
        few = ", ".join(f"{t['name']} ({t['n_rows']} rows)" for t in tables)
        s.alternative("source", "intervals", tables[0]["name"], f"too few rows to split into trials: {few}")
    _suggest_units(s, units)
    _suggest_series(s, section)

    extent = _recording_extent(section, table)
    window = None
    if table is not None and extent is not None:
        values = _table_values(path, table)
        event = _best_event(table)
        event_name = event["name"] if event else "start_time"
        window = _window(table, event_name, values, extent)
    s.set("binning", "bin_size_s", SPIKE_BIN_S, "spikes: 0.005-0.05 s are usual")
    if table is not None and window is not None:
        numeric = [c["name"] for c in table["columns"] if c["align_event"]]
        s.set("binning", "align_event", event_name, "event columns: " + ", ".join(numeric))
        s.set("binning", "window_s", window, f"s around {event_name}; most rows span this")
        if event is not None and event.get("n_missing"):
            s.set(
                "binning",
                "on_missing_event",
                "drop",
                f"{event_name} is missing (NaN) in {event['n_missing']} of {table['n_rows']} rows",
            )
        condition = _best_condition(table)
        choices = [f"{c['name']} ({c['n_distinct']} values)" for c in table["columns"] if c["condition"]]
        s.set(
            "binning",
            "condition_column",
            condition["name"] if condition else None,
            ("candidates: " + ", ".join(choices)) if choices else "no column with few distinct values",
        )
        split = [c for c in table["columns"] if c["split"] and "train" in {v.lower() for v in c.get("values", {})}]
        if split:
            s.set("split", "column", split[0]["name"], _counts_text(split[0]["values"]))
        for column in table["columns"]:
            if column["split"] and column not in split:
                s.notes.append(
                    f"column '{column['name']}' marks no trial as train ({_counts_text(column['values'])}): "
                    "trials are split by a seeded draw"
                )
    else:
        span = (extent[1] - extent[0]) if extent else 0.0
        length = 1.0 if span >= 20.0 else max(_floor_to(span / 20, SPIKE_BIN_S), 5 * SPIKE_BIN_S)
        reason = "no intervals table with enough rows" if table is None else "no window fits the chosen table"
        s.set("binning", "segment", "windows", f"{reason}: consecutive windows of the recording")
        s.set("binning", "segment_length_s", length, "or segment: continuous (one long trial)")
        s.notes.append(f"{reason}: the suggestion cuts the recording into {length:g} s windows")
    if units and units.get("n_heldout"):
        s.set("heldout", "column", "heldout", f"{units['n_heldout']} of {units['n_units']} units marked")
    s.entry["models"] = ["lds"]
    s.comments[("models", "")] = "model names from your `models:` section"
    return s


def _suggest_units(s: Suggestion, units: dict[str, Any] | None) -> None:
    if not units:
        return
    filters = []  # curation labels (phy/Kilosort quality, KSLabel...): drop noise, or keep good units
    for column in units["columns"]:
        values = column.get("values")
        if column["kind"] != "text" or not values or column.get("n_distinct", 0) < 2:
            continue
        lowered = {v.lower(): v for v in values}
        if "noise" in lowered:
            filters.append((f"{column['name']}!={lowered['noise']}", f"{column['name']}: {_counts_text(values)}"))
        elif "good" in lowered:
            filters.append((f"{column['name']}={lowered['good']}", f"{column['name']}: {_counts_text(values)}"))
    if filters:
        others = [f for f, _ in filters[1:]]
        comment = filters[0][1] + (f"; or {', '.join(others)}" if others else "")
        s.alternative("source", "units_where", [filters[0][0]], comment)
    if units.get("n_silent_units"):
        s.notes.append(f"{units['n_silent_units']} unit(s) have no spikes (binning.min_spikes drops them)")


def _suggest_series(s: Suggestion, section: dict[str, Any]) -> None:
    behaviour = [x["name"] for x in section["behavior"] if x["readable"]]
    acquired = [
        x["name"]
        for x in section["acquisition"]
        if x["readable"] and x["neurodata_type"] not in _NOT_BEHAVIOUR and x["name"] not in behaviour
    ]
    if acquired:
        s.alternative(
            "source",
            "behavior",
            behaviour + acquired,
            "default null reads processing/behavior only; acquisition series must be named",
        )
    elif behaviour:
        s.alternative("source", "behavior", behaviour, "default null reads all of processing/behavior")
    stimuli = [x["name"] for x in section["stimulus"] if x["readable"]]
    if stimuli:
        s.alternative("source", "inputs", stimuli, "stimulus series to bin as conditioning inputs")


# --- EDF -----------------------------------------------------------------------------------------------


def _edf_header(path: Path) -> dict[str, Any]:
    """Per-signal labels, physical units and samples per record from the EDF/BDF header (EDF spec:
    256 fixed bytes, then each field for all signals in turn)."""
    with open(path, "rb") as handle:
        fixed = handle.read(256)
        n_signals = int(fixed[252:256].decode("ascii").strip())
        record_s = float(fixed[244:252].decode("ascii").strip())
        n_records = int(fixed[236:244].decode("ascii").strip())
        fields = handle.read(256 * n_signals)

    def field(offset: int, width: int) -> list[str]:
        return [
            fields[offset + i * width : offset + (i + 1) * width].decode("latin-1").strip() for i in range(n_signals)
        ]

    widths = [("label", 16), ("transducer", 80), ("unit", 8), ("pmin", 8), ("pmax", 8), ("dmin", 8), ("dmax", 8)]
    widths += [("prefilter", 80), ("samples", 8)]
    out: dict[str, Any] = {"record_s": record_s, "n_records": n_records}
    offset = 0
    for name, width in widths:
        out[name] = field(offset, width)
        offset += width * n_signals
    return out


def _inspect_edf(path: Path) -> tuple[dict[str, Any], Suggestion]:
    check_edf_size(path)
    try:
        header = _edf_header(path)
    except (ValueError, UnicodeDecodeError):
        raise InputFileError(path, "has a malformed EDF header") from None
    raw = open_raw(path, preload=False)
    data_signals = [i for i, label in enumerate(header["label"]) if "Annotations" not in label]
    names = unique_names([clean_channel_name(n) for n in raw.ch_names])
    types = list(raw.get_channel_types())
    sfreq = float(raw.info["sfreq"])
    channels = []
    for k, name in enumerate(names):
        channel: dict[str, Any] = {"name": name, "type": types[k]}
        if len(data_signals) == len(names):
            i = data_signals[k]
            channel["unit"] = header["unit"][i]
            if header["record_s"] > 0:
                channel["sfreq_hz"] = float(header["samples"][i]) / header["record_s"]
        channels.append(channel)
    rates = sorted({c["sfreq_hz"] for c in channels if "sfreq_hz" in c})
    annotations = raw.annotations
    onsets = np.asarray(annotations.onset, dtype=np.float64)
    if annotations.orig_time is not None:
        onsets = onsets - raw.first_time
    labels, counts = np.unique(np.asarray([str(d) for d in annotations.description]), return_counts=True)
    durations = np.asarray(annotations.duration, dtype=np.float64)
    descriptions = np.asarray([str(d) for d in annotations.description])
    section = {
        "format": "BDF" if is_bdf(path) else "EDF",
        "n_channels": len(channels),
        "channels": channels,
        "sfreq_hz": sfreq,
        "channel_rates_hz": rates,
        "rates_differ": len(rates) > 1,
        "n_samples": int(raw.n_times),
        "duration_s": float(raw.n_times / sfreq),
        "annotations": {
            str(label): {
                "count": int(count),
                "first_onset_s": float(onsets[descriptions == label].min()),
                "median_duration_s": float(np.median(durations[descriptions == label])),
            }
            for label, count in sorted(zip(labels, counts), key=lambda lc: (-lc[1], lc[0]))
        },
    }
    return section, _suggest_edf(path, section, onsets, descriptions, durations)


def _suggest_edf(path: Path, section: dict[str, Any], onsets, descriptions, durations) -> Suggestion:
    s = Suggestion()
    s.set("source", "kind", "edf")
    s.set("source", "path", str(path.resolve()))
    rate = section["sfreq_hz"]
    if section["rates_differ"]:
        # the reader needs one rate: the rate most channels have (the faster one on a tie)
        by_rate: dict[float, list[str]] = {}
        for channel in section["channels"]:
            by_rate.setdefault(channel.get("sfreq_hz", rate), []).append(channel["name"])
        rate = max(by_rate, key=lambda r: (len(by_rate[r]), r))
        rates = ", ".join(f"{r:g}" for r in section["channel_rates_hz"])
        s.notes.append(f"channels are sampled at different rates ({rates} Hz): the reader needs one rate")
        s.set("source", "resample_hz", rate, f"rates {rates} Hz; resample every channel to one")
        s.alternative("source", "channels", by_rate[rate], f"or keep only the channels at {rate:g} Hz")
    else:
        s.alternative("source", "channels", [c["name"] for c in section["channels"][:4]], "null keeps every channel")
    s.alternative("source", "l_freq", 1.0, "band-pass edges in Hz (with h_freq)")
    period = 1.0 / rate
    s.set("binning", "bin_size_s", None, f"null keeps the sampling period ({period * 1e3:g} ms)")
    duration = section["duration_s"]
    events = [
        label
        for label, info in section["annotations"].items()
        if not label.upper().startswith(("BAD", "EDGE")) and info["count"] >= 2
    ]
    chosen = np.isin(descriptions, events)
    window = None
    if chosen.sum() >= MIN_TRIAL_ROWS:
        length = float(np.median(durations[chosen])) or 1.0
        room = duration - float(onsets[chosen].max())
        window = [0.0, _floor_to(min(length, room, MAX_WINDOW_S), period)]
    if window is not None and window[1] >= 5 * period:
        s.set("binning", "segment", "events", "one trial per annotation; its label is the condition")
        s.set("binning", "event_labels", events, f"{int(chosen.sum())} annotations")
        s.set("binning", "window_s", window, "s from each annotation onset")
    else:
        length = 2.0 if duration >= 40 else max(_floor_to(duration / 20, period), 5 * period)
        why = "too few annotations for trials" if section["annotations"] else "no annotations"
        s.set("binning", "segment", "windows", f"{why}: consecutive windows")
        s.set("binning", "segment_length_s", length)
    s.set("binning", "zscore", True, "z-score each channel")
    s.entry["models"] = ["lds"]
    s.comments[("models", "")] = "model names from your `models:` section"
    return s


# --- NumPy arrays -------------------------------------------------------------------------------------


def _array_info(key: str | None, shape: tuple[int, ...], dtype: np.dtype) -> dict[str, Any]:
    info: dict[str, Any] = {"shape": list(shape), "dtype": str(dtype)}
    if key is not None:
        info["key"] = key
    info["usable"] = bool(dtype.kind in "iuf" and len(shape) in (1, 2) and all(shape))
    if len(shape) == 2 and shape[0] < shape[1]:
        info["note"] = (
            f"rows are read as samples: {shape[0]} samples × {shape[1]} channels; "
            "if it is stored channel × sample, transpose it"
        )
    return info


def _npz_members(path: Path) -> list[dict[str, Any]]:
    """The arrays of an .npz archive from their headers (no array is read)."""
    members = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".npy"):
                continue
            with archive.open(name) as handle:
                version = np.lib.format.read_magic(handle)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            members.append(_array_info(name[: -len(".npy")], shape, dtype))
    return members


def _inspect_array(path: Path) -> tuple[dict[str, Any], Suggestion]:
    try:
        if path.suffix == ".npz":
            arrays = _npz_members(path)
        else:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            arrays = [_array_info(None, array.shape, array.dtype)]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputFileError(path, f"is not a readable NumPy array ({type(exc).__name__}: {exc})") from None
    if not arrays:
        raise InputFileError(path, "holds no arrays")
    section = {"format": path.suffix.lstrip("."), "arrays": arrays, "needs_sfreq": True}
    s = Suggestion()
    s.notes.append("the file has no sampling rate: give it as source.sfreq (or --sfreq)")
    s.set("source", "kind", "array")
    s.set("source", "path", str(path.resolve()))
    s.set("source", "sfreq", None, "REQUIRED: the sampling rate in Hz (the file has none)")
    usable = [a for a in arrays if a["usable"]]
    if path.suffix == ".npz" and len(arrays) > 1:
        chosen = max(usable or arrays, key=lambda a: int(np.prod(a["shape"])))
        others = ", ".join(f"{a['key']} {tuple(a['shape'])}" for a in arrays if a is not chosen)
        s.set("source", "key", chosen["key"], f"other arrays: {others}")
    if not usable:
        s.notes.append("no array is a numeric (sample × channel) array: convert it first")
    for a in arrays:
        if "note" in a:
            s.notes.append(f"{a.get('key', path.name)}: {a['note']}")
    s.set("binning", "bin_size_s", None, "null keeps the sampling period")
    s.set("binning", "segment", "continuous", "one long trial; or windows with segment_length_s")
    s.entry["models"] = ["lds"]
    s.comments[("models", "")] = "model names from your `models:` section"
    return section, s
