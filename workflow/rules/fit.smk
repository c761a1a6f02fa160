# Stage 2: fit each configured model to each dataset. Fits pick CUDA at run time when present;
# `gpu` is a resource for the local scheduler and for cluster profiles.


rule fit:
    input:
        dataset=f"{RESULTS}/{{dataset}}/dataset.zarr.manifest.json",  # the store beside it is complete
    output:
        model=directory(f"{RESULTS}/{{dataset}}/models/{{model}}"),
    params:
        model=lambda wc: model_options(config, wc.model),
        device=config["device"],
        # not an output: survives a failed or killed job so the next run resumes from it
        checkpoints=lambda wc: f"{RESULTS}/{wc.dataset}/checkpoints/{wc.model}",
    threads: lambda wc: model_job(wc.model, "threads")
    resources:
        gpu=lambda wc: model_job(wc.model, "gpus"),
        mem_mb=lambda wc: model_job(wc.model, "mem_mb"),
        runtime=lambda wc: model_job(wc.model, "runtime"),
    log:
        f"{RESULTS}/{{dataset}}/logs/fit_{{model}}.log",
    script:
        str(SCRIPTS / "fit.py")
