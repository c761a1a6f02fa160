# Shared names and input functions. No science here: everything calls the neurodyn package.
import copy

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from neurodyn.stages.config import (
    analysis_options,
    check_workflow_config,
    declared_sweeps,
    expand_sweeps,
    job_resource,
    model_options,
)
from neurodyn.errors import NeurodynError

try:
    unexpanded = copy.deepcopy(config)
    # a model with `sweep:` becomes one model per combination of values; the report is told which
    SWEEPS = declared_sweeps(unexpanded, expand_sweeps(config))
    check_workflow_config(config)
except NeurodynError as exc:
    raise WorkflowError(f"invalid configuration: {exc}")
validate(config, str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"))

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
