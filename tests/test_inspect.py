"""``neurodyn inspect``: what each NWB layout of the corpus, an EDF file and NumPy arrays hold, checked
against an independent h5py reading and what was written; the suggested ``datasets:`` entry parses
with the package's own checks and ingests; bad files get one line and exit 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from nwb_corpus import LAYOUTS, NLB_MISSING_ONSETS, PHY_QUALITY, STIM_CATEGORIES, Expected, build

from neurodyn.cli import main
from neurodyn.data.dataset import open_dataset
from neurodyn.errors import InputFileError
from neurodyn.io.inspect import inspect_file
from neurodyn.stages.config import check_workflow_config
from neurodyn.stages.data import DatasetSpec, ingest_and_bin_stage

REPO = Path(__file__).resolve().parents[1]
EDF_LABELS = ["T1", "T2"] * 6  # one annotation every 4 s from 1 s, 2 s long
EDF_SFREQ = 200.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Expected]:
    directory = tmp_path_factory.mktemp("corpus")
    return {name: build(name, directory) for name in LAYOUTS}


@pytest.fixture(scope="module")
def edf_file(tmp_path_factory) -> Path:
    """60 s of 3 channels at 200 Hz written with mne: 12 T1/T2 annotations and one BAD span."""
    import mne

    path = tmp_path_factory.mktemp("edf") / "task.edf"
    info = mne.create_info(["Fz.", "Cz..", "Pz"], EDF_SFREQ, "eeg")
    signal = np.random.default_rng(0).normal(size=(3, int(60 * EDF_SFREQ))) * 1e-5
    raw = mne.io.RawArray(signal, info, verbose="error")
    onsets = 1.0 + 4.0 * np.arange(len(EDF_LABELS))
    raw.set_annotations(
        mne.Annotations(onsets, [2.0] * len(EDF_LABELS), EDF_LABELS) + mne.Annotations([50.0], [1.0], ["BAD_motion"])
    )
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
    return path


@pytest.fixture(scope="module")
def mixed_rate_edf(tmp_path_factory) -> Path:
    """EEG at 256 Hz beside respiration at 32 Hz, written with edfio (mne's EDF writer)."""
    import edfio

    path = tmp_path_factory.mktemp("edf") / "mixed.edf"
    rng = np.random.default_rng(1)
    edfio.Edf(
        [
            edfio.EdfSignal(rng.normal(size=256 * 30), sampling_frequency=256, label="Fz", physical_dimension="uV"),
            edfio.EdfSignal(rng.normal(size=256 * 30), sampling_frequency=256, label="Cz", physical_dimension="uV"),
            edfio.EdfSignal(rng.normal(size=32 * 30), sampling_frequency=32, label="Resp", physical_dimension="mV"),
        ]
    ).write(path)
    return path


@pytest.fixture(scope="module")
def arrays(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(2)
    np.save(directory / "signal.npy", rng.normal(size=(1500, 3)).astype(np.float32))
    np.save(directory / "wide.npy", rng.normal(size=(3, 1500)))
    np.savez(
        directory / "bundle.npz",
        x=rng.normal(size=(800, 4)),
        t=np.arange(800.0),
        names=np.array(["a", "b", "c", "d"]),
    )
    return {p.stem: p for p in directory.iterdir()}


def _column(table: dict, name: str) -> dict:
    return next(c for c in table["columns"] if c["name"] == name)


def _table(info: dict, name: str) -> dict:
    return next(t for t in info["nwb"]["intervals"] if t["name"] == name)


# --- NWB: the corpus ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_inspect_finds_what_h5py_finds(corpus, layout):
    truth = corpus[layout]
    info = inspect_file(truth.path)
    assert info["kind"] == "nwb"
    nwb = info["nwb"]
    assert nwb["session_description"] == truth.session_description
    units = nwb["units"]
    assert units["n_units"] == truth.n_units
    assert units["total_spikes"] == truth.total_spikes
    assert units["spikes_per_unit"] == {
        "min": int(truth.spike_counts.min()),
        "median": pytest.approx(float(np.median(truth.spike_counts))),
        "max": int(truth.spike_counts.max()),
    }
    assert units["time_span_s"] == pytest.approx(list(truth.time_span))
    assert [c["name"] for c in units["columns"]] == list(truth.unit_columns)
    assert {t["name"] for t in nwb["intervals"]} == set(truth.intervals)
    for name, expected in truth.intervals.items():
        table = _table(info, name)
        assert table["n_rows"] == expected.n_rows
        assert [c["name"] for c in table["columns"]] == list(expected.columns)
    electrodes = nwb["electrodes"]
    assert (None if electrodes is None else electrodes["n_rows"]) == truth.n_electrodes
    series = {s["path"]: tuple(s["shape"]) for key in ("behavior", "acquisition", "stimulus") for s in nwb[key]}
    assert series == truth.series


def test_nlb_style_events_conditions_split_and_behaviour(corpus):
    truth = corpus["nlb_style"]
    info = inspect_file(truth.path)
    trials = _table(info, "trials")
    events = {c["name"] for c in trials["columns"] if c["align_event"]}
    assert events == {"start_time", "stop_time", "move_onset_time"}
    assert _column(trials, "move_onset_time")["n_missing"] == len(NLB_MISSING_ONSETS)
    condition = _column(trials, "condition")
    assert condition["condition"] and condition["n_distinct"] == 4 and sum(condition["values"].values()) == 50
    split = _column(trials, "split")
    assert split["split"] and not split["condition"] and split["values"] == {"train": 36, "val": 7, "test": 7}
    assert info["nwb"]["units"]["n_heldout"] == 10
    hand = info["nwb"]["behavior"][0]
    assert hand["name"] == "hand_pos" and hand["neurodata_type"] == "SpatialSeries" and hand["unit"] == "mm"
    assert hand["mean_rate_hz"] == pytest.approx(100.0)
    cursor = info["nwb"]["acquisition"][0]
    assert cursor["rate_hz"] == 100.0 and cursor["time_span_s"] == pytest.approx([0.0, 59.99])

    entry = info["config"]["entry"]
    assert entry["source"]["intervals"] == "trials"
    binning = entry["binning"]
    assert binning["align_event"] == "move_onset_time" and binning["on_missing_event"] == "drop"
    assert binning["condition_column"] == "condition"
    assert entry["split"] == {"column": "split"} and entry["heldout"] == {"column": "heldout"}
    # the window lies around the event inside most trials: the event is 0.35-0.45 s after a 1 s trial's start
    assert -0.36 <= binning["window_s"][0] < 0 < binning["window_s"][1] <= 0.56
    assert "# behavior: [hand_pos, cursor_pos]" in info["config_yaml"]
    assert "# inputs: [target_pos]" in info["config_yaml"]


def test_custom_intervals_tables_offer_their_own_events_and_conditions(corpus):
    info = inspect_file(corpus["one_electrode_custom_intervals"].path)
    recognition = _table(info, "recognition_table")
    assert {c["name"] for c in recognition["columns"] if c["align_event"]} == {
        "start_time",
        "stop_time",
        "stimulus_onset",
        "response_time",
    }
    assert _column(recognition, "response_time")["n_missing"] == 4
    category = _column(recognition, "stimCategory")
    assert category["condition"] and set(category["values"]) == set(STIM_CATEGORIES)
    assert _column(recognition, "response_value")["condition"]
    assert _table(info, "encoding_table")["n_rows"] == 40
    units = info["nwb"]["units"]
    assert _column(units, "electrodes")["ragged"] is False  # one electrode per unit, no index
    entry = info["config"]["entry"]
    assert entry["source"]["intervals"] == "recognition_table"  # the largest table with events and conditions
    assert entry["binning"]["align_event"] == "stimulus_onset"
    assert entry["binning"]["condition_column"] == "stimCategory"
    assert "on_missing_event" not in entry["binning"]  # stimulus_onset is never missing
    assert "encoding_table (40 rows)" in info["config_yaml"]


def test_phy_units_list_their_labels_and_epochs_are_too_few_for_trials(corpus):
    info = inspect_file(corpus["phy_epochs_only"].path)
    quality = _column(info["nwb"]["units"], "quality")
    assert quality["values"] == {q: PHY_QUALITY.count(q) for q in ("good", "mua", "noise")}
    assert _column(info["nwb"]["units"], "Amplitude")["kind"] == "number"
    epochs = _table(info, "epochs")
    assert epochs["n_rows"] == 3 and _column(epochs, "tags")["ragged"]
    binning = info["config"]["entry"]["binning"]
    assert binning["segment"] == "windows" and "align_event" not in binning
    assert "intervals" not in info["config"]["entry"]["source"]
    assert "# intervals: epochs" in info["config_yaml"]
    assert '# units_where: ["quality!=noise"]' in info["config_yaml"]


def test_wide_units_describe_arrays_and_lists_without_reading_them(corpus):
    info = inspect_file(corpus["wide_units_no_trials"].path)
    units = info["nwb"]["units"]
    waveform = _column(units, "waveform_mean")
    assert waveform["shape"] == [20, 2] and "values" not in waveform
    assert _column(units, "peak_channels")["ragged"]
    assert _column(units, "brain_area")["n_distinct"] == 5
    assert _column(units, "is_good")["values"] == {"True": 200, "False": 100}
    assert _column(units, "cluster_id")["range"] == [1000, 1299]
    assert info["nwb"]["intervals"] == []


def test_units_without_electrodes_and_a_silent_unit(corpus):
    info = inspect_file(corpus["units_without_electrodes"].path)
    assert info["nwb"]["electrodes"] is None
    assert info["nwb"]["units"]["n_silent_units"] == 1
    assert any("no spikes" in note for note in info["notes"])


# --- EDF and arrays ---------------------------------------------------------------------------------------


def test_edf_channels_rates_and_annotations(edf_file):
    info = inspect_file(edf_file)
    edf = info["edf"]
    assert [c["name"] for c in edf["channels"]] == ["Fz", "Cz", "Pz"]  # the reader's cleaned names
    assert {c["type"] for c in edf["channels"]} == {"eeg"} and {c["unit"] for c in edf["channels"]} == {"uV"}
    assert edf["sfreq_hz"] == EDF_SFREQ and not edf["rates_differ"]
    assert edf["duration_s"] == pytest.approx(60.0)
    assert {label: a["count"] for label, a in edf["annotations"].items()} == {"T1": 6, "T2": 6, "BAD_motion": 1}
    assert edf["annotations"]["T1"]["first_onset_s"] == pytest.approx(1.0)
    assert edf["annotations"]["T2"]["first_onset_s"] == pytest.approx(5.0)
    binning = info["config"]["entry"]["binning"]
    assert binning["segment"] == "events" and binning["event_labels"] == ["T1", "T2"]  # BAD spans are not events
    assert binning["window_s"] == [0.0, 2.0] and binning["bin_size_s"] is None


def test_edf_channels_at_different_rates_are_named_and_resampled(mixed_rate_edf):
    info = inspect_file(mixed_rate_edf)
    edf = info["edf"]
    assert edf["rates_differ"] and edf["channel_rates_hz"] == [32.0, 256.0]
    assert {c["name"]: (c["sfreq_hz"], c["unit"]) for c in edf["channels"]} == {
        "Fz": (256.0, "uV"),
        "Cz": (256.0, "uV"),
        "Resp": (32.0, "mV"),
    }
    assert info["config"]["entry"]["source"]["resample_hz"] == 256.0  # the rate most channels have
    assert "# channels: [Fz, Cz]" in info["config_yaml"]
    assert any("different rates" in note for note in info["notes"])


def test_arrays_shapes_keys_and_the_missing_rate(arrays):
    info = inspect_file(arrays["signal"])
    assert info["array"]["arrays"] == [{"shape": [1500, 3], "dtype": "float32", "usable": True}]
    assert info["config"]["entry"]["source"]["sfreq"] is None and "sfreq" in info["notes"][0]
    assert "REQUIRED" in info["config_yaml"]

    bundle = inspect_file(arrays["bundle"])["array"]["arrays"]
    assert {a["key"]: (tuple(a["shape"]), a["usable"]) for a in bundle} == {
        "x": ((800, 4), True),
        "t": ((800,), True),
        "names": ((4,), False),
    }
    assert inspect_file(arrays["bundle"])["config"]["entry"]["source"]["key"] == "x"
    wide = inspect_file(arrays["wide"])
    assert any("transpose" in note for note in wide["notes"])


# --- the command ----------------------------------------------------------------------------------------------


def test_json_output_is_the_summary_in_strict_json(corpus, capsys):
    path = corpus["nlb_style"].path
    assert main(["inspect", str(path), "--json"]) == 0

    def no_nan(constant):
        raise AssertionError(f"{constant} is not JSON")

    printed = json.loads(capsys.readouterr().out, parse_constant=no_nan)
    assert printed == inspect_file(path)
    assert printed["nwb"]["units"]["total_spikes"] == corpus["nlb_style"].total_spikes


def test_text_output_is_one_screen_ending_in_the_entry(corpus, edf_file, arrays, capsys):
    for path in (corpus["nlb_style"].path, corpus["wide_units_no_trials"].path, edf_file, arrays["bundle"]):
        assert main(["inspect", str(path)]) == 0
        out = capsys.readouterr().out
        info = inspect_file(path)
        assert len(out.splitlines()) <= 60
        block = yaml.safe_load(out[out.index("datasets:\n") :])
        assert block == {"datasets": {info["config"]["name"]: info["config"]["entry"]}}
    assert main(["inspect", str(corpus["nlb_style"].path)]) == 0
    out = capsys.readouterr().out
    assert "units: 40, " in out and "intervals/trials: 50 rows" in out
    assert "move_onset_time (float64; 3 NaN" in out


def _suggested_entries(corpus, edf_file, mixed_rate_edf, arrays) -> list[tuple[Path, dict]]:
    """(file, the dataset entry its config block holds, placeholders filled in) for every test file."""
    out = []
    for path in [t.path for t in corpus.values()] + [edf_file, mixed_rate_edf, *arrays.values()]:
        info = inspect_file(path)
        entry = yaml.safe_load(info["config_yaml"])["datasets"][info["config"]["name"]]
        if entry["source"]["kind"] == "array":
            assert entry["source"]["sfreq"] is None  # the placeholder the user fills in
            entry["source"]["sfreq"] = 100.0
        out.append((path, entry))
    return out


def test_the_config_block_passes_the_workflow_checks(corpus, edf_file, mixed_rate_edf, arrays):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for path, entry in _suggested_entries(corpus, edf_file, mixed_rate_edf, arrays):
        spec = DatasetSpec.of(entry)
        assert spec.kind == inspect_file(path)["kind"]
        if spec.kind == "nwb":
            # the new NWB options: a table other than trials is chosen through source.intervals
            assert spec.reader.intervals == entry["source"].get("intervals", "trials")
        check_workflow_config({**config, "datasets": {"inspected": entry}})


def test_the_suggested_entry_ingests(corpus, edf_file, mixed_rate_edf, arrays, tmp_path):
    for k, (path, entry) in enumerate(_suggested_entries(corpus, edf_file, mixed_rate_edf, arrays)):
        out = ingest_and_bin_stage(path, entry, tmp_path / f"ds{k}.zarr")
        ds = open_dataset(out, load=False)
        binning = entry["binning"]
        if "align_event" in binning:
            assert ds.attrs["align_event"] == binning["align_event"]
            assert ds.sizes["time"] == round((binning["window_s"][1] - binning["window_s"][0]) / 0.02)
        if path == corpus["nlb_style"].path:
            assert ds.sizes["trial"] == 50 - len(NLB_MISSING_ONSETS)
        if path == edf_file:
            assert ds.sizes["trial"] == len(EDF_LABELS)


def _plain_hdf5(path: Path) -> Path:
    with h5py.File(path, "w") as h5:
        h5["x"] = np.arange(10)
    return path


def _truncated(source: Path, path: Path) -> Path:
    path.write_bytes(source.read_bytes()[:3000])
    return path


def _object_npy(path: Path) -> Path:
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d, c: (d / "garbage.bin").write_bytes(b"not a recording\n" * 10) and d / "garbage.bin", "not an NWB"),
        (lambda d, c: d, "is a directory"),
        (lambda d, c: d / "absent.nwb", "no such file"),
        (lambda d, c: _plain_hdf5(d / "plain.h5"), "not NWB"),
        (lambda d, c: _truncated(c["nlb_style"].path, d / "cut.nwb"), "cannot be read"),
        (lambda d, c: _object_npy(d / "objects.npy"), "not a readable NumPy array"),
    ],
    ids=["garbage", "directory", "absent", "plain-hdf5", "truncated-nwb", "object-npy"],
)
def test_a_bad_file_gets_one_line_and_exit_1(corpus, tmp_path, capsys, make, says):
    folder = tmp_path / "inputs"
    folder.mkdir()
    path = make(folder, corpus)
    with pytest.raises(InputFileError):
        inspect_file(path)
    assert main(["inspect", str(path)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("neurodyn: error: ") and says in err and "\n" not in err
    assert "Traceback" not in err and captured.out == ""
    shutil.rmtree(folder)
