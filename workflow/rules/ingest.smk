# Stage 1: recordings → event-level recording store → binned dataset store.


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
        recording=directory(f"{RESULTS}/{{dataset}}/recording.zarr"),
    params:
        source=lambda wc: dataset_config(wc)["source"],
    log:
        f"{RESULTS}/{{dataset}}/logs/ingest.log",
    script:
        str(SCRIPTS / "ingest.py")


rule bin:
    input:
        recording=f"{RESULTS}/{{dataset}}/recording.zarr",
    output:
        dataset=directory(f"{RESULTS}/{{dataset}}/dataset.zarr"),
    params:
        dataset=lambda wc: {k: v for k, v in dataset_config(wc).items() if k in ("source", "binning", "split", "heldout")},
    log:
        f"{RESULTS}/{{dataset}}/logs/bin.log",
    script:
        str(SCRIPTS / "bin.py")
