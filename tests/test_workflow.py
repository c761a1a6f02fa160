"""Real Snakemake runs of the workflow on tiny configurations in a temporary directory."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

pytestmark = pytest.mark.integration

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

TINY = {
    "synthetic": {"tiny": {"seed": 1, "n_units": 20, "n_trials": 40, "n_conditions": 4}},
    "models": {
        "lds": {"family": "lds", "latent_dim": 3, "smoothing_s": 0.02, "gpus": 0},
        "smc": {
            "family": "smc_lowrank",
            "n_units": 12,
            "epochs": 3,
            "particles": 8,
            "batch_size": 8,
            "encoder_kernels": [5, 1],
            "encoder_channels": [8],
            "eval_particles": 16,
            "gpus": 0,
        },
        "plrnn": {
            "family": "plrnn_em",
            "latent_dim": 3,
            "restarts": 1,
            "em_iters": [2, 2, 1, 1, 1],
            "gpus": 0,
            "sweep": {"tau": [0.0, 0.5, 50.0]},
        },
        "lfads": {
            "family": "lfads_jslds",
            "gen_dim": 8,
            "ic_enc_dim": 8,
            "ic_dim": 4,
            "factors_dim": 3,
            "epochs": 3,
            "kl_ramp_epochs": 1,
            "l2_ramp_epochs": 1,
            "posterior_samples": 2,
            "gpus": 0,
        },
    },
    "analysis": {"smoothing_s": 0.02},
    "theory": {"sizes": [150], "seeds": 1, "settings": {"tanh_g0p5": {"phi": "tanh", "g": 0.5, "targets": [1.0]}}},
    "datasets": {
        "spikes": {
            "source": {"kind": "synthetic", "generator": "tiny", "file": "nwb", "inputs": ["stimulus"]},
            "binning": {"bin_size_s": 0.02, "align_event": "stim_on_time", "window_s": [-0.2, 0.8]},
            "split": {"column": "data_split"},
            "models": ["lds", "smc", "lfads"],
        },
        "eeg": {
            "source": {"kind": "synthetic", "generator": "tiny", "file": "edf"},
            "binning": {"bin_size_s": None, "segment": "windows", "segment_length_s": 2.0, "zscore": True},
            "models": ["lds"],
        },
        "oscillator": {  # a NumPy array written by the fixture (two noisy phase-shifted sines, 500 Hz)
            "source": {
                "kind": "array",
                "path": "oscillator.npy",
                "sfreq": 500.0,
                "n_samples": 1200,
                "channel_names": ["x", "y"],
            },
            "binning": {"bin_size_s": None, "segment": "continuous", "zscore": True},
            "heldout": {"fraction": 0.0},
            "analysis": {
                "eval_split": "train",
                "smoothing_s": 0.0,
                "generation": "long",
                "burn_in_steps": 200,
                "hellinger_sigma": 2,
            },
            "models": ["plrnn"],
        },
    },
}


def write_oscillator(workdir: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(1500) / 500.0
    signal = np.stack([np.sin(2 * np.pi * 4 * t), np.cos(2 * np.pi * 4 * t)], axis=1)
    np.save(workdir / "oscillator.npy", signal + 0.05 * rng.normal(size=signal.shape))


def snakemake(workdir: Path, config: dict | None, *args: str) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        command += ["--configfile", str(workdir / "config.yaml")]
    return subprocess.run(command + list(args), capture_output=True, text=True)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    write_oscillator(workdir)
    run = snakemake(workdir, TINY)
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir


def test_run_writes_reports_metrics_and_index(finished_run):
    results = finished_run / "results"
    for dataset in ("spikes", "eeg"):
        html = (results / dataset / "report.html").read_text()
        assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html
        assert (results / dataset / "figures").is_dir() and any((results / dataset / "figures").glob("*.png"))
    assert "spikes" in (results / "index.html").read_text()

    spikes = json.loads((results / "spikes" / "analysis" / "lds" / "metrics.json").read_text())["metrics"]
    assert spikes["eval_split"] == "test" and spikes["n_eval_trials"] > 0
    assert -1.0 < spikes["co_bps"] < 1.0
    assert spikes["psth_r2_heldin"] <= 1.0 and 0.0 <= spikes["d_h"] <= 1.0 and spikes["d_stsp"] > -0.1
    assert spikes["n_fixed_points"] == 1
    eeg = json.loads((results / "eeg" / "metrics.json").read_text())
    # EEG channels are mixtures of the same two latents: held-out channels are predictable
    assert eeg["models"]["lds"]["r2_heldout"] > 0.3
    assert eeg["summary"]["kind"] == "continuous"
    fixed = json.loads((results / "spikes" / "analysis" / "lds" / "fixed_points.json").read_text())
    assert len(fixed[0]["eigenvalues"]) == 3
    smc = json.loads((results / "spikes" / "analysis" / "smc" / "metrics.json").read_text())
    assert smc["family"] == "smc_lowrank" and smc["metrics"]["n_fixed_points"] >= 1
    assert smc["spike_statistics"]["rates"]["n_channels_used"] == 20
    smc_fixed = json.loads((results / "spikes" / "analysis" / "smc" / "fixed_points.json").read_text())
    assert all(p["method"].startswith("exact") for p in smc_fixed)
    # the counts agree with the listed points, and each point's stability with its eigenvalues
    assert smc["metrics"]["n_fixed_points"] == len(smc_fixed)
    assert smc["metrics"]["n_stable_fixed_points"] == sum(p["stable"] for p in smc_fixed)
    for point in smc_fixed:
        radius = max(abs(complex(re, im)) for re, im in point["eigenvalues"])
        assert point["stable"] == (radius < 1.0)
    assert (results / "spikes" / "checkpoints" / "smc" / "checkpoint.pt").is_file()
    assert "Fixed points: models vs teacher" in (results / "spikes" / "report.html").read_text()
    truth = json.loads((results / "spikes" / "metrics.json").read_text())["ground_truth"]
    teacher = json.loads((finished_run / "resources" / "synthetic" / "tiny" / "teacher.json").read_text())
    assert truth["n_stable_fixed_points"] == sum(bool(p["stable"]) for p in teacher["fixed_points"])
    combined = json.loads((results / "spikes" / "metrics.json").read_text())["models"]
    assert truth["stable_count_recovered"] == {
        name: combined[name]["n_stable_fixed_points"] == truth["n_stable_fixed_points"]
        for name in ("lds", "smc", "lfads")
    }
    fit_log = (results / "spikes" / "logs" / "fit_lds.log").read_text()
    assert "lds: PCA of" in fit_log and "readout fitted" in fit_log  # progress lines in the job log
    assert (finished_run / "resources" / "synthetic" / "tiny" / "teacher.json").is_file()


def test_lfads_jslds_model(finished_run):
    """LFADS-JSLDS through fit and analysis: co-smoothing, the JSLDS's agreement with its generator,
    numerical fixed points of the generator, and a checkpoint to resume from."""
    results = finished_run / "results" / "spikes"
    lfads = json.loads((results / "analysis" / "lfads" / "metrics.json").read_text())
    values = lfads["metrics"]
    assert lfads["family"] == "lfads_jslds" and -1.0 < values["co_bps"] < 1.0
    # a separate linear system, not a copy of the generator's states (its accuracy after real training
    # is tested in test_lfads); three epochs leave it finite but far from converged
    assert 0.0 < values["jslds_relative_error"] < np.inf and -1.0 < values["jslds_co_bps"] < 1.0
    assert np.isfinite(values["expansion_speed_median"])
    # the JSLDS's modes along the trial, and jPCA of the condition averages against its eigen-planes
    anchors = lfads["expansion"]["expansion_modes"]
    assert len(anchors) == 8 and all(len(a["eigenvalues"]) == 8 for a in anchors)
    jpc = lfads["expansion"]["jpca"]
    assert jpc["n_conditions"] >= 2 and len(jpc["jpca_frequencies_hz"]) == 3
    assert 0.0 <= values["jpca_plane_angle_deg"] <= 90.0 and values["jpca_r2_skew"] == jpc["r2_skew"]
    html = (results / "report.html").read_text()
    assert "expansion_modes_lfads" in html and "jpca_lfads" in html and "the model linearises around" in html
    fixed = json.loads((results / "analysis" / "lfads" / "fixed_points.json").read_text())
    assert all(len(p["eigenvalues"]) == 8 for p in fixed)
    assert (results / "checkpoints" / "lfads" / "checkpoint.pt").is_file()
    assert lfads["fit"]["epochs_run"] == 3


def test_theory_page(finished_run):
    results = finished_run / "results" / "theory"
    metrics = json.loads((results / "metrics.json").read_text())["tanh_g0p5"]
    pole = metrics["theory"][0]["pole"]
    assert abs(pole[0] - (-0.3357)) < 1e-3 and pole[1] == 0.0 and metrics["theory"][0]["stable"]
    (row,) = metrics["finite"]
    assert row["n_units"] == 150 and row["n_outliers"] == 1 and abs(row["outliers"][0][0] - pole[0]) < 0.05
    assert "Trained reservoirs" in (results / "report.html").read_text()
    assert (results / "figures" / "theory_tanh_g0p5.png").is_file()


def test_pages_link_each_other(finished_run):
    """The index links every report and the theory page; each of those links back to the index, and
    every dataset report links the theory page: every relative link resolves to a file."""
    results = finished_run / "results"
    index = (results / "index.html").read_text()
    assert 'href="theory/report.html"' in index
    pages = [results / "theory" / "report.html", *(results / d / "report.html" for d in ("spikes", "eeg"))]
    for page in pages:
        html = page.read_text()
        assert 'href="../index.html"' in html, page
        if page.parent.name != "theory":
            assert f'href="{page.parent.name}/report.html"' in index
            assert 'href="../theory/report.html"' in html
        for href in re.findall(r'href="([^"#:]+)(?:#[^"]*)?"', html):
            assert (page.parent / href).is_file(), (page, href)


def test_array_source_and_plrnn_sweep(finished_run):
    """A .npy recording through ingest, a τ sweep of plrnn_em expanded into three models, and the
    report's sweep section."""
    results = finished_run / "results" / "oscillator"
    combined = json.loads((results / "metrics.json").read_text())
    assert set(combined["models"]) == {"plrnn-tau0", "plrnn-tau0p5", "plrnn-tau50"}
    assert combined["summary"]["n_time_bins"] == 1200 and combined["summary"]["n_channels"] == 2
    for _name, values in combined["models"].items():
        assert values["family"] == "plrnn_em"
        assert values["generation_diverged"] or (values["pse_low"] is not None and values["d_stsp"] is not None)
    strong = json.loads((results / "analysis" / "plrnn-tau50" / "metrics.json").read_text())
    assert strong["model_config"]["tau"] == 50.0 and strong["model_config"]["seed"] == 0
    assert strong["fit"]["history"] and "best_restart" in strong["fit"]  # the family's fit record survives
    html = (results / "report.html").read_text()
    assert '<section id="sweeps">' in html and "plrnn_em: tau" in html
    assert (results / "figures" / "sweep_plrnn_em_tau.png").is_file()


