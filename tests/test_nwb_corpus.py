"""The NWB corpus (tests/nwb_corpus.py): each layout is valid NWB that pynwb reads, its h5py truth
agrees with pynwb and with itself, and the layout has the features it stands for."""

from __future__ import annotations

import time
import warnings

import h5py
import numpy as np
import pytest
from nwb_corpus import LAYOUTS, NLB_MISSING_ONSETS, PHY_QUALITY, WIDE_N_UNITS, Expected, build
from pynwb import NWBHDF5IO, validate


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Expected]:
    directory = tmp_path_factory.mktemp("corpus")
    began = time.perf_counter()
    built = {name: build(name, directory) for name in LAYOUTS}
    built["_seconds"] = time.perf_counter() - began
    return built


def test_the_corpus_builds_quickly(corpus):
    assert corpus["_seconds"] < 5.0


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_is_valid_nwb_that_pynwb_reads_as_the_truth_says(corpus, layout):
    truth = corpus[layout]
    assert validate(path=str(truth.path)) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(truth.path), "r") as io:
            nwb = io.read()
            assert nwb.session_description == truth.session_description
            units = nwb.units
            assert len(units) == truth.n_units
            np.testing.assert_array_equal(units.id[:], truth.unit_ids)
            counts = [len(units["spike_times"][i]) for i in range(len(units))]
            np.testing.assert_array_equal(counts, truth.spike_counts)
            assert tuple(units.colnames) == truth.unit_columns
            tables = dict(nwb.intervals)
            assert sorted(tables) == sorted(truth.intervals)
            for name, table in tables.items():
                assert len(table) == truth.intervals[name].n_rows
                assert tuple(table.colnames) == truth.intervals[name].columns
            assert (None if nwb.electrodes is None else len(nwb.electrodes)) == truth.n_electrodes


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_truth_is_self_consistent(corpus, layout):
    truth = corpus[layout]
    assert truth.unit_ids.shape == truth.spike_counts.shape == (truth.n_units,)
    assert np.unique(truth.unit_ids).size == truth.n_units
    assert (truth.spike_counts >= 0).all() and 1000 <= truth.total_spikes <= 5000
    with h5py.File(truth.path, "r") as h5:
        times = h5["units/spike_times"][:]
        assert times.size == truth.total_spikes
        bounds = np.concatenate([[0], np.cumsum(truth.spike_counts)])
        for i in range(truth.n_units):  # sorted within each unit, inside the stated span
            own = times[bounds[i] : bounds[i + 1]]
            assert np.all(np.diff(own) >= 0)
            assert np.all((own >= truth.time_span[0]) & (own <= truth.time_span[1]))
        assert truth.time_span[0] in times and truth.time_span[1] in times
        for name, table in truth.intervals.items():
            group = h5[f"intervals/{name}"]
            assert {"start_time", "stop_time"} <= set(table.columns)
            for column in table.columns:  # every column has one entry per row (ragged ones by their index)
                rows = group[f"{column}_index"] if f"{column}_index" in group else group[column]
                assert rows.shape[0] == table.n_rows, (name, column)
            assert np.all(group["stop_time"][:] >= group["start_time"][:])
        for path, shape in truth.series.items():
            assert h5[path]["data"].shape == shape


def test_layouts_have_the_features_they_stand_for(corpus):
    nlb = corpus["nlb_style"]
    assert nlb.intervals["trials"].n_rows == 50
    assert {"move_onset_time", "split", "condition"} <= set(nlb.intervals["trials"].columns)
    assert {"heldout", "obs_intervals", "electrodes"} <= set(nlb.unit_columns)
    assert set(nlb.series) == {
        "processing/behavior/Position/hand_pos",
        "acquisition/cursor_pos",
        "stimulus/presentation/target_pos",
    }
    with h5py.File(nlb.path, "r") as h5:
        onset = h5["intervals/trials/move_onset_time"][:]
        assert np.flatnonzero(np.isnan(onset)).tolist() == list(NLB_MISSING_ONSETS)
        per_unit = np.diff(np.concatenate([[0], h5["units/electrodes_index"][:]]))
        assert per_unit.min() >= 2  # several electrodes per unit
        assert sorted({s.decode() if isinstance(s, bytes) else s for s in h5["intervals/trials/split"][:]}) == [
            "test",
            "train",
            "val",
        ]

    single = corpus["one_electrode_custom_intervals"]
    assert "trials" not in single.intervals
    assert sorted(single.intervals) == ["encoding_table", "fixation_table", "recognition_table"]
    with h5py.File(single.path, "r") as h5:
        assert "units/electrodes_index" not in h5
        assert h5["units/electrodes"].shape == (single.n_units,)

    phy = corpus["phy_epochs_only"]
    assert list(phy.intervals) == ["epochs"] and "tags" in phy.intervals["epochs"].columns
    with h5py.File(phy.path, "r") as h5:
        quality = [q.decode() if isinstance(q, bytes) else q for q in h5["units/quality"][:]]
        assert quality == PHY_QUALITY

    wide = corpus["wide_units_no_trials"]
    assert wide.n_units == WIDE_N_UNITS and not wide.intervals
    assert len(set(wide.unit_columns) - {"spike_times", "electrodes"}) >= 12

    bare = corpus["units_without_electrodes"]
    assert bare.unit_columns == ("spike_times",) and bare.n_electrodes is None
    assert (bare.spike_counts == 0).sum() == 1
    with h5py.File(bare.path, "r") as h5:
        assert "general/extracellular_ephys/electrodes" not in h5
