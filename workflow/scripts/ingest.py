"""Snakemake glue: read a source file into the event-level recording store."""

from neurodyn.stages import ingest_stage, stage_logging

with stage_logging(snakemake.log[0]):
    ingest_stage(snakemake.input.source, snakemake.params.source, snakemake.output.recording)
