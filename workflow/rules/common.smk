# Shared names and input functions. No science here: everything calls the neurodyn package.
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from neurodyn.stages.config import analysis_options, check_workflow_config, expand_sweeps, job_resource, model_options
from neurodyn.errors import NeurodynError

try:
    expand_sweeps(config)  # a model with `sweep:` becomes one model per combination of values
    check_workflow_config(config)
except NeurodynError as exc:
    raise WorkflowError(f"invalid configuration: {exc}")
validate(config, str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"))

RESULTS = config["results"]
RESOURCES = config["resources_dir"]
DATASETS = list(config["datasets"])
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"

wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
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


def model_job(model, key):
    return job_resource(config, model, key)
