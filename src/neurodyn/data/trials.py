"""Trial windows: where each trial of a binned dataset lies in the recording, and its split.

A recording becomes trials in one of four ways (``segment``):

* ``trials``: one window per row of a trials table, aligned to an event column (or start_time);
* ``events``: one window per annotation (EDF+), aligned to its onset, optionally filtered by label;
* ``windows``: consecutive fixed-length windows tiling the recording;
* ``continuous``: the whole recording as one trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurodyn.data.binning import bin_edges, n_whole_bins
from neurodyn.errors import ConfigError

SPLITS = ("train", "valid", "test")
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "valid",
    "valid": "valid",
    "validation": "valid",
    "test": "test",
    "testing": "test",
}


@dataclass
class TrialWindows:
    """Where each trial's bins lie.

    align_times: (trial,) absolute seconds of the alignment event; offset: seconds from the
    alignment event to the first bin edge; trial_ids: (trial,) int64; columns: per-trial metadata,
    each (trial,) (event times are already relative to the alignment event).
    """

    align_times: np.ndarray
    offset: float
    bin_size: float
    n_bins: int
    trial_ids: np.ndarray
    align_event: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    conditions: np.ndarray | None = None

    @property
    def starts(self) -> np.ndarray:
        """(trial,) absolute seconds of each window's first bin edge."""
        return self.align_times + self.offset

    @property
    def time(self) -> np.ndarray:
        """(time,) bin centres in seconds from the alignment event."""
        return self.offset + (np.arange(self.n_bins) + 0.5) * self.bin_size

    def edges(self) -> np.ndarray:
        """(trial, time + 1) absolute bin edges."""
        return bin_edges(self.starts, self.bin_size, self.n_bins)

    def select(self, keep: np.ndarray) -> TrialWindows:
        return TrialWindows(
            self.align_times[keep],
            self.offset,
            self.bin_size,
            self.n_bins,
            self.trial_ids[keep],
            self.align_event,
            {k: v[keep] for k, v in self.columns.items()},
            None if self.conditions is None else self.conditions[keep],
        )


def _bins_in(window: tuple[float, float], bin_size: float, field_name: str) -> int:
    start, stop = window
    if not stop > start:
        raise ConfigError(field_name, f"window stop ({stop}) must be after its start ({start})")
    n_bins = n_whole_bins(stop - start, bin_size)
    if n_bins < 1:
        raise ConfigError(field_name, f"window {list(window)} s is shorter than one bin ({bin_size} s)")
    return n_bins


def from_trials_table(
    trials: dict[str, np.ndarray],
    *,
    bin_size: float,
    align_event: str | None,
    window: tuple[float, float] | None,
    condition_column: str | None,
    on_missing_event: str = "error",
    table: str = "trials",
) -> TrialWindows:
    """Windows from a table of intervals (one trial per row).

    align_event: a numeric column of absolute event times (default ``start_time``); window: (start,
    stop) seconds relative to the event (default: from 0 to the shortest trial's duration);
    condition_column: a column of condition labels (numbers or text), or None; on_missing_event:
    ``error`` or ``drop`` for trials whose alignment time is NaN; table: the table's name, for messages.
    """
    event = align_event or "start_time"
    if event not in trials:
        raise ConfigError(
            "binning.align_event", f"the {table!r} intervals table has no column '{event}' (columns: {sorted(trials)})"
        )
    values = np.asarray(trials[event])
    if values.dtype.kind not in "fiu":
        raise ConfigError(
            "binning.align_event",
            f"column '{event}' of the {table!r} intervals table holds {values.dtype} values, not times in seconds",
        )
    align = values.astype(np.float64)
    keep = np.isfinite(align)
    if not keep.all():
        if on_missing_event != "drop":
            raise ConfigError(
                "binning.align_event",
                f"column '{event}' is NaN in {int((~keep).sum())} trial(s) "
                f"(ids {trials['id'][~keep][:5].tolist()}...); set "
                "on_missing_event: drop to skip them",
            )
        if not keep.any():
            raise ConfigError("binning.align_event", f"column '{event}' is NaN in every trial")
    if window is None:
        if event != "start_time":
            raise ConfigError("binning.window_s", f"is required when aligning to '{event}'")
        durations = np.asarray(trials["stop_time"], float) - np.asarray(trials["start_time"], float)
        shortest = int(np.argmin(durations))
        if not durations[shortest] >= bin_size:
            raise ConfigError(
                "binning.window_s",
                f"is needed: the shortest row of the {table!r} intervals table (id {trials['id'][shortest]}) "
                f"lasts {durations[shortest]:g} s, less than one bin ({bin_size} s)",
            )
        window = (0.0, float(durations[shortest]))
    n_bins = _bins_in(window, bin_size, "binning.window_s")
    if condition_column is not None and condition_column not in trials:
        raise ConfigError(
            "binning.condition_column",
            f"the {table!r} intervals table has no column '{condition_column}' (columns: {sorted(trials)})",
        )
    columns: dict[str, np.ndarray] = {}
    for name, values in trials.items():
        if name in ("id", condition_column):
            continue
        values = np.asarray(values)
        if name.endswith("_time") and values.dtype.kind == "f":
            columns[name] = values - align  # event times relative to the alignment event
        elif values.dtype.kind in "biuf":
            columns[name] = values
        elif values.dtype.kind in "USO":  # labels; object arrays come back from zarr stores
            columns[name] = values.astype(str)
    windows = TrialWindows(
        align_times=align,
        offset=float(window[0]),
        bin_size=bin_size,
        n_bins=n_bins,
        trial_ids=np.asarray(trials["id"], dtype=np.int64),
        align_event=event,
        columns=columns,
        conditions=None if condition_column is None else _condition_labels(np.asarray(trials[condition_column])),
    )
    return windows.select(keep)


