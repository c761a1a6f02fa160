"""Ingest of real and written NWB/EDF files, the dataset contract, and refusal of bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import write_nwb

from neurodyn.cli import main
from neurodyn.data.binned import BinningOptions, bin_recording
from neurodyn.data.dataset import open_dataset, validate_dataset, write_dataset
from neurodyn.data.recording import load_recording, save_recording
from neurodyn.errors import ConfigError, DatasetContractError
from neurodyn.io.registry import read_source

# --- real recordings ----------------------------------------------------------------------------


def test_mc_maze_20ms_counts_equal_brute_force(mc_maze, tmp_path):
    """Every count equals an independent per-unit, per-trial, per-bin count read with h5py."""
    out = tmp_path / "mc.zarr"
    assert (
        main(
            [
                "ingest",
                str(mc_maze),
                str(out),
                "--bin-size",
                "0.02",
                "--align-event",
                "move_onset_time",
                "--window",
                "-0.25",
                "0.45",
            ]
        )
        == 0
    )
    ds = open_dataset(out)
    assert ds["data"].shape == (100, 35, 107)
    with h5py.File(mc_maze, "r") as f:
        times = f["units/spike_times"][:]
        ends = f["units/spike_times_index"][:].astype(np.int64)
        unit_ids = f["units/id"][:]
        onset = f["intervals/trials/move_onset_time"][:]
    begins = np.concatenate([[0], ends[:-1]])
    expected = np.zeros((100, 35, 107), dtype=np.int64)
    for u in range(107):
        t = times[begins[u] : ends[u]]
        for k in range(100):
            edges = (onset[k] + -0.25) + np.arange(36) * 0.02
            for j in range(35):
                expected[k, j, u] = np.count_nonzero((t >= edges[j]) & (t < edges[j + 1]))
    np.testing.assert_array_equal(ds["data"].values, expected)
    np.testing.assert_array_equal(ds["channel"].values, unit_ids)
    assert int(ds["data"].sum()) == 32897  # the trial windows cover every spike of this file
    assert ds["mask"].values.all()  # windows lie inside the observation intervals
    assert ds.attrs["source_sha256"].startswith("ca8a0bef")
    np.testing.assert_allclose(ds["time"].values[[0, -1]], [-0.24, 0.44])
    # the file marks every trial 'test' and no unit held out: both fall back to seeded choices
    assert set(ds["split"].values) == {"train", "valid", "test"}
    assert 0 < ds["heldout"].values.sum() < 107
    assert set(ds["location"].values) <= {"M1", "PMd"}


def test_eeg_s001r01_round_trips_mne_samples(eeg_s001r01, tmp_path):
    import mne

    out = tmp_path / "eeg.zarr"
    assert main(["ingest", str(eeg_s001r01), str(out), "--bin-size", "native"]) == 0
    ds = open_dataset(out)
    raw = mne.io.read_raw_edf(eeg_s001r01, preload=True, verbose="error")
    expected = (raw.get_data() * 1e6).astype(np.float32).T
    assert ds["data"].shape == (1, 9760, 64)
    np.testing.assert_array_equal(ds["data"].values[0], expected)
    assert ds["data"].attrs["units"] == "uV" and ds["data"].dtype == np.float32
    assert list(ds["channel_name"].values[:3]) == ["Fc5", "Fc3", "Fc1"]  # trailing dots cleaned
    assert ds.attrs["sfreq"] == 160.0
    assert list(ds["annotation_description"].values) == ["T0"]


def test_eeg_events_segmentation_aligns_to_annotations(tmp_path):
    from conftest import SHARED_DATA, shared_file

    path = shared_file(SHARED_DATA / "eegmmidb" / "S001" / "S001R03.edf")
    rec = read_source(path)
    ds = bin_recording(
        rec,
        BinningOptions.from_config(
            {"bin_size_s": None, "segment": "events", "window_s": [0.0, 4.0], "event_labels": ["T1", "T2"]}
        ),
    )
    onsets = rec.annotations["onset"][np.isin(rec.annotations["description"], ["T1", "T2"])]
    assert ds.sizes["trial"] == onsets.size and ds.sizes["time"] == 640
    first = int(round(onsets[3] * 160))
    np.testing.assert_array_equal(ds["data"].values[3], rec.samples[first : first + 640])
    assert set(ds["condition"].values) == {"T1", "T2"}


# --- files written with pynwb -------------------------------------------------------------------


def test_written_nwb_trials_behaviour_and_conditions(small_nwb, tmp_path):
    rec = read_source(small_nwb)
    assert rec.n_units == 10 and [s.name for s in rec.behavior] == ["hand"]
    ds = bin_recording(
        rec, BinningOptions.from_config({"bin_size_s": 0.05, "align_event": "go_time", "window_s": [-0.2, 0.6]})
    )
    assert ds.sizes == {"trial": 12, "time": 16, "channel": 10, "behavior_var": 2}
    assert list(ds["behavior_var"].values) == ["hand_x", "hand_y"]
    # behaviour is the mean of its samples inside each bin (sin(t) sampled at 100 Hz)
    stamps = rec.behavior[0].timestamps
    edges = (ds["align_time"].values[:, None] + -0.2) + np.arange(17) * 0.05  # documented bin edges
    expected = np.array(
        [[np.sin(stamps[(stamps >= a) & (stamps < b)]).mean() for a, b in zip(row[:-1], row[1:])] for row in edges]
    )
    np.testing.assert_allclose(ds["behavior"].values[..., 0], expected, atol=1e-6)
    np.testing.assert_allclose(ds["go_time"].values, 0.0, atol=1e-12)  # relative to alignment
    np.testing.assert_allclose(ds["start_time"].values, -0.3, atol=1e-12)
    assert sorted(set(ds["condition"].values)) == ["0", "1", "2"]
    # seeded split is stratified by condition and reproducible
    again = bin_recording(
        read_source(small_nwb),
        BinningOptions.from_config({"bin_size_s": 0.05, "align_event": "go_time", "window_s": [-0.2, 0.6]}),
    )
    assert list(again["split"].values) == list(ds["split"].values)
    total = sum(
        np.count_nonzero((t >= s) & (t < s + 0.8))
        for t in np.split(rec.spike_times, rec.unit_offsets[1:-1])
        for s in ds["align_time"].values - 0.2
    )
    assert int(ds["data"].sum()) == total


def test_recording_store_round_trip(small_nwb, tmp_path):
    rec = read_source(small_nwb)
    save_recording(rec, tmp_path / "rec.zarr")
    back = load_recording(tmp_path / "rec.zarr")
    np.testing.assert_array_equal(back.spike_times, rec.spike_times)
    np.testing.assert_array_equal(back.unit_offsets, rec.unit_offsets)
    assert set(back.trials) == set(rec.trials)
    np.testing.assert_array_equal(back.behavior[0].values, rec.behavior[0].values)
    assert back.extent == rec.extent and back.source_sha256 == rec.source_sha256


def test_heldout_and_split_columns_are_used(tmp_path):
    rng = np.random.default_rng(0)
    trains = [np.sort(rng.uniform(0, 10, 50)) for _ in range(6)]
    trials = [(k * 1.0, k * 1.0 + 0.9) for k in range(10)]
    splits = ["train"] * 6 + ["val"] * 2 + ["test"] * 2
    path = write_nwb(
        tmp_path / "cols.nwb",
        trains,
        trials=trials,
        trial_columns={"split": splits},
        heldout=[False, True, False, False, True, False],
    )
    ds = bin_recording(read_source(path), BinningOptions.from_config({"bin_size_s": 0.1}))
    assert list(ds["heldout"].values) == [False, True, False, False, True, False]
    assert list(ds["split"].values) == ["train"] * 6 + ["valid"] * 2 + ["test"] * 2
    assert ds.sizes["time"] == 9  # default window: trial start to the shortest trial's end


def test_obs_intervals_mask_unobserved_bins(tmp_path):
    trains = [np.array([0.1, 0.5, 2.5]), np.array([0.2, 2.2])]
    path = write_nwb(
        tmp_path / "obs.nwb",
        trains,
        trials=[(0.0, 1.0), (2.0, 3.0)],
        obs_intervals=[[[0.0, 3.0]], [[0.0, 0.55], [2.0, 3.0]]],
    )
    ds = bin_recording(read_source(path), BinningOptions.from_config({"bin_size_s": 0.1, "min_spikes": 0}))
    mask = ds["mask"].values
    assert mask[:, :, 0].all()
    assert mask[0, :5, 1].all() and not mask[0, 5:, 1].any() and mask[1, :, 1].all()


def test_dataset_contract_rejects_violations(small_nwb, tmp_path):
    ds = bin_recording(read_source(small_nwb), BinningOptions.from_config({"bin_size_s": 0.1}))
    validate_dataset(ds)
    broken = ds.copy()
    broken["split"] = ("trial", np.asarray(["valid"] * ds.sizes["trial"], dtype=object), ds["split"].attrs)
    with pytest.raises(DatasetContractError, match="no training trials"):
        validate_dataset(broken)
    unlabelled = ds.copy()
    del unlabelled["mask"].attrs["units"]
    with pytest.raises(DatasetContractError, match="'mask' lacks the attr 'units'"):
        write_dataset(unlabelled, tmp_path / "x.zarr")
    assert not (tmp_path / "x.zarr").exists()
    signed = ds.copy()
    signed["data"] = signed["data"].astype(np.int32)
    with pytest.raises(DatasetContractError, match="unsigned"):
        validate_dataset(signed)


def test_options_name_the_bad_field():
    with pytest.raises(ConfigError, match="binning.bin_sise_s"):
        BinningOptions.from_config({"bin_sise_s": 0.01})
    with pytest.raises(ConfigError, match="binning.segment"):
        BinningOptions.from_config({"segment": "epochs"})
    with pytest.raises(ConfigError, match="split.fractions"):
        BinningOptions.from_config(None, {"fractions": {"valid": 0.6, "test": 0.5}})


# --- bad input: one line naming the file and the problem, exit 1, nothing left behind -------------


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def bad_sources(tmp_path: Path, small_nwb: Path) -> dict[str, tuple[Path, list[str], str]]:
    rng = np.random.default_rng(0)
    good_trains = [np.sort(rng.uniform(0, 5, 20)) for _ in range(3)]
    trials = [(0.0, 1.0), (2.0, 3.0)]
    text = tmp_path / "notes.nwb"
    text.write_text("these are not spikes\n")
    unsorted = [good_trains[0], np.array([0.5, 0.2, 0.9]), good_trains[2]]
    nan = [good_trains[0], np.array([0.1, np.nan]), good_trains[2]]
    edf_src = tmp_path / "tiny.edf"
    _write_edf(edf_src)
    return {
        "not a recording": (text, [], "not an NWB (HDF5), EDF/BDF or NumPy (.npy/.npz) file"),
        "truncated nwb": (_truncated(small_nwb, tmp_path / "cut.nwb"), [], "cannot be read as NWB"),
        "truncated edf": (_truncated(edf_src, tmp_path / "cut.edf"), [], "is truncated"),
        "no units": (write_nwb(tmp_path / "nounits.nwb", None, trials=trials), [], "has no units table"),
        "empty units": (write_nwb(tmp_path / "empty.nwb", [], trials=trials), [], "units table is empty"),
        "unsorted": (write_nwb(tmp_path / "unsorted.nwb", unsorted, trials=trials), [], "not sorted within unit 1"),
        "nan": (write_nwb(tmp_path / "nan.nwb", nan, trials=trials), [], "non-finite"),
        "window outside": (
            write_nwb(
                tmp_path / "late.nwb", good_trains, trials=[(0.0, 1.0), (4.5, 5.5)], obs_intervals=[[[0.0, 5.0]]] * 3
            ),
            [],
            "outside the recording",
        ),
        "empty after filtering": (small_nwb, ["--min-spikes", "100000"], "no units left after filtering"),
        "missing event column": (
            small_nwb,
            ["--align-event", "cue_time", "--window", "0", "0.5"],
            "no column 'cue_time'",
        ),
    }


def _write_edf(path: Path) -> None:
    import mne

    info = mne.create_info(["A1", "A2"], 100.0, "eeg")
    raw = mne.io.RawArray(np.random.default_rng(0).normal(size=(2, 1000)) * 1e-5, info, verbose="error")
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")


def test_bad_inputs_fail_cleanly(tmp_path, small_nwb, capsys):
    cases = bad_sources(tmp_path, small_nwb)
    for name, (source, extra, problem) in cases.items():
        out = tmp_path / "out" / f"{name.replace(' ', '_')}.zarr"
        rc = main(["ingest", str(source), str(out), "--bin-size", "0.1", *extra])
        err = capsys.readouterr().err.strip().splitlines()
        errors = [line for line in err if line.startswith("neurodyn: error:")]
        assert rc == 1, name
        assert len(errors) == 1 and problem in errors[0], (name, err)
        assert str(source.name) in errors[0] or "config" in errors[0], (name, errors[0])
        leftovers = list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
        assert leftovers == [], (name, leftovers)


def test_missing_alignment_values_error_or_drop(tmp_path):
    rng = np.random.default_rng(0)
    trains = [np.sort(rng.uniform(0, 6, 40)) for _ in range(3)]
    trials = [(k * 1.0, k * 1.0 + 0.9) for k in range(5)]
    path = write_nwb(
        tmp_path / "go.nwb", trains, trials=trials, trial_columns={"go_time": [0.2, np.nan, 2.2, 3.2, np.nan]}
    )
    opts = {"bin_size_s": 0.1, "align_event": "go_time", "window_s": [0.0, 0.5]}
    with pytest.raises(ConfigError, match="NaN in 2 trial"):
        bin_recording(read_source(path), BinningOptions.from_config(opts))
    ds = bin_recording(read_source(path), BinningOptions.from_config({**opts, "on_missing_event": "drop"}))
    assert list(ds["trial"].values) == [0, 2, 3]


def test_missing_file_and_existing_output_is_kept(tmp_path, small_nwb, capsys):
    out = tmp_path / "keep.zarr"
    assert main(["ingest", str(small_nwb), str(out), "--bin-size", "0.1"]) == 0
    before = open_dataset(out)["data"].values.copy()
    assert main(["ingest", str(tmp_path / "missing.nwb"), str(out), "--bin-size", "0.1"]) == 1
    assert "missing.nwb: no such file" in capsys.readouterr().err
    np.testing.assert_array_equal(open_dataset(out)["data"].values, before)  # the old store survives


def test_installed_command_help_and_info(small_nwb, tmp_path):
    exe = Path(sys.executable).with_name("neurodyn")
    for command in ([], ["ingest"], ["info"], ["fit"], ["analyze"], ["report"], ["synthesize"]):
        run = subprocess.run([str(exe), *command, "--help"], capture_output=True, text=True)
        assert run.returncode == 0 and "usage: neurodyn" in run.stdout
    out = tmp_path / "d.zarr"
    subprocess.run(
        [str(exe), "ingest", str(small_nwb), str(out), "--bin-size", "0.05"], check=True, capture_output=True
    )
    info = subprocess.run([str(exe), "info", str(out)], capture_output=True, text=True, check=True).stdout
    assert "counts dataset, 12 trials × 20 bins × 10 channels" in info
    bad = subprocess.run([str(exe), "info", str(tmp_path / "nope.zarr")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().endswith("nope.zarr: no such dataset store")


def test_binning_a_stored_recording_equals_binning_the_file(small_nwb, tmp_path):
    """The workflow bins the recording store, the command line the file: same dataset."""
    opts = {"bin_size_s": 0.05, "align_event": "go_time", "window_s": [-0.2, 0.6]}
    direct = bin_recording(read_source(small_nwb), BinningOptions.from_config(opts))
    save_recording(read_source(small_nwb), tmp_path / "rec.zarr")
    stored = bin_recording(load_recording(tmp_path / "rec.zarr"), BinningOptions.from_config(opts))
    assert set(direct.variables) == set(stored.variables)
    for name in direct.variables:
        np.testing.assert_array_equal(
            np.asarray(direct[name].values).astype(str) if direct[name].dtype.kind in "OUT" else direct[name].values,
            np.asarray(stored[name].values).astype(str) if stored[name].dtype.kind in "OUT" else stored[name].values,
            err_msg=name,
        )


def test_edf_band_pass_and_resample(tmp_path):
    import mne

    sfreq, n = 200.0, 4000
    t = np.arange(n) / sfreq
    slow, fast = np.sin(2 * np.pi * 2 * t), np.sin(2 * np.pi * 30 * t)
    raw = mne.io.RawArray(
        np.stack([slow + fast, slow]) * 50e-6, mne.create_info(["Fz.", "Cz.."], sfreq, "eeg"), verbose="error"
    )
    path = tmp_path / "two_tones.edf"
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
    plain = read_source(path)
    assert plain.channel_names == ["Fz", "Cz"] and plain.sfreq == sfreq
    banded = read_source(path, l_freq=20.0, h_freq=40.0, resample_hz=100.0)
    assert banded.sfreq == 100.0 and banded.samples.shape == (n // 2, 2)
    middle = slice(200, -200)  # away from filter edge effects
    # the 30 Hz tone passes (amplitude 50 µV), the 2 Hz tone is removed
    np.testing.assert_allclose(banded.samples[middle, 0].std(), 50 / np.sqrt(2), rtol=0.05)
    assert banded.samples[middle, 1].std() < 0.05 * plain.samples[:, 1].std()
    with pytest.raises(ConfigError, match="channels"):
        read_source(path, channels=["Oz"])


@pytest.mark.parametrize("kind", ["spikes", "continuous"])
def test_streamed_store_equals_in_memory_dataset(small_nwb, tmp_path, kind):
    """Writing in blocks of a few trials gives exactly the dataset binned in one piece."""
    from neurodyn.data.binned import bin_to_store

    if kind == "spikes":
        rec = read_source(small_nwb)
        opts = {"bin_size_s": 0.05, "align_event": "go_time", "window_s": [-0.2, 0.6]}
    else:
        import mne

        raw = mne.io.RawArray(
            np.random.default_rng(1).normal(size=(3, 3000)) * 2e-5,
            mne.create_info(["A", "B", "C"], 100.0, "eeg"),
            verbose="error",
        )
        raw.set_annotations(mne.Annotations([4.0], [3.0], ["BAD_motion"]))
        path = tmp_path / "sig.edf"
        mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
        rec = read_source(path)
        opts = {"bin_size_s": 0.02, "segment": "windows", "segment_length_s": 1.0, "zscore": True}
    whole = bin_recording(rec, BinningOptions.from_config(opts), config_hash="h")
    one_trial = whole.sizes["time"] * whole.sizes["channel"] * (whole["data"].dtype.itemsize + 1)
    bin_to_store(
        rec, BinningOptions.from_config(opts), tmp_path / "s.zarr", config_hash="h", block_bytes=3 * one_trial
    )  # blocks of three trials
    streamed = open_dataset(tmp_path / "s.zarr")
    assert streamed.sizes == whole.sizes and streamed.attrs == whole.attrs
    for name in whole.variables:
        a, b = whole[name].values, streamed[name].values
        if a.dtype.kind in "OUT":
            a, b = a.astype(str), b.astype(str)
        if a.dtype.kind == "f":
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(b, a, err_msg=name)
    if kind == "continuous":
        assert not streamed["mask"].values.all()  # the BAD span is masked


def test_summary_of_a_lazy_store_reduces_in_blocks(small_nwb, tmp_path):
    from neurodyn.data.dataset import summary, trial_blocks

    assert trial_blocks(10, 100, 350) == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    ds = bin_recording(read_source(small_nwb), BinningOptions.from_config({"bin_size_s": 0.05}))
    write_dataset(ds, tmp_path / "d.zarr")
    lazy = open_dataset(tmp_path / "d.zarr", load=False)
    got = summary(lazy)
    assert got["total_spikes"] == int(ds["data"].values.sum())
    rates = ds["data"].values.sum(axis=(0, 1)) / (ds.sizes["trial"] * ds.sizes["time"] * 0.05)
    np.testing.assert_allclose(got["mean_rate_hz"], rates.mean())
    assert got == summary(ds)


def test_block_moments_match_numpy_despite_a_large_offset():
    from neurodyn.data.dataset import combine_moments

    x = 1e6 + np.random.default_rng(0).normal(size=(10000, 3))
    moments = (0, 0.0, 0.0)
    for block in np.array_split(x, 7):
        moments = combine_moments(moments, block)
    np.testing.assert_allclose(moments[1], x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(moments[2] / moments[0]), x.std(axis=0), rtol=1e-9)
