"""The interface every model family implements, and safe storage of fitted models.

A fitted model is saved as a directory holding ``weights.pt`` (a flat dict of tensors, read back
with ``torch.load(weights_only=True)``; never a pickled object) and ``model.json`` (family,
configuration and metadata). Analyses and reports only use this interface, so they never
special-case a family.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import xarray as xr

from neurodyn.device import DEVICE_PATTERN
from neurodyn.errors import ConfigError, DatasetContractError, InputFileError
from neurodyn.metric_spec import MetricSpec
from neurodyn.models.structure import Structure
from neurodyn.options import Options, option
from neurodyn.storage import config_hash, write_atomically
from neurodyn.version import __version__

WEIGHTS_FILE = "weights.pt"
META_FILE = "model.json"


@dataclass
class Dynamics:
    """The latent map z_next = step(z, u) of a fitted model.

    step: torch-differentiable, z (..., latent_dim), u (..., input_dim) or None → (..., latent_dim);
    dt: seconds per step; structure: the map's exact form when it has one
    (:mod:`neurodyn.models.structure`: affine, low-rank piecewise-linear or PLRNN), which picks the
    exact fixed-point solver and is what ``export-weights`` writes; None: searched numerically.
    """

    latent_dim: int
    input_dim: int
    dt: float
    step: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    structure: Structure | None = None


@dataclass(frozen=True)
class FitSettings(Options):
    """How any family's fit runs (beside the family's own options in the same model entry)."""

    passthrough = ("family",)

    seed: int = option(0, "seed of initialisation, minibatches and sampling", ge=0)
    device: str = option("auto", "auto (CUDA when present), cpu, cuda or cuda:N")

    def check(self, where: str) -> None:
        if not re.fullmatch(DEVICE_PATTERN, self.device):
            raise ConfigError(f"{where}.device", f"must be auto, cpu, cuda or cuda:N, got {self.device!r}")


class FittedModel(ABC):
    """A fitted latent dynamical model of one binned dataset.

    A family sets ``family`` (its registered name), ``Options`` (the dataclass of its options: the
    only place they are defined), ``data_kinds`` and ``quick_options``, and implements the abstract
    methods; ``tests/test_family_contract.py`` then runs it through fit, save/load, posterior,
    sampling, dynamics and fixed points.
    """

    family: ClassVar[str]
    Options: ClassVar[type[Options]]
    # kinds of data the family models ("counts", "continuous")
    data_kinds: ClassVar[tuple[str, ...]] = ("counts", "continuous")
    # options that fit a small dataset in seconds: the family contract test and quick checks use them
    quick_options: ClassVar[dict[str, Any]] = {}
    # what ``diagnostics`` reports, for reports and the metric glossary
    diagnostic_metrics: ClassVar[tuple[MetricSpec, ...]] = ()

    def __init__(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]):
        self.tensors = tensors
        self.meta = meta

    @staticmethod
    def fit_settings(config: dict[str, Any] | None, where: str = "models") -> FitSettings:
        """The fit settings (``seed``, ``device``) of a model entry, checked."""
        names = [f.name for f in fields(FitSettings)]
        return FitSettings.parse({k: v for k, v in (config or {}).items() if k in names}, where)

    @classmethod
    def resolve_config(cls, config: dict[str, Any] | None, where: str | None = None) -> dict[str, Any]:
        """The family's options from a model entry, defaults filled in, as plain values; the fit
        settings (``seed``, ``device``) and ``family`` are not the family's and are left out. Wrong
        keys, types or values raise ConfigError naming ``<where>.<option>`` (``models.<family>``
        by default)."""
        options = dict(config or {})
        for key in ("family", *(f.name for f in fields(FitSettings))):
            options.pop(key, None)
        return cls.Options.parse(options, where or f"models.{cls.family}").as_dict()

    # --- fitting and storage ---
    @classmethod
    @abstractmethod
    def fit(
        cls,
        dataset: xr.Dataset,
        config: dict[str, Any],
        device: torch.device,
        *,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
    ) -> FittedModel:
        """Fit to the training trials of ``dataset``; long fits checkpoint into
        ``checkpoint_dir`` and continue from the last checkpoint when ``resume`` is true."""

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write weights and metadata to ``directory`` atomically."""
        meta = {"family": self.family, "neurodyn_version": __version__, **self.meta}

        def write(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            torch.save({k: v.detach().cpu().contiguous() for k, v in self.tensors.items()}, tmp / WEIGHTS_FILE)
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))

        return write_atomically(write, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], device: torch.device | str = "cpu") -> FittedModel:
        tensors, meta = read_model_files(directory, device)
        if meta.get("family") != cls.family:
            raise InputFileError(directory, f"holds a '{meta.get('family')}' model, not '{cls.family}'")
        return cls(tensors, meta)

    # --- what analyses use ---
    @abstractmethod
    def posterior(self, dataset: xr.Dataset) -> xr.Dataset:
        """Per-trial latents and predictions: ``latents (trial, time, latent)`` and
        ``prediction (trial, time, channel)`` (expected data per bin, in the data's units).

        Optional variables the analysis uses when present: ``prediction_<name> (trial, time,
        channel)``, a further readout of the same data (scored on the held-out channels as
        ``<name>_co_bps`` or ``<name>_r2_heldout``); ``expansion_points (trial, time, latent)``, the
        states around which the model linearises its own map at each step (analysed by
        :func:`neurodyn.analysis.evaluate.expansion_step`). Anything else is the family's own,
        for its :meth:`diagnostics`."""

    @abstractmethod
    def sample(self, n_trials: int, n_steps: int, inputs: torch.Tensor | None = None, seed: int = 0) -> xr.Dataset:
        """Free-running generated trials: ``latents``, ``prediction`` and ``data``
        (trial, time, ·); inputs: (n_trials, n_steps, input_dim) when the model is conditioned."""

    @abstractmethod
    def dynamics(self) -> Dynamics:
        """The latent map, for fixed-point and spectral analyses."""

    def diagnostics(self, posterior: xr.Dataset, fixed_points: np.ndarray) -> dict[str, Any]:
        """Metrics only this family has (declared in ``diagnostic_metrics``), from its posterior on
        the evaluation trials and the fixed points (P, latent) the analysis found; none by default."""
        return {}

    @property
    def device(self) -> torch.device:
        return next(iter(self.tensors.values())).device

    def check_channels(self, dataset: xr.Dataset) -> None:
        """Raise unless ``dataset`` has the channels the model was fitted on, in order."""
        if [str(c) for c in dataset["channel"].values.tolist()] != self.meta["channels"]:
            raise DatasetContractError("dataset channels differ from those the model was fitted on")


