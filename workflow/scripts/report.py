"""Snakemake glue: the dataset's HTML report, figures and combined metrics."""

from pathlib import Path

from neurodyn.stages import report_stage, stage_logging
from neurodyn.stages.manifest import store_path
from neurodyn.stages.report import INDEX_LABEL, THEORY_LABEL

with stage_logging(snakemake.log[0]):
    analyses = {model: Path(path).parent for model, path in zip(snakemake.params.models, snakemake.input.metrics)}
    report_stage(
        store_path(snakemake.input.dataset),
        analyses,
        snakemake.output.html,
        title=snakemake.wildcards.dataset,
        figures_dir=snakemake.output.figures,
        metrics_out=snakemake.output.metrics,
        ground_truth=snakemake.input.truth[0] if snakemake.input.truth else None,
        sweeps=snakemake.params.sweeps,
        pages=[("../index.html", INDEX_LABEL)]
        + ([("../theory/report.html", THEORY_LABEL)] if snakemake.params.theory_page else []),
    )
