"""What neurodyn writes is good NWB and good zarr.

The synthetic NWB passes nwbinspector and reads into pynapple; zarr stores carry consolidated
metadata (no warning on open), strings come back as plain numpy ``str``, variables state their
units; a real Snakemake run keeps its flag files out of every store.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from conftest import REPO

from neurodyn.analysis.evaluate import AnalysisResult, array_descriptions, power_density_units
from neurodyn.data.binned import BinningOptions, SplitOptions, bin_recording, bin_to_store
from neurodyn.data.dataset import open_dataset, write_dataset
from neurodyn.data.recording import SpikeRecording, load_recording, save_recording
from neurodyn.errors import ConfigError
from neurodyn.io import nwb as nwb_reader
from neurodyn.io.edf import read_edf
from neurodyn.stages.manifest import manifest_path, store_path, write_manifest
from neurodyn.storage import _writer_tag, has_consolidated_metadata, open_store
from neurodyn.synthetic import TeacherConfig, make_teacher, simulate_session, synthesize

SMALL = TeacherConfig(n_trials=16, n_units=20, seed=5)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The synthetic files of a small teacher and the session they were written from."""
    out = tmp_path_factory.mktemp("synthetic") / "demo"
    paths = synthesize(SMALL, out)
    session = simulate_session(make_teacher(SMALL), SMALL)
    return paths, session


# --- NWB ------------------------------------------------------------------------------------------


def test_synthetic_nwb_passes_nwbinspector(synthetic):
    from nwbinspector import Importance, inspect_nwbfile

    paths, _ = synthetic
    messages = list(inspect_nwbfile(nwbfile_path=str(paths["nwb"])))
    serious = [
        f"{m.importance.name} {m.check_function_name}: {m.message}"
        for m in messages
        if m.importance.value >= Importance.BEST_PRACTICE_VIOLATION.value
    ]
    assert serious == []
    # the findings that used to be there are gone for good, not merely demoted
    names = {m.check_function_name for m in messages}
    assert not names & {"check_subject_age", "check_subject_sex", "check_regular_timestamps", "check_missing_unit"}


def test_pynapple_reads_units_with_heldout_and_trials(synthetic):
    import pynapple as nap

    paths, session = synthetic
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a metadata name clashing with a pynapple attribute
        nwb = nap.load_file(str(paths["nwb"]))
        units, trials = nwb["units"], nwb["trials"]
    assert isinstance(units, nap.TsGroup) and len(units) == session.n_units
    assert "heldout" in units.metadata_columns
    np.testing.assert_array_equal(np.asarray(units["heldout"], dtype=bool), session.heldout)
    np.testing.assert_array_equal(units[0].t, session.unit_spike_times(0))
    assert isinstance(trials, nap.IntervalSet) and len(trials) == session.n_trials
    np.testing.assert_allclose(trials.start, session.start_time)
    assert {"data_split", "condition", "stim_on_time"} <= set(trials.metadata_columns)
    assert list(trials["data_split"]) == list(session.split)
    cursor = nwb["cursor"]
    np.testing.assert_allclose(cursor.values, session.cursor / 100)  # metres
    np.testing.assert_allclose(cursor.t, session.cursor_timestamps, atol=1e-9)


def _spike_recording(split_column: str | None) -> SpikeRecording:
    """A tiny recording whose trials table labels splits in ``split_column`` (or not at all)."""
    rng = np.random.default_rng(0)
    n_units, n_trials = 3, 10
    trains = [np.sort(rng.uniform(0, 10, 40)) for _ in range(n_units)]
    trials = {
        "id": np.arange(n_trials),
        "start_time": np.arange(n_trials, dtype=float),
        "stop_time": np.arange(n_trials, dtype=float) + 0.8,
    }
    labels = np.asarray(["train"] * 6 + ["val"] * 2 + ["test"] * 2)
    if split_column is not None:
        trials[split_column] = labels
    return SpikeRecording(
        source="memory",
        source_sha256="0" * 64,
        spike_times=np.concatenate(trains),
        unit_offsets=np.concatenate([[0], np.cumsum([t.size for t in trains])]).astype(np.int64),
        unit_ids=np.arange(n_units),
        trials=trials,
        extent=(0.0, 10.0),
    )


@pytest.mark.parametrize("column", ["split", "data_split"])
def test_auto_split_reads_the_old_and_the_new_column_name(column):
    assert column in SplitOptions.AUTO_COLUMNS
    opts = BinningOptions.from_config({"bin_size_s": 0.1, "min_spikes": 0}, {}, {"fraction": 0.0})
    ds = bin_recording(_spike_recording(column), opts)
    assert ds["split"].values.tolist() == ["train"] * 6 + ["valid"] * 2 + ["test"] * 2


def test_auto_split_without_a_labelled_column_is_seeded():
    opts = BinningOptions.from_config({"bin_size_s": 0.1, "min_spikes": 0}, {}, {"fraction": 0.0})
    seeded = bin_recording(_spike_recording(None), opts)["split"].values.tolist()
    again = bin_recording(_spike_recording("labels"), opts)["split"].values.tolist()
    assert seeded == again and "train" in seeded  # an unknown column name is not taken for a split


