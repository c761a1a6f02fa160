"""NWB layouts other labs write, read by the NWB schema rather than one lab's habits."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile

from neurodyn.cli import main
from neurodyn.io.nwb import read_nwb

LOCATIONS = ["CA1", "CA3", "DG"]


def _units_file(path: Path, n_units: int = 3) -> list[np.ndarray]:
    """Units with one electrode each (written ragged by pynwb), spikes over 10 s; no trials table."""
    nwb = NWBFile(
        session_description="layout", identifier=path.stem, session_start_time=datetime(2024, 1, 1, tzinfo=UTC)
    )
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank", description="shank", location="hippocampus", device=device)
    for location in LOCATIONS:
        nwb.add_electrode(group=group, location=location)
    spikes = [np.sort(np.random.default_rng(i).uniform(0, 10, 40 + 10 * i)) for i in range(n_units)]
    for i, times in enumerate(spikes):
        nwb.add_unit(spike_times=times, electrodes=[i % len(LOCATIONS)])
    with NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    return spikes


@pytest.fixture
def one_electrode_per_unit(tmp_path) -> tuple[Path, list[np.ndarray]]:
    """units.electrodes as a plain region column, one electrode per unit (no electrodes_index), as
    several writers store it (e.g. DANDI human single-unit files). pynwb reads it; pynwb cannot write
    it, so the index is removed afterwards with h5py."""
    path = tmp_path / "one_electrode.nwb"
    spikes = _units_file(path)
    with h5py.File(path, "a") as h5:
        del h5["units/electrodes_index"]
    return path, spikes


def test_one_electrode_per_unit_reads_with_locations(one_electrode_per_unit):
    path, spikes = one_electrode_per_unit
    with NWBHDF5IO(path, "r") as io:  # the layout is valid NWB: pynwb reads it
        assert len(io.read().units) == 3
    recording = read_nwb(path)
    assert recording.unit_info["location"].tolist() == LOCATIONS
    np.testing.assert_array_equal(recording.spike_times, np.concatenate(spikes))


def test_one_electrode_per_unit_ingests(one_electrode_per_unit, tmp_path, capsys):
    path, spikes = one_electrode_per_unit
    assert main(["ingest", str(path), str(tmp_path / "ds.zarr"), "--bin-size", "0.05"]) == 0
    import neurodyn

    ds = neurodyn.open_dataset(tmp_path / "ds.zarr")
    assert ds["location"].values.tolist() == LOCATIONS
    # one continuous trial: every spike inside its bins is counted, per unit
    start = float(ds["align_time"].values[0]) + float(ds["time"].values[0]) - 0.025
    stop = start + 0.05 * ds.sizes["time"]
    counts = ds["data"].values.sum(axis=(0, 1))
    np.testing.assert_array_equal(counts, [int(((s >= start) & (s < stop)).sum()) for s in spikes])


def test_an_electrode_reference_outside_the_table_drops_locations_with_a_warning(tmp_path):
    path = tmp_path / "bad_reference.nwb"
    spikes = _units_file(path)
    with h5py.File(path, "a") as h5:
        h5["units/electrodes"][1] = 17  # a row the electrodes table does not have
    with pytest.warns(UserWarning, match="units/electrodes refers to electrode row 17"):
        recording = read_nwb(path)
    assert "location" not in recording.unit_info
    np.testing.assert_array_equal(recording.spike_times, np.concatenate(spikes))


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--window", "0", "inf"], "'binning.window_s[1]': must be a finite number"),
        (["--seed", "-1"], "'split.seed': must be >= 0"),
        (["--segment", "windows", "--segment-length", "0"], "'binning.segment_length_s': must be > 0"),
    ],
)
def test_hostile_ingest_options_get_one_line(one_electrode_per_unit, tmp_path, capsys, flags, says):
    path, _ = one_electrode_per_unit
    assert main(["ingest", str(path), str(tmp_path / "ds.zarr"), "--bin-size", "0.05", *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one_electrode.nwb"]


# --- any intervals table, any column ------------------------------------------------------------


def _custom_intervals_file(path: Path) -> dict:
    """One electrode per unit, no trials table, two custom TimeIntervals tables with a numeric event
    column and string conditions, a units quality column, behaviour in acquisition only."""
    from pynwb import TimeSeries
    from pynwb.epoch import TimeIntervals

    nwb = NWBFile(
        session_description="custom intervals",
        identifier=path.stem,
        session_start_time=datetime(2024, 1, 1, tzinfo=UTC),
    )
    rng = np.random.default_rng(3)
    spikes = [np.sort(rng.uniform(0, 60, 300 + 50 * i)) for i in range(4)]
    quality = ["good", "mua", "good", "noise"]
    nwb.add_unit_column("quality", "curation label")
    for times, label in zip(spikes, quality):
        nwb.add_unit(spike_times=times, quality=label)
    encoding = TimeIntervals(name="encoding_table", description="image presentations")
    encoding.add_column("stimulus_onset", "image onset, s")
    encoding.add_column("stimCategory", "image category")
    categories = ["faces", "houses", "animals"]
    starts = np.arange(12) * 4.0 + 1.0
    for k, start in enumerate(starts):
        encoding.add_interval(
            start_time=start, stop_time=start + 3.0, stimulus_onset=start + 0.5, stimCategory=categories[k % 3]
        )
    nwb.add_time_intervals(encoding)
    fixation = TimeIntervals(name="fixation_table", description="fixation crosses")
    for start in np.arange(5) * 10.0 + 2.0:
        fixation.add_interval(start_time=start, stop_time=start + 1.0)
    nwb.add_time_intervals(fixation)
    nwb.add_acquisition(
        TimeSeries(name="pupil", data=rng.normal(size=600), unit="m", rate=10.0, description="pupil diameter")
    )
    with NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    return {"spikes": spikes, "quality": quality, "onsets": starts + 0.5, "categories": categories}


@pytest.fixture
def custom_intervals(tmp_path):
    path = tmp_path / "custom.nwb"
    return path, _custom_intervals_file(path)


def test_trials_from_a_named_intervals_table_aligned_to_a_numeric_column(custom_intervals, tmp_path):
    path, truth = custom_intervals
    out = tmp_path / "ds.zarr"
    argv = ["ingest", str(path), str(out), "--intervals", "encoding_table", "--align-event", "stimulus_onset"]
    argv += ["--window", "-0.2", "1.0", "--bin-size", "0.05", "--condition-column", "stimCategory", "--min-spikes", "0"]
    assert main(argv) == 0
    import neurodyn

    ds = neurodyn.open_dataset(out)
    assert ds.sizes["trial"] == 12 and ds.sizes["time"] == 24
    np.testing.assert_allclose(ds["align_time"].values, truth["onsets"])
    assert ds["condition"].values.astype(str).tolist() == [truth["categories"][k % 3] for k in range(12)]
    assert ds["quality"].values.astype(str).tolist() == truth["quality"]
    # counts per trial and unit equal an independent count over the same edges
    edges = ds["align_time"].values[:, None] - 0.2 + np.arange(25) * 0.05
    expected = np.stack([[np.histogram(s, bins=e)[0].sum() for s in truth["spikes"]] for e in edges])
    np.testing.assert_array_equal(ds["data"].values.sum(axis=1), expected)


def test_units_where_filters_by_a_units_column(custom_intervals):
    path, truth = custom_intervals
    recording = read_nwb(path, units_where=["quality=good|mua"])
    assert recording.unit_info["quality"].tolist() == ["good", "mua", "good"]
    np.testing.assert_array_equal(recording.spike_times, np.concatenate(truth["spikes"][:3]))
    assert read_nwb(path, units_where=["quality!=noise", "quality!=mua"]).n_units == 2


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("depth>=3", "has no column 'depth'"),
        ("quality>=3", "is not numeric"),
        ("quality", "is not COLUMN=VALUE"),
        ("quality=excellent", "matches none"),
    ],
)
def test_a_bad_units_filter_names_the_option(custom_intervals, expression, message):
    from neurodyn.errors import ConfigError

    with pytest.raises(ConfigError, match=message) as info:
        read_nwb(custom_intervals[0], units_where=[expression])
    assert "source.units_where" in str(info.value)


def test_behaviour_by_name_from_acquisition(custom_intervals):
    path, _ = custom_intervals
    recording = read_nwb(path, behavior=["pupil"])
    assert [s.name for s in recording.behavior] == ["pupil"]
    assert recording.behavior[0].values.shape == (600, 1)
    assert read_nwb(path).behavior == []  # nothing in processing/behavior
    with pytest.raises(Exception, match="no behaviour series \\['speed'\\].*available: \\['pupil'\\]"):
        read_nwb(path, behavior=["speed"])


def test_a_missing_intervals_table_lists_those_the_file_has(custom_intervals, tmp_path, capsys):
    path, _ = custom_intervals
    assert main(["ingest", str(path), str(tmp_path / "ds.zarr"), "--intervals", "epochs"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no intervals table 'epochs'" in err and "encoding_table" in err and "fixation_table" in err
    assert not (tmp_path / "ds.zarr").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--align-event", "start_time"], "binning.align_event':.*no 'trials' intervals table"),
        (["--window", "0", "2"], "binning.window_s':.*no 'trials' intervals table"),
        (["--intervals", "encoding_table", "--align-event", "stimCategory", "--window", "0", "1"], "not times"),
        (["--intervals", "encoding_table", "--segment-length", "2"], "segment_length_s':.*segment: trials"),
    ],
)
def test_an_option_that_cannot_apply_is_an_error(custom_intervals, tmp_path, capsys, flags, message):
    path, _ = custom_intervals
    assert main(["ingest", str(path), str(tmp_path / "ds.zarr"), *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "ds.zarr").exists()


def test_one_continuous_trial_keeps_the_last_spike_in_a_masked_partial_bin(tmp_path):
    path = tmp_path / "units.nwb"
    spikes = _units_file(path)
    import neurodyn
    from neurodyn.data.binned import BinningOptions, bin_recording

    recording = read_nwb(path)
    ds = bin_recording(recording, BinningOptions(bin_size_s=0.07, min_spikes=0))
    assert ds.sizes["trial"] == 1
    counts = ds["data"].values[0]
    np.testing.assert_array_equal(counts.sum(axis=0), [s.size for s in spikes])  # every spike, the last included
    last_edge = float(ds["align_time"].values[0]) + 0.07 * ds.sizes["time"]
    assert last_edge > max(s.max() for s in spikes)
    mask = ds["mask"].values[0]
    assert mask[:-1].all() and not mask[-1].any()  # the final partial bin is marked as not wholly observed
    assert neurodyn  # the package imports lazily


# --- malformed NWB content ----------------------------------------------------------------------


def _edit(path: Path, edit) -> Path:
    with h5py.File(path, "a") as h5:
        edit(h5)
    return path


def test_spike_times_stored_as_text_are_refused(tmp_path):
    path = tmp_path / "text_spikes.nwb"
    _units_file(path)

    def as_text(h5):
        old = h5["units/spike_times"]
        values, attrs = old[:], dict(old.attrs)
        del h5["units/spike_times"]
        new = h5.create_dataset("units/spike_times", data=np.asarray([f"{v:.6f}" for v in values], dtype="S16"))
        new.attrs.update(attrs)
        h5["units/spike_times_index"].attrs["target"] = new.ref

    _edit(path, as_text)
    with pytest.raises(Exception, match="units/spike_times holds .* not numbers of seconds"):
        read_nwb(path)


def test_a_units_table_without_any_spike_is_one_line(tmp_path, capsys):
    path = tmp_path / "empty.nwb"
    nwb = NWBFile(session_description="x", identifier="x", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    for _ in range(3):
        nwb.add_unit(spike_times=[])
    with NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    assert main(["ingest", str(path), str(tmp_path / "ds.zarr")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("the units table's spike lists are all empty (3 units, no spike)") and str(path) in err


def test_reversed_trials_name_the_table_and_rows(tmp_path):
    path = tmp_path / "reversed.nwb"
    nwb = NWBFile(session_description="x", identifier="x", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_unit(spike_times=np.linspace(0, 10, 50))
    for start in (1.0, 3.0, 5.0):
        nwb.add_trial(start_time=start, stop_time=start + 1.0)
    with NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    _edit(path, lambda h5: h5["intervals/trials/stop_time"].__setitem__(1, 2.0))
    with pytest.raises(Exception, match=r"'trials' has stop_time before start_time in 1 row\(s\) \(ids \[1\]\)"):
        read_nwb(path)


def test_a_bin_request_beyond_memory_is_refused_with_its_size(tmp_path, monkeypatch):
    from neurodyn.data import binned
    from neurodyn.errors import InputFileError

    path = tmp_path / "units.nwb"
    _units_file(path)
    monkeypatch.setattr(binned, "available_memory", lambda: 10_000)  # a machine with 10 kB to spare
    with pytest.raises(InputFileError, match=r"needs 0\.0 GiB, more than the 0\.0 GiB available.*segment: windows"):
        binned.bin_recording(read_nwb(path), binned.BinningOptions(bin_size_s=0.001, min_spikes=0))


# --- the corpus of layouts: each ingests, counts equal an independent h5py count -----------------

from nwb_corpus import LAYOUTS, build  # noqa: E402

# per layout, the options a user would give (`neurodyn inspect` suggests them)
LAYOUT_FLAGS = {
    "nlb_style": ["--align-event", "move_onset_time", "--window", "-0.2", "0.4", "--on-missing-event", "drop"],
    "one_electrode_custom_intervals": ["--intervals", "encoding_table", "--condition-column", "stimCategory"],
    "phy_epochs_only": ["--intervals", "epochs", "--units-where", "quality=good|mua"],
    "wide_units_no_trials": ["--segment", "windows", "--segment-length", "2"],
    "units_without_electrodes": [],
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_reads_as_h5py_counts_it(layout, tmp_path):
    truth = build(layout, tmp_path)
    recording = read_nwb(truth.path)
    np.testing.assert_array_equal(recording.unit_ids, truth.unit_ids)
    np.testing.assert_array_equal(np.diff(recording.unit_offsets), truth.spike_counts)
    assert float(recording.spike_times.min()) == truth.time_span[0]
    assert float(recording.spike_times.max()) == truth.time_span[1]
    scalar = {c for c in truth.unit_columns if c not in ("spike_times", "obs_intervals", "electrodes")}
    assert set(recording.unit_info) - {"location"} <= scalar
    for name, table in truth.intervals.items():
        rows = read_nwb(truth.path, intervals=name).trials
        assert rows is None if table.n_rows == 0 else rows["id"].size == table.n_rows


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_ingests_with_every_spike_of_its_bins_counted(layout, tmp_path, capsys):
    truth = build(layout, tmp_path)
    out = tmp_path / "ds.zarr"
    assert (
        main(["ingest", str(truth.path), str(out), "--bin-size", "0.02", "--min-spikes", "0"] + LAYOUT_FLAGS[layout])
        == 0
    )
    import neurodyn

    ds = neurodyn.open_dataset(out)
    starts = ds["align_time"].values + float(ds["time"].values[0]) - 0.01
    edges = starts[:, None] + np.arange(ds.sizes["time"] + 1) * 0.02
    # an independent count with h5py over the same edges, unit by unit
    with h5py.File(truth.path, "r") as h5:
        flat, ends = h5["units/spike_times"][:], h5["units/spike_times_index"][:]
        ids = h5["units/id"][:]
    per_unit = np.split(flat, ends[:-1])
    column = {int(i): k for k, i in enumerate(ids)}
    counts = ds["data"].values
    for j, unit in enumerate(ds["channel"].values):
        spikes = per_unit[column[int(unit)]]
        expected = np.stack([np.histogram(spikes, bins=e)[0] for e in edges])
        np.testing.assert_array_equal(counts[:, :, j], expected)
    if layout == "phy_epochs_only":
        assert set(ds["quality"].values.astype(str)) <= {"good", "mua"}
