"""The fit stage: one model family fitted to a dataset store and saved."""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from neurodyn.data.dataset import open_dataset
from neurodyn.device import pick_device, seed_everything
from neurodyn.errors import ConfigError
from neurodyn.models import FAMILIES, get_family
from neurodyn.models.base import FitSettings, FittedModel, utc_now
from neurodyn.progress import progress_label
from neurodyn.stages.outputs import check_output_path, writing_to
from neurodyn.version import __version__

log = logging.getLogger("neurodyn")


def fit_stage(
    dataset_path: str | os.PathLike[str],
    model_cfg: dict[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    device: str = "auto",
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    where: str | None = None,
) -> Path:
    """Fit one model family to a dataset store and save it (see :func:`fit_model`); an output that
    cannot be written is refused before the fit."""
    check_output_path(out_dir)
    with progress_label(fit_label(dataset_path, out_dir, where)):
        model = fit_model(
            dataset_path, model_cfg, device=device, checkpoint_dir=checkpoint_dir, resume=resume, where=where
        )
    with writing_to(out_dir):
        return model.save(out_dir)


def fit_label(dataset_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], where: str | None) -> str:
    """``dataset/model``, the name of a fit in its progress lines: the dataset is the store's name
    (``results/<dataset>/dataset.zarr`` gives its folder's), the model the entry's name
    (``where``: ``models.<name>``) or else the output folder's."""
    store = Path(dataset_path)
    dataset = store.parent.name if store.stem == "dataset" and store.parent.name else store.stem
    model = where.split(".", 1)[1] if where and where.startswith("models.") else Path(out_dir).name
    return f"{dataset}/{model}"


def check_model_config(model_cfg: dict[str, Any], where: str | None = None) -> tuple[type[FittedModel], FitSettings]:
    """The family and fit settings of a model entry, every option checked; ConfigError names
    ``<where>.<option>`` (``where``: ``models.<name>`` in the workflow, ``models.<family>`` otherwise)."""
    if "family" not in model_cfg:
        raise ConfigError(f"{where or 'models.<name>'}.family", f"is required (one of {sorted(FAMILIES)})")
    where = where or f"models.{model_cfg['family']}"
    family = get_family(model_cfg["family"], f"{where}.family")
    settings = family.fit_settings(model_cfg, where)
    family.resolve_config(model_cfg, where)
    return family, settings


def fit_model(
    dataset: xr.Dataset | str | os.PathLike[str],
    model_cfg: dict[str, Any],
    *,
    device: str = "auto",
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    where: str | None = None,
) -> FittedModel:
    """Fit the family of a model entry (``family``, the fit settings ``seed`` and ``device`` — the
    entry's device wins over ``device`` — and the family's options) to ``dataset`` (or the store
    at that path, opened once every option is checked), seeded.

    ``model.meta["seed"]`` is the seed; ``model.meta["fit"]`` (beside the family's own entries)
    records ``seconds`` (wall time), ``device``, ``started`` / ``finished`` (UTC, ISO 8601),
    ``threads`` (torch's intra-op threads), ``versions`` (:func:`runtime_versions`) and
    ``resumes``: every resume of this fit from a checkpoint, oldest first (``{"checkpoint",
    "epoch", "unit", "at"}``, :func:`neurodyn.models.base.resume_record`; empty for a fit run
    in one go)."""
    family, settings = check_model_config(model_cfg, where)
    if not isinstance(dataset, xr.Dataset):
        dataset = open_dataset(dataset)
    dev = pick_device(settings.device if "device" in model_cfg else device)
    seed_everything(settings.seed)
    log.info("fitting %s (device %s)", family.family, dev)
    started, started_at = time.perf_counter(), utc_now()
    model = family.fit(dataset, dict(model_cfg), dev, checkpoint_dir=checkpoint_dir, resume=resume)
    record = model.meta.setdefault("fit", {})
    record.update(
        seconds=time.perf_counter() - started,
        device=str(dev),
        started=started_at,
        finished=utc_now(),
        threads=torch.get_num_threads(),
        versions=runtime_versions(dev),
    )
    record.setdefault("resumes", [])
    model.meta["seed"] = settings.seed
    return model


def runtime_versions(device: torch.device) -> dict[str, str]:
    """What a fit ran with: ``neurodyn``, ``python``, ``torch``, ``numpy`` and, on a CUDA device,
    ``cuda`` (the CUDA version torch was built with) and ``gpu`` (the device's name)."""
    out = {
        "neurodyn": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    if device.type == "cuda":
        out["cuda"] = str(torch.version.cuda)
        out["gpu"] = torch.cuda.get_device_name(device)
    return out
