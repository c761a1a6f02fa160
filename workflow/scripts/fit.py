"""Snakemake glue: fit one model to one dataset (resuming from checkpoints when present)."""

from neurodyn.stages import fit_stage, stage_logging
from neurodyn.stages.manifest import store_path

with stage_logging(snakemake.log[0], threads=snakemake.threads):
    fit_stage(
        store_path(snakemake.input.dataset),
        snakemake.params.model,
        snakemake.output.model,
        device=snakemake.params.device,
        checkpoint_dir=snakemake.params.checkpoints,
        resume=True,
        where=f"models.{snakemake.wildcards.model}",
    )