def _condition_labels(values: np.ndarray) -> np.ndarray:
    """Condition labels as text: integral numbers without a trailing ``.0`` (3.0 → "3")."""
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        values = values.astype(np.int64)
    return values.astype(str)


def from_annotations(
    annotations: dict[str, np.ndarray],
    *,
    bin_size: float,
    labels: list[str] | None,
    window: tuple[float, float],
) -> TrialWindows:
    """One window per annotation (label = condition). annotations: ``onset``, ``description``."""
    onset = np.asarray(annotations.get("onset", []), dtype=np.float64)
    description = np.asarray(annotations.get("description", []), dtype=str)
    keep = np.ones(onset.shape, bool) if not labels else np.isin(description, labels)
    if not keep.any():
        raise ConfigError(
            "event_labels", f"no annotation matches {labels} (found: {sorted(set(description.tolist()))})"
        )
    return TrialWindows(
        align_times=onset[keep],
        offset=float(window[0]),
        bin_size=bin_size,
        n_bins=_bins_in(window, bin_size, "window_s"),
        trial_ids=np.arange(int(keep.sum()), dtype=np.int64),
        align_event="annotation_onset",
        conditions=description[keep],
    )


def tiling(
    extent: tuple[float, float], *, bin_size: float, length: float | None, keep_partial: bool = False
) -> TrialWindows:
    """Consecutive windows of ``length`` seconds from the recording start (the remainder is
    dropped); ``length=None`` gives the whole recording as one trial, of whole bins only or, with
    ``keep_partial``, with one more bin reaching past the end so that the recording's last
    instant (e.g. its last spike) lies inside a bin."""
    total = extent[1] - extent[0]
    if length is None:
        n_bins = n_whole_bins(total, bin_size)
        if keep_partial and extent[0] + n_bins * bin_size <= extent[1]:
            n_bins += 1
        length = n_bins * bin_size
    n_windows = 1 if keep_partial and total <= length else int(np.floor(total / length + 1e-9))
    if n_windows < 1:
        raise ConfigError("segment_length_s", f"{length} s is longer than the recording ({total:.3f} s)")
    n_bins = _bins_in((0.0, length), bin_size, "segment_length_s")
    return TrialWindows(
        align_times=extent[0] + np.arange(n_windows) * n_bins * bin_size,
        offset=0.0,
        bin_size=bin_size,
        n_bins=n_bins,
        trial_ids=np.arange(n_windows, dtype=np.int64),
        align_event="segment_start",
    )


def normalise_split_labels(values: np.ndarray, column: str) -> np.ndarray:
    """Map split labels (train/val/valid/test, any case) onto ``SPLITS``."""
    labels = np.char.lower(np.asarray(values).astype(str))
    unknown = sorted(set(labels.tolist()) - set(_SPLIT_ALIASES))
    if unknown:
        raise ConfigError("split.column", f"column '{column}' holds values {unknown}; expected train/val(id)/test")
    return np.asarray([_SPLIT_ALIASES[v] for v in labels.tolist()], dtype=object)


def seeded_split(
    n_trials: int,
    *,
    fractions: dict[str, float],
    seed: int,
    conditions: np.ndarray | None = None,
) -> np.ndarray:
    """Random train/valid/test labels, stratified by condition when conditions are given.

    Within each stratum, round(fraction * size) trials go to valid and to test, the rest to train.
    Returns (trial,) object array of labels.
    """
    rng = np.random.default_rng(seed)
    labels = np.empty(n_trials, dtype=object)
    strata = np.zeros(n_trials, dtype=int) if conditions is None else np.unique(conditions, return_inverse=True)[1]
    for stratum in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == stratum))
        n_valid = int(round(fractions.get("valid", 0.0) * members.size))
        n_test = int(round(fractions.get("test", 0.0) * members.size))
        n_test = min(n_test, members.size - 1)  # every stratum keeps a training trial
        n_valid = min(n_valid, members.size - 1 - n_test)
        labels[members] = "train"
        labels[members[:n_valid]] = "valid"
        labels[members[n_valid : n_valid + n_test]] = "test"
    return labels


def seeded_heldout(n_channels: int, *, fraction: float, seed: int) -> np.ndarray:
    """(channel,) bool: a seeded random ``fraction`` of channels held out (at least one held-in)."""
    n_out = min(int(round(fraction * n_channels)), n_channels - 1)
    flags = np.zeros(n_channels, dtype=bool)
    flags[np.random.default_rng(seed).permutation(n_channels)[:n_out]] = True
    return flags
