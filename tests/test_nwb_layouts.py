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
