# Stage 1: recordings → event-level recording store → binned dataset store.
# A store's rule declares the manifest beside it (<store>.manifest.json, written once the store is
# complete), not the store: Snakemake would keep a directory() output's timestamp in a
# .snakemake_timestamp file inside it, a foreign object in a zarr store. Later rules take the manifest.


rule synthesize:
    output:
        nwb=f"{RESOURCES}/synthetic/{{generator}}/recording.nwb",
        edf=f"{RESOURCES}/synthetic/{{generator}}/eeg.edf",
        truth=f"{RESOURCES}/synthetic/{{generator}}/teacher.json",
        arrays=f"{RESOURCES}/synthetic/{{generator}}/teacher.npz",
    params:
        generator=lambda wc: config["synthetic"][wc.generator],
    log:
        f"{RESOURCES}/synthetic/{{generator}}/synthesize.log",
    script:
        str(SCRIPTS / "synthesize.py")


rule ingest:
    input:
        source=source_file,
    output:
        recording=f"{RESULTS}/{{dataset}}/recording.zarr.manifest.json",
    params:
        source=lambda wc: dataset_config(wc)["source"],
    log:
        f"{RESULTS}/{{dataset}}/logs/ingest.log",
    script:
        str(SCRIPTS / "ingest.py")


rule bin:
    input:
        recording=f"{RESULTS}/{{dataset}}/recording.zarr.manifest.json",
    output:
        dataset=f"{RESULTS}/{{dataset}}/dataset.zarr.manifest.json",
    params:
        dataset=lambda wc: {k: v for k, v in dataset_config(wc).items() if k in ("source", "binning", "split", "heldout")},
    log:
        f"{RESULTS}/{{dataset}}/logs/bin.log",
    script:
        str(SCRIPTS / "bin.py")
