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
    log:
        f"{RESOURCES}/synthetic/{{generator}}/synthesize.log",
    benchmark:
        f"{RESOURCES}/benchmarks/synthesize_{{generator}}.tsv"
    conda:
        "../envs/neurodyn.yaml"
    resources:
        mem_mb=lambda wc, attempt: grown(2000, attempt),
        runtime=lambda wc, attempt: grown(20, attempt),
    params:
        neurodyn_version=NEURODYN_VERSION,
        generator=lambda wc: config["synthetic"][wc.generator],
    script:
        str(SCRIPTS / "synthesize.py")


rule ingest:
    input:
        source=source_file,
    output:
        recording=f"{RESULTS}/{{dataset}}/recording.zarr.manifest.json",
    log:
        f"{RESULTS}/{{dataset}}/logs/ingest.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/ingest.tsv"
    conda:
        "../envs/neurodyn.yaml"
    resources:
        mem_mb=lambda wc, attempt: grown(4000, attempt),
        runtime=lambda wc, attempt: grown(30, attempt),
    params:
        neurodyn_version=NEURODYN_VERSION,
        source=lambda wc: dataset_config(wc)["source"],
    script:
        str(SCRIPTS / "ingest.py")


rule bin:
    input:
        recording=f"{RESULTS}/{{dataset}}/recording.zarr.manifest.json",
    output:
        dataset=f"{RESULTS}/{{dataset}}/dataset.zarr.manifest.json",
    log:
        f"{RESULTS}/{{dataset}}/logs/bin.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/bin.tsv"
    conda:
        "../envs/neurodyn.yaml"
    resources:
        mem_mb=lambda wc, attempt: grown(4000, attempt),
        runtime=lambda wc, attempt: grown(30, attempt),
    params:
        neurodyn_version=NEURODYN_VERSION,
        dataset=lambda wc: {
            k: v for k, v in dataset_config(wc).items() if k in ("source", "binning", "split", "heldout")
        },
    script:
        str(SCRIPTS / "bin.py")
