# Shared names and input functions. No science here: everything calls the neurodyn package.
import os
import sys

import yaml

from neurodyn.stages.config import (
    analysis_options,
    job_resource,
    model_options,
)
from neurodyn.stages.workflow_checks import prepare_workflow_config
from neurodyn.stages.cluster import SiteSettings, array_rules, check_site, grown, requested_settings
from neurodyn.errors import NeurodynError
from neurodyn.io.remote import is_remote
from neurodyn.version import __version__ as neurodyn_version

# the sessions sheet's rows become datasets and a model with `sweep:` one model per combination of
# values (the report is told which); then the package's checks and the schema generated from the same
# option dataclasses. A problem stops the run before any job with one line naming the key.
try:
    SWEEPS = prepare_workflow_config(
        config, yaml.safe_load((Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml").read_text())
    )
except NeurodynError as exc:
    print(f"neurodyn: error: invalid configuration: {exc}", file=sys.stderr)
    raise SystemExit(1)

RESULTS = config["results"]
RESOURCES = config["resources_dir"]
DATASETS = list(config["datasets"])
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
# a parameter of every rule: upgrading neurodyn reruns the jobs it computed (Snakemake's default rerun
# trigger `params`); `--rerun-triggers mtime input code` keeps the results of an earlier version
NEURODYN_VERSION = neurodyn_version


# only configured datasets: results/theory/report.html belongs to the theory rule, not to `report`
wildcard_constraints:
    dataset="|".join(DATASETS),
    model="[A-Za-z0-9_-]+",
    generator="[A-Za-z0-9_-]+",


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def dataset_models(dataset):
    return config["datasets"][dataset]["models"]


def synthetic_dir(generator):
    return f"{RESOURCES}/synthetic/{generator}"


def source_file(wildcards):
    source = dataset_config(wildcards)["source"]
    if source["kind"] == "synthetic":
        name = "recording.nwb" if source.get("file", "nwb") == "nwb" else "eeg.edf"
        return f"{synthetic_dir(source['generator'])}/{name}"
    if is_remote(source["path"]):
        return []  # an https:// or dandi:// source is read lazily by the ingest job, not staged as a file
    return source["path"]


def ground_truth(wildcards):
    source = dataset_config(wildcards)["source"]
    if source["kind"] == "synthetic":
        return [f"{synthetic_dir(source['generator'])}/teacher.json"]
    return []


def dataset_sweeps(dataset):
    """The declared sweeps among one dataset's models."""
    chosen = set(dataset_models(dataset))
    return {name: {**sweep, "members": [m for m in sweep["members"] if m in chosen]} for name, sweep in SWEEPS.items()}


def model_job(model, key):
    return job_resource(config, model, key)


def fit_cpus_per_gpu(model):
    """SLURM's --cpus-per-gpu of a fit that asks for GPUs and sets cpus_per_gpu, else unset."""
    per_gpu = model_job(model, "cpus_per_gpu")
    return per_gpu if per_gpu and model_job(model, "gpus") > 0 else None


# ---------------------------------------------------------------- cluster runs (neurodyn.stages.cluster)
# Site settings are default resources of the user's own profile: slurm_account, slurm_partition and
# slurm_gpu_partition (where fits asking for GPUs go). The data, report and index jobs are small: the
# SLURM workflow profile groups the data and report jobs; the index is written where snakemake runs.
localrules:
    index,


def _default_resources():
    defaults = workflow.resource_settings.default_resources
    return {name: defaults[name].raw for name in defaults} if defaults else {}


def _workflow_profile(name):
    from snakemake.cli import get_profile_dir

    base = Path(workflow.basedir)
    for candidate in (
        Path(name),
        Path("profiles") / name,
        base / "profiles" / name,
        base / "workflow" / "profiles" / name,
    ):
        found = get_profile_dir(str(candidate)) if candidate.exists() else None
        if found:
            return found[1]
    return None


def _user_profile(name):
    from snakemake.cli import get_profile_dir

    found = get_profile_dir(name)
    return found[1] if found else None


SITE = SiteSettings.from_resources(_default_resources())
# the executor is known to the workflow only after this file is read (and a dry run replaces it by
# `dryrun`): read it from the command line and the profiles, as Snakemake does, and check a SLURM
# run's site settings before anything is submitted
if not workflow.remote_exec:
    _requested = requested_settings(sys.argv[1:], os.environ, _user_profile, _workflow_profile)
    if _requested.get("executor") == "slurm":
        _used = sorted({model for dataset in DATASETS for model in dataset_models(dataset)})
        try:
            check_site(
                SITE,
                no_account=bool(_requested.get("slurm-no-account")),
                gpu_models=[model for model in _used if model_job(model, "gpus") > 0],
                arrays=array_rules(_requested.get("slurm-array-jobs")),
                fit_resources={
                    model: tuple(
                        model_job(model, key) for key in ("gpus", "threads", "cpus_per_gpu", "mem_mb", "runtime")
                    )
                    for model in _used
                },
            )
        except NeurodynError as exc:
            print(f"neurodyn: error: {exc}", file=sys.stderr)
            raise SystemExit(1)
