"""Snakemake glue: bin a recording into the dataset store, then write the store's manifest."""

from neurodyn.stages import bin_stage, stage_logging
from neurodyn.stages.manifest import store_path, write_manifest

with stage_logging(snakemake.log[0]):
    store = store_path(snakemake.output.dataset)
    bin_stage(store_path(snakemake.input.recording), snakemake.params.dataset, store)
    write_manifest(store)
