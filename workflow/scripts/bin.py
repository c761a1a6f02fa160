"""Snakemake glue: bin a recording into the dataset store."""

from neurodyn.stages import bin_stage, stage_logging

with stage_logging(snakemake.log[0]):
    bin_stage(snakemake.input.recording, snakemake.params.dataset, snakemake.output.dataset)
