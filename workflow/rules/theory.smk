# Mean-field theory of trained reservoir networks against finite networks (config `theory`).


rule theory:
    output:
        html=report(f"{RESULTS}/theory/report.html", caption="../report/theory.rst", category="theory"),
        metrics=f"{RESULTS}/theory/metrics.json",
        figures=directory(f"{RESULTS}/theory/figures"),
    params:
        theory=config.get("theory", {}),
    log:
        f"{RESULTS}/theory/theory.log",
    script:
        str(SCRIPTS / "theory.py")