def test_snakemake_report_collects_reports_and_figures(finished_run, tmp_path):
    archive = tmp_path / "report.zip"
    run = snakemake(finished_run, TINY, "--report", str(archive))
    assert run.returncode == 0, run.stderr[-3000:]
    import zipfile

    names = zipfile.ZipFile(archive).namelist()
    assert sum(name.endswith("/report.html") for name in names) >= 3  # two datasets + the overview
    assert any(name.endswith("latents_lds.png") for name in names)


def test_changing_one_dataset_reruns_only_its_jobs(finished_run):
    changed = json.loads(json.dumps(TINY))
    changed["datasets"]["eeg"]["binning"]["segment_length_s"] = 1.0
    dry = snakemake(finished_run, changed, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    outputs = [
        line.split(":", 1)[1] for line in (dry.stdout + dry.stderr).splitlines() if line.strip().startswith("output:")
    ]
    planned = ",".join(outputs)
    assert "results/eeg/dataset.zarr" in planned and "results/eeg/report.html" in planned
    assert "results/spikes/" not in planned
    unchanged = snakemake(finished_run, TINY, "--dry-run")
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr


@pytest.mark.parametrize(
    "edit, named",
    [
        (lambda c: c["datasets"]["spikes"]["binning"].update(bin_sise_s=0.01), "bin_sise_s"),
        (lambda c: c["synthetic"]["tiny"].update(n_unitz=5), "synthetic.tiny.n_unitz"),
        (lambda c: c["datasets"]["eeg"].update(models=["gpfa"]), "no model 'gpfa'"),
        (lambda c: c["models"]["lds"].update(latent_dims=3), "models.lds.latent_dims"),
        (lambda c: c["datasets"].update({"bad name": c["datasets"]["eeg"]}), "bad name"),
        (lambda c: c["datasets"]["spikes"]["binning"].update(window_s=[0.5, 0.2]), "window_s"),
    ],
)
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, edit, named):
    config = json.loads(json.dumps(TINY))
    edit(config)
    run = snakemake(tmp_path, config, "--dry-run")
    assert run.returncode != 0
    assert named in run.stdout + run.stderr
    assert not (tmp_path / "results").exists()


