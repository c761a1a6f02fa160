"""What a user of the workflow sees: a clean run prints no traceback and ends with its report paths, a
fit's progress lines name dataset and model, an unexpected error is one line in the terminal and a
traceback in the job's log, other libraries' warnings stay in the log, and a new neurodyn version
reruns the jobs. Real Snakemake runs in a temporary directory, and the stage logging in process."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

from neurodyn.errors import InputFileError
from neurodyn.stages.logs import is_users_warning, stage_logging

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
PACKAGE = REPO / "src" / "neurodyn"

CONFIG = {
    "models": {
        "smc": {
            "family": "smc_lowrank",
            "n_units": 8,
            "rank": 2,
            "epochs": 3,
            "particles": 4,
            "batch_size": 4,
            "encoder_kernels": [5, 1],
            "encoder_channels": [4],
            "eval_particles": 4,
            "gpus": 0,
        }
    },
    "analysis": {"smoothing_s": 0.0, "distill": False},
    "datasets": {
        "osc": {
            "source": {"kind": "array", "path": "osc.npy", "sfreq": 100.0, "channel_names": ["a", "b", "c", "d"]},
            "binning": {"bin_size_s": None, "segment": "windows", "segment_length_s": 1.0, "zscore": True},
            "heldout": {"fraction": 0.25},
            "models": ["smc"],
        }
    },
}

# a bug in the bin stage (patched in at interpreter start-up through PYTHONPATH), after another
# library (zarr) warned about something that means nothing to the user
BROKEN_BIN_STAGE = """
import neurodyn.stages.data as data_stages


def bin_stage_with_a_bug(recording, dataset_cfg, out):
    import tempfile

    import xarray as xr

    xr.Dataset({"x": ("t", [1.0, 2.0])}).to_zarr(tempfile.mkdtemp() + "/s.zarr", zarr_format=3, consolidated=True)
    sizes = {}
    return sizes["bins"]


