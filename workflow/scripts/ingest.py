"""Snakemake glue: read a source file into the event-level recording store, then its manifest."""

from neurodyn.stages import ingest_stage, stage_logging
from neurodyn.stages.manifest import store_path, write_manifest

with stage_logging(snakemake.log[0]):
    store = store_path(snakemake.output.recording)
    # a remote source (https://, dandi://) is no input file: the job reads it from its URL
    source = snakemake.input.source if snakemake.input else snakemake.params.source["path"]
    ingest_stage(source, snakemake.params.source, store)
    write_manifest(store)
