"""Cluster runs without a cluster: the site settings and their check (neurodyn.stages.cluster), and
real Snakemake dry runs through ``--workflow-profile workflow/profiles/slurm``: 100 sessions × 4
models with ``--jobs 100``, each job sized by its model, the small jobs grouped; a missing or
placeholder account or partition stops the dry run with one line. The real SLURM run is in
tests/test_slurm.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

from neurodyn.stages.cluster import (
    SiteSettings,
    SiteSettingsError,
    array_rules,
    check_site,
    grown,
    is_placeholder,
    requested_settings,
    resource_text,
)

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SLURM_PROFILE = REPO / "workflow" / "profiles" / "slurm"
SITE = {"slurm_account": "lab123", "slurm_partition": "cpu", "slurm_gpu_partition": "gpu"}
# four models of one family with the sizes of four kinds of fit: small and large CPU fits, a
# one-GPU fit and a two-GPU fit with CPUs per GPU
MODELS = {
    "small": {"gpus": 0, "threads": 1, "mem_mb": 2000, "runtime": 10},
    "large": {"gpus": 0, "threads": 4, "mem_mb": 8000, "runtime": 60, "analyze_mem_mb": 6000, "analyze_runtime": 30},
    "gpu1": {"gpus": 1, "threads": 2, "mem_mb": 16000, "runtime": 120},
    "gpu2": {"gpus": 2, "threads": 1, "cpus_per_gpu": 4, "mem_mb": 32000, "runtime": 240},
}


# ----------------------------------------------------------------------------- the package


def test_memory_and_time_double_on_each_retry():
    assert [grown(3000, attempt) for attempt in (1, 2, 3)] == [3000, 6000, 12000]
    assert grown(60, 0) == 60  # Snakemake counts attempts from 1


def test_resource_values_are_read_as_the_plugin_receives_them(monkeypatch):
    monkeypatch.setenv("SITE_ACCOUNT", "lab9")
    monkeypatch.delenv("UNSET_ACCOUNT", raising=False)
    assert resource_text("'lab123'") == resource_text("lab123") == "lab123"
    assert resource_text("$SITE_ACCOUNT") == "lab9"
    assert resource_text("$UNSET_ACCOUNT") == "$UNSET_ACCOUNT"
    assert is_placeholder(resource_text("$UNSET_ACCOUNT"))
    assert [is_placeholder(v) for v in (None, "", " ", "<account>", "<gpu-partition>", "lab", "gpu_a100")] == [
        True, True, True, True, True, False, False,
    ]  # fmt: skip


def test_gpu_fits_go_to_the_gpu_partition_and_others_do_not():
    site = SiteSettings.from_resources(
        {"slurm_account": "'lab'", **{k: v for k, v in SITE.items() if k != "slurm_account"}}
    )
    assert site == SiteSettings("lab", "cpu", "gpu")
    assert (site.partition_for(0), site.partition_for(1), site.partition_for(4)) == ("cpu", "gpu", "gpu")
    assert SiteSettings().partition_for(1) is None  # SLURM's default partition


def test_site_check_names_every_missing_or_placeholder_setting():
    with pytest.raises(SiteSettingsError) as caught:
        check_site(SiteSettings("<account>", None, None), gpu_models=["gpu1"])
    message = str(caught.value)
    assert "\n" not in message
    assert "slurm_account is still the placeholder '<account>'" in message
    assert "slurm_partition is not set" in message
    assert "slurm_gpu_partition is not set (models gpu1 ask for GPUs)" in message
    check_site(SiteSettings(None, "cpu", None), no_account=True)  # --slurm-no-account; no GPU models
    with pytest.raises(SiteSettingsError, match="slurm_account is not set"):
        check_site(SiteSettings(None, "cpu", None))


def test_array_fits_only_for_equal_fit_resources():
    site = SiteSettings("lab", "cpu", "gpu")
    same = {"a": (0, 1, 0, 2000, 10), "b": (0, 1, 0, 2000, 10)}
    check_site(site, arrays=array_rules("fit,analyze"), fit_resources=same)
    with pytest.raises(SiteSettingsError, match="fit resources differ"):
        check_site(site, arrays=array_rules("all"), fit_resources={**same, "c": (1, 1, 0, 2000, 10)})
    assert array_rules("fit; analyze") == {"fit", "analyze"} and array_rules(None) == set()


def test_executor_is_read_from_command_line_then_workflow_then_user_profiles(tmp_path):
    def profile(name: str, **keys) -> Path:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(keys))
        return tmp_path / name / "config.yaml"

    files = {
        "site": profile("site", executor="slurm", **{"slurm-no-account": True}),
        "local": profile("local", executor="local"),
        "wf": profile("wf", **{"slurm-array-jobs": "fit"}),
    }

    def read(argv: list[str], environ: dict | None = None) -> dict:
        return requested_settings(argv, environ or {}, files.get, files.get)

    assert read(["--profile", "site", "-n"]) == {"executor": "slurm", "slurm-no-account": True}
    assert read(["--profile", "site", "--profile", "local"])["executor"] == "local"  # later profiles win
    assert read(["--profile", "site", "--executor", "local"])["executor"] == "local"  # the command line wins
    assert read(["--workflow-profile", "wf"], {"SNAKEMAKE_PROFILE": "site"}) == {
        "executor": "slurm", "slurm-no-account": True, "slurm-array-jobs": "fit",
    }  # fmt: skip
    assert read(["-e", "slurm", "--slurm-array-jobs=all"]) == {"executor": "slurm", "slurm-array-jobs": "all"}
    assert read(["--cores", "2"]) == {}


# ----------------------------------------------------------------------------- real dry runs


def sessions_config(workdir: Path, n_sessions: int) -> Path:
    """``n_sessions`` small array recordings from one sheet, every session fitted by the four MODELS."""
    (workdir / "data").mkdir()
    rows = ["name\tpath\tkind"]
    for i in range(n_sessions):
        np.save(workdir / "data" / f"s{i:03d}.npy", np.zeros((300, 4), np.float32))
        rows.append(f"s{i:03d}\tdata/s{i:03d}.npy\tarray")
    (workdir / "sessions.tsv").write_text("\n".join(rows) + "\n")
    models = {name: {"family": "lds", "latent_dim": 2, "smoothing_s": 0.0, **job} for name, job in MODELS.items()}
    template = {
        "source": {"kind": "array", "sfreq": 100.0},
        "binning": {"bin_size_s": None, "segment": "windows", "segment_length_s": 1.0, "zscore": True},
        "analysis": {"smoothing_s": 0.0, "distill": False},
        "models": list(models),
    }
    config = {"sessions": "sessions.tsv", "session_templates": {"default": template}, "models": models}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir / "config.yaml"


def user_profile(workdir: Path, **resources) -> Path:
    (workdir / "site").mkdir(exist_ok=True)
    (workdir / "site" / "config.yaml").write_text(yaml.safe_dump({"default-resources": resources}))
    return workdir / "site"


def dry_run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--configfile", str(workdir / "config.yaml"), "--workflow-profile", str(SLURM_PROFILE), "-n", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir)


def job_blocks(output: str) -> list[dict[str, str]]:
    """The dry run's jobs: rule, group (if any) and the key: value lines of each."""
    jobs, group = [], None
    for line in output.splitlines():
        if found := re.search(r"Group job (\S+) ", line):
            group = found.group(1)
        elif found := re.match(r"(\s*)(?:local)?rule (\w+):$", line):
            group = group if found.group(1) else None
            jobs.append({"rule": found.group(2), "group": group})
        elif jobs and (found := re.match(r"\s+(\w+): (.*)$", line)):
            jobs[-1].setdefault(found.group(1), found.group(2))
    return jobs


