# Stage 2: fit each configured model to each dataset. Fits pick CUDA at run time when present.
# One job per dataset and model, independent of the others: what a cluster runs side by side.


rule fit:
    input:
        dataset=f"{RESULTS}/{{dataset}}/dataset.zarr.manifest.json",  # the store beside it is complete
    output:
        model=directory(f"{RESULTS}/{{dataset}}/models/{{model}}"),
    log:
        f"{RESULTS}/{{dataset}}/logs/fit_{{model}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/fit_{{model}}.tsv"
    conda:
        "../envs/neurodyn.yaml"
    threads: lambda wc: model_job(wc.model, "threads")
    # the model entry's job keys, under every executor: `gpu` is the local scheduler's resource
    # (workflow/profiles/default) and the SLURM plugin's --gpus; memory and time double on a retry
    resources:
        gpu=lambda wc: model_job(wc.model, "gpus"),
        cpus_per_gpu=lambda wc: fit_cpus_per_gpu(wc.model),
        mem_mb=lambda wc, attempt: grown(model_job(wc.model, "mem_mb"), attempt),
        runtime=lambda wc, attempt: grown(model_job(wc.model, "runtime"), attempt),
        slurm_partition=lambda wc: SITE.partition_for(model_job(wc.model, "gpus")),
    params:
        neurodyn_version=NEURODYN_VERSION,
        model=lambda wc: model_options(config, wc.model),
        device=config["device"],
        # not an output: survives a failed or killed job so the next run resumes from it
        checkpoints=lambda wc: f"{RESULTS}/{wc.dataset}/checkpoints/{wc.model}",
    script:
        str(SCRIPTS / "fit.py")
