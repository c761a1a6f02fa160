"""Snakemake glue: evaluate a fitted model, then write the manifest of its arrays store."""

from pathlib import Path

from neurodyn.stages import analyze_stage, stage_logging
from neurodyn.stages.manifest import store_path, write_manifest

with stage_logging(snakemake.log[0], threads=snakemake.threads):
    arrays = store_path(snakemake.output.arrays)
    analyze_stage(
        store_path(snakemake.input.dataset),
        snakemake.input.model,
        snakemake.params.analysis,
        Path(snakemake.output.metrics).parent,
        names={"dataset": snakemake.wildcards.dataset, "model": snakemake.wildcards.model},
        device=snakemake.params.device,
    )
    write_manifest(arrays)
