"""Snakemake glue: write a synthetic recording and its ground truth."""

from pathlib import Path

from neurodyn.stages import stage_logging, synthesize_stage

with stage_logging(snakemake.log[0]):
    synthesize_stage(snakemake.params.generator, Path(snakemake.output.nwb).parent)