def test_synthetic_nwb_ingests_with_its_split_and_heldout_units(synthetic, tmp_path):
    paths, session = synthetic
    rec = nwb_reader.read_nwb(paths["nwb"])
    ds = bin_recording(rec, BinningOptions.from_config({"bin_size_s": 0.02}))
    expected = [{"val": "valid"}.get(s, s) for s in session.split]
    assert ds["split"].values.tolist() == expected
    np.testing.assert_array_equal(ds["heldout"].values, session.heldout[np.isin(rec.unit_ids, ds["channel"].values)])


def test_absurdly_large_synthesis_is_refused_and_leaves_no_folder(tmp_path):
    out = tmp_path / "deep" / "demo"
    with pytest.raises(ConfigError, match="memory"):
        synthesize(TeacherConfig(n_trials=10**12, n_units=20), out)
    assert not (tmp_path / "deep").exists()


def test_synthesis_replaces_a_dead_writers_temporaries(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = _writer_tag().rsplit("-", 1)[0]
    leftover = out / f"recording.nwb.tmp-{host}-{dead.pid}"
    leftover.write_bytes(b"half an NWB file")
    synthesize(TeacherConfig(n_trials=3, n_units=5), out)
    assert sorted(p.name for p in out.iterdir()) == ["eeg.edf", "recording.nwb", "teacher.json", "teacher.npz"]


# --- zarr stores ----------------------------------------------------------------------------------


def _only_zarr_files(store: Path) -> list[str]:
    """Files in a zarr v3 store that are neither metadata (zarr.json) nor chunks (under c/)."""
    foreign = []
    for path in store.rglob("*"):
        relative = path.relative_to(store)
        if path.is_file() and path.name != "zarr.json" and "c" not in relative.parts:
            foreign.append(str(relative))
    return foreign


def _check_store_opens_quietly(store: Path) -> xr.Dataset:
    """Opening with xarray's defaults warns about nothing (consolidated metadata, no foreign files)."""
    assert has_consolidated_metadata(store), store
    assert _only_zarr_files(store) == [], store
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xr.open_zarr(store).load()
        xr.open_dataset(store, engine="zarr").load()
        return open_store(store)


@pytest.fixture(scope="module")
def stores(synthetic, tmp_path_factory):
    """Recording and dataset stores of the synthetic NWB (spikes) and EDF (z-scored signal)."""
    paths, _ = synthetic
    out = tmp_path_factory.mktemp("stores")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # writing warns about nothing either
        spikes = nwb_reader.read_nwb(paths["nwb"])
        save_recording(spikes, out / "spikes_recording.zarr")
        bin_to_store(spikes, BinningOptions.from_config({"bin_size_s": 0.02}), out / "spikes.zarr")
        eeg = read_edf(paths["edf"])
        save_recording(eeg, out / "eeg_recording.zarr")
        opts = BinningOptions.from_config(
            {"bin_size_s": None, "segment": "windows", "segment_length_s": 1.0, "zscore": True}
        )
        bin_to_store(eeg, opts, out / "eeg.zarr", block_bytes=4096)  # several appended blocks
    return out


@pytest.mark.parametrize("name", ["spikes_recording.zarr", "spikes.zarr", "eeg_recording.zarr", "eeg.zarr"])
def test_stores_open_without_warnings(stores, name):
    _check_store_opens_quietly(stores / name)


def test_strings_round_trip_to_plain_str(stores, tmp_path):
    ds = open_dataset(stores / "spikes.zarr")
    lazy = open_dataset(stores / "spikes.zarr", load=False)
    for opened in (ds, lazy):
        for name in ("split", "condition"):
            values = opened[name].values
            assert values.dtype.kind == "U", (name, values.dtype)
            assert values.astype(str).tolist() == [str(v) for v in values.tolist()]
    eeg = open_dataset(stores / "eeg.zarr")
    assert eeg["channel_name"].values.dtype.kind == "U"
    rec = load_recording(stores / "eeg_recording.zarr")
    assert np.asarray(rec.annotations["description"]).dtype.kind == "U"
    # what was read writes back and reads again unchanged (zarr's string type, not fixed-width unicode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_dataset(ds, tmp_path / "again.zarr")
    again = _check_store_opens_quietly(tmp_path / "again.zarr")
    assert again["split"].values.tolist() == ds["split"].values.tolist()
    meta = json.loads((tmp_path / "again.zarr" / "split" / "zarr.json").read_text())
    assert meta["data_type"] == "string"


def test_units_attributes_of_the_stores(stores):
    spikes = open_dataset(stores / "spikes.zarr")
    assert spikes["data"].attrs["units"] == "count"
    assert spikes["time"].attrs["units"] == "s" and spikes["align_time"].attrs["units"] == "s"
    assert spikes["stim_on_time"].attrs["units"] == "s"
    eeg = open_dataset(stores / "eeg.zarr")
    data = eeg["data"].attrs
    assert data["units"] == "1" and "z-score" in data["long_name"]
    assert data["ancillary_variables"] == "channel_mean channel_std"
    signal_units = load_recording(stores / "eeg_recording.zarr").unit
    assert signal_units == "uV"
    for name in ("channel_mean", "channel_std"):
        assert eeg[name].attrs["units"] == signal_units
    # the z-score is stated, and is one: each channel has mean 0 and standard deviation 1
    values = eeg["data"].values.reshape(-1, eeg.sizes["channel"]).astype(np.float64)
    np.testing.assert_allclose(values.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(values.std(0), 1, atol=1e-4)
    recording = open_store(stores / "spikes_recording.zarr")
    assert recording["spike_times"].attrs["units"] == "s"
    assert recording["trials.start_time"].attrs["units"] == "s"
    assert recording["behavior.cursor"].attrs["units"] == "meters"


def test_analysis_array_units():
    counts = array_descriptions("counts", "count", "Hz")
    assert counts["time"][0] == "s" and counts["frequency"][0] == "Hz" and counts["transfer_frequency"][0] == "Hz"
    assert counts["psd_recorded"][0] == "Hz^2/Hz" and counts["prediction"][0] == "count"
    signal = array_descriptions("continuous", "uV", "uV")
    assert signal["psd_generated"][0] == "uV^2/Hz" and signal["generated_data"][0] == "uV"
    assert power_density_units("1") == "1/Hz" and power_density_units("m/s") == "(m/s)^2/Hz"


def test_manifest_names_its_store_and_lists_its_variables(stores):
    store = stores / "spikes.zarr"
    manifest = write_manifest(store)
    assert manifest == manifest_path(store) and store_path(manifest) == store
    payload = json.loads(manifest.read_text())
    assert payload["store"] == "spikes.zarr" and payload["config_hash"] == open_dataset(store).attrs["config_hash"]
    assert payload["variables"]["data"]["shape"] == list(open_dataset(store)["data"].shape)


# --- a real Snakemake run -------------------------------------------------------------------------

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

WORKFLOW = {
    "synthetic": {"tiny": {"seed": 2, "n_units": 12, "n_trials": 24, "n_conditions": 4}},
    "models": {"lds": {"family": "lds", "latent_dim": 2, "smoothing_s": 0.02, "gpus": 0}},
    "analysis": {"smoothing_s": 0.02, "distill": False},
    "datasets": {
        "spikes": {
            "source": {"kind": "synthetic", "generator": "tiny", "file": "nwb", "inputs": ["stimulus"]},
            "binning": {"bin_size_s": 0.02, "align_event": "stim_on_time", "window_s": [-0.2, 0.6]},
            "models": ["lds"],
        },
        "eeg": {
            "source": {"kind": "synthetic", "generator": "tiny", "file": "edf"},
            "binning": {"bin_size_s": None, "segment": "windows", "segment_length_s": 2.0, "zscore": True},
            "models": ["lds"],
        },
    },
}
TARGETS: list[str] = []  # the default target: reports and index, through every store


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, *args, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    command += ["--configfile", str(workdir / "config.yaml")]  # last: it takes every value after it
    return subprocess.run(command, capture_output=True, text=True)


@pytest.mark.integration
def test_workflow_keeps_flag_files_out_of_stores(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(WORKFLOW))
    run = _snakemake(tmp_path, *TARGETS)
    assert run.returncode == 0, run.stderr[-4000:]
    results = tmp_path / "results"
    stores = sorted(results.rglob("*.zarr"))
    names = {str(s.relative_to(results)) for s in stores}
    assert names == {
        f"{d}/{s}" for d in ("spikes", "eeg") for s in ("recording.zarr", "dataset.zarr", "analysis/lds/arrays.zarr")
    }
    for store in stores:
        opened = _check_store_opens_quietly(store)  # no .snakemake_timestamp inside, no warning
        listed = json.loads(manifest_path(store).read_text())["variables"]
        assert set(listed) == {str(name) for name in opened.variables}
    # the analysis arrays state real units
    for dataset, psd_units in (("spikes", "Hz^2/Hz"), ("eeg", "1/Hz")):
        arrays = AnalysisResult.load(results / dataset / "analysis" / "lds").arrays
        assert arrays["time"].attrs["units"] == "s" and arrays["frequency"].attrs["units"] == "Hz"
        assert arrays["psd_recorded"].attrs["units"] == psd_units
        assert arrays["condition"].values.dtype.kind == "U"
    assert open_dataset(results / "eeg" / "dataset.zarr")["data"].attrs["units"] == "1"
    assert (results / "spikes" / "report.html").is_file() and (results / "index.html").is_file()
    # the manifests carry the workflow's bookkeeping: a second run has nothing to do
    again = _snakemake(tmp_path, "--dry-run", *TARGETS)
    assert again.returncode == 0 and re.search(r"Nothing to be done", again.stdout + again.stderr), again.stdout
