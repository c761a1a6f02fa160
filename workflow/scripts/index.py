"""Snakemake glue: the index page across datasets (and the theory page, when there is one)."""

from neurodyn.stages import index_stage, stage_logging
from neurodyn.stages.report import THEORY_LABEL

with stage_logging(snakemake.log[0]):
    theory = {THEORY_LABEL: snakemake.input.theory[0]} if snakemake.input.theory else None
    index_stage(dict(zip(snakemake.params.datasets, snakemake.input.metrics)), snakemake.output.html, pages=theory)
