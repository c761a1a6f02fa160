"""The analyze stage: a fitted model evaluated on its dataset, and its outputs read back."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import xarray as xr

from neurodyn.analysis.evaluate import evaluate
from neurodyn.data.dataset import open_dataset
from neurodyn.device import pick_device
from neurodyn.errors import InputFileError
from neurodyn.models import load_model
from neurodyn.report import ModelResult
from neurodyn.storage import strings_as_objects, write_atomically, write_json

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
    """Evaluate a fitted model; write ``metrics.json``, ``fixed_points.json`` and ``arrays.zarr``."""
    dataset = open_dataset(dataset_path)
    model = load_model(model_dir, pick_device(device))
    result, arrays, fixed_points = evaluate(model, dataset, analysis_cfg)
    out_dir = Path(out_dir)
    result.update(names or {})
    result.update(
        family=model.family,
        fit=model.meta.get("fit", {}),
        model_config={**model.meta.get("config", {}), "seed": model.meta.get("seed", 0)},
    )
    log.info("metrics: %s", ", ".join(f"{k}={v:.4g}" for k, v in result["metrics"].items() if isinstance(v, float)))
    arrays_path = write_atomically(
        lambda tmp: arrays.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False), out_dir / "arrays.zarr"
    )
    return {
        "metrics": write_json(result, out_dir / "metrics.json"),
        "fixed_points": write_json(fixed_points, out_dir / "fixed_points.json"),
        "arrays": arrays_path,
    }


def load_analysis(directory: str | os.PathLike[str], name: str):
    """A model's analysis outputs as a :class:`neurodyn.report.ModelResult`."""
    directory = Path(directory)
    try:
        result = json.loads((directory / "metrics.json").read_text())
        fixed = json.loads((directory / "fixed_points.json").read_text())
        arrays = strings_as_objects(xr.open_zarr(directory / "arrays.zarr", consolidated=False).load())
    except (OSError, ValueError) as exc:
        raise InputFileError(directory, f"incomplete analysis outputs ({type(exc).__name__}: {exc})")
    return ModelResult(
        name=name,
        family=result.get("family", "?"),
        metrics=result["metrics"],
        protocol=result.get("protocol", {}),
        fixed_points=fixed,
        arrays=arrays,
        fit=result.get("fit", {}),
        config=result.get("model_config", {}),
        distillation=result.get("distillation", {}),
        jslds=result.get("jslds_analysis", {}),
    )
