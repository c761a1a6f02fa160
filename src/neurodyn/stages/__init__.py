"""The workflow's stages as functions from files to files.

Snakemake's scripts and the ``neurodyn`` command line both call these, so a stage behaves the
same with or without Snakemake. Each stage reads its inputs, calls the package's pure
functions, and writes its outputs atomically.

    synthesize → ingest (recording.zarr) → bin (dataset.zarr) → fit (model dir)
               → analyze (metrics.json, fixed_points.json, arrays.zarr) → report (HTML)
"""

from neurodyn.stages.analyze import analyze_stage, load_analysis
from neurodyn.stages.data import bin_stage, ingest_stage, synthesize_stage
from neurodyn.stages.fit import fit_stage
from neurodyn.stages.logs import stage_logging
from neurodyn.stages.report import ground_truth_comparison, index_stage, report_stage

__all__ = [
    "analyze_stage",
    "bin_stage",
    "fit_stage",
    "ground_truth_comparison",
    "index_stage",
    "ingest_stage",
    "load_analysis",
    "report_stage",
    "stage_logging",
    "synthesize_stage",
]
