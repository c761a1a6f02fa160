"""The Python API: the README's example runs as written, and the API agrees with the stages."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import neurodyn
from neurodyn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- api-example -->\n```python\n(.*?)```\n<!-- /api-example -->", text, re.S)
    assert match, "README.md has no marked API example"
    return match.group(1)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "<Model lds: 4 latents, 30 channels (counts), 20 ms bins, affine map" in out
    assert "<AnalysisResult of lds on" in out and "co_bps=" in out
    html = (tmp_path / "demo_report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "lds" in html


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from neurodyn.synthetic import TeacherConfig, synthesize

    root = tmp_path_factory.mktemp("api")
    files = synthesize(TeacherConfig(n_trials=24, n_units=20), root / "syn")
    options = {"bin_size_s": 0.02, "align_event": "stim_on_time", "window_s": [-0.2, 0.6]}
    return root, files, options


def test_ingest_in_memory_equals_the_store(small):
    root, files, options = small
    in_memory = neurodyn.ingest(files["nwb"], **options)
    stored = neurodyn.ingest(files["nwb"], root / "ds.zarr", **options)
    np.testing.assert_array_equal(in_memory["data"].values, stored["data"].values)
    assert in_memory.attrs["config_hash"] == stored.attrs["config_hash"]
    with pytest.raises(ConfigError, match="neither a nwb reader option nor a binning option"):
        neurodyn.ingest(files["nwb"], sfreq=100)


def test_fit_checks_options_and_records_the_fit(small):
    _, files, options = small
    ds = neurodyn.ingest(files["nwb"], **options)
    with pytest.raises(ConfigError) as err:
        neurodyn.fit(ds, "lds", latent_dim="four")
    assert err.value.field == "models.lds.latent_dim"
    model = neurodyn.fit(ds, "lds", latent_dim=3, seed=2, device="cpu")
    assert model.family == "lds" and model.options["latent_dim"] == 3
    assert model.fitted.meta["seed"] == 2 and model.fitted.meta["fit"]["device"] == "cpu"
    # an affine map has one fixed point, exactly: z* = (I − A)⁻¹ b
    (point,) = model.fixed_points()
    dyn = model.dynamics()
    A, b = dyn.structure.A.double().numpy(), dyn.structure.b.double().numpy()
    np.testing.assert_allclose(point.z, np.linalg.solve(np.eye(3) - A, b), atol=1e-10)
    assert model.locate_fixed_points().search == {"mode": "exact", "method": "affine"}
    assert "families" in dir(neurodyn) and "lds" in neurodyn.families()


def test_cli_ingest_runs_the_workflows_stages(small, capsys):
    """`neurodyn ingest` and the workflow's ingest + bin stages write the same store, config hash included,
    whichever way the same options are spelled."""
    from neurodyn.cli import main
    from neurodyn.stages import bin_stage, ingest_stage

    root, files, _ = small
    flags = ["--bin-size", "0.02", "--align-event", "stim_on_time", "--window", "-0.2", "0.6", "--min-spikes", "1"]
    assert main(["ingest", str(files["nwb"]), str(root / "cli.zarr"), *flags]) == 0
    capsys.readouterr()
    dataset_cfg = {
        "source": {"kind": "nwb", "path": "elsewhere/recording.nwb", "inputs": []},
        "binning": {"bin_size_s": 0.02, "align_event": "stim_on_time", "window_s": [-0.2, 0.6]},
    }
    recording = ingest_stage(files["nwb"], dataset_cfg["source"], root / "recording.zarr")
    bin_stage(recording, dataset_cfg, root / "workflow.zarr")
    cli, workflow = neurodyn.open_dataset(root / "cli.zarr"), neurodyn.open_dataset(root / "workflow.zarr")
    np.testing.assert_array_equal(cli["data"].values, workflow["data"].values)
    assert cli.attrs["config_hash"] == workflow.attrs["config_hash"]
    # a different option is a different hash; a flag of another reader is refused in one line
    assert main(["ingest", str(files["nwb"]), str(root / "other.zarr"), *flags[:-2], "--min-spikes", "2"]) == 0
    assert neurodyn.open_dataset(root / "other.zarr").attrs["config_hash"] != cli.attrs["config_hash"]
    assert main(["ingest", str(files["nwb"]), str(root / "bad.zarr"), "--sfreq", "100"]) == 1
    assert "'--sfreq': does not apply to nwb sources" in capsys.readouterr().err
    assert not (root / "bad.zarr").exists()
