"""A corpus of NWB layouts that public archives hold, written with pynwb, for tests of every NWB reader.

One builder per layout, ``build_<name>(path) -> Expected``: it writes a small real NWB file (a few
thousand spikes) and returns what an independent reader must find in it. The truth is read back from
the written file with h5py alone (never pynwb or neurodyn), so it states what the file holds, not
what the builder meant to write.

Layouts (modelled on real archives):
* ``nlb_style``: Neural Latents Benchmark / DANDI MC_Maze: units with obs_intervals, a boolean
  ``heldout`` column and several electrodes each (ragged); a trials table with an event column with a
  few NaN, a ``split`` column (train/val/test) and a numeric ``condition``; hand position in
  ``processing/behavior`` (Position), cursor position in ``acquisition``, a target in ``stimulus``.
* ``one_electrode_custom_intervals``: DANDI human single-unit files: one electrode per unit as a plain
  region column (no ``units/electrodes_index``), no trials table, three TimeIntervals tables under
  ``intervals/`` with text and numeric columns.
* ``phy_epochs_only``: phy / Kilosort conversions: quality labels, KSLabel, Amplitude and depth per
  unit; no trials, only an ``epochs`` table with tags.
* ``wide_units_no_trials``: 300 units with many extra columns of mixed types (text, numbers, booleans,
  a ragged column, a waveform array); no intervals at all.
* ``units_without_electrodes``: spike times only (one unit never fires); no electrodes table.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.behavior import Position, SpatialSeries
from pynwb.epoch import TimeIntervals


@dataclass(frozen=True, eq=False)
class IntervalsTruth:
    """One TimeIntervals table as h5py finds it: ``columns`` in the table's own order (without ``id``)."""

    name: str
    n_rows: int
    columns: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Expected:
    """What an independent reader must find in a corpus file (read back with h5py).

    unit_ids, spike_counts: (unit,); time_span: first and last spike time in seconds; intervals: by
    table name; n_electrodes: rows of the electrodes table, None when the file has none; series: the
    HDF5 path of every time series in processing/behavior, acquisition and stimulus/presentation →
    the shape of its data.
    """

    layout: str
    path: Path
    session_description: str
    n_units: int
    unit_ids: np.ndarray
    spike_counts: np.ndarray
    time_span: tuple[float, float]
    unit_columns: tuple[str, ...]
    intervals: dict[str, IntervalsTruth] = field(default_factory=dict)
    n_electrodes: int | None = None
    series: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def total_spikes(self) -> int:
        return int(self.spike_counts.sum())


# --- writing --------------------------------------------------------------------------------------


def _new_file(path: Path, description: str) -> NWBFile:
    return NWBFile(
        session_description=description,
        identifier=path.stem,
        session_start_time=datetime(2024, 1, 1, tzinfo=UTC),
    )


def _write(nwb: NWBFile, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb's notes on optional fields are not the test's concern
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)


def _spike_train(rng: np.random.Generator, n: int, spans: list[tuple[float, float]]) -> np.ndarray:
    """``n`` sorted spike times spread uniformly over the (start, stop) spans."""
    lengths = np.array([stop - start for start, stop in spans])
    which = rng.choice(len(spans), size=n, p=lengths / lengths.sum())
    starts = np.array([s for s, _ in spans])[which]
    return np.sort(starts + rng.uniform(0, 1, n) * lengths[which])


def _electrodes(nwb: NWBFile, locations: list[str]) -> None:
    device = nwb.create_device("probe")
    groups = {
        loc: nwb.create_electrode_group(f"group_{loc}", description=loc, location=loc, device=device)
        for loc in dict.fromkeys(locations)
    }
    for loc in locations:
        nwb.add_electrode(group=groups[loc], location=loc)


# --- the truth, read with h5py ---------------------------------------------------------------------


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _series_shapes(h5: h5py.File) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Group) and isinstance(obj.get("data"), h5py.Dataset) and "neurodata_type" in obj.attrs:
            shapes[obj.name.lstrip("/")] = tuple(obj["data"].shape)

    for root in ("processing/behavior", "acquisition", "stimulus/presentation"):
        if root in h5:
            h5[root].visititems(visit)
    return shapes