def resources_of(job: dict[str, str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in job["resources"].split(", "))


@pytest.mark.parametrize(
    "resources, expected",
    [
        ({}, "slurm_account is not set; slurm_partition is not set; slurm_gpu_partition is not set (models gpu1, gpu2"),
        ({"slurm_account": "<account>", "slurm_partition": "cpu", "slurm_gpu_partition": "<gpu-partition>"},
         "slurm_account is still the placeholder '<account>'; slurm_gpu_partition is still the placeholder"),
    ],
)  # fmt: skip
def test_dry_run_without_site_settings_stops_with_one_line(tmp_path, resources, expected):
    sessions_config(tmp_path, 2)
    run = dry_run(tmp_path, "--profile", str(user_profile(tmp_path, **resources)))
    assert run.returncode == 1
    errors = [line for line in (run.stdout + run.stderr).splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("neurodyn: error: SLURM site settings: " + expected), errors
    assert "Traceback" not in run.stderr and "Job stats" not in run.stdout + run.stderr
    assert not (tmp_path / ".snakemake" / "slurm_logs").exists()


def test_array_fits_of_differing_models_are_refused(tmp_path):
    sessions_config(tmp_path, 2)
    run = dry_run(tmp_path, "--profile", str(user_profile(tmp_path, **SITE)), "--slurm-array-jobs", "fit")
    assert run.returncode == 1
    assert "neurodyn: error: SLURM job arrays: --slurm-array-jobs includes fit" in run.stderr


def test_hundred_sessions_four_models_through_the_slurm_profile(tmp_path):
    """100 sessions × 4 models with --jobs 100: 1102 jobs, of which the 400 fits and 400 analyze
    jobs are submitted one by one, sized by their models; the 300 data, report and index jobs take
    10 submissions (groups of 20) and none (the index runs where snakemake runs)."""
    sessions_config(tmp_path, 100)
    run = dry_run(tmp_path, "--profile", str(user_profile(tmp_path, **SITE)), "--jobs", "100")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = job_blocks(run.stdout + run.stderr)
    counts = {rule: sum(job["rule"] == rule for job in jobs) for rule in ("ingest", "bin", "fit", "analyze", "report")}
    assert counts == {"ingest": 100, "bin": 100, "fit": 400, "analyze": 400, "report": 100}
    # every ingest, bin and report job sits in a group job of 20; fits and analyses in none
    assert all(job["group"] == "data" for job in jobs if job["rule"] in ("ingest", "bin"))
    assert all(job["group"] == "report" for job in jobs if job["rule"] == "report")
    assert all(job["group"] is None for job in jobs if job["rule"] in ("fit", "analyze", "index"))
    output = run.stdout + run.stderr
    assert output.count("Group job data ") == 5 and output.count("Group job report ") == 5
    for job in jobs:
        if job["rule"] not in ("fit", "analyze"):
            continue
        model = MODELS[re.search(r"model=(\w+)", job["wildcards"]).group(1)]
        resources = resources_of(job)
        assert resources["slurm_account"] == "lab123"
        if job["rule"] == "fit":
            assert resources["mem_mb"] == str(model["mem_mb"]) and resources["runtime"] == str(model["runtime"])
            assert resources["gpu"] == str(model["gpus"])
            assert resources["slurm_partition"] == ("gpu" if model["gpus"] else "cpu")
            assert resources.get("cpus_per_gpu") == (str(model["cpus_per_gpu"]) if "cpus_per_gpu" in model else None)
            # (a dry run caps threads at its one core; tests/test_slurm.py checks the CPUs SLURM gave)
        else:  # analyze asks for no GPU: the CPU partition, its own size or the JobResources defaults
            assert resources["slurm_partition"] == "cpu" and "gpu" not in resources
            assert resources["mem_mb"] == str(model.get("analyze_mem_mb", 4000))
            assert resources["runtime"] == str(model.get("analyze_runtime", 60))
