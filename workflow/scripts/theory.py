"""Snakemake glue: the theory page (mean-field theory vs finite trained reservoirs)."""

from neurodyn.stages import stage_logging
from neurodyn.stages.report import INDEX_LABEL
from neurodyn.studies.reservoir_theory.stage import theory_stage

with stage_logging(snakemake.log[0], threads=snakemake.threads):
    theory_stage(
        snakemake.params.theory,
        snakemake.output.html,
        snakemake.output.metrics,
        figures_dir=snakemake.output.figures,
        pages=[("../index.html", INDEX_LABEL)],
    )
