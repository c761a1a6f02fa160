# neurodyn: recordings → binned datasets → fitted latent dynamical models → analyses → reports.
#   snakemake --cores 2                                   (the embedded synthetic default)
#   snakemake --cores 2 --configfile config/shared_data.yaml
#   snakemake --workflow-profile workflow/profiles/slurm  (cluster, GPU fit jobs)
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# the front page of `snakemake --report report.zip`
report: "workflow/report/workflow.rst"


# the default configuration applies only when no --configfile is given, so that another
# configuration replaces its datasets instead of merging with them
if not workflow.config_settings.configfiles:

    configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


# the sessions sheet becomes datasets; the package checks the configuration (one line naming the
# first wrong key), then the schema generated from the same option dataclasses, and fills in defaults
include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/theory.smk"


rule all:
    default_target: True
    input:
        expand(f"{RESULTS}/{{dataset}}/report.html", dataset=DATASETS),
        f"{RESULTS}/index.html",
        [f"{RESULTS}/theory/report.html"] if config.get("theory") else [],


# a finished run names the reports it leaves (the index first: it links every dataset's report)
onsuccess:
    import sys

    names = dict.fromkeys([*DATASETS, "theory"])
    reports = [f"{RESULTS}/index.html"] + [f"{RESULTS}/{name}/report.html" for name in names]
    written = [path for path in reports if Path(path).is_file()]
    if written:
        print("neurodyn: reports:", *written, sep="\n    ", file=sys.stderr)


# a failed job (with --keep-going, the other datasets run on) still leaves an index: every dataset
# with results as the `index` rule lists them, each other one with the error line of its failed job
onerror:
    import sys
    from neurodyn.stages.report import rebuild_index

    try:
        rebuild_index(RESULTS, DATASETS, f"{RESULTS}/index.html", snakemake_log=log)
        print(
            f"neurodyn: {RESULTS}/index.html lists the datasets without results with their errors", file=sys.stderr
        )
    except Exception as exc:  # the run has failed already: say why the index is missing, not how
        print(f"neurodyn: could not write {RESULTS}/index.html: {exc}", file=sys.stderr)
