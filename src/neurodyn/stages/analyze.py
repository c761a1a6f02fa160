"""The analyze stage: a fitted model evaluated on its dataset, and its outputs read back."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from neurodyn.analysis.evaluate import AnalysisOptions, AnalysisResult, evaluate
from neurodyn.data.dataset import open_dataset
from neurodyn.device import pick_device
from neurodyn.errors import InputFileError
from neurodyn.models import load_model
from neurodyn.report import ModelResult
from neurodyn.stages.outputs import check_output_path, writing_to
from neurodyn.storage import read_json

log = logging.getLogger("neurodyn")

METRICS_FILE = "metrics.json"
FIXED_POINTS_FILE = "fixed_points.json"


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
    (:class:`neurodyn.analysis.evaluate.AnalysisResult`). Bad options, an output that cannot be
    written, and a dataset whose channels are not the model's are refused before any work."""
    AnalysisOptions.parse(analysis_cfg, "analysis")  # a wrong option stops before any work
    check_output_path(out_dir)
    dataset = open_dataset(dataset_path)
    model = load_model(model_dir, pick_device(device))
    channels = [str(c) for c in dataset["channel"].values.tolist()]
    fitted = list(model.meta["channels"])
    if channels != fitted:
        differ = "in order" if sorted(channels) == sorted(fitted) else f"{len(channels)} vs {len(fitted)}"
        raise InputFileError(
            dataset_path,
            f"has other channels than the model {model_dir} was fitted on ({differ}; "
            f"dataset {channels[:4]}{'…' if len(channels) > 4 else ''}, model {fitted[:4]}{'…' if len(fitted) > 4 else ''})",
        )
    result = evaluate(model, dataset, analysis_cfg)
    result.about = {**(names or {}), **result.about}
    log.info("metrics: %s", ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if isinstance(v, float)))
    with writing_to(out_dir):
        return result.save(out_dir)


def check_analysis(directory: str | os.PathLike[str]) -> None:
    """Refuse, naming the file and key, an analysis folder whose ``metrics.json`` is not a JSON
    object with ``metrics`` and ``protocol`` objects, or whose ``fixed_points.json`` is not a list."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputFileError(directory, "no such analysis output folder")
    payload = read_json(directory / METRICS_FILE, dict, "a JSON object")
    for key in ("metrics", "protocol"):
        if key not in payload:
            raise InputFileError(directory / METRICS_FILE, f"lacks the key '{key}'")
        if not isinstance(payload[key], dict):
            raise InputFileError(
                directory / METRICS_FILE, f"key '{key}' must be an object, got a {type(payload[key]).__name__}"
            )
    read_json(directory / FIXED_POINTS_FILE, list, "a JSON list of fixed points")


def load_analysis(directory: str | os.PathLike[str], name: str) -> ModelResult:
    """A model's analysis outputs as the report shows them (checked: :func:`check_analysis`)."""
    check_analysis(directory)
    return ModelResult.from_result(name, AnalysisResult.load(directory))
