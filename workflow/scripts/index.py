"""Snakemake glue: the index page across datasets."""

from neurodyn.stages import index_stage, stage_logging

with stage_logging(snakemake.log[0]):
    index_stage(dict(zip(snakemake.params.datasets, snakemake.input.metrics)), snakemake.output.html)
