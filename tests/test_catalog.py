"""The Snakemake workflow catalog's conventions: `snakemake --lint` clean, one software environment
for every rule, .snakemake-workflow-catalog.yml, the .test configuration (a real dry-run and a real
run) and `snakemake --report` with a front page and a caption for every figure."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
RULE_ENVIRONMENT = REPO / "workflow" / "envs" / "neurodyn.yaml"
ALL_RULES = {"synthesize", "ingest", "bin", "fit", "analyze", "report", "index", "theory"}


def snakemake(workdir: Path, *args: str, configfile: Path | None = TEST_CONFIG) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=600)


def test_lint_is_clean(tmp_path):
    lint = snakemake(tmp_path, "--lint", configfile=None)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Lints for" not in lint.stdout + lint.stderr


def test_every_rule_uses_the_shared_environment():
    """--sdm conda: each rule with an action names workflow/envs/neurodyn.yaml (relative to its file)."""
    rules_dir = REPO / "workflow" / "rules"
    for path in sorted(rules_dir.glob("*.smk")):
        text = path.read_text()
        rules = re.findall(r"^rule (\w+):", text, flags=re.M)
        environments = re.findall(r"^    conda:\n        \"([^\"]+)\"", text, flags=re.M)
        assert len(environments) == len(rules), f"{path.name}: rules {rules}, conda directives {environments}"
        for environment in environments:
            assert (rules_dir / environment).resolve() == RULE_ENVIRONMENT, f"{path.name}: {environment}"
    assert RULE_ENVIRONMENT.is_file()


def test_catalog_settings():
    settings = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = settings["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    assert set(usage["mandatory-flags"]) == {"desc", "flags"}
    assert usage["mandatory-flags"]["desc"].strip()
    deployment = usage["software-stack-deployment"]
    assert deployment["conda"] is True  # test_every_rule_uses_the_shared_environment backs this
    assert deployment["apptainer"] is False and deployment["apptainer+conda"] is False
    assert usage["report"] is True
    assert (REPO / "config" / "README.md").is_file()  # the catalog shows it as the configuration docs


def test_test_configuration_is_small_and_self_contained():
    config = yaml.safe_load(TEST_CONFIG.read_text())
    assert "shared" not in TEST_CONFIG.read_text()
    for name, dataset in config["datasets"].items():
        assert dataset["source"]["kind"] == "synthetic", name
    assert all(model.get("gpus", 0) == 0 for model in config["models"].values())


def test_test_configuration_dry_run_schedules_every_rule(tmp_path):
    dry = snakemake(tmp_path, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-4000:]
    scheduled = set(re.findall(r"^(\w+)\s+\d+$", dry.stdout, flags=re.M)) - {"total", "all"}
    assert scheduled == ALL_RULES, scheduled
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def test_run(tmp_path_factory):
    """The .test configuration run for real (about 45 s on 2 cores)."""
    workdir = tmp_path_factory.mktemp("catalog")
    run = snakemake(workdir)
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir, run


@pytest.mark.integration
def test_test_configuration_runs(test_run):
    workdir, run = test_run
    results = workdir / "results"
    for page in ("spikes/report.html", "eeg/report.html", "index.html", "theory/report.html"):
        assert (results / page).stat().st_size > 1000, page
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in (results / "spikes" / "figures").glob("latents_*.png")) == [
        "latents_lds.png",
        "latents_smc.png",
    ]


@pytest.mark.integration
def test_report_has_front_page_and_a_caption_for_every_figure(test_run):
    workdir, _ = test_run
    archive = workdir / "report.zip"
    report = snakemake(workdir, "--report", str(archive))
    assert report.returncode == 0, report.stderr[-4000:]
    with zipfile.ZipFile(archive) as zipped:
        html = zipped.read("report/report.html").decode()
    assert "neurodyn: from neural recordings to fitted latent dynamical models" in html
    figures = sorted(p.stem for p in (workdir / "results").glob("*/figures/*.png") if p.parent.parent.name != "theory")
    assert figures and all(f"{name}.png" in html for name in figures)
    # each figure kind the run produced has its own caption, none falls back to the generic one
    assert "of the neurodyn report of dataset" not in html
    for caption in ("Welch power spectra", "inferred latent trajectories", "eigenvalues of the Jacobian at each fixed"):
        assert caption in html, caption