def read_truth(path: Path, layout: str) -> Expected:
    """What ``path`` holds, read with h5py only."""
    with h5py.File(path, "r") as h5:
        units = h5["units"]
        ends = units["spike_times_index"][:].astype(np.int64)
        counts = np.diff(np.concatenate([[0], ends]))
        times = units["spike_times"][:]
        intervals = {}
        for name, group in h5["intervals"].items() if "intervals" in h5 else []:
            columns = tuple(_text(c) for c in group.attrs["colnames"])
            intervals[name] = IntervalsTruth(name, int(group["id"].shape[0]), columns)
        electrodes = h5.get("general/extracellular_ephys/electrodes")
        return Expected(
            layout=layout,
            path=path,
            session_description=_text(h5["session_description"][()]),
            n_units=int(units["id"].shape[0]),
            unit_ids=units["id"][:].astype(np.int64),
            spike_counts=counts,
            time_span=(float(times.min()), float(times.max())),
            unit_columns=tuple(_text(c) for c in units.attrs["colnames"]),
            intervals=intervals,
            n_electrodes=None if electrodes is None else int(electrodes["id"].shape[0]),
            series=_series_shapes(h5),
        )


# --- the layouts -------------------------------------------------------------------------------------

NLB_DURATION_S = 60.0
NLB_MISSING_ONSETS = (4, 17, 33)  # trials whose move_onset_time is NaN


def build_nlb_style(path: Path) -> Expected:
    """MC_Maze-like: 40 units over 60 s (obs_intervals, heldout, 2-3 electrodes each), 50 trials with
    ``move_onset_time`` (NaN in 3), ``split`` train/val/test and ``condition`` 0-3, behaviour."""
    rng = np.random.default_rng(1)
    nwb = _new_file(path, "NLB-style reaching session")
    _electrodes(nwb, ["M1"] * 8 + ["PMd"] * 8)
    nwb.add_unit_column(name="heldout", description="held out of the model inputs")
    for unit in range(40):
        spans = [(0.0, NLB_DURATION_S)] if unit % 7 else [(0.0, 30.0), (32.0, NLB_DURATION_S)]
        first = int(rng.integers(0, 14))
        nwb.add_unit(
            spike_times=_spike_train(rng, int(rng.integers(40, 110)), spans),
            obs_intervals=[list(s) for s in spans],
            electrodes=list(range(first, first + 2 + unit % 2)),
            heldout=unit % 4 == 0,
        )
    nwb.add_trial_column(name="move_onset_time", description="movement onset")
    nwb.add_trial_column(name="split", description="train / val / test")
    nwb.add_trial_column(name="condition", description="reach target")
    splits = ["train"] * 36 + ["val"] * 7 + ["test"] * 7
    for k in range(50):
        start = 1.0 + 1.1 * k
        onset = np.nan if k in NLB_MISSING_ONSETS else start + 0.35 + 0.1 * rng.uniform()
        nwb.add_trial(start_time=start, stop_time=start + 1.0, move_onset_time=onset, split=splits[k], condition=k % 4)
    stamps = np.arange(0.0, NLB_DURATION_S, 0.01)
    behavior = nwb.create_processing_module("behavior", "hand and cursor")
    hand = np.stack([np.sin(stamps), np.cos(stamps)], axis=1)
    behavior.add(
        Position(
            spatial_series=SpatialSeries(
                name="hand_pos", data=hand, timestamps=stamps, reference_frame="screen centre", unit="mm"
            )
        )
    )
    nwb.add_acquisition(
        TimeSeries(name="cursor_pos", data=0.9 * hand, rate=100.0, starting_time=0.0, unit="mm", description="cursor")
    )
    nwb.add_stimulus(
        TimeSeries(
            name="target_pos",
            data=rng.normal(size=(50, 2)),
            timestamps=1.0 + 1.1 * np.arange(50),
            unit="mm",
            description="target position per trial",
        )
    )
    _write(nwb, path)
    return read_truth(path, "nlb_style")