def latent_dataset(
    z: torch.Tensor, pred: torch.Tensor, trials, times, channels, kind: str, data: torch.Tensor | None = None
) -> xr.Dataset:
    """What ``posterior`` and ``sample`` return: ``latents (trial, time, latent)``,
    ``prediction (trial, time, channel)`` and, for samples, ``data`` (uint32 counts or float32)."""
    units = "count" if kind == "counts" else "signal units"
    out = xr.Dataset(
        {
            "latents": (
                ("trial", "time", "latent"),
                z.detach().cpu().double().numpy(),
                {"units": "a.u.", "long_name": "latent state"},
            ),
            "prediction": (
                ("trial", "time", "channel"),
                pred.detach().cpu().double().numpy(),
                {"units": units, "long_name": "expected observation per bin"},
            ),
        },
        coords={
            "trial": np.asarray(trials),
            "time": np.asarray(times),
            "channel": np.asarray(channels),
            "latent": np.arange(z.shape[-1]),
        },
    )
    if data is not None:
        out["data"] = (
            ("trial", "time", "channel"),
            data.detach().cpu().numpy().astype(np.uint32 if kind == "counts" else np.float32),
        )
    return out


def read_model_files(directory: str | os.PathLike[str], device: torch.device | str = "cpu"):
    """Weights (tensors only, ``weights_only=True``) and metadata of a saved model."""
    directory = Path(directory)
    meta_path, weights_path = directory / META_FILE, directory / WEIGHTS_FILE
    if not meta_path.is_file() or not weights_path.is_file():
        raise InputFileError(directory, f"not a saved model (needs {META_FILE} and {WEIGHTS_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
        tensors = torch.load(weights_path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise InputFileError(weights_path, "holds objects other than tensors; refusing to unpickle them")
    except (ValueError, RuntimeError, OSError) as exc:
        raise InputFileError(directory, f"cannot read the saved model ({type(exc).__name__}: {exc})")
    if not isinstance(tensors, dict) or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        raise InputFileError(weights_path, "must hold a flat dict of tensors")
    return tensors, meta


def checkpoint_fingerprint(
    cfg: dict[str, Any], meta: dict[str, Any], seed: int, *, ignore: tuple[str, ...] = ()
) -> str:
    """What a checkpoint must share with the fit that resumes it: the options that change training
    (all of ``cfg`` but ``ignore``), the channels, the number of training trials and the seed."""
    relevant = {
        "config": {k: v for k, v in cfg.items() if k not in ignore},
        "channels": meta["channels"],
        "n_train_trials": meta["n_train_trials"],
        "seed": seed,
    }
    return config_hash(relevant)[:16]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint (tensors and plain containers only) atomically."""
    state = dict(state)
    fp = state.pop("fingerprint")
    # the fingerprint travels as a tensor of bytes so the file holds tensors and plain containers only
    state["fingerprint"] = torch.tensor(list(fp.encode()), dtype=torch.uint8)

    def write(tmp: Path) -> None:
        torch.save(state, tmp)

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(write, path)


def load_tensors(path: Path, device: torch.device | str, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers, never other objects;
    an unreadable file (missing, corrupt, holding other objects) raises InputFileError naming ``what``."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any unreadable file is reported the same way
        raise InputFileError(path, f"cannot read the {what} ({type(exc).__name__}: {exc})")


def load_checkpoint(path: Path, device: torch.device | str) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; unreadable files raise InputFileError."""
    state = load_tensors(path, device)
    state["fingerprint"] = bytes(state["fingerprint"].tolist()).decode()
    return state


def resume_training(
    path: Path | None,
    fingerprint: str,
    family: str,
    device: torch.device | str,
    *,
    net: torch.nn.Module,
    optimizer,
    scheduler,
    generator: torch.Generator,
) -> dict[str, Any] | None:
    """Restore ``net``, ``optimizer``, ``scheduler`` and ``generator`` from the checkpoint at ``path``
    when it exists and belongs to this fit (same ``fingerprint``); return its state for the
    family's own extras (epoch, history, ...), or None to start afresh."""
    import logging

    if path is None or not path.is_file():
        return None
    state = load_checkpoint(path, device)
    log = logging.getLogger(f"neurodyn.models.{family}")
    if state.get("fingerprint") != fingerprint:
        log.warning("%s: checkpoint %s is from another configuration; starting afresh", family, path)
        return None
    net.load_state_dict(state["net"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"].cpu())
    log.info("%s: resumed from %s at epoch %d", family, path, int(state["epoch"]))
    return state
