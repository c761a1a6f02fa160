# Stage 4: one self-contained HTML report per dataset, and an index across datasets.


rule report:
    input:
        # the stores' manifests (written once a store is complete), as the fit and analyze rules take them
        dataset=f"{RESULTS}/{{dataset}}/dataset.zarr.manifest.json",
        metrics=lambda wc: expand(
            f"{RESULTS}/{wc.dataset}/analysis/{{model}}/metrics.json", model=dataset_models(wc.dataset)
        ),
        arrays=lambda wc: expand(
            f"{RESULTS}/{wc.dataset}/analysis/{{model}}/arrays.zarr.manifest.json", model=dataset_models(wc.dataset)
        ),
        truth=ground_truth,
    output:
        html=report(
            f"{RESULTS}/{{dataset}}/report.html",
            caption="../report/dataset_report.rst",
            category="{dataset}",
            labels={"file": "report"},
        ),
        figures=report(
            directory(f"{RESULTS}/{{dataset}}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="{dataset}",
            labels={"figure": "{name}"},
        ),
        metrics=f"{RESULTS}/{{dataset}}/metrics.json",
    log:
        f"{RESULTS}/{{dataset}}/logs/report.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/report.tsv"
    conda:
        "../envs/neurodyn.yaml"
    resources:
        mem_mb=lambda wc, attempt: grown(4000, attempt),
        runtime=lambda wc, attempt: grown(20, attempt),
    params:
        neurodyn_version=NEURODYN_VERSION,
        models=lambda wc: dataset_models(wc.dataset),
        sweeps=lambda wc: dataset_sweeps(wc.dataset),
        # the report links the index and, when there is one, the theory page from its sidebar
        theory_page=bool(config.get("theory")),
    script:
        str(SCRIPTS / "report.py")


rule index:
    input:
        metrics=expand(f"{RESULTS}/{{dataset}}/metrics.json", dataset=DATASETS),
        theory=[f"{RESULTS}/theory/report.html"] if config.get("theory") else [],
    output:
        html=report(f"{RESULTS}/index.html", caption="../report/index.rst", category="index"),
    log:
        f"{RESULTS}/logs/index.log",
    benchmark:
        f"{RESULTS}/benchmarks/index.tsv"
    conda:
        "../envs/neurodyn.yaml"
    params:
        neurodyn_version=NEURODYN_VERSION,
        datasets=DATASETS,
    script:
        str(SCRIPTS / "index.py")