data_stages.bin_stage = bin_stage_with_a_bug
"""


def write_recording(workdir: Path) -> None:
    """Four channels mixing a 3 Hz rotation, 100 Hz, 15 s."""
    rng = np.random.default_rng(0)
    t = np.arange(1500) / 100.0
    latents = np.stack([np.sin(2 * np.pi * 3 * t), np.cos(2 * np.pi * 3 * t)], axis=1)
    data = latents @ rng.normal(size=(2, 4)) + 0.1 * rng.normal(size=(len(t), 4))
    np.save(workdir / "osc.npy", data.astype(np.float32))


def snakemake(workdir: Path, config: dict | None, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        command += ["--configfile", str(workdir / "config.yaml")]
    return subprocess.run(command + list(args), capture_output=True, text=True, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    workdir = tmp_path_factory.mktemp("clean")
    write_recording(workdir)
    run = snakemake(workdir, CONFIG)
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir, run


# ----------------------------------------------------------------------------- no false alarms


@pytest.mark.integration
def test_a_clean_run_prints_no_traceback_and_ends_with_its_report_paths(clean_run):
    workdir, run = clean_run
    terminal = run.stdout + run.stderr
    for alarm in ("Traceback", "Exception", "Warning", "ERROR", "unexpected"):
        assert alarm not in terminal, terminal[-4000:]
    reports = terminal[terminal.index("neurodyn: reports:") :].splitlines()
    assert reports[:3] == ["neurodyn: reports:", "    results/index.html", "    results/osc/report.html"]
    assert (workdir / "results" / "osc" / "report.html").is_file()


@pytest.mark.integration
def test_the_default_dry_run_prints_no_traceback(tmp_path):
    run = snakemake(tmp_path, None, "--dry-run")  # the shipped config/config.yaml
    terminal = run.stdout + run.stderr
    assert run.returncode == 0, terminal[-4000:]
    assert "Traceback" not in terminal and "Exception" not in terminal, terminal[-4000:]
    assert "neurodyn: reports:" not in terminal  # a dry run writes no report
    assert not (tmp_path / "results").exists()


# ----------------------------------------------------------------------------- progress


@pytest.mark.integration
def test_a_fits_progress_names_dataset_and_model_in_its_log_and_the_terminal(clean_run):
    workdir, run = clean_run
    log_text = (workdir / "results" / "osc" / "logs" / "fit_smc.log").read_text()
    line = r"INFO neurodyn\.progress: osc/smc \(smc_lowrank\): epoch {}/3 \({}%\), elapsed \d+:\d\d, ETA {}; bound/step -?\d"
    for epoch, percent, eta in ((1, 33, r"\d+:\d\d"), (2, 66, r"\d+:\d\d"), (3, 100, "0:00")):
        assert re.search(line.format(epoch, percent, eta), log_text), log_text
        assert re.search(line.format(epoch, percent, eta), run.stderr)


# ----------------------------------------------------------------------------- a new version reruns


@pytest.mark.integration
def test_a_new_neurodyn_version_reruns_every_job(clean_run, tmp_path):
    workdir, _ = clean_run
    same = snakemake(workdir, CONFIG, "--dry-run")
    assert same.returncode == 0 and "Nothing to be done" in same.stdout + same.stderr, same.stderr[-3000:]

    # another installed version of neurodyn: package metadata found first on the path (the code is the same)
    upgraded = tmp_path / "upgraded"
    (upgraded / "neurodyn-99.0.dist-info").mkdir(parents=True)
    (upgraded / "neurodyn-99.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: neurodyn\nVersion: 99.0\n"
    )
    env = {"PYTHONPATH": str(upgraded)}
    changed = snakemake(workdir, CONFIG, "--list-changes", "params", env=env)
    assert changed.returncode == 0, changed.stderr[-3000:]
    listed = set(changed.stdout.split())
    expected = {
        "results/osc/recording.zarr.manifest.json",  # ingest
        "results/osc/dataset.zarr.manifest.json",  # bin
        "results/osc/models/smc",  # fit
        "results/osc/analysis/smc/metrics.json",  # analyze
        "results/osc/report.html",  # report
        "results/index.html",  # index
    }
    assert expected <= listed, changed.stdout
    dry = snakemake(workdir, CONFIG, "--dry-run", env=env)
    assert "Params have changed since last execution" in dry.stdout + dry.stderr
    for rule in ("ingest", "bin", "fit", "analyze", "report", "index"):
        assert re.search(rf"^{rule}\s+1$", dry.stdout + dry.stderr, re.M), (rule, dry.stdout[-3000:])
    # the results of an earlier version can be kept: leave params out of the rerun triggers
    kept = snakemake(workdir, CONFIG, "--dry-run", "--rerun-triggers", "mtime", "input", "code", env=env)
    assert "Nothing to be done" in kept.stdout + kept.stderr, kept.stderr[-3000:]


# ----------------------------------------------------------------------------- an unexpected error


@pytest.mark.integration
def test_an_unexpected_error_is_one_line_in_the_terminal_and_a_traceback_in_the_jobs_log(tmp_path):
    write_recording(tmp_path)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(BROKEN_BIN_STAGE)
    run = snakemake(tmp_path, CONFIG, env={"PYTHONPATH": str(hook)})
    assert run.returncode != 0
    terminal = run.stdout + run.stderr

    log_text = (tmp_path / "results" / "osc" / "logs" / "bin.log").read_text()
    assert "ERROR neurodyn: unexpected KeyError: 'bins'\nTraceback (most recent call last):" in log_text
    assert re.search(r'File ".*sitecustomize\.py", line \d+, in bin_stage_with_a_bug', log_text)
    assert log_text.rstrip().endswith("KeyError: 'bins'")
    # the other library's warning is in the log, for a bug report, and not in the terminal
    assert "ZarrUserWarning: Consolidated metadata" in log_text
    assert "ZarrUserWarning" not in terminal and "Consolidated metadata" not in terminal

    unexpected = [line for line in terminal.splitlines() if "unexpected KeyError" in line]
    assert len(unexpected) == 1, terminal[-4000:]
    assert unexpected[0].endswith(
        "ERROR neurodyn: unexpected KeyError: 'bins' (traceback in results/osc/logs/bin.log)"
    ), unexpected
    assert "Traceback" not in terminal and "sitecustomize" not in terminal, terminal[-4000:]
    # the index (written by the workflow's error handler) lists the dataset with its error line
    assert "unexpected KeyError: &#x27;bins&#x27;" in (tmp_path / "results" / "index.html").read_text()


# ----------------------------------------------------------------------------- stage logging in process


def test_the_terminal_gets_neurodyns_warnings_and_the_log_every_warning(tmp_path, capsys):
    log_path = tmp_path / "logs" / "stage.log"
    zarr_file = str(Path(sys.modules["zarr"].__file__) if "zarr" in sys.modules else "/site-packages/zarr/api.py")
    with stage_logging(log_path), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn_explicit("unit locations are left out", UserWarning, str(PACKAGE / "io" / "nwb.py"), 172)
        warnings.warn_explicit("consolidated metadata are not in the spec", FutureWarning, zarr_file, 10)
        warnings.warn_explicit("invalid value encountered in divide", RuntimeWarning, str(PACKAGE / "io" / "nwb.py"), 9)
        logging.getLogger("neurodyn").info("a stage line")
    terminal = capsys.readouterr().err
    log_text = log_path.read_text()
    assert "UserWarning: unit locations are left out" in terminal and "a stage line" in terminal
    assert "consolidated metadata" not in terminal and "invalid value" not in terminal
    for text in ("unit locations are left out", "consolidated metadata", "invalid value", "a stage line"):
        assert text in log_text


def test_is_a_users_warning_only_neurodyns_own_user_warnings():
    inside = str(PACKAGE / "io" / "nwb.py")
    assert is_users_warning(UserWarning, inside)
    assert not is_users_warning(DeprecationWarning, inside)
    assert not is_users_warning(type("ZarrUserWarning", (UserWarning,), {}), inside)
    assert not is_users_warning(UserWarning, str(REPO.parent / "elsewhere" / "neurodyn_like.py"))
    assert not is_users_warning(UserWarning, "<string>")


def test_a_bug_is_one_line_in_the_terminal_naming_the_log_that_holds_its_traceback(tmp_path, capsys):
    log_path = tmp_path / "fit.log"
    with pytest.raises(SystemExit) as exited, stage_logging(log_path):
        {}["latent_dim"]
    assert exited.value.code == 1
    terminal = capsys.readouterr().err.strip().splitlines()
    assert len(terminal) == 1
    assert terminal[0].endswith(f"ERROR neurodyn: unexpected KeyError: 'latent_dim' (traceback in {log_path})")
    log_text = log_path.read_text()
    assert "unexpected KeyError: 'latent_dim'\nTraceback (most recent call last):" in log_text
    assert "(traceback in" not in log_text


def test_a_users_error_is_the_same_one_line_in_the_terminal_and_the_log(tmp_path, capsys):
    log_path = tmp_path / "ingest.log"
    with pytest.raises(SystemExit), stage_logging(log_path):
        raise InputFileError("x.npy", "is not a NumPy array")
    terminal = capsys.readouterr().err.strip().splitlines()
    assert len(terminal) == 1 and terminal[0].endswith("ERROR neurodyn: x.npy: is not a NumPy array")
    assert log_path.read_text().strip().endswith("ERROR neurodyn: x.npy: is not a NumPy array")
