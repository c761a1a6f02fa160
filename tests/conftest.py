"""Shared fixtures: markers, the real recordings in ../shared/data, and small real NWB/EDF files."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MC_MAZE = SHARED_DATA / "nwb" / "sub-Jenkins_ses-small_desc-test_ecephys.nwb"
EEG_S001R01 = SHARED_DATA / "eegmmidb" / "S001" / "S001R01.edf"
BURSTING_NEURON = SHARED_DATA / "dsr" / "burstingneuron_train.npy"


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption(
        "--browser-pages",
        metavar="DIR",
        default=None,
        help="tests/test_browser.py: check DIR/index.html and every report.html under DIR (e.g. results/ "
        "after `make demo`) instead of the pages it builds itself",
    )
    parser.addoption(
        "--browser-output",
        metavar="DIR",
        default=str(REPO / "test-output" / "browser"),
        help="tests/test_browser.py: where the full-page screenshots go (default: test-output/browser)",
    )


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--run-slow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


def shared_file(path: Path) -> Path:
    """The path of a recording from ../shared/data, or skip the test when it is absent."""
    if not path.is_file():
        pytest.skip(f"{path} is absent (real recordings live in ../shared/data)")
    return path


@pytest.fixture
def mc_maze() -> Path:
    return shared_file(MC_MAZE)


@pytest.fixture
def eeg_s001r01() -> Path:
    return shared_file(EEG_S001R01)


@pytest.fixture
def bursting_neuron() -> Path:
    return shared_file(BURSTING_NEURON)


def write_nwb(
    path: Path,
    spike_trains: list[np.ndarray] | None,
    *,
    trials: list[tuple[float, float]] | None = None,
    trial_columns: dict[str, list] | None = None,
    obs_intervals: list[list[list[float]]] | None = None,
    heldout: list[bool] | None = None,
    behavior: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write a small NWB file with the real pynwb API (units, trials, behaviour)."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.behavior import Position

    nwbfile = NWBFile(
        session_description="test recording",
        identifier=path.stem,
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    if spike_trains is not None and len(spike_trains) == 0:
        from pynwb.misc import Units

        nwbfile.units = Units(name="units", description="no units")
    elif spike_trains is not None:
        if heldout is not None:
            nwbfile.add_unit_column(name="heldout", description="held-out unit")
        for i, times in enumerate(spike_trains):
            kwargs = {"spike_times": np.asarray(times, dtype=float)}
            if obs_intervals is not None:
                kwargs["obs_intervals"] = obs_intervals[i]
            if heldout is not None:
                kwargs["heldout"] = heldout[i]
            nwbfile.add_unit(**kwargs)
    if trials is not None:
        for name in trial_columns or {}:
            nwbfile.add_trial_column(name=name, description=name)
        for k, (start, stop) in enumerate(trials):
            nwbfile.add_trial(start_time=start, stop_time=stop, **{n: v[k] for n, v in (trial_columns or {}).items()})
    if behavior is not None:
        from pynwb.behavior import SpatialSeries

        stamps, values = behavior
        module = nwbfile.create_processing_module("behavior", "behaviour")
        module.add(
            Position(
                spatial_series=SpatialSeries(
                    name="hand", data=values, timestamps=stamps, reference_frame="screen centre", unit="m"
                )
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
    return path


@pytest.fixture
def small_nwb(tmp_path) -> Path:
    """10 units, 12 trials of 1 s with a 'go_time' event, behaviour at 100 Hz."""
    rng = np.random.default_rng(0)
    trains = [np.sort(rng.uniform(0, 15, size=rng.integers(20, 80))) for _ in range(10)]
    trials = [(1.2 * k, 1.2 * k + 1.0) for k in range(12)]
    stamps = np.arange(0, 15, 0.01)
    hand = np.stack([np.sin(stamps), np.cos(stamps)], axis=1)
    return write_nwb(
        tmp_path / "small.nwb",
        trains,
        trials=trials,
        trial_columns={"go_time": [s + 0.3 for s, _ in trials], "condition": [k % 3 for k in range(12)]},
        obs_intervals=[[[0.0, 15.0]]] * 10,
        behavior=(stamps, hand),
    )


def rotating_latent_dataset(
    n_channels: int = 6, n_trials: int = 12, n_time: int = 20, seed: int = 0, held_split: str = "test"
):
    """A continuous dataset: a rotating 2-D latent read out linearly with noise; every fourth trial
    is ``held_split`` (valid or test), every fourth channel held out."""
    from neurodyn.data.dataset import build_dataset

    rng = np.random.default_rng(seed)
    angle = 2 * np.pi * 0.05
    A = 0.97 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    z = np.zeros((n_trials, n_time, 2))
    z[:, 0] = rng.normal(size=(n_trials, 2))
    for t in range(1, n_time):
        z[:, t] = z[:, t - 1] @ A.T + 0.1 * rng.normal(size=(n_trials, 2))
    data = (z @ rng.normal(size=(n_channels, 2)).T + 0.05 * rng.normal(size=(n_trials, n_time, n_channels))).astype(
        np.float32
    )
    return build_dataset(
        data=data,
        kind="continuous",
        data_units="uV",
        time=np.arange(n_time) * 0.01 + 0.005,
        trial_ids=np.arange(n_trials),
        channel_ids=np.arange(n_channels),
        heldout=np.arange(n_channels) % 4 == 0,
        split=np.where(np.arange(n_trials) % 4 == 0, held_split, "train"),
        mask=np.ones(data.shape, bool),
        align_times=np.arange(n_trials) * 2.0,
        attrs={
            "bin_size_s": 0.01,
            "align_event": "start",
            "source": "simulated",
            "source_sha256": "-",
            "config_hash": "-",
        },
    )