STIM_CATEGORIES = ["animals", "cars", "faces", "fruit", "landscapes"]


def build_one_electrode_custom_intervals(path: Path) -> Expected:
    """Human single units (20, one electrode each, no electrodes_index), no trials table, and the
    tables ``encoding_table`` (40 rows), ``recognition_table`` (60 rows, ``response_time`` NaN in 4)
    and ``fixation_table`` (20 rows)."""
    rng = np.random.default_rng(2)
    nwb = _new_file(path, "new/old recognition memory task")
    locations = ["hippocampus_left", "hippocampus_right", "amygdala_left", "amygdala_right"]
    _electrodes(nwb, [locations[i % 4] for i in range(16)])
    for unit in range(20):
        nwb.add_unit(spike_times=_spike_train(rng, int(rng.integers(100, 200)), [(0.0, 320.0)]), electrodes=[unit % 16])

    encoding = TimeIntervals(name="encoding_table", description="learning: one image per row")
    encoding.add_column(name="stimCategory", description="image category")
    encoding.add_column(name="stimulus_onset", description="image onset, s")
    encoding.add_column(name="category_id", description="category number")
    for k in range(40):
        start = 5.0 + 3.0 * k
        category = k % len(STIM_CATEGORIES)
        encoding.add_interval(
            start_time=start,
            stop_time=start + 2.0,
            stimCategory=STIM_CATEGORIES[category],
            stimulus_onset=start + 0.5,
            category_id=category + 1,
        )
    recognition = TimeIntervals(name="recognition_table", description="recognition: old or new image")
    recognition.add_column(name="stimCategory", description="image category")
    recognition.add_column(name="stimulus_onset", description="image onset, s")
    recognition.add_column(name="response_time", description="button press, s (NaN: no response)")
    recognition.add_column(name="response_value", description="confidence 1-6")
    for k in range(60):
        start = 130.0 + 2.5 * k
        onset = start + 0.5
        recognition.add_interval(
            start_time=start,
            stop_time=start + 2.0,
            stimCategory=STIM_CATEGORIES[(3 * k) % len(STIM_CATEGORIES)],
            stimulus_onset=onset,
            response_time=np.nan if k % 15 == 7 else onset + rng.uniform(0.4, 1.2),
            response_value=int(rng.integers(1, 7)),
        )
    fixation = TimeIntervals(name="fixation_table", description="fixation cross")
    fixation.add_column(name="fixation_x", description="cross position, px")
    for k in range(20):
        start = 285.0 + 1.5 * k
        fixation.add_interval(start_time=start, stop_time=start + 1.0, fixation_x=float(rng.uniform(-5, 5)))
    for table in (encoding, recognition, fixation):
        nwb.add_time_intervals(table)
    _write(nwb, path)
    with h5py.File(path, "a") as h5:  # one electrode per unit, as a plain region column
        del h5["units/electrodes_index"]
    return read_truth(path, "one_electrode_custom_intervals")


PHY_QUALITY = ["good"] * 12 + ["mua"] * 12 + ["noise"] * 6


def build_phy_epochs_only(path: Path) -> Expected:
    """Kilosort/phy units (30: quality good 12 / mua 12 / noise 6, KSLabel, Amplitude, depth) over
    300 s, an electrodes table the units do not reference, and three epochs with tags."""
    rng = np.random.default_rng(3)
    nwb = _new_file(path, "open field and sleep, Kilosort + phy")
    _electrodes(nwb, ["CA1"] * 16 + ["CA3"] * 16)
    nwb.add_unit_column(name="quality", description="phy curation label")
    nwb.add_unit_column(name="KSLabel", description="Kilosort label")
    nwb.add_unit_column(name="Amplitude", description="template amplitude")
    nwb.add_unit_column(name="depth", description="depth along the probe, um")
    for unit, quality in enumerate(PHY_QUALITY):
        nwb.add_unit(
            spike_times=_spike_train(rng, int(rng.integers(60, 140)), [(0.0, 300.0)]),
            quality=quality,
            KSLabel="good" if quality == "good" or unit % 5 == 0 else "mua",
            Amplitude=float(rng.uniform(20, 120)),
            depth=float(rng.uniform(0, 3000)),
        )
    for start, stop, tag in [(0.0, 100.0, "pre_sleep"), (100.0, 200.0, "run"), (200.0, 300.0, "post_sleep")]:
        nwb.add_epoch(start_time=start, stop_time=stop, tags=[tag, "recording"])
    _write(nwb, path)
    return read_truth(path, "phy_epochs_only")


