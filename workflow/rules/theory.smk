# Mean-field theory of trained reservoir networks against finite networks (config `theory`).


rule theory:
    output:
        html=report(f"{RESULTS}/theory/report.html", caption="../report/theory.rst", category="theory"),
        metrics=f"{RESULTS}/theory/metrics.json",
        figures=directory(f"{RESULTS}/theory/figures"),
    log:
        f"{RESULTS}/theory/theory.log",
    benchmark:
        f"{RESULTS}/theory/benchmark.tsv"
    conda:
        "../envs/neurodyn.yaml"
    resources:
        mem_mb=lambda wc, attempt: grown(8000, attempt),
        runtime=lambda wc, attempt: grown(120, attempt),
    params:
        neurodyn_version=NEURODYN_VERSION,
        theory=config.get("theory", {}),
    script:
        str(SCRIPTS / "theory.py")
