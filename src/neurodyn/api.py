"""The Python API: the workflow's steps for a notebook, on objects instead of files.

    import neurodyn

    ds = neurodyn.ingest("session.nwb", bin_size_s=0.02, align_event="move_onset_time", window_s=[-0.25, 0.45])
    model = neurodyn.fit(ds, "lds", latent_dim=6)
    model                                    # <Model lds: 6 latents, 60 channels (counts), ...>
    points = model.fixed_points()            # FixedPoint objects with Jacobians and stability
    result = neurodyn.evaluate(model, ds)    # metrics, fixed points and arrays for figures
    result.metrics["co_bps"]
    neurodyn.write_report(ds, {"lds": result}, "report.html")

Every function takes the same options as the workflow configuration and ``neurodyn options``
lists; a wrong option raises :class:`neurodyn.errors.ConfigError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from neurodyn.analysis.evaluate import AnalysisResult
from neurodyn.analysis.evaluate import evaluate as evaluate_model
from neurodyn.analysis.fixed_points import FixedPoint, FixedPointResult, locate_fixed_points
from neurodyn.data.binned import bin_recording
from neurodyn.data.dataset import open_dataset as open_store
from neurodyn.models import FAMILIES
from neurodyn.models import load_model as load_fitted
from neurodyn.models.base import Dynamics, FittedModel
from neurodyn.report import ModelResult
from neurodyn.stages.data import DatasetSpec, dataset_entry, ingest_and_bin_stage
from neurodyn.stages.fit import fit_model
from neurodyn.stages.report import write_report as write_report_stage


def open_dataset(path: str | os.PathLike[str], *, load: bool = True) -> xr.Dataset:
    """A binned dataset store (``dataset.zarr``), checked against the data contract."""
    return open_store(path, load=load)


def ingest(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    split: Mapping[str, Any] | None = None,
    heldout: Mapping[str, Any] | None = None,
    **options: Any,
) -> xr.Dataset:
    """Read and bin a recording (NWB, EDF or a NumPy array; the kind is read from the file).

    ``options`` are the reader's and the binning's (``neurodyn options source KIND``, ``neurodyn
    options binning``); ``split`` and ``heldout`` their own groups. With ``out`` the dataset is
    written to that store, exactly as the workflow and ``neurodyn ingest`` write it, and opened."""
    dataset_cfg = dataset_entry(source, options, split=split, heldout=heldout)
    if out is not None:
        return open_store(ingest_and_bin_stage(source, dataset_cfg, out))
    spec = DatasetSpec.of(dataset_cfg)
    return bin_recording(spec.read(source), spec.binning, config_hash=spec.config_hash)


class Model:
    """A fitted model: its family's options, posterior, free runs, latent map and fixed points.

    ``model.fitted`` is the family's :class:`~neurodyn.models.base.FittedModel`."""

    def __init__(self, fitted: FittedModel):
        self.fitted = fitted

    @property
    def family(self) -> str:
        return self.fitted.family

    @property
    def options(self) -> dict[str, Any]:
        """The family's options the model was fitted with (defaults filled in)."""
        return dict(self.fitted.meta.get("config", {}))

    def dynamics(self) -> Dynamics:
        return self.fitted.dynamics()

    def posterior(self, dataset: xr.Dataset) -> xr.Dataset:
        """Latents and predictions per trial of ``dataset``."""
        return self.fitted.posterior(dataset)

    def sample(self, n_trials: int, n_steps: int, *, inputs: torch.Tensor | None = None, seed: int = 0) -> xr.Dataset:
        """Free-running generated trials (seeded)."""
        return self.fitted.sample(n_trials, n_steps, inputs=inputs, seed=seed)

    def fixed_points(
        self,
        u: np.ndarray | None = None,
        *,
        states: np.ndarray | None = None,
        dataset: xr.Dataset | None = None,
        search: str = "auto",
    ) -> list[FixedPoint]:
        """Fixed points of the latent map at constant input ``u`` (zero by default): exact where the
        map's structure allows; otherwise searched from ``states`` (P, latent) or, given a
        ``dataset``, from the posterior states on it, then over the region that holds every fixed
        point (``search``: auto, grid, space_filling or visited; see :meth:`locate_fixed_points`)."""
        return self.locate_fixed_points(u, states=states, dataset=dataset, search=search).points

    def locate_fixed_points(
        self,
        u: np.ndarray | None = None,
        *,
        states: np.ndarray | None = None,
        dataset: xr.Dataset | None = None,
        search: str = "auto",
    ) -> FixedPointResult:
        """:meth:`fixed_points` with the search's record (``.points``, ``.search``: the mode, and for a
        numerical search the starts and new points per round and the estimated total)."""
        dyn = self.dynamics()
        if u is None and dyn.input_dim:
            u = np.zeros(dyn.input_dim)
        if states is None and dataset is not None and dyn.structure is None:
            states = self.posterior(dataset)["latents"].values.reshape(-1, dyn.latent_dim)
        return locate_fixed_points(dyn, u, states=None if states is None else torch.as_tensor(states), search=search)

    def evaluate(self, dataset: xr.Dataset, **analysis: Any) -> AnalysisResult:
        """See :func:`evaluate`."""
        return evaluate(self, dataset, **analysis)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Weights (tensors only) and metadata, written atomically; read back with :func:`load_model`."""
        return self.fitted.save(directory)

    def __repr__(self) -> str:
        meta = self.fitted.meta
        dyn = self.dynamics()
        fit = meta.get("fit", {})
        parts = [
            f"{dyn.latent_dim} latents",
            f"{len(meta.get('channels', []))} channels ({meta.get('kind', '?')})",
            f"{1e3 * dyn.dt:g} ms bins",
        ]
        if dyn.structure is not None:
            parts.append(f"{dyn.structure.kind} map")
        if "seconds" in fit:
            parts.append(f"fitted in {fit['seconds']:.1f} s on {fit.get('device', '?')}")
        return f"<Model {self.family}: {', '.join(parts)}>"


def fit(
    dataset: xr.Dataset | str | os.PathLike[str],
    family: str,
    *,
    seed: int = 0,
    device: str = "auto",
    checkpoint_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Model:
    """Fit a model ``family`` (``neurodyn options`` lists them and their options) to the training
    trials of ``dataset`` (a dataset or a store path), seeded; CUDA when present with ``auto``."""
    cfg = {"family": family, "seed": seed, "device": device, **options}
    return Model(
        fit_model(dataset, cfg, device=device, checkpoint_dir=checkpoint_dir, resume=checkpoint_dir is not None)
    )


def load_model(directory: str | os.PathLike[str], device: str = "cpu") -> Model:
    """A saved model of any family (``weights_only`` loading: tensors and JSON, never pickle)."""
    return Model(load_fitted(directory, device))


def evaluate(model: Model | FittedModel, dataset: xr.Dataset, **analysis: Any) -> AnalysisResult:
    """Held-out prediction, free-running generation, fixed points and spectra of ``model`` on the
    evaluation split of ``dataset``; ``analysis`` options as ``neurodyn options analysis`` lists."""
    fitted = model.fitted if isinstance(model, Model) else model
    return evaluate_model(fitted, dataset, analysis)


def write_report(
    dataset: xr.Dataset,
    results: Mapping[str, AnalysisResult],
    out: str | os.PathLike[str],
    *,
    title: str | None = None,
    figures_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """A self-contained HTML report of ``results`` (model name → :func:`evaluate` result) on
    ``dataset``, written to ``out``."""
    models = [ModelResult.from_result(name, result) for name, result in results.items()]
    return write_report_stage(dataset, models, out, title=title or Path(out).stem, figures_dir=figures_dir)


def families() -> list[str]:
    """The registered model families."""
    return sorted(FAMILIES)


__all__ = [
    "Model",
    "evaluate",
    "families",
    "fit",
    "ingest",
    "load_model",
    "open_dataset",
    "write_report",
]