def test_failing_job_reports_one_line_and_leaves_no_output(tmp_path):
    bad = tmp_path / "notes.nwb"
    bad.write_text("not a recording")
    config = {
        "models": TINY["models"],
        "datasets": {
            "broken": {"source": {"kind": "nwb", "path": str(bad)}, "binning": {"bin_size_s": 0.02}, "models": ["lds"]}
        },
    }
    run = snakemake(tmp_path, config)
    assert run.returncode != 0
    log = (tmp_path / "results" / "broken" / "logs" / "ingest.log").read_text().strip().splitlines()
    assert len(log) == 1 and "notes.nwb: not an NWB file (no HDF5 signature)" in log[0]
    assert not (tmp_path / "results" / "broken" / "recording.zarr").exists()


def test_default_config_and_slurm_profile_dry_run(tmp_path):
    run = snakemake(tmp_path, None, "--dry-run")
    assert run.returncode == 0, run.stderr[-3000:]
    for rule in ("synthesize", "ingest", "bin", "fit", "analyze", "report", "index"):
        assert f"rule {rule}:" in run.stdout + run.stderr
    write_oscillator(tmp_path)
    profile = ("--workflow-profile", str(REPO / "workflow/profiles/slurm"))
    # the shipped profile alone lacks the site's account and partitions: one line, before any submission
    unset = snakemake(tmp_path, TINY, "--dry-run", *profile)
    assert unset.returncode == 1
    errors = [line for line in unset.stderr.splitlines() if line.startswith("neurodyn: error:")]
    assert len(errors) == 1 and "slurm_account is not set" in errors[0], unset.stderr[-3000:]
    assert "Traceback" not in unset.stderr
    site = ["--default-resources", "slurm_account=lab1", "slurm_partition=cpu", "slurm_gpu_partition=gpu"]
    slurm = snakemake(tmp_path, TINY, "--dry-run", *profile, *site)
    assert slurm.returncode == 0, slurm.stderr[-3000:]


@pytest.mark.parametrize("configfile", ["shared_data.yaml", "eeg_s001r01.yaml", "bursting_neuron_rplrnn.yaml"])
def test_shipped_configs_pass_the_checks(tmp_path, configfile):
    """Every configuration in config/ passes the schema and the package's checks (dry run)."""
    if not (REPO.parent / "shared" / "data").is_dir():
        pytest.skip("../shared/data is absent (the shipped configs read recordings from it)")
    command = [
        SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(REPO),
        "--cores",
        "1",
        "--configfile",
        str(REPO / "config" / configfile),
        "--dry-run",
        "--config",
        f"results={tmp_path}/r",
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "rule fit:" in run.stdout + run.stderr
