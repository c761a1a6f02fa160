"""The workflow's stages as functions from files to files.

Snakemake's scripts and the ``neurodyn`` command line both call these, so a stage behaves the
same with or without Snakemake. Each stage reads its inputs, calls the package's pure
functions, and writes its outputs atomically.

    synthesize → ingest (recording.zarr) → bin (dataset.zarr) → fit (model dir)
               → analyze (metrics.json, fixed_points.json, arrays.zarr) → report (HTML)
"""

from importlib import import_module
from typing import Any

# name → module: imported on first use, so that a job importing one stage (ingest, bin) does not
# pay for the others' libraries (torch, scipy)
_STAGES = {
    "analyze_stage": "analyze",
    "load_analysis": "analyze",
    "bin_stage": "data",
    "ingest_stage": "data",
    "synthesize_stage": "data",
    "fit_stage": "fit",
    "stage_logging": "logs",
    "ground_truth_comparison": "report",
    "index_stage": "report",
    "report_stage": "report",
}

__all__ = sorted(_STAGES)


def __getattr__(name: str) -> Any:
    if name not in _STAGES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_STAGES[name]}"), name)
