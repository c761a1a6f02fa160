"""Continuous recordings stored as NumPy arrays (.npy / .npz)."""

from __future__ import annotations

import numpy as np
import pytest

from neurodyn.cli import main
from neurodyn.data.binned import BinningOptions, bin_recording
from neurodyn.data.dataset import open_dataset
from neurodyn.errors import ConfigError, InputFileError
from neurodyn.io.registry import detect_kind, read_source


def _signal(n=400, c=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, c)).astype(np.float32)


def test_npy_crop_and_bin_keep_the_samples(tmp_path):
    x = _signal()
    np.save(tmp_path / "x.npy", x)
    assert detect_kind(tmp_path / "x.npy") == "array"
    rec = read_source(tmp_path / "x.npy", sfreq=200.0, start_sample=50, n_samples=300, channel_names=["V", "n", "h"])
    assert rec.samples.shape == (300, 3) and rec.extent == (0.0, 1.5)
    np.testing.assert_array_equal(rec.samples, x[50:350])
    ds = bin_recording(
        rec, BinningOptions.from_config({"bin_size_s": None, "segment": "continuous"}, heldout={"fraction": 0.0})
    )
    assert ds["data"].shape == (1, 300, 3) and ds.attrs["sfreq"] == 200.0
    np.testing.assert_array_equal(ds["data"].values[0], x[50:350])
    assert list(ds["channel_name"].values) == ["V", "n", "h"]
    # binning by two samples averages pairs
    ds2 = bin_recording(
        rec, BinningOptions.from_config({"bin_size_s": 0.01, "segment": "continuous"}, heldout={"fraction": 0.0})
    )
    np.testing.assert_allclose(ds2["data"].values[0], x[50:350].reshape(150, 2, 3).mean(1), rtol=1e-6)


def test_npz_key_and_one_dimensional_arrays(tmp_path):
    np.savez(tmp_path / "two.npz", a=_signal()[:, 0], b=_signal(seed=1))
    rec = read_source(tmp_path / "two.npz", sfreq=100.0, key="a")
    assert rec.samples.shape == (400, 1) and rec.channel_names == ["ch0"]
    with pytest.raises(InputFileError, match=r"holds arrays \['a', 'b'\]; name one with source.key"):
        read_source(tmp_path / "two.npz", sfreq=100.0)
    with pytest.raises(InputFileError, match="has no array 'c'"):
        read_source(tmp_path / "two.npz", sfreq=100.0, key="c")


def test_bad_arrays_and_options_are_named(tmp_path):
    x = _signal()
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(ConfigError, match="source.sfreq"):
        read_source(tmp_path / "x.npy")
    with pytest.raises(ConfigError, match="source.n_samples"):
        read_source(tmp_path / "x.npy", sfreq=10.0, start_sample=300, n_samples=200)
    with pytest.raises(ConfigError, match="source.start_sample"):
        read_source(tmp_path / "x.npy", sfreq=10.0, start_sample=400)
    with pytest.raises(ConfigError, match="source.channel_names"):
        read_source(tmp_path / "x.npy", sfreq=10.0, channel_names=["a", "b"])
    bad = x.copy()
    bad[123, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(InputFileError, match="1 non-finite value.*sample 123, channel 2"):
        read_source(tmp_path / "nan.npy", sfreq=10.0)
    read_source(tmp_path / "nan.npy", sfreq=10.0, n_samples=100)  # the NaN is cropped away
    np.save(tmp_path / "cube.npy", np.zeros((4, 3, 2)))
    with pytest.raises(InputFileError, match=r"shape \(4, 3, 2\)"):
        read_source(tmp_path / "cube.npy", sfreq=10.0)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match="objects.npy: is not a readable NumPy array"):
        read_source(tmp_path / "objects.npy", sfreq=10.0)
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    with pytest.raises(InputFileError, match="holds <U1 values"):
        read_source(tmp_path / "text.npy", sfreq=10.0)


def test_cli_ingests_an_array_and_leaves_nothing_on_error(tmp_path, capsys):
    x = _signal()
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "ds.zarr"
    assert (
        main(
            [
                "ingest",
                str(tmp_path / "x.npy"),
                str(out),
                "--bin-size",
                "native",
                "--sfreq",
                "250",
                "--n-samples",
                "200",
                "--zscore",
                "--heldout-fraction",
                "0",
            ]
        )
        == 0
    )
    ds = open_dataset(out)
    expected = (x[:200] - x[:200].mean(0)) / x[:200].std(0)
    np.testing.assert_allclose(ds["data"].values[0], expected, atol=1e-5)
    capsys.readouterr()
    bad = tmp_path / "bad.zarr"
    assert main(["ingest", str(tmp_path / "x.npy"), str(bad), "--bin-size", "native"]) == 1
    assert "source.sfreq" in capsys.readouterr().err and not bad.exists()


def test_bursting_neuron_benchmark_window(bursting_neuron):
    """The rPLRNN benchmark input: the first 1,501 samples (0.5 ms) of the bursting neuron."""
    rec = read_source(bursting_neuron, sfreq=2000.0, n_samples=1501, channel_names=["V", "n", "h"])
    ds = bin_recording(
        rec,
        BinningOptions.from_config(
            {"bin_size_s": None, "segment": "continuous", "zscore": True}, heldout={"fraction": 0.0}
        ),
    )
    data = ds["data"].values[0]
    assert data.shape == (1501, 3)
    np.testing.assert_allclose(data.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(data.std(0), 1, atol=1e-4)