WIDE_N_UNITS = 300
WIDE_AREAS = ["VISp", "VISl", "CA1", "DG", "LP"]


def build_wide_units_no_trials(path: Path) -> Expected:
    """300 units with 14 extra columns (floats, ints, a boolean, text, a ragged list, a waveform
    array of (unit, 20, 2)), spikes over 100 s; no intervals tables."""
    rng = np.random.default_rng(4)
    nwb = _new_file(path, "survey of many units")
    _electrodes(nwb, [WIDE_AREAS[i % 5] for i in range(64)])
    extra = {
        "firing_rate": "Hz",
        "amplitude": "uV",
        "snr": "signal to noise",
        "isi_violations": "fraction",
        "presence_ratio": "fraction",
        "depth": "um",
        "peak_channel": "channel",
        "cluster_id": "sorter id",
        "is_good": "passes curation",
        "brain_area": "area",
        "quality": "label",
        "cell_type": "RS or FS",
    }
    for name, description in extra.items():
        nwb.add_unit_column(name=name, description=description)
    nwb.add_unit_column(name="peak_channels", description="channels above threshold", index=True)
    for unit in range(WIDE_N_UNITS):
        n = int(rng.integers(4, 16))
        nwb.add_unit(
            spike_times=_spike_train(rng, n, [(0.0, 100.0)]),
            electrodes=[unit % 64],
            waveform_mean=rng.normal(size=(20, 2)),
            firing_rate=n / 100.0,
            amplitude=float(rng.uniform(30, 300)),
            snr=float(rng.uniform(1, 10)),
            isi_violations=float(rng.uniform(0, 0.5)),
            presence_ratio=float(rng.uniform(0.5, 1)),
            depth=float(rng.uniform(0, 3800)),
            peak_channel=unit % 64,
            cluster_id=1000 + unit,
            is_good=bool(unit % 3),
            brain_area=WIDE_AREAS[unit % 5],
            quality="good" if unit % 3 else "mua",
            cell_type="FS" if unit % 6 == 0 else "RS",
            peak_channels=[unit % 64, (unit + 1) % 64][: 1 + unit % 2],
        )
    _write(nwb, path)
    return read_truth(path, "wide_units_no_trials")


def build_units_without_electrodes(path: Path) -> Expected:
    """8 units with spike times only over 20 s (unit 5 never fires); no electrodes table."""
    rng = np.random.default_rng(5)
    nwb = _new_file(path, "spike times only")
    for unit in range(8):
        n = 0 if unit == 5 else int(rng.integers(150, 400))
        nwb.add_unit(spike_times=_spike_train(rng, n, [(0.0, 20.0)]) if n else np.zeros(0))
    _write(nwb, path)
    return read_truth(path, "units_without_electrodes")


LAYOUTS: dict[str, Callable[[Path], Expected]] = {
    "nlb_style": build_nlb_style,
    "one_electrode_custom_intervals": build_one_electrode_custom_intervals,
    "phy_epochs_only": build_phy_epochs_only,
    "wide_units_no_trials": build_wide_units_no_trials,
    "units_without_electrodes": build_units_without_electrodes,
}


def build(layout: str, directory: Path) -> Expected:
    """Write ``<directory>/<layout>.nwb`` and return its truth."""
    return LAYOUTS[layout](Path(directory) / f"{layout}.nwb")
