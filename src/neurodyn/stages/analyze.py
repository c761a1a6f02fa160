"""The analyze stage: a fitted model evaluated on its dataset, and its outputs read back."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from neurodyn.analysis.evaluate import AnalysisOptions, AnalysisResult, evaluate
from neurodyn.data.dataset import open_dataset
from neurodyn.device import pick_device
from neurodyn.models import load_model
from neurodyn.report import ModelResult

log = logging.getLogger("neurodyn")


def analyze_stage(
    dataset_path: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    analysis_cfg: dict[str, Any] | None,
    out_dir: str | os.PathLike[str],
    *,
    names: dict[str, str] | None = None,
    device: str = "auto",
) -> dict[str, Path]:
    """Evaluate a fitted model; write ``metrics.json``, ``fixed_points.json`` and ``arrays.zarr``
    (:class:`neurodyn.analysis.evaluate.AnalysisResult`)."""
    AnalysisOptions.parse(analysis_cfg, "analysis")  # a wrong option stops before any work
    dataset = open_dataset(dataset_path)
    model = load_model(model_dir, pick_device(device))
    result = evaluate(model, dataset, analysis_cfg)
    result.about = {**(names or {}), **result.about}
    log.info("metrics: %s", ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if isinstance(v, float)))
    return result.save(out_dir)


def load_analysis(directory: str | os.PathLike[str], name: str) -> ModelResult:
    """A model's analysis outputs as the report shows them."""
    return ModelResult.from_result(name, AnalysisResult.load(directory))
