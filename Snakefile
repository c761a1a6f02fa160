# neurodyn: recordings → binned datasets → fitted latent dynamical models → analyses → reports.
#   snakemake --cores 2                                   (the embedded synthetic default)
#   snakemake --cores 2 --configfile config/shared_data.yaml
#   snakemake --workflow-profile workflow/profiles/slurm  (cluster, GPU fit jobs)
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# the default configuration applies only when no --configfile is given, so that another
# configuration replaces its datasets instead of merging with them
if not workflow.config_settings.configfiles:
    configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


# the package checks the configuration first (one line naming the first wrong key), then the
# schema generated from the same option dataclasses validates it and fills in top-level defaults
include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/theory.smk"


rule all:
    input:
        expand(f"{RESULTS}/{{dataset}}/report.html", dataset=DATASETS),
        f"{RESULTS}/index.html",
        [f"{RESULTS}/theory/report.html"] if config.get("theory") else [],
    default_target: True
