"""Snakemake glue: evaluate a fitted model."""

from pathlib import Path

from neurodyn.stages import analyze_stage, stage_logging

with stage_logging(snakemake.log[0], threads=snakemake.threads):
    analyze_stage(
        snakemake.input.dataset,
        snakemake.input.model,
        snakemake.params.analysis,
        Path(snakemake.output.metrics).parent,
        names={"dataset": snakemake.wildcards.dataset, "model": snakemake.wildcards.model},
        device=snakemake.params.device,
    )
