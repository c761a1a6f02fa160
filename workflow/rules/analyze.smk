# Stage 3: evaluate each fitted model — held-out prediction, generated data, fixed points.


rule analyze:
    input:
        dataset=f"{RESULTS}/{{dataset}}/dataset.zarr.manifest.json",  # the store beside it is complete
        model=f"{RESULTS}/{{dataset}}/models/{{model}}",
    output:
        metrics=f"{RESULTS}/{{dataset}}/analysis/{{model}}/metrics.json",
        fixed_points=f"{RESULTS}/{{dataset}}/analysis/{{model}}/fixed_points.json",
        # the manifest of arrays.zarr (a directory() output would get a foreign flag file inside the store)
        arrays=f"{RESULTS}/{{dataset}}/analysis/{{model}}/arrays.zarr.manifest.json",
    log:
        f"{RESULTS}/{{dataset}}/logs/analyze_{{model}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/analyze_{{model}}.tsv"
    conda:
        "../envs/neurodyn.yaml"
    threads: lambda wc: model_job(wc.model, "analyze_threads")
    resources:
        mem_mb=lambda wc, attempt: grown(model_job(wc.model, "analyze_mem_mb"), attempt),
        runtime=lambda wc, attempt: grown(model_job(wc.model, "analyze_runtime"), attempt),
    params:
        neurodyn_version=NEURODYN_VERSION,
        analysis=lambda wc: analysis_options(config, wc.dataset),
        device=config["device"],
    script:
        str(SCRIPTS / "analyze.py")
