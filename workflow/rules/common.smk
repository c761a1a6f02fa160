# Shared names and input functions. No science here: everything calls the neurodyn package.
import sys

import yaml

from neurodyn.stages.config import (
    analysis_options,
    job_resource,
    model_options,
)
from neurodyn.stages.workflow_checks import prepare_workflow_config
from neurodyn.errors import NeurodynError
from neurodyn.io.remote import is_remote

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
